package ivr_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// TestDemoEndToEnd runs the demo (embedded Kafka, generated events, the
// read model fed by the IVR's consumer group, SIP on loopback) with the
// shipped prompts and flow, and calls it: the caller barges in, verifies
// with the last six of the ID number and hears the violations answer. The
// call record lands in the store and on the ivr.cdr topic.
func TestDemoEndToEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *appivr.App, 1)
	done := make(chan error, 1)
	go func() {
		done <- appivr.Demo(ctx, appivr.DemoOptions{
			SIP: "127.0.0.1:0", HTTP: "127.0.0.1:0", Events: 500, DataDir: t.TempDir(),
			Prompts: filepath.Join("..", "..", "..", "prompts"),
			Flows:   filepath.Join("..", "..", "..", "config", "ivr-flows.yaml"),
			Now:     time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Out: io.Discard,
			Ready: func(a *appivr.App) { ready <- a },
		})
	}()
	var a *appivr.App
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("demo ended: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("demo not ready")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	c, err := ivr.NewCaller(ivr.CallerConfig{Target: "sip:12123@" + a.SIPAddr("udp"), From: appivr.DemoPhone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	call, err := c.Dial(cctx)
	if err != nil {
		t.Fatal(err)
	}
	lib := a.Library()
	steps := []struct{ hear, keys string }{
		{"welcome", "3"}, // barge-in: the key stops the welcome and answers the main menu
		{"enter_id", appivr.DemoIDKeys},
		{"fine_total", ""},
	}
	for _, s := range steps {
		if err := call.WaitStarted(cctx, lib, s.hear, 1); err != nil {
			t.Fatal(err)
		}
		if s.keys != "" {
			if err := call.Send(cctx, s.keys, ivr.KeysRFC4733); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := call.WaitFor(cctx, lib, "points_total", 1); err != nil {
		t.Fatal(err)
	}
	heard := call.Transcript(lib)
	// Two violations, fine 三百元 (200 + 100).
	i := slices.Index(heard, "violations_count")
	if i < 0 || !slices.Equal(heard[i:i+7], []string{"violations_count", "units/d2", "count_unit", "fine_total",
		"units/d3", "units/bai", "units/yuan"}) {
		t.Fatalf("heard %v", heard)
	}
	if slices.Contains(heard, "main_menu") {
		t.Fatalf("the main menu played although the caller barged in: %v", heard)
	}
	call.Hangup(cctx)

	// The call record: in the store ...
	var rec ivr.CDR
	for deadline := time.Now().Add(10 * time.Second); ; {
		cdrs, err := a.Store().CDRs(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cdrs) > 0 {
			rec = cdrs[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no CDR stored")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rec.Verification != "ok" || rec.Caller != "138****8000" || !slices.Equal(rec.Queries, []string{"violations"}) {
		t.Fatalf("cdr %+v", rec)
	}
	// ... and on Kafka.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokersOf(t, a), Topic: "ivr.cdr", MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		t.Fatal(err)
	}
	var fromKafka ivr.CDR
	if err := json.Unmarshal(m.Value, &fromKafka); err != nil || fromKafka.CallID != rec.CallID {
		t.Fatalf("kafka cdr %s (%v)", m.Value, err)
	}
	// HTTP endpoints.
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": `ivr_verifications_total{result="ok"} 1`} {
		res, err := http.Get("http://" + a.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), want) {
			t.Fatalf("%s: %s", path, b)
		}
	}
}

func brokersOf(t *testing.T, a *appivr.App) []string {
	t.Helper()
	b := a.Brokers()
	if len(b) == 0 {
		t.Fatal("no brokers")
	}
	return b
}
