package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func produce(t *testing.T, addrs []string, topic string, n, from int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func partitions(t *testing.T, addrs []string, topic string) []kafka.Partition {
	t.Helper()
	conn, err := kafka.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ps, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// count reads every partition of topic from the start to its end.
func count(t *testing.T, addrs []string, topic string) int {
	t.Helper()
	total := 0
	for _, p := range partitions(t, addrs, topic) {
		conn, err := kafka.DialLeader(context.Background(), "tcp", addrs[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := conn.ReadOffsets()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		total += int(last - first)
	}
	return total
}

func TestStartSeedsTopics(t *testing.T) {
	ctx := context.Background()
	b, err := Start(ctx, Config{Topics: map[string]int{"a": 3, "b": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := len(partitions(t, b.Addrs(), "a")); got != 3 {
		t.Errorf("a has %d partitions, want 3", got)
	}
	if got := len(partitions(t, b.Addrs(), "b")); got != 1 {
		t.Errorf("b has %d partitions, want 1", got)
	}
	produce(t, b.Addrs(), "a", 10, 0)
	if got := count(t, b.Addrs(), "a"); got != 10 {
		t.Errorf("a holds %d records, want 10", got)
	}
}

func TestDataSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := Start(ctx, Config{DataDir: dir, Topics: map[string]int{"events": 2}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, b.Addrs(), "events", 50, 0)
	b.Close()

	// Restart with one more topic: the old one keeps its records, the new
	// one is created.
	b, err = Start(ctx, Config{DataDir: dir, Topics: map[string]int{"events": 2, "events.dlq": 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := count(t, b.Addrs(), "events"); got != 50 {
		t.Errorf("after restart events holds %d records, want 50", got)
	}
	if got := len(partitions(t, b.Addrs(), "events.dlq")); got != 1 {
		t.Errorf("events.dlq has %d partitions", got)
	}
	produce(t, b.Addrs(), "events", 5, 50)
	if got := count(t, b.Addrs(), "events"); got != 55 {
		t.Errorf("events holds %d records, want 55", got)
	}
}

func TestBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"zero partitions": {Topics: map[string]int{"x": 0}},
		"empty name":      {Topics: map[string]int{"": 1}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Start(context.Background(), cfg)
			if !errors.Is(err, ErrBadTopic) {
				if b != nil {
					b.Close()
				}
				t.Fatalf("Start = %v, want ErrBadTopic", err)
			}
		})
	}
	if _, err := Start(context.Background(), Config{Addr: "127.0.0.1:-1"}); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

// TestDataDirMode: the broker's data (event records with phone and ID
// numbers) sits in a 0700 directory.
func TestDataDirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := Start(t.Context(), Config{DataDir: dir, Topics: map[string]int{"t": 1}})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
}
