package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
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

// memOutbox is a status outbox in memory, for the publisher's pacing on
// fake time (the real ledger and broker do I/O that a synctest bubble
// cannot wait on; the tests above use them).
type memOutbox struct {
	mu      sync.Mutex
	changes []ledger.StatusChange
	acked   int64
	reads   int
}

func (o *memOutbox) add(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		id := int64(len(o.changes) + 1)
		o.changes = append(o.changes, ledger.StatusChange{ID: id, MessageID: id, Key: fmt.Sprint("k", id), State: message.StateQueued, Channel: ledger.ChannelSMS})
	}
}

func (o *memOutbox) readCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads
}

func (o *memOutbox) PendingStatus(_ context.Context, limit int) ([]ledger.StatusChange, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	rest := o.changes[o.acked:]
	return slices.Clone(rest[:min(limit, len(rest))]), nil
}

func (o *memOutbox) AckStatus(_ context.Context, upTo int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acked = max(o.acked, upTo)
	return nil
}

// memWriter records the sizes of the writes.
type memWriter struct {
	mu     sync.Mutex
	writes []int
}

func (w *memWriter) WriteMessages(_ context.Context, ms ...kafka.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, len(ms))
	return nil
}

func (w *memWriter) sizes() []int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// TestPublisherGathers: after a batch smaller than a full read the
// publisher waits Gather, so changes that come meanwhile go in one
// write; a full read is followed at once by the next; an empty one
// waits Every.
func TestPublisherGathers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, w := &memOutbox{}, &memWriter{}
		o.add(3)
		p := &Publisher{Outbox: o, Writer: w, Every: 200 * time.Millisecond, Gather: 50 * time.Millisecond, Metrics: NewMetrics(nil)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); p.Run(ctx) }()

		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3}) {
			t.Fatalf("at start: writes %v, want [3]", got)
		}
		time.Sleep(10 * time.Millisecond)
		o.add(1)
		time.Sleep(20 * time.Millisecond)
		o.add(1)
		time.Sleep(20*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3}) {
			t.Fatalf("before Gather ends: writes %v, want still [3]", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3, 2}) {
			t.Fatalf("when Gather ends: writes %v, want [3 2]: the two changes in one write", got)
		}

		// A backlog: full reads follow each other without waiting.
		o.add(2*statusRead + 10)
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if got := w.sizes(); !slices.Equal(got, []int{3, 2, statusRead, statusRead, 10}) {
			t.Fatalf("backlog: writes %v, want two full reads then the rest at once", got)
		}

		// Nothing left: the next read is Every after the last empty one.
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		reads := o.readCount() // the empty read after the 10
		time.Sleep(200*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if n := o.readCount() - reads; n != 0 {
			t.Fatalf("%d reads within Every of an empty one, want none", n)
		}
		cancel()
		<-done
	})
}
