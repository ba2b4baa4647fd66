package smsgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/console"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
)

// The operators' console (internal/console) is mounted on the admin
// listener under /console/ when http.console_accounts_file is set. It
// authenticates with its own accounts and sessions, so the admin bearer
// token does not apply to it.

func (a *App) buildConsole() error {
	file := a.cfg.HTTP.ConsoleAccountsFile
	if file == "" {
		return nil
	}
	if a.cfg.HTTP.AdminListen == "" {
		return fmt.Errorf("smsgw: http.console_accounts_file is set but http.admin_listen is empty: the console is served on the admin listener")
	}
	accts, err := console.LoadAccounts(file)
	if err != nil {
		return fmt.Errorf("smsgw: http.console_accounts_file: %w", err)
	}
	cl, ok := a.store.(console.Ledger)
	if !ok {
		return fmt.Errorf("smsgw: console: the ledger %T keeps no operator actions", a.store)
	}
	var cs []console.Carrier
	for _, k := range a.cfg.Carriers {
		cs = append(cs, console.Carrier{Name: k.Name, TPS: k.TPS, Binds: k.Binds, Window: k.Window})
	}
	cfg := console.Config{
		Accounts: accts, Ledger: cl, Rules: a.reloader, Gatherer: a.reg, Carriers: cs,
		Ready: a.Readiness, Wake: a.sender.Wake, Now: a.opts.Now, Samples: a.sampleEvents,
		Logger: a.log.With("component", "console"), Registerer: a.reg,
	}
	if a.cfg.Kafka.DeadLetter != "" {
		cfg.DeadLetters = &dlq{a: a}
	}
	c, err := console.New(cfg)
	if err != nil {
		return err
	}
	a.console = c
	return nil
}

// sampleEvents are generated events of each type for the playground.
func (a *App) sampleEvents() []json.RawMessage {
	g := eventgen.New(12123, a.opts.Now())
	seen := map[event.Type]bool{}
	var out []json.RawMessage
	for i := 0; i < 400 && len(out) < 12; i++ {
		_, _, ev := g.Next()
		if seen[ev.Type] {
			continue
		}
		b, err := event.Encode(ev)
		if err != nil {
			continue
		}
		seen[ev.Type] = true
		out = append(out, b)
	}
	return out
}

// dlq reads and replays the dead-letter topic.
type dlq struct{ a *App }

func (d *dlq) client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(d.a.cfg.Kafka.Brokers...), Timeout: 10 * time.Second, Transport: d.a.kafkaTransport}
}

func header(hs []kafka.Header, k string) string {
	for _, h := range hs {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// DeadLetters reads up to limit of the newest records of every partition.
func (d *dlq) DeadLetters(ctx context.Context, limit int) ([]console.DeadLetter, error) {
	topic := d.a.cfg.Kafka.DeadLetter
	c := d.client()
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	var out []console.DeadLetter
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, t.Error
		}
		for _, p := range t.Partitions {
			recs, err := d.fetch(ctx, c, topic, p.ID, -1, limit, excerptBytes)
			if err != nil {
				return nil, err
			}
			out = append(out, recs...)
		}
	}
	return out, nil
}

// excerptBytes of each record's value are kept for the listing: a DLQ of
// thousands of 1 MB records must not be held in memory to show excerpts.
const excerptBytes = 1024

// fetch reads partition p from offset (-1: the newest limit records),
// keeping at most keep bytes of each value (0: all).
func (d *dlq) fetch(ctx context.Context, c *kafka.Client, topic string, p int, offset int64, limit, keep int) ([]console.DeadLetter, error) {
	offs, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p)}}})
	if err != nil {
		return nil, err
	}
	var first, last int64
	for _, po := range offs.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		first, last = po.FirstOffset, po.LastOffset
	}
	from := offset
	if from < 0 {
		from = max(first, last-int64(limit))
	}
	if from >= last {
		return nil, nil
	}
	var out []console.DeadLetter
	for from < last && len(out) < limit {
		res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: p, Offset: from, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		if res.Error != nil {
			return nil, res.Error
		}
		n := 0
		for {
			r, err := res.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if r.Offset < from {
				continue
			}
			var key, v []byte
			if r.Key != nil {
				key, _ = io.ReadAll(r.Key)
			}
			if r.Value != nil {
				src := io.Reader(r.Value)
				if keep > 0 {
					src = io.LimitReader(r.Value, int64(keep))
				}
				v, _ = io.ReadAll(src)
			}
			size, _ := strconv.Atoi(header(r.Headers, ingest.HeaderSize))
			out = append(out, console.DeadLetter{Partition: p, Offset: r.Offset, Time: r.Time, Reason: header(r.Headers, ingest.HeaderReason),
				Error: header(r.Headers, ingest.HeaderError), Topic: header(r.Headers, ingest.HeaderTopic), Size: size,
				Truncated: header(r.Headers, ingest.HeaderTruncated) == "true", Value: v, Key: key})
			from = r.Offset + 1
			n++
			if offset >= 0 || len(out) >= limit {
				break
			}
		}
		if n == 0 || offset >= 0 {
			break
		}
	}
	return out, nil
}

// Replay publishes a dead letter's original record back to its topic.
func (d *dlq) Replay(ctx context.Context, partition int, offset int64) (string, error) {
	topic := d.a.cfg.Kafka.DeadLetter
	c := d.client()
	recs, err := d.fetch(ctx, c, topic, partition, offset, 1, 0)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 || recs[0].Offset != offset {
		return "", fmt.Errorf("no dead letter at %d/%d", partition, offset)
	}
	r := recs[0]
	switch {
	case r.Truncated:
		return "", errors.New("the dead letter keeps only part of the record: it cannot be replayed")
	case r.Topic == "" || r.Topic == topic:
		return "", errors.New("the dead letter names no original topic")
	}
	w := &kafka.Writer{Addr: kafka.TCP(d.a.cfg.Kafka.Brokers...), Topic: r.Topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, Transport: d.a.kafkaTransport}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: r.Key, Value: r.Value}); err != nil {
		return "", err
	}
	return r.Topic, nil
}
