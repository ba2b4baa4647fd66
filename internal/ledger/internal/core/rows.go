package core

import (
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// MsgCols are the message columns ScanMessage reads, in order.
const MsgCols = "id, key, event_id, event_type, entity, rule_id, template, priority, urgent, " +
	"dedupe_key, cancel_key, recipient, carrier, source, body, encoding, segments, state, reason, " +
	"not_before, expires_at, attempts, carrier_ids, receipt_status, receipt_error, " +
	"created_at, submitted_at, done_at"

// InsertCols are the columns InsertArgs fills, in order.
var InsertCols = []string{"key", "event_id", "event_type", "entity", "rule_id", "template",
	"priority", "urgent", "dedupe_key", "cancel_key", "recipient", "carrier", "source", "body",
	"encoding", "segments", "state", "reason", "not_before", "expires_at", "attempts",
	"carrier_ids", "created_at", "updated_at"}

// FinalStates is the SQL list of final states.
const FinalStates = "('delivered','failed','expired','cancelled','suppressed','partial','no_receipt')"

// Nanos converts a time to stored Unix nanoseconds (0 for the zero time).
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time converts stored Unix nanoseconds back (0 is the zero time).
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// JoinIDs stores carrier ids in one column.
func JoinIDs(ids []string) string { return strings.Join(ids, ",") }

// SplitIDs reverses JoinIDs.
func SplitIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Prepare fills defaults of a message about to be inserted: state queued
// when empty, CreatedAt now when zero, NotBefore CreatedAt when zero (so
// messages of equal priority are claimed oldest first).
func Prepare(m *message.Message, now time.Time) {
	if m.State == "" {
		m.State = message.StateQueued
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.NotBefore.IsZero() {
		m.NotBefore = m.CreatedAt
	}
}

// InsertArgs returns the values of InsertCols for m.
func InsertArgs(m *message.Message, now int64) []any {
	urgent := int64(0)
	if m.Urgent {
		urgent = 1
	}
	return []any{m.Key, m.EventID, m.EventType, m.Entity, m.RuleID, m.Template,
		int64(m.Priority), urgent, m.DedupeKey, m.CancelKey, m.Recipient, m.Carrier, m.Source, m.Text,
		m.Encoding, int64(m.Segments), string(m.State), m.Reason, Nanos(m.NotBefore), Nanos(m.ExpiresAt), int64(m.Attempts),
		JoinIDs(m.CarrierIDs), Nanos(m.CreatedAt), now}
}

// Scanner is a row of MsgCols.
type Scanner interface{ Scan(dest ...any) error }

// ScanMessage reads one row of MsgCols.
func ScanMessage(r Scanner) (*message.Message, error) {
	var (
		m                                         message.Message
		prio, urgent, segs, attempts              int64
		state, ids                                string
		notBefore, expires, created, subm, doneAt int64
	)
	err := r.Scan(&m.ID, &m.Key, &m.EventID, &m.EventType, &m.Entity, &m.RuleID, &m.Template, &prio, &urgent,
		&m.DedupeKey, &m.CancelKey, &m.Recipient, &m.Carrier, &m.Source, &m.Text, &m.Encoding, &segs, &state, &m.Reason,
		&notBefore, &expires, &attempts, &ids, &m.ReceiptStatus, &m.ReceiptError,
		&created, &subm, &doneAt)
	if err != nil {
		return nil, err
	}
	m.Priority, m.Urgent, m.Segments, m.Attempts = int(prio), urgent != 0, int(segs), int(attempts)
	m.State = message.State(state)
	m.NotBefore, m.ExpiresAt = Time(notBefore), Time(expires)
	m.CarrierIDs = SplitIDs(ids)
	m.CreatedAt, m.SubmittedAt, m.DoneAt = Time(created), Time(subm), Time(doneAt)
	return &m, nil
}

// Chunks calls fn for consecutive slices of at most n elements.
func Chunks[T any](xs []T, n int, fn func([]T) error) error {
	for len(xs) > 0 {
		k := min(n, len(xs))
		if err := fn(xs[:k]); err != nil {
			return err
		}
		xs = xs[k:]
	}
	return nil
}
