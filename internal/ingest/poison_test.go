package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// mixed publishes n valid generated events and, after every tenth, the
// records poison(i) returns (nil: none). It returns the valid records'
// event ids and how many poison records were written.
func mixed(t *testing.T, b *broker.Broker, n int, poison func(i int) []kafka.Message) (valid map[string]bool, bad int) {
	t.Helper()
	g := eventgen.New(7, testNow)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Balancer: &kafka.Hash{}, BatchBytes: 1_048_000,
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	valid = map[string]bool{}
	var msgs []kafka.Message
	for i := range n {
		topic, key, ev := g.Next()
		v, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		valid[ev.ID] = true
		msgs = append(msgs, kafka.Message{Topic: topic, Key: key, Value: v})
		if i%10 == 0 && poison != nil {
			p := poison(i)
			bad += len(p)
			msgs = append(msgs, p...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, m := range msgs { // one at a time: a 1 MB record is a batch of its own
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return valid, bad
}

// idHandler records the event ids it handled; fail decides per batch.
type idHandler struct {
	mu    sync.Mutex
	ids   map[string]int
	fail  func(batch []Record) error
	probe error
}

func (h *idHandler) Handle(_ context.Context, batch []Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		if err := h.fail(batch); err != nil {
			return err
		}
	}
	for _, r := range batch {
		h.ids[r.Event.ID]++
	}
	return nil
}

func (h *idHandler) Probe(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.probe
}

func (h *idHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// TestOversizeRecordTruncatedInDLQ: an invalid record of almost Kafka's
// limit used to make a DLQ copy larger than the limit, retried for ever.
func TestOversizeRecordTruncatedInDLQ(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	big := make([]byte, 1_040_000)
	for i := range big {
		big[i] = 'x'
	}
	big[0] = '{' // malformed JSON
	sum := sha256.Sum256(big)
	valid, bad := mixed(t, b, 50, func(i int) []kafka.Message {
		if i == 20 {
			return []kafka.Message{{Topic: "events.licence", Key: []byte("k"), Value: big,
				Headers: []kafka.Header{{Key: "trace", Value: []byte("abc")}}}}
		}
		return nil
	})
	m := NewMetrics(nil)
	cfg := config(b, "oversize")
	cfg.Metrics = m
	h := &idHandler{ids: map[string]int{}}
	c, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "valid records handled", func() bool { return h.count() == len(valid) })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "oversize"), end) })
	stop()
	dead := readAll(t, b.Addrs()[0], eventgen.DefaultDeadLetterTopic, 0)
	if len(dead) != bad {
		t.Fatalf("DLQ holds %d records, want %d", len(dead), bad)
	}
	d := dead[0]
	if header(d, HeaderTruncated) != "true" || header(d, HeaderSize) != strconv.Itoa(len(big)) ||
		header(d, HeaderSHA256) != hex.EncodeToString(sum[:]) || header(d, HeaderReason) != string(event.ReasonMalformedJSON) ||
		header(d, HeaderTopic) != "events.licence" || header(d, HeaderOffset) == "" {
		t.Fatalf("headers %v", d.Headers)
	}
	if len(d.Value) >= len(big) || len(d.Value) == 0 || string(d.Value) != string(big[:len(d.Value)]) {
		t.Fatalf("copy holds %d bytes, want a prefix of %d", len(d.Value), len(big))
	}
}

func TestDeadLetterCopySizes(t *testing.T) {
	for _, n := range []int{0, 100, 600_000, 1_048_000} {
		m := &kafka.Message{Topic: "t", Key: []byte(strings.Repeat("k", n/2)), Value: make([]byte, n)}
		d := deadLetter(m, "malformed_json", strings.Repeat("e", 2000), DefaultDLQMaxBytes)
		size := len(d.Key) + len(d.Value)
		for _, h := range d.Headers {
			size += len(h.Key) + len(h.Value)
		}
		if size > DefaultDLQMaxBytes {
			t.Errorf("value %d: copy of %d bytes", n, size)
		}
		if len(header(d, HeaderError)) > dlqErrorMax {
			t.Errorf("dlq-error of %d bytes", len(header(d, HeaderError)))
		}
		if trunc := header(d, HeaderTruncated) == "true"; trunc != (n >= DefaultDLQMaxBytes/2) {
			t.Errorf("value %d: truncated %v", n, trunc)
		}
	}
}

// TestPoisonRecordSplitOut: a handler that fails (not an outage) whenever
// one particular record is in the batch. The batch is split until that
// record is alone; it goes to the DLQ as unprocessable, every other record
// is handled.
func TestPoisonRecordSplitOut(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	valid, _ := mixed(t, b, 300, nil)
	var poisonID string
	for id := range valid {
		poisonID = id
		break
	}
	h := &idHandler{ids: map[string]int{}, fail: func(batch []Record) error {
		for _, r := range batch {
			if r.Event.ID == poisonID {
				return errors.New("SQL logic error: Expression tree is too large (maximum depth 1000)")
			}
		}
		return nil
	}}
	m := NewMetrics(nil)
	cfg := config(b, "split")
	cfg.Metrics = m
	c, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "valid records handled", func() bool { return h.count() == len(valid)-1 })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "split"), end) })
	stop()
	dead := readAll(t, b.Addrs()[0], eventgen.DefaultDeadLetterTopic, 0)
	if len(dead) != 1 || header(dead[0], HeaderReason) != ReasonUnprocessable {
		t.Fatalf("DLQ: %d records, first %v", len(dead), dead)
	}
	ev, err := event.Decode(dead[0].Value)
	if err != nil || ev.ID != poisonID {
		t.Fatalf("DLQ holds %v (%v), want %s", ev, err, poisonID)
	}
	if got := value(m.Unprocessable); got != 1 {
		t.Errorf("unprocessable = %v", got)
	}
}

// TestOutageBlocks: an outage (a transient error, or any error while the
// probe fails) never sends anything to the DLQ; once it ends everything is
// handled.
func TestOutageBlocks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		probe error
	}{
		{"transient", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, nil},
		{"probe fails", errors.New("disk I/O error"), errors.New("ledger cannot write")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, "")
			defer b.Close()
			valid, _ := mixed(t, b, 100, nil)
			var mu sync.Mutex
			down := true
			calls := 0
			h := &idHandler{ids: map[string]int{}, probe: tc.probe}
			h.fail = func([]Record) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls > 12 {
					down = false
					h.probe = nil
				}
				if down {
					return tc.err
				}
				return nil
			}
			cfg := config(b, "outage")
			cfg.BackoffMax = 20 * time.Millisecond
			c, err := New(cfg, h)
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, c)
			waitFor(t, "valid records handled", func() bool { return h.count() == len(valid) })
			stop()
			conn, err := kafka.DialLeader(context.Background(), "tcp", b.Addrs()[0], eventgen.DefaultDeadLetterTopic, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			first, last, err := conn.ReadOffsets()
			if err != nil || last != first {
				t.Fatalf("DLQ holds %d records during an outage (%v)", last-first, err)
			}
		})
	}
}

// TestRejectedRecords: records the handler rejects go to the DLQ with the
// handler's reason; the rest of their batch is handled.
func TestRejectedRecords(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	valid, _ := mixed(t, b, 200, nil)
	rejected := map[string]bool{}
	for id := range valid {
		if len(rejected) == 3 {
			break
		}
		rejected[id] = true
	}
	h := &idHandler{ids: map[string]int{}}
	h.fail = func(batch []Record) error {
		var rj RejectError
		for i, r := range batch {
			if rejected[r.Event.ID] {
				rj.Rejected = append(rj.Rejected, Rejection{Index: i, Reason: "id_conflict", Err: fmt.Errorf("event id reused with different content")})
			}
		}
		if len(rj.Rejected) > 0 {
			return &rj
		}
		return nil
	}
	c, err := New(config(b, "reject"), h)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "valid records handled", func() bool { return h.count() == len(valid)-len(rejected) })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "reject"), end) })
	stop()
	dead := readAll(t, b.Addrs()[0], eventgen.DefaultDeadLetterTopic, 0)
	if len(dead) != len(rejected) {
		t.Fatalf("DLQ holds %d, want %d", len(dead), len(rejected))
	}
	for _, d := range dead {
		ev, err := event.Decode(d.Value)
		if err != nil || !rejected[ev.ID] || header(d, HeaderReason) != "id_conflict" {
			t.Fatalf("DLQ record %v %v", d.Headers, err)
		}
	}
}

// TestStallVisible: while the handler is stuck, the committed lag is
// read from the brokers and Health reports the stall.
func TestStallVisible(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	valid, _ := mixed(t, b, 100, nil)
	var mu sync.Mutex
	stuck := true
	h := &idHandler{ids: map[string]int{}, fail: func([]Record) error {
		mu.Lock()
		defer mu.Unlock()
		if stuck {
			return &net.OpError{Op: "write", Err: errors.New("ledger unreachable")}
		}
		return nil
	}}
	m := NewMetrics(nil)
	cfg := config(b, "stall")
	cfg.Metrics = m
	cfg.LagEvery = 50 * time.Millisecond
	cfg.StallAfter = 200 * time.Millisecond
	c, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "stall reported", func() bool { return c.Health() != nil && value(m.Stalled) == 1 })
	var lag float64
	for _, topic := range eventgen.TopicNames() {
		lag += value(m.CommittedLag.WithLabelValues(topic))
	}
	if int(lag) != len(valid) {
		t.Errorf("committed lag %v during the stall, want %d", lag, len(valid))
	}
	mu.Lock()
	stuck = false
	mu.Unlock()
	waitFor(t, "lag back to 0", func() bool { return c.CommittedLag() == 0 && c.Health() == nil && value(m.Stalled) == 0 })
	stop()
}

func TestScrub(t *testing.T) {
	for in, want := range map[string]string{
		"cannot convert '13812345678' to int":   "cannot convert '138******78' to int",
		"id 31011519780904256X bad":             "id 310*************6X bad",
		"offset 123456 and code 1625 stay":      "offset 123456 and code 1625 stay",
		"gen-n-42 at 2026-11-27T10:00:00+08:00": "gen-n-42 at 2026-11-27T10:00:00+08:00",
	} {
		if got := Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}
