package dispatch

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/open"
	"github.com/traffic12123/gateway/internal/message"
)

// TestStatusOversizeFieldsCut: a message whose key and event id are 400 KB
// (stored before the contract had limits) used to make a status record
// over the broker's limit, and sms.status stopped for every message. The
// fields are cut, the cut is counted, and the next message's status
// flows too.
func TestStatusOversizeFieldsCut(t *testing.T) {
	ctx := t.Context()
	b, st := statusRig(t)
	huge := strings.Repeat("x", 400_000)
	big := &message.Message{Key: huge + "|r|13800138000", EventID: huge, RuleID: "r", Recipient: "13800138000", Carrier: "china_mobile",
		Text: "t", Encoding: "ucs2", Segments: 1, State: message.StateQueued}
	small := &message.Message{Key: "ev2|r|13800138001", EventID: "ev2", RuleID: "r", Recipient: "13800138001", Carrier: "china_mobile",
		Text: "t", Encoding: "ucs2", Segments: 1, State: message.StateQueued}
	if err := st.Insert(ctx, []*message.Message{big, small}); err != nil {
		t.Fatal(err)
	}
	if err := st.Transition(ctx, []ledger.Transition{{ID: big.ID, State: message.StateFailed, Reason: strings.Repeat("r", 10_000)}}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "sms.status", BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	cut := prometheus.NewCounter(prometheus.CounterOpts{Name: "cut"})
	p := &Publisher{Outbox: st, Writer: w, Metrics: NewMetrics(nil), Truncated: cut}
	total := 0
	for range 5 {
		n, err := p.Once(ctx)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		total += n
		if n == 0 {
			break
		}
	}
	if total < 3 {
		t.Fatalf("published %d status changes, want at least 3", total)
	}
	var m dto.Metric
	_ = cut.Write(&m)
	if m.GetCounter().GetValue() != 2 { // big's creation and its failure
		t.Fatalf("truncated = %v, want 2", m.GetCounter().GetValue())
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: "sms.status", MaxWait: 50 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for range total {
		msg, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatal(err)
		}
		var rec StatusRecord
		if err := json.Unmarshal(msg.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if len(msg.Key) > 512 || len(msg.Value) > 2048 {
			t.Fatalf("record of %d+%d bytes", len(msg.Key), len(msg.Value))
		}
		seen[rec.Recipient] = true
	}
	if !seen["13800138001"] || !seen["13800138000"] {
		t.Fatalf("status of %v", seen)
	}
}

// TestStatusCarriesCalls: a message's fallback call shows on the status
// topic as channel voice with its call id and state, and the SMS's own
// records carry no channel (as before calls existed).
func TestStatusCarriesCalls(t *testing.T) {
	ctx := t.Context()
	b, st := statusRig(t)
	m := &message.Message{Key: "ev|r|13800138000", EventID: "ev", RuleID: "r", Recipient: "13800138000", Carrier: "china_mobile",
		Text: "t", Encoding: "ucs2", Segments: 1, State: message.StateQueued, Voice: &message.Voice{FallbackAfter: time.Hour}}
	if err := st.Insert(ctx, []*message.Message{m}); err != nil {
		t.Fatal(err)
	}
	if err := st.Transition(ctx, []ledger.Transition{{ID: m.ID, State: message.StateFailed, Reason: "UNDELIV"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.(ledger.CallStore).ArmCalls(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: "sms.status", BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	p := &Publisher{Outbox: st, Writer: w, Metrics: NewMetrics(nil)}
	n, err := p.Once(ctx)
	if err != nil || n != 4 {
		t.Fatalf("published %d (%v), want 4: queued, armed, failed, call queued", n, err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: b.Addrs(), Topic: "sms.status", MaxWait: 50 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []string
	for range n {
		msg, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatal(err)
		}
		var rec StatusRecord
		if err := json.Unmarshal(msg.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if (rec.Channel == "voice") != (rec.CallID != 0) || rec.Key != m.Key {
			t.Fatalf("record %+v", rec)
		}
		if rec.Channel == "voice" && rec.Carrier != "" {
			t.Fatalf("call record with the SMS's carrier: %+v", rec)
		}
		got = append(got, rec.Channel+":"+rec.State)
	}
	want := []string{":queued", "voice:armed", ":failed", "voice:queued"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("status records %q, want %q", got, want)
	}
}

// statusRig is a broker with an sms.status topic and an empty SQLite
// ledger, both closed when the test ends.
func statusRig(t *testing.T) (*broker.Broker, ledger.Store) {
	t.Helper()
	b, err := broker.Start(t.Context(), broker.Config{Topics: map[string]int{"sms.status": 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	st, err := open.Open(t.Context(), "sqlite::memory:", ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return b, st
}
