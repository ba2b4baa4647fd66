package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// TestKcatPeer uses an independent Kafka client (kcat, librdkafka) on both
// ends: it produces valid and broken records, and reads the dead-letter
// topic back with its headers.
func TestKcatPeer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat not installed: .ci/run installs kafkacat")
		}
		t.Skip("kcat not installed (apt-get install kafkacat)")
	}
	b := startBroker(t, "")
	defer b.Close()
	g := eventgen.New(21, testNow)
	var in bytes.Buffer
	const valid = 50
	for i := 0; i < valid; {
		topic, key, ev := g.Next()
		if topic != "events.vehicle" {
			continue
		}
		raw, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&in, "%s\t%s\n", key, raw)
		i++
	}
	in.WriteString("京A00000\t{\"specversion\":\"1.0\",\"id\":\"x\"\n")
	in.WriteString("京A00001\t{\"specversion\":\"2.0\"}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	produce := exec.CommandContext(ctx, kcat, "-b", b.Addrs()[0], "-t", "events.vehicle", "-P", "-K", "\t")
	produce.Stdin = &in
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	rec := newRecorder()
	c, err := New(config(b, "kcat"), rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "valid records handled", func() bool { return rec.unique() == valid })
	stop()

	consume := exec.CommandContext(ctx, kcat, "-b", b.Addrs()[0], "-C", "-t", eventgen.DefaultDeadLetterTopic,
		"-o", "beginning", "-e", "-q", "-f", "%k|%h\n")
	out, err := consume.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("DLQ via kcat: %q", out)
	}
	want := map[string]string{"京A00000": "dlq-reason=malformed_json", "京A00001": "dlq-reason=bad_specversion"}
	for _, l := range lines {
		key, headers, _ := strings.Cut(l, "|")
		if !strings.Contains(headers, want[key]) || !strings.Contains(headers, "dlq-topic=events.vehicle") ||
			!strings.Contains(headers, "dlq-offset=") {
			t.Errorf("DLQ record %q", l)
		}
	}
}
