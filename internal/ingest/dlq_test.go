package ingest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// readAll reads every record of one partition.
func readAll(t *testing.T, addr, topic string, partition int) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", addr, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for int64(len(out)) < last-first {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestDeadLetter(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	const n = 2000
	st := publish(t, b, 2, n, eventgen.PublishOptions{MalformedFraction: 0.1})
	bad := 0
	for _, k := range st.Malformed {
		bad += k
	}
	if bad < 100 || len(st.Malformed) != len(event.Reasons) {
		t.Fatalf("publisher made %v malformed records", st.Malformed)
	}
	m := NewMetrics(nil)
	cfg := config(b, "dlq")
	cfg.Metrics = m
	rec := newRecorder()
	c, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "valid records handled", func() bool { return rec.unique() == n-bad })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "dlq"), end) })
	stop()

	dead := readAll(t, b.Addrs()[0], eventgen.DefaultDeadLetterTopic, 0)
	if len(dead) != bad {
		t.Fatalf("DLQ holds %d records, want %d", len(dead), bad)
	}
	handled := rec.snapshot()
	byReason := map[event.Reason]int{}
	for i, d := range dead {
		reason := event.Reason(header(d, HeaderReason))
		byReason[reason]++
		_, err := event.Decode(d.Value)
		if got := event.ReasonOf(err); got != reason {
			t.Fatalf("DLQ record %d: header reason %q, decoder says %q", i, reason, got)
		}
		if header(d, HeaderError) != err.Error() {
			t.Errorf("dlq-error %q, want %q", header(d, HeaderError), err.Error())
		}
		topic := header(d, HeaderTopic)
		part, err1 := strconv.Atoi(header(d, HeaderPartition))
		off, err2 := strconv.ParseInt(header(d, HeaderOffset), 10, 64)
		if !slices.Contains(eventgen.TopicNames(), topic) || err1 != nil || err2 != nil {
			t.Fatalf("bad origin headers %v", d.Headers)
		}
		if handled[pos{topic, part, off}] != 0 {
			t.Errorf("%s/%d@%d both handled and dead-lettered", topic, part, off)
		}
		if i < 5 { // the original is where the headers say, byte for byte
			orig := readAt(t, b.Addrs()[0], topic, part, off)
			if string(orig.Key) != string(d.Key) || string(orig.Value) != string(d.Value) {
				t.Errorf("DLQ copy differs from %s/%d@%d", topic, part, off)
			}
		}
	}
	for reason, want := range st.Malformed {
		if byReason[reason] != want {
			t.Errorf("%s: %d dead-lettered, published %d", reason, byReason[reason], want)
		}
		if got := value(m.DeadLettered.WithLabelValues(string(reason))); got != float64(want) {
			t.Errorf("metric %s = %v, want %d", reason, got, want)
		}
	}
}

func readAt(t *testing.T, addr, topic string, partition int, offset int64) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: partition, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var errLedgerDown = errors.New("ledger down")

func TestHandlerErrorRetriesSameBatch(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	const n = 300
	publish(t, b, 3, n, eventgen.PublishOptions{})
	m := NewMetrics(nil)
	cfg := config(b, "retry")
	cfg.Metrics = m
	cfg.MaxBatch = 40
	rec := newRecorder()
	release := make(chan struct{})
	rec.fail = func(call int) error {
		select {
		case <-release:
			return nil
		default:
			return errLedgerDown
		}
	}
	c, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "three failed attempts", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.batches) >= 3
	})
	// While the handler fails nothing is committed.
	for p, off := range committed(t, b, "retry") {
		if off >= 0 {
			t.Errorf("%v committed at %d while the handler fails", p, off)
		}
	}
	close(release)
	waitFor(t, "records handled", func() bool { return rec.unique() == n })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "retry"), end) })
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	first := rec.batches[0]
	var i int
	for i = 1; i < len(rec.batches); i++ {
		if !slices.Equal(rec.batches[i], first) {
			break
		}
	}
	if i < 3 {
		t.Fatalf("attempt %d was not the same batch", i+1)
	}
	if got := value(m.HandleErrors); got < 3 {
		t.Errorf("handle errors metric %v", got)
	}
	for p, times := range rec.seen {
		if times != 1 {
			t.Errorf("%v handled %d times", p, times)
		}
	}
}

func TestLag(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	st := publish(t, b, 8, 3000, eventgen.PublishOptions{})
	n := st.ByTopic["events.advisory"] // one partition: the lag is exact
	if n < 50 {
		t.Fatalf("only %d advisories", n)
	}
	cfg := config(b, "lag")
	cfg.Topics = []string{"events.advisory"}
	cfg.MaxBatch = 10
	m := NewMetrics(nil)
	cfg.Metrics = m
	release := make(chan struct{})
	rec := newRecorder()
	rec.fail = func(int) error {
		select {
		case <-release:
			return nil
		default:
			return errLedgerDown
		}
	}
	c, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	// One batch in the handler, one queued, one waiting: the rest is lag.
	waitFor(t, "lag reported by Lag and the metric", func() bool {
		l := c.Lag()
		return l > 0 && value(m.Lag.WithLabelValues("events.advisory")) == float64(l)
	})
	if got := c.Lag(); got > int64(n) {
		t.Errorf("lag %d with %d records", got, n)
	}
	close(release)
	waitFor(t, "caught up", func() bool { return rec.unique() == n && c.Lag() == 0 })
	stop()
}
