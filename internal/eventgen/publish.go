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
	BatchBytes        int64         // default 4 MiB
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
		opts.BatchBytes = 4 << 20
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
	bad := rand.New(rand.NewPCG(uint64(n), 7))
	msgs := make([]kafka.Message, 0, min(n, opts.Chunk))
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("eventgen: publish: %w", err)
		}
		st.Records += len(msgs)
		msgs = msgs[:0]
		return nil
	}
	for i := 0; i < n; i++ {
		topic, key, ev := g.Next()
		value, err := event.Encode(ev)
		if err != nil {
			return fmt.Errorf("eventgen: generated an invalid event: %w", err)
		}
		if opts.MalformedFraction > 0 && bad.Float64() < opts.MalformedFraction {
			reason := event.Reasons[bad.IntN(len(event.Reasons))]
			value = Corrupt(value, reason)
			st.Malformed[reason]++
		}
		st.ByTopic[topic]++
		msgs = append(msgs, kafka.Message{Topic: topic, Key: key, Value: value})
		if len(msgs) == opts.Chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	st.Elapsed = time.Since(start)
	log.Info("published", "records", st.Records, "elapsed", st.Elapsed)
	return nil
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
