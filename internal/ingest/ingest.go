// Package ingest consumes the event topics with a Kafka consumer group
// (segmentio/kafka-go), decodes each record with internal/event, sends the
// records that break the contract to a dead-letter topic, and hands the
// valid ones in batches to a Handler. An offset is committed only after the
// Handler has said every message the batch produced is durable, so delivery
// is at least once; what the Handler does with an event (rules, ledger) and
// how it stays idempotent is left to it.
package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/traffic12123/gateway/internal/event"
)

// Record is one decoded Kafka record.
type Record struct {
	Event     *event.Event
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Time      time.Time // the Kafka record timestamp

	src *kafka.Message // the record as fetched, for its dead-letter copy
}

// Handler takes a batch of valid records. It returns nil only when every
// message the batch produced is durable; then the batch's offsets are
// committed. An error makes the consumer retry the same batch after a
// backoff: records are never skipped, and nothing is committed meanwhile.
// Handle may be called again with records it has already seen (after an
// error, a restart or a rebalance) and must be idempotent.
type Handler interface {
	Handle(ctx context.Context, batch []Record) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, batch []Record) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, batch []Record) error { return f(ctx, batch) }

// Defaults for Config.
const (
	DefaultMaxBatch       = 1000
	DefaultMaxWait        = 50 * time.Millisecond
	DefaultMaxBytes       = 8 << 20
	DefaultSessionTimeout = 10 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultPoisonAttempts = 3
	DefaultLagEvery       = 5 * time.Second
	DefaultStallAfter     = 2 * time.Minute
	dlqErrorMax           = 512 // bytes of the dlq-error header
)

// DLQ header names.
const (
	HeaderReason    = "dlq-reason"
	HeaderError     = "dlq-error"
	HeaderTopic     = "dlq-topic"
	HeaderPartition = "dlq-partition"
	HeaderOffset    = "dlq-offset"
)

// Config configures a Consumer.
type Config struct {
	Brokers         []string
	GroupID         string
	Topics          []string
	DeadLetterTopic string
	MaxBatch        int              // records per Handle call; default DefaultMaxBatch
	MaxWait         time.Duration    // how long a batch waits to fill once its first record is in; default DefaultMaxWait
	BatchGap        time.Duration    // while the handler is idle, a pause this long in the record stream ends the batch; 0: wait for MaxWait
	MinBytes        int              // fetch request minimum; default 1
	MaxBytes        int              // fetch request maximum; default DefaultMaxBytes
	SessionTimeout  time.Duration    // group session; default DefaultSessionTimeout (the broker may impose a floor)
	DecodeWorkers   int              // goroutines decoding a large batch; default GOMAXPROCS, at most 4
	BackoffMin      time.Duration    // first retry delay after a handler or DLQ error; default DefaultMinBackoff
	BackoffMax      time.Duration    // default DefaultMaxBackoff
	DLQMaxBytes     int              // largest dead-letter copy (key, value, headers); bigger ones are truncated; default DefaultDLQMaxBytes
	PoisonAttempts  int              // a non-transient handler failure is retried this often before the batch is split; default DefaultPoisonAttempts
	Transient       func(error) bool // outage errors (retried for ever, never split); default Transient
	LagEvery        time.Duration    // how often the group's committed lag is read from the brokers; default DefaultLagEvery
	StallAfter      time.Duration    // committed lag with no commit for this long is a stall (Stalled); default DefaultStallAfter
	TLS             *tls.Config      // nil: plaintext
	SASL            sasl.Mechanism   // nil: no authentication
	Logger          *slog.Logger
	Metrics         *Metrics // nil: unregistered metrics
}

// Transport is the kafka-go transport for writers talking to the same
// cluster as cfg (TLS and SASL as configured).
func Transport(tlsCfg *tls.Config, mech sasl.Mechanism) *kafka.Transport {
	return &kafka.Transport{TLS: tlsCfg, SASL: mech, DialTimeout: 10 * time.Second}
}

// Consumer is one member of a consumer group.
type Consumer struct {
	cfg Config
	h   Handler
	log *slog.Logger
	m   *Metrics

	mu       sync.Mutex
	lag      map[partition]lagEntry
	batchSeq uint64
	health   health

	// idle holds a token while the handler waits for a batch: the batch
	// being gathered then ends at the next pause of BatchGap instead of
	// after MaxWait (fetch).
	idle chan struct{}
}

type partition struct {
	topic string
	id    int
}

type lagEntry struct {
	lag  int64
	seen uint64 // batchSeq when last updated
}

// New checks cfg and returns a consumer; Run starts it.
func New(cfg Config, h Handler) (*Consumer, error) {
	switch {
	case len(cfg.Brokers) == 0:
		return nil, ErrNoBrokers
	case cfg.GroupID == "":
		return nil, ErrNoGroup
	case len(cfg.Topics) == 0:
		return nil, ErrNoTopics
	case cfg.DeadLetterTopic == "":
		return nil, ErrNoDLQ
	case h == nil:
		return nil, ErrNoHandler
	case slices.Contains(cfg.Topics, cfg.DeadLetterTopic):
		return nil, ErrDLQLoop
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.MinBytes <= 0 {
		cfg.MinBytes = 1
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.DecodeWorkers <= 0 {
		cfg.DecodeWorkers = min(runtime.GOMAXPROCS(0), 4)
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = DefaultMinBackoff
	}
	if cfg.DLQMaxBytes <= 0 {
		cfg.DLQMaxBytes = DefaultDLQMaxBytes
	}
	if cfg.PoisonAttempts <= 0 {
		cfg.PoisonAttempts = DefaultPoisonAttempts
	}
	if cfg.Transient == nil {
		cfg.Transient = Transient
	}
	if cfg.LagEvery <= 0 {
		cfg.LagEvery = DefaultLagEvery
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(DefaultMaxBackoff, cfg.BackoffMin)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	c := &Consumer{
		cfg:  cfg,
		h:    h,
		log:  log.With("component", "ingest", "group", cfg.GroupID),
		m:    m,
		lag:  map[partition]lagEntry{},
		idle: make(chan struct{}, 1),
	}
	c.health.progress = time.Now()
	return c, nil
}

func (c *Consumer) readerConfig() kafka.ReaderConfig {
	hb := max(c.cfg.SessionTimeout/10, 50*time.Millisecond)
	return kafka.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		Dialer:            &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: c.cfg.TLS, SASLMechanism: c.cfg.SASL},
		GroupID:           c.cfg.GroupID,
		GroupTopics:       c.cfg.Topics,
		MinBytes:          c.cfg.MinBytes,
		MaxBytes:          c.cfg.MaxBytes,
		MaxWait:           250 * time.Millisecond, // broker-side wait for MinBytes
		QueueCapacity:     2 * c.cfg.MaxBatch,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: hb,
		RebalanceTimeout:  c.cfg.SessionTimeout,
		JoinGroupBackoff:  max(hb, 200*time.Millisecond),
		CommitInterval:    0, // synchronous: CommitMessages returns once the broker has the offsets
		StartOffset:       kafka.FirstOffset,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		Logger:            kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug(fmt.Sprintf(f, a...)) }),
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { c.log.Warn(fmt.Sprintf(f, a...)) }),
	}
}

// Run joins the group and consumes until ctx is done, then leaves the group
// and returns nil. A batch in progress when ctx ends is not committed (it
// will be redelivered) unless its handler had already succeeded.
func (c *Consumer) Run(ctx context.Context) error {
	r := kafka.NewReader(c.readerConfig())
	dlq := &kafka.Writer{
		Addr:         kafka.TCP(c.cfg.Brokers...),
		Topic:        c.cfg.DeadLetterTopic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    c.cfg.MaxBatch,
		BatchBytes:   1_000_000, // under Kafka's default message.max.bytes
		BatchTimeout: time.Millisecond,
		WriteTimeout: 10 * time.Second,
		Transport:    Transport(c.cfg.TLS, c.cfg.SASL),
	}
	c.log.Info("consumer starting", "topics", c.cfg.Topics, "dlq", c.cfg.DeadLetterTopic)
	wctx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() { c.watchLag(wctx) })
	err := c.loop(ctx, r, dlq)
	stopWatch()
	watch.Wait()
	// Leave the group before anything else so that the partitions move
	// to the other members at once.
	if cerr := r.Close(); cerr != nil {
		c.log.Warn("closing reader", "err", cerr)
	}
	if cerr := dlq.Close(); cerr != nil {
		c.log.Warn("closing dead-letter writer", "err", cerr)
	}
	c.log.Info("consumer stopped")
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// prepared is a batch fetched, decoded and dead-lettered, waiting for the
// handler.
type prepared struct {
	msgs    []kafka.Message
	records []Record
}

// loop runs two stages so that fetching and decoding the next batch
// overlaps handling the current one: prepare (fetch, decode, dead-letter)
// feeds finish (handle, commit) through a one-slot queue. Commits stay in
// fetch order because finish is sequential.
func (c *Consumer) loop(ctx context.Context, r *kafka.Reader, dlq *kafka.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan prepared, 1)
	var prepErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ready)
		prepErr = c.prepareLoop(ctx, r, dlq, ready)
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	for {
		if len(ready) == 0 {
			select { // nothing queued: the handler is about to wait
			case c.idle <- struct{}{}:
			default:
			}
		}
		p, ok := <-ready
		if !ok {
			break
		}
		if len(p.records) > 0 && !c.handle(ctx, dlq, p.records) {
			return nil
		}
		c.commit(ctx, r, p.msgs)
		c.m.Batches.Inc()
		c.m.BatchSize.Observe(float64(len(p.msgs)))
	}
	wg.Wait()
	return prepErr
}

func (c *Consumer) prepareLoop(ctx context.Context, r *kafka.Reader, dlq *kafka.Writer, ready chan<- prepared) error {
	fails := 0
	for {
		batch, err := c.fetch(ctx, r, make([]kafka.Message, 0, c.cfg.MaxBatch))
		if ctx.Err() != nil {
			return nil // fetched but unprocessed records are redelivered
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("ingest: reader closed: %w", err)
			}
			fails++
			c.log.Warn("fetch failed", "err", err)
			if !sleep(ctx, c.backoff(fails)) {
				return nil
			}
			if len(batch) == 0 {
				continue
			}
		}
		fails = 0
		p, ok := c.prepare(ctx, dlq, batch)
		if !ok {
			return nil
		}
		select {
		case ready <- p:
		case <-ctx.Done():
			return nil
		}
	}
}

// fetch waits for one record, then gathers more until the batch is full or
// MaxWait has passed, or, once the handler is idle, until no record has
// come for BatchGap (the gateway's default 1 ms: records of one fetched
// chunk follow each other within microseconds, a trickle of events is
// milliseconds apart). So a trickle is handled at once instead of after
// MaxWait (50 ms of batching was half of the event-to-submit latency at
// half load), while records already flowing (a backlog, a burst) still
// make one batch, as they did before: advisories reach the contacts of
// earlier batches, so splitting a burst would change who gets them.
func (c *Consumer) fetch(ctx context.Context, r *kafka.Reader, batch []kafka.Message) ([]kafka.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		return batch, err
	}
	batch = append(batch, m)
	lctx, cancel := context.WithTimeout(ctx, c.cfg.MaxWait)
	defer cancel()
	wctx, idle := context.WithCancel(lctx) // cancelled when the handler is idle
	defer idle()
	if c.cfg.BatchGap <= 0 {
		wctx = lctx // never cancelled early
	} else {
		go c.watchIdle(lctx, idle)
	}
	for len(batch) < c.cfg.MaxBatch {
		fctx, stop := wctx, context.CancelFunc(func() {})
		gap := wctx.Err() != nil && lctx.Err() == nil
		if gap {
			fctx, stop = context.WithTimeout(lctx, c.cfg.BatchGap)
		}
		m, err := r.FetchMessage(fctx)
		stop()
		switch {
		case err == nil:
			batch = append(batch, m)
		case ctx.Err() != nil:
			return batch, err
		case lctx.Err() != nil, gap && fctx.Err() != nil:
			return batch, nil // waited long enough, or the handler waits and nothing more is coming
		case wctx.Err() != nil:
			// the handler became idle: take what is still flowing
		default:
			return batch, err
		}
	}
	return batch, nil
}

// watchIdle cancels a batch's wait (idle) when the handler is idle.
func (c *Consumer) watchIdle(lctx context.Context, idle context.CancelFunc) {
	select {
	case <-c.idle:
		if lctx.Err() != nil { // the batch was complete anyway: keep the token for the next
			select {
			case c.idle <- struct{}{}:
			default:
			}
		}
		idle()
	case <-lctx.Done():
	}
}

// prepare decodes a batch and dead-letters the records that break the
// contract. It returns false when ctx ended first.
func (c *Consumer) prepare(ctx context.Context, dlq *kafka.Writer, batch []kafka.Message) (prepared, bool) {
	evs, errs := c.decode(batch)
	records := make([]Record, 0, len(batch))
	var dead []kafka.Message
	perTopic := map[string]int{}
	for i := range batch {
		m := &batch[i]
		perTopic[m.Topic]++
		if errs[i] != nil {
			dead = append(dead, deadLetter(m, reasonOf(errs[i]), errs[i].Error(), c.cfg.DLQMaxBytes))
			continue
		}
		records = append(records, Record{Event: evs[i], Topic: m.Topic, Partition: m.Partition,
			Offset: m.Offset, Key: m.Key, Time: m.Time, src: m})
	}
	for t, n := range perTopic {
		c.m.Records.WithLabelValues(t).Add(float64(n))
	}
	c.updateLag(batch)
	if len(dead) > 0 && !c.writeDead(ctx, dlq, dead) {
		return prepared{}, false
	}
	return prepared{msgs: batch, records: records}, true
}

// decode decodes a batch, on DecodeWorkers goroutines when it is large
// enough to be worth it.
func (c *Consumer) decode(batch []kafka.Message) ([]*event.Event, []error) {
	evs := make([]*event.Event, len(batch))
	errs := make([]error, len(batch))
	span := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			evs[i], errs[i] = event.Decode(batch[i].Value)
		}
	}
	workers := c.cfg.DecodeWorkers
	if workers <= 1 || len(batch) < 64*workers {
		span(0, len(batch))
		return evs, errs
	}
	per := (len(batch) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := per; lo < len(batch); lo += per {
		wg.Go(func() { span(lo, min(lo+per, len(batch))) })
	}
	span(0, per)
	wg.Wait()
	return evs, errs
}

// writeDead writes the refused records to the DLQ. A broker outage is
// retried until it ends (a record is never dropped, and the batch is not
// committed before); a copy the broker refuses as a record (too large,
// invalid) is written again stripped of its value and original headers,
// and if even that is refused it is counted and logged and the stream goes
// on: one record never stalls a partition.
func (c *Consumer) writeDead(ctx context.Context, dlq *kafka.Writer, dead []kafka.Message) bool {
	pending := dead
	for attempt := 1; len(pending) > 0; attempt++ {
		err := dlq.WriteMessages(ctx, pending...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		c.m.DLQErrors.Inc()
		var retry []kafka.Message
		var we kafka.WriteErrors
		var tl kafka.MessageTooLargeError
		switch {
		case errors.As(err, &we) && len(we) == len(pending):
			for i, e := range we {
				if e != nil {
					retry = append(retry, c.shrink(pending[i], e)...)
				}
			}
		case errors.As(err, &tl):
			retry = append(c.shrink(tl.Message, err), tl.Remaining...)
		default:
			retry = pending
		}
		pending = retry
		c.log.Warn("dead-letter write failed; retrying", "records", len(pending), "attempt", attempt, "err", summarize(err))
		if len(pending) > 0 && !sleep(ctx, c.backoff(attempt)) {
			return false
		}
	}
	for i := range dead {
		reason := string(dead[i].Headers[0].Value)
		c.m.DeadLettered.WithLabelValues(reason).Inc()
		c.log.Debug("dead-lettered", "reason", reason, "error", string(dead[i].Headers[1].Value),
			"topic", string(dead[i].Headers[2].Value), "partition", string(dead[i].Headers[3].Value),
			"offset", string(dead[i].Headers[4].Value))
	}
	return true
}

// shrink returns what to write again after m failed with err: m itself for
// an outage, its stripped copy when the broker refused the record, nothing
// when even the stripped copy was refused (counted and logged).
func (c *Consumer) shrink(m kafka.Message, err error) []kafka.Message {
	if !recordFault(err) {
		return []kafka.Message{m}
	}
	if !isStripped(m) {
		c.m.DLQTruncated.Inc()
		return []kafka.Message{stripped(m)}
	}
	c.m.DLQDropped.Inc()
	c.log.Error("dead-letter copy refused by the broker even without its value; skipped",
		"topic", header(m, HeaderTopic), "partition", header(m, HeaderPartition), "offset", header(m, HeaderOffset),
		"sha256", header(m, HeaderSHA256), "err", err)
	return nil
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// handle hands records to the handler until it succeeds. Records the
// handler rejects go to the DLQ; a batch that keeps failing with an error
// that is not an outage is split to find the record that breaks it, and a
// record that fails alone while the handler's probe is healthy goes to the
// DLQ as unprocessable. An outage blocks and retries (nothing to the DLQ).
// It returns false when ctx ended first.
func (c *Consumer) handle(ctx context.Context, dlq *kafka.Writer, records []Record) bool {
	fails := 0
	for attempt := 1; ; attempt++ {
		if len(records) == 0 {
			return true
		}
		start := time.Now()
		err := c.h.Handle(ctx, records)
		c.m.Handle.Observe(time.Since(start).Seconds())
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var rj *RejectError
		if errors.As(err, &rj) && len(rj.Rejected) > 0 {
			var ok bool
			if records, ok = c.reject(ctx, dlq, records, rj.Rejected); !ok {
				return false
			}
			attempt = 0
			continue
		}
		c.m.HandleErrors.Inc()
		first, last := records[0], records[len(records)-1]
		transient := c.cfg.Transient(err)
		c.log.Warn("handler failed; retrying", "records", len(records), "attempt", attempt, "transient", transient,
			"first", fmt.Sprintf("%s/%d@%d", first.Topic, first.Partition, first.Offset),
			"last", fmt.Sprintf("%s/%d@%d", last.Topic, last.Partition, last.Offset), "err", Scrub(err.Error()))
		if !transient {
			fails++
		}
		if fails >= c.cfg.PoisonAttempts {
			if len(records) > 1 {
				mid := len(records) / 2
				return c.handle(ctx, dlq, records[:mid]) && c.handle(ctx, dlq, records[mid:])
			}
			// Only a handler that can prove it is healthy lets a record
			// go: without a probe an unrecognised outage would empty the
			// stream into the DLQ.
			if pr, ok := c.h.(Prober); ok && pr.Probe(ctx) == nil {
				c.m.Unprocessable.Inc()
				_, ok := c.reject(ctx, dlq, records, []Rejection{{Index: 0, Reason: ReasonUnprocessable, Err: err}})
				return ok
			}
			fails = 0 // the probe failed (or there is none): an outage, retry
		}
		if !sleep(ctx, c.backoff(attempt)) {
			return false
		}
	}
}

// reject dead-letters the rejected records and returns the others.
func (c *Consumer) reject(ctx context.Context, dlq *kafka.Writer, records []Record, rej []Rejection) ([]Record, bool) {
	drop := make(map[int]bool, len(rej))
	var dead []kafka.Message
	for _, r := range rej {
		if r.Index < 0 || r.Index >= len(records) || drop[r.Index] {
			continue
		}
		drop[r.Index] = true
		src := records[r.Index].src
		if src == nil { // a Record not from this consumer (tests)
			rec := records[r.Index]
			src = &kafka.Message{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key}
		}
		msg := "rejected"
		if r.Err != nil {
			msg = r.Err.Error()
		}
		dead = append(dead, deadLetter(src, r.Reason, msg, c.cfg.DLQMaxBytes))
	}
	if len(dead) > 0 && !c.writeDead(ctx, dlq, dead) {
		return nil, false
	}
	rest := make([]Record, 0, len(records)-len(drop))
	for i := range records {
		if !drop[i] {
			rest = append(rest, records[i])
		}
	}
	return rest, true
}

// commit commits the last record of every partition in the batch
// (CommitMessages advances only the partitions of the messages it is given).
// The work is done, so a cancelled ctx still gets a few seconds to commit.
func (c *Consumer) commit(ctx context.Context, r *kafka.Reader, batch []kafka.Message) {
	last := lastPerPartition(batch)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.CommitMessages(cctx, last...); err != nil {
		c.m.CommitErrors.Inc()
		c.log.Warn("commit failed; the batch will be redelivered", "partitions", len(last), "err", err)
		return
	}
	c.progressed()
}

func lastPerPartition(batch []kafka.Message) []kafka.Message {
	idx := map[partition]int{}
	var out []kafka.Message
	for _, m := range batch {
		p := partition{m.Topic, m.Partition}
		if i, ok := idx[p]; ok {
			if m.Offset > out[i].Offset {
				out[i] = m
			}
			continue
		}
		idx[p] = len(out)
		out = append(out, m)
	}
	return out
}

// lagExpiry is how many batches a partition may go without a record before
// its lag is dropped: it has been revoked (a partition with lag would be
// fetched).
const lagExpiry = 1000

func (c *Consumer) updateLag(batch []kafka.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batchSeq++
	for _, m := range lastPerPartition(batch) {
		if m.HighWaterMark > 0 {
			c.lag[partition{m.Topic, m.Partition}] = lagEntry{lag: max(0, m.HighWaterMark-m.Offset-1), seen: c.batchSeq}
		}
	}
	perTopic := map[string]int64{}
	for p, e := range c.lag {
		if c.batchSeq-e.seen > lagExpiry {
			delete(c.lag, p)
			continue
		}
		perTopic[p.topic] += e.lag
	}
	for _, t := range c.cfg.Topics {
		c.m.Lag.WithLabelValues(t).Set(float64(perTopic[t]))
	}
}

// Lag returns the records between the last fetched offsets and the
// partitions' high-water marks, summed over the partitions this consumer
// has read from recently. Records fetched but not yet handled (at most two
// batches plus kafka-go's queue) are not counted.
func (c *Consumer) Lag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, e := range c.lag {
		n += e.lag
	}
	return n
}

func (c *Consumer) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffMin
	for i := 1; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.BackoffMax)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// summarize shortens kafka-go's WriteErrors (one entry per message) to a
// count and the first error.
func summarize(err error) error {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				return fmt.Errorf("%d of %d messages failed, first: %w", we.Count(), len(we), e)
			}
		}
	}
	return err
}
