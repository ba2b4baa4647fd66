package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"

	"github.com/traffic12123/gateway/internal/eventgen"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

var testTopics = map[string]int{
	"events.licence": 2, "events.vehicle": 2, "events.violation": 3, "events.advisory": 1,
	eventgen.DefaultDeadLetterTopic: 1,
}

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func startBroker(t testing.TB, dir string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(context.Background(), broker.Config{DataDir: dir, Topics: testTopics, Logger: logger()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publish(t testing.TB, b *broker.Broker, seed int64, n int, opts eventgen.PublishOptions) *eventgen.PublishStats {
	t.Helper()
	st := new(eventgen.PublishStats)
	opts.Stats = st
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := eventgen.Publish(ctx, b.Addrs(), eventgen.New(seed, testNow), n, opts); err != nil {
		t.Fatal(err)
	}
	return st
}

type pos struct {
	topic     string
	partition int
	offset    int64
}

// recorder is a Handler that remembers what it was given.
type recorder struct {
	mu      sync.Mutex
	seen    map[pos]int // times each record was handled successfully
	batches [][]pos     // every call, failed or not
	fail    func(call int) error
	onOK    func(total int)
}

func newRecorder() *recorder { return &recorder{seen: map[pos]int{}} }

func (r *recorder) Handle(ctx context.Context, batch []Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := make([]pos, len(batch))
	for i, rec := range batch {
		ps[i] = pos{rec.Topic, rec.Partition, rec.Offset}
		if rec.Event == nil || string(rec.Key) != rec.Event.Entity() || rec.Time.IsZero() {
			return fmt.Errorf("bad record %+v", rec)
		}
	}
	r.batches = append(r.batches, ps)
	if r.fail != nil {
		if err := r.fail(len(r.batches)); err != nil {
			return err
		}
	}
	for _, p := range ps {
		r.seen[p]++
	}
	if r.onOK != nil {
		r.onOK(len(r.seen))
	}
	return nil
}

func (r *recorder) unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *recorder) snapshot() map[pos]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[pos]int, len(r.seen))
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

func config(b *broker.Broker, group string) Config {
	return Config{
		Brokers:         b.Addrs(),
		GroupID:         group,
		Topics:          eventgen.TopicNames(),
		DeadLetterTopic: eventgen.DefaultDeadLetterTopic,
		SessionTimeout:  time.Second,
		BackoffMin:      20 * time.Millisecond,
		BackoffMax:      100 * time.Millisecond,
		Logger:          logger(),
	}
}

// run starts c and returns a stop function that cancels it and checks that
// Run returned nil.
func run(t *testing.T, c *Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// endOffsets returns the high-water mark of every partition of the event
// topics.
func endOffsets(t *testing.T, b *broker.Broker, topics ...string) map[pos]int64 {
	t.Helper()
	out := map[pos]int64{}
	for _, topic := range topics {
		for p := 0; p < testTopics[topic]; p++ {
			conn, err := kafka.DialLeader(context.Background(), "tcp", b.Addrs()[0], topic, p)
			if err != nil {
				t.Fatal(err)
			}
			_, last, err := conn.ReadOffsets()
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[pos{topic, p, 0}] = last
		}
	}
	return out
}

// committed returns the group's committed offset of every partition of the
// event topics (-1: none).
func committed(t *testing.T, b *broker.Broker, group string) map[pos]int64 {
	t.Helper()
	req := &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	for _, topic := range eventgen.TopicNames() {
		for p := 0; p < testTopics[topic]; p++ {
			req.Topics[topic] = append(req.Topics[topic], p)
		}
	}
	cl := &kafka.Client{Addr: kafka.TCP(b.Addrs()...), Timeout: 5 * time.Second}
	resp, err := cl.OffsetFetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[pos]int64{}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				t.Fatal(p.Error)
			}
			out[pos{topic, p.Partition, 0}] = p.CommittedOffset
		}
	}
	return out
}

func TestHappyPath(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	const n = 3000
	publish(t, b, 1, n, eventgen.PublishOptions{})
	m := NewMetrics(nil)
	cfg := config(b, "happy")
	cfg.Metrics = m
	cfg.MaxBatch = 200
	rec := newRecorder()
	c, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, c)
	waitFor(t, "all records handled", func() bool { return rec.unique() == n })
	end := endOffsets(t, b, eventgen.TopicNames()...)
	waitFor(t, "offsets committed", func() bool { return mapsEqual(committed(t, b, "happy"), end) })
	stop()
	for p, times := range rec.snapshot() {
		if times != 1 {
			t.Errorf("%v handled %d times", p, times)
		}
	}
	total := 0.0
	for _, topic := range eventgen.TopicNames() {
		total += value(m.Records.WithLabelValues(topic))
	}
	if total != n {
		t.Errorf("records metric %v, want %d", total, n)
	}
	if got := value(m.Batches); got < n/200 {
		t.Errorf("%v batches for %d records of at most 200", got, n)
	}
	if c.Lag() != 0 {
		t.Errorf("lag %d after catching up", c.Lag())
	}
}

// mapsEqual compares committed offsets with end offsets. An empty
// partition has nothing to commit: its committed offset is -1 (none) and
// its end 0, and both mean "caught up".
func mapsEqual(a, b map[pos]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || max(v, 0) != max(w, 0) {
			return false
		}
	}
	return true
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
