package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/ledger"
)

// StatusOutbox is the ledger's status outbox.
type StatusOutbox interface {
	PendingStatus(ctx context.Context, limit int) ([]ledger.StatusChange, error)
	AckStatus(ctx context.Context, upToID int64) error
}

// StatusWriter publishes records (kafka-go's Writer).
type StatusWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Publisher copies the ledger's status outbox to a Kafka topic so the
// platform can show "reminder delivered". Publishing is at least once:
// a crash between write and ack republishes; consumers dedupe on the
// outbox sequence (header "seq").
type Publisher struct {
	Outbox StatusOutbox
	Writer StatusWriter
	// Every is the wait after a read that found nothing (default 200 ms).
	Every time.Duration
	// Gather is the wait after a batch smaller than statusRead (default
	// 50 ms): at light load each outbox read, Kafka write and ack then
	// carries the changes of 50 ms, not the few of the last write's
	// round trip. A full batch is followed at once by the next.
	Gather  time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
	// Truncated counts status records with a field cut to its limit
	// (statusFieldMax); nil: not counted.
	Truncated prometheus.Counter
}

// statusFieldMax bounds every string field of a status record (and its
// key), so that one message with an oversize id can never make a record
// the broker refuses, which would stop sms.status for every message.
var statusFieldMax = map[string]int{
	"key": 512, "event_id": 256, "rule_id": 128, "recipient": 32, "carrier": 32, "reason": 256,
}

// cut shortens s to at most n bytes on a rune boundary; cut reports
// whether it did.
func cut(s string, n int, cutAny *bool) string {
	if len(s) <= n {
		return s
	}
	*cutAny = true
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// StatusRecord is the JSON value published per status change; the record
// key is the message key so one message's changes stay in order.
type StatusRecord struct {
	Seq       int64     `json:"seq"`
	MessageID int64     `json:"message_id"`
	Key       string    `json:"key"`
	EventID   string    `json:"event_id"`
	RuleID    string    `json:"rule_id"`
	Recipient string    `json:"recipient"`
	Carrier   string    `json:"carrier,omitempty"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
	// Channel is "voice" for the message's fallback call (State is then
	// the call's: queued, dialling, ringing, answered, confirmed, busy,
	// no_answer, failed, answered_unconfirmed, cancelled, expired) and
	// CallID the call's ledger id; absent for the SMS.
	Channel string `json:"channel,omitempty"`
	CallID  int64  `json:"call_id,omitempty"`
}

func (r StatusRecord) withChannel(ch string) StatusRecord {
	if ch != ledger.ChannelSMS {
		r.Channel = ch
	}
	return r
}

// statusRead is how many changes Once reads from the outbox at most.
const statusRead = 5000

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) {
	every, gather := p.Every, p.Gather
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	if gather <= 0 {
		gather = 50 * time.Millisecond
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		n, err := p.Once(ctx)
		if err != nil && ctx.Err() == nil {
			p.Logger.Warn("publishing status changes failed; will retry", "err", err)
		}
		wait := gather
		switch {
		case n == 0 || err != nil:
			wait = every
		case n >= statusRead:
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once publishes one batch and returns how many changes it published.
func (p *Publisher) Once(ctx context.Context) (int, error) {
	cs, err := p.Outbox.PendingStatus(ctx, statusRead)
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	recs := make([]kafka.Message, len(cs))
	for i, c := range cs {
		cutAny := false
		key := cut(c.Key, statusFieldMax["key"], &cutAny)
		v, err := json.Marshal(StatusRecord{
			Seq: c.ID, MessageID: c.MessageID, Key: key,
			EventID:   cut(c.EventID, statusFieldMax["event_id"], &cutAny),
			RuleID:    cut(c.RuleID, statusFieldMax["rule_id"], &cutAny),
			Recipient: cut(c.Recipient, statusFieldMax["recipient"], &cutAny),
			Carrier:   cut(c.Carrier, statusFieldMax["carrier"], &cutAny),
			State:     string(c.State),
			Reason:    cut(c.Reason, statusFieldMax["reason"], &cutAny),
			At:        c.At,
			CallID:    c.CallID,
		}.withChannel(c.Channel))
		if err != nil {
			return 0, fmt.Errorf("encode status: %w", err)
		}
		if cutAny && p.Truncated != nil {
			p.Truncated.Inc()
		}
		recs[i] = kafka.Message{
			Key:     []byte(key),
			Value:   v,
			Headers: []kafka.Header{{Key: "seq", Value: []byte(strconv.FormatInt(c.ID, 10))}},
		}
	}
	if err := p.Writer.WriteMessages(ctx, recs...); err != nil {
		return 0, fmt.Errorf("write status: %w", err)
	}
	if err := p.Outbox.AckStatus(ctx, cs[len(cs)-1].ID); err != nil {
		return 0, fmt.Errorf("ack status: %w", err)
	}
	p.Metrics.statusPublished.Add(float64(len(cs)))
	return len(cs), nil
}
