package eventgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/traffic12123/gateway/internal/event"
)

// PublishOptions tunes Publish. The zero value publishes valid records with
// a writer tuned for throughput.
type PublishOptions struct {
	// MalformedFraction of the records (0–1) are replaced by a broken copy
	// (see Corrupt), spread over every event.Reason, to exercise the DLQ.
	MalformedFraction float64
	Chunk             int           // records per WriteMessages call; default 10000
	BatchSize         int           // kafka-go Writer.BatchSize; default 2000
	BatchBytes        int64         // default 1,000,000 (Kafka's default message.max.bytes is 1,048,588)
	BatchTimeout      time.Duration // default 2ms (kafka-go's 1 s default stalls small loads)
	RequiredAcks      kafka.RequiredAcks
	Stats             *PublishStats // filled in when not nil
	Logger            *slog.Logger
}

// PublishStats counts what Publish wrote.
type PublishStats struct {
	Records   int
	ByTopic   map[string]int
	Malformed map[event.Reason]int
	Elapsed   time.Duration
}

// Publish writes n events from g to their topics, keyed by entity.
func Publish(ctx context.Context, brokers []string, g *Generator, n int, opts PublishOptions) error {
	if len(brokers) == 0 {
		return errors.New("eventgen: no brokers")
	}
	if opts.Chunk <= 0 {
		opts.Chunk = 10000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 1_000_000
	}
	if opts.BatchTimeout <= 0 {
		opts.BatchTimeout = 2 * time.Millisecond
	}
	if opts.RequiredAcks == 0 {
		opts.RequiredAcks = kafka.RequireAll
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Balancer:     &kafka.Hash{}, // one entity, one partition: its events stay in order
		BatchSize:    opts.BatchSize,
		BatchBytes:   opts.BatchBytes,
		BatchTimeout: opts.BatchTimeout,
		RequiredAcks: opts.RequiredAcks,
		WriteTimeout: 30 * time.Second,
	}
	defer w.Close()

	st := opts.Stats
	if st == nil {
		st = new(PublishStats)
	}
	st.ByTopic = map[string]int{}
	st.Malformed = map[event.Reason]int{}
	start := time.Now()

	// Generation (sequential: the generator is deterministic), encoding
	// (parallel within a chunk, order kept) and writing overlap.
	chunks := make(chan []kafka.Message, 2)
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		for msgs := range chunks {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return fmt.Errorf("eventgen: publish: %w", summarize(err))
			}
			st.Records += len(msgs)
		}
		return nil
	})
	eg.Go(func() error {
		defer close(chunks)
		bad := rand.New(rand.NewPCG(uint64(n), 7))
		events := make([]*event.Event, 0, opts.Chunk)
		for done := 0; done < n; {
			k := min(opts.Chunk, n-done)
			events = events[:0]
			msgs := make([]kafka.Message, k)
			for i := range k {
				topic, key, ev := g.Next()
				events = append(events, ev)
				msgs[i] = kafka.Message{Topic: topic, Key: key}
				st.ByTopic[topic]++
			}
			if err := encodeAll(events, msgs); err != nil {
				return err
			}
			if opts.MalformedFraction > 0 {
				for i := range msgs {
					if bad.Float64() < opts.MalformedFraction {
						reason := event.Reasons[bad.IntN(len(event.Reasons))]
						msgs[i].Value = Corrupt(msgs[i].Value, reason)
						st.Malformed[reason]++
					}
				}
			}
			done += k
			select {
			case chunks <- msgs:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return err
	}
	st.Elapsed = time.Since(start)
	log.Info("published", "records", st.Records, "elapsed", st.Elapsed)
	return nil
}

// encodeAll encodes events into msgs[i].Value on two goroutines.
func encodeAll(events []*event.Event, msgs []kafka.Message) error {
	var eg errgroup.Group
	const workers = 2
	per := (len(events) + workers - 1) / workers
	for lo := 0; lo < len(events); lo += per {
		hi := min(lo+per, len(events))
		eg.Go(func() error {
			for i := lo; i < hi; i++ {
				v, err := event.Encode(events[i])
				if err != nil {
					return fmt.Errorf("eventgen: generated an invalid event: %w", err)
				}
				msgs[i].Value = v
			}
			return nil
		})
	}
	return eg.Wait()
}

// Corrupt returns a copy of an encoded event broken so that Decode refuses
// it with reason r.
func Corrupt(value []byte, r event.Reason) []byte {
	v := bytes.Clone(value)
	switch r {
	case event.ReasonMissingField: // the envelope id is the first "id" Encode writes
		return bytes.Replace(v, []byte(`"id":"`), []byte(`"xid":"`), 1)
	case event.ReasonUnknownType:
		return bytes.Replace(v, []byte(`"type":"`), []byte(`"type":"x.`), 1)
	case event.ReasonInvalidField:
		i := bytes.Index(v, []byte(`"time":"`))
		j := bytes.IndexByte(v[i+8:], '"')
		return append(append(v[:i+8:i+8], "yesterday"...), v[i+8+j:]...)
	case event.ReasonBadSpecVersion:
		return bytes.Replace(v, []byte(`"specversion":"1.0"`), []byte(`"specversion":"0.3"`), 1)
	default: // malformed_json: truncated
		return v[:len(v)/2]
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
