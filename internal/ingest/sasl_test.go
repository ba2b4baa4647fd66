package ingest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// TestSASL consumes from a broker that requires SASL: with the right
// login (PLAIN and SCRAM) every record arrives; with a wrong one nothing
// does.
func TestSASL(t *testing.T) {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{Topics: map[string]int{"events.vehicle": 1, "events.dlq": 1}, Users: map[string]string{"smsgw": "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	good := plain.Mechanism{Username: "smsgw", Password: "s3cret"}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "events.vehicle", Transport: Transport(nil, good), BatchTimeout: time.Millisecond}
	gen := eventgen.New(1, time.Now())
	const n = 20
	for range n {
		_, key, ev := gen.Next()
		v, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMessages(ctx, kafka.Message{Key: key, Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	scram256, err := scram.Mechanism(scram.SHA256, "smsgw", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mech sasl.Mechanism
		want int64
	}{
		{"plain", good, n},
		{"scram-sha-256", scram256, n},
		{"wrong password", plain.Mechanism{Username: "smsgw", Password: "nope"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got atomic.Int64
			c, err := New(Config{
				Brokers: b.Addrs(), GroupID: "sasl-" + tc.name, Topics: []string{"events.vehicle"}, DeadLetterTopic: "events.dlq",
				SessionTimeout: time.Second, SASL: tc.mech,
			}, HandlerFunc(func(_ context.Context, batch []Record) error { got.Add(int64(len(batch))); return nil }))
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- c.Run(rctx) }()
			if tc.want == 0 {
				time.Sleep(3 * time.Second) // refused logins are retried; nothing may arrive meanwhile
			}
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && got.Load() < tc.want; {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			if got.Load() != tc.want {
				t.Fatalf("consumed %d records, want %d", got.Load(), tc.want)
			}
		})
	}
}
