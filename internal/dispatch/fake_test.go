package dispatch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// FakeCarrier is a Submitter for tests: it answers each Send with Answer
// (nil: every part accepted, one part per message, id "id-<ref>") and
// records what it was asked to send.
type FakeCarrier struct {
	Answer func(ctx context.Context, m SMS) (SendResult, error)

	mu   sync.Mutex
	sent []SMS
}

// Send records m and answers it.
func (f *FakeCarrier) Send(ctx context.Context, m SMS) (SendResult, error) {
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	if f.Answer != nil {
		return f.Answer(ctx, m)
	}
	return SendResult{ConcatRef: m.ConcatRef, Outcomes: []PartOutcome{{State: PartAccepted, ID: "id-" + m.Ref}}}, nil
}

// Sent is every SMS asked for so far.
func (f *FakeCarrier) Sent() []SMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SMS(nil), f.sent...)
}

// fakeLedger is the sender's and reconciler's part of the ledger in
// memory: Outbox and Unknowns. Claim takes queued messages that are due,
// oldest id first, one per recipient in flight (as the real ledger), and
// counts an attempt; results update the rows and are recorded in order.
type fakeLedger struct {
	mu         sync.Mutex
	rows       map[int64]*message.Message
	rec        record
	failClaims int // the next this many claims fail
}

// record is what the fake ledger was asked, in order.
type record struct {
	subs    []ledger.Submission
	trs     []ledger.Transition
	lates   []ledger.LatePart
	claimed []int64 // every message claimed
	limits  []int   // the limit of every claim

	// Unknowns
	recovers   []time.Time // staleBefore of each Recover
	noReceipts []time.Time // now of each NoReceipt
	unknownAt  []time.Time // olderThan of each Unknown
	requeues   [][]int64
}

// snap returns what was recorded so far.
func (l *fakeLedger) snap() record {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rec
	r.subs, r.trs, r.lates, r.claimed, r.limits = slices.Clone(r.subs), slices.Clone(r.trs), slices.Clone(r.lates), slices.Clone(r.claimed), slices.Clone(r.limits)
	r.recovers, r.noReceipts, r.unknownAt, r.requeues = slices.Clone(r.recovers), slices.Clone(r.noReceipts), slices.Clone(r.unknownAt), slices.Clone(r.requeues)
	return r
}

func newFakeLedger(ms ...*message.Message) *fakeLedger {
	l := &fakeLedger{rows: map[int64]*message.Message{}}
	for _, m := range ms {
		l.put(m)
	}
	return l
}

// put stores a copy of m (queued unless it has a state).
func (l *fakeLedger) put(m *message.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := *m
	if c.State == "" {
		c.State = message.StateQueued
	}
	l.rows[c.ID] = &c
}

// row returns a copy of message id.
func (l *fakeLedger) row(id int64) message.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.rows[id]
}

// states counts rows per state.
func (l *fakeLedger) states() map[message.State]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[message.State]int{}
	for _, m := range l.rows {
		out[m.State]++
	}
	return out
}

func (l *fakeLedger) Claim(_ context.Context, now time.Time, limit int, _ string) ([]*message.Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.limits = append(l.rec.limits, limit)
	if l.failClaims > 0 {
		l.failClaims--
		return nil, errors.New("ledger unavailable")
	}
	busy := map[string]bool{}
	for _, m := range l.rows {
		if m.State == message.StateSending {
			busy[m.Recipient] = true
		}
	}
	ids := make([]int64, 0, len(l.rows))
	for id := range l.rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []*message.Message
	for _, id := range ids {
		m := l.rows[id]
		if len(out) == limit {
			break
		}
		if m.State != message.StateQueued || m.NotBefore.After(now) || busy[m.Recipient] {
			continue
		}
		busy[m.Recipient] = true
		m.State = message.StateSending
		m.Attempts++
		c := *m
		c.CarrierIDs = slices.Clone(m.CarrierIDs)
		out = append(out, &c)
		l.rec.claimed = append(l.rec.claimed, id)
	}
	return out, nil
}

func (l *fakeLedger) NextDue(context.Context) (time.Time, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var next time.Time
	for _, m := range l.rows {
		if m.State == message.StateQueued && (next.IsZero() || m.NotBefore.Before(next)) {
			next = m.NotBefore
		}
	}
	return next, !next.IsZero(), nil
}

func (l *fakeLedger) Submitted(_ context.Context, subs []ledger.Submission) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range subs {
		l.rec.subs = append(l.rec.subs, s)
		m := l.rows[s.ID]
		m.CarrierIDs, m.ConcatRef, m.HasConcatRef = slices.Clone(s.CarrierIDs), s.Ref, s.HasRef
		m.State, m.Reason, m.NotBefore = message.StateSubmitted, "", time.Time{}
		if s.State != "" {
			m.State, m.Reason, m.NotBefore = s.State, s.Reason, s.NotBefore
		}
	}
	return nil
}

func (l *fakeLedger) Transition(_ context.Context, ts []ledger.Transition) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range ts {
		l.rec.trs = append(l.rec.trs, t)
		m := l.rows[t.ID]
		m.State, m.Reason, m.NotBefore = t.State, t.Reason, t.NotBefore
	}
	return nil
}

func (l *fakeLedger) LateParts(_ context.Context, ls []ledger.LatePart) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.lates = append(l.rec.lates, ls...)
	return nil
}

func (l *fakeLedger) Recover(_ context.Context, _ string, staleBefore time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.recovers = append(l.rec.recovers, staleBefore)
	return 0, nil
}

func (l *fakeLedger) NoReceipt(_ context.Context, now time.Time, _, _ time.Duration, _ int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.noReceipts = append(l.rec.noReceipts, now)
	return 0, nil
}

// Unknown returns the unknown messages whose last change (NotBefore
// here) is before olderThan.
func (l *fakeLedger) Unknown(_ context.Context, olderThan time.Time, _ int) ([]*message.Message, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.unknownAt = append(l.rec.unknownAt, olderThan)
	var out []*message.Message
	for _, m := range l.rows {
		if m.State == message.StateUnknown && m.NotBefore.Before(olderThan) {
			c := *m
			out = append(out, &c)
		}
	}
	slices.SortFunc(out, func(a, b *message.Message) int { return int(a.ID - b.ID) })
	return out, nil
}

func (l *fakeLedger) Requeue(_ context.Context, ids []int64, _ int, notBefore time.Time) (ledger.RequeueResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.requeues = append(l.rec.requeues, slices.Clone(ids))
	for _, id := range ids {
		m := l.rows[id]
		m.State, m.NotBefore = message.StateQueued, notBefore
	}
	return ledger.RequeueResult{Requeued: len(ids)}, nil
}

var (
	_ Outbox   = (*fakeLedger)(nil)
	_ Unknowns = (*fakeLedger)(nil)
)
