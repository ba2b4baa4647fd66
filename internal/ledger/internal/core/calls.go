package core

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

var _ ledger.CallStore = (*Store)(nil)

// CallCols are the call columns scanCall reads, in order.
const CallCols = "id, message_id, key, event_id, rule_id, entity, recipient, text, say, urgent, priority, " +
	"state, reason, attempts, fallback_after, not_before, expires_at, owner, claimed_at, sip_call_id, sip_status, " +
	"created_at, updated_at"

// callInsertCols are the columns insertCall fills, in order.
const callInsertCols = "message_id, key, event_id, rule_id, entity, recipient, text, say, urgent, priority, " +
	"state, reason, fallback_after, not_before, expires_at, created_at, updated_at"

// activeCalls is the SQL list of the states of a call taken by a voice
// stage: claimed, or on the line.
const activeCalls = "('claimed','dialling','ringing','answered')"

// openCalls is the SQL list of the states of a call that is not final.
const openCalls = "('armed','queued','claimed','dialling','ringing','answered')"

// inProgressCalls is the SQL list of the states of a dialled call that
// has not ended.
const inProgressCalls = "('dialling','ringing','answered')"

// Reasons the ledger records on calls itself.
const (
	reasonCallExpired  = "expired before call"
	reasonCallReleased = "released"
)

// outCall buffers a status outbox row for a change of call id of message
// msgID.
func (t *wtx) outCall(callID, msgID int64, st ledger.CallState, reason string, at int64) {
	t.outbox = append(t.outbox, OutRow{MessageID: msgID, State: string(st), Reason: reason, At: at,
		Channel: ledger.ChannelVoice, CallID: callID})
}

// newCall returns the state and reason of the call a new message m's
// voice plan makes; ok false when it makes none: a voice-only plan calls
// instead of the SMS (the message suppressed with ReasonVoiceOnly), any
// other plan is a fallback for an SMS that policy did not suppress.
func newCall(m *message.Message) (st ledger.CallState, reason string, ok bool) {
	switch {
	case m.Voice == nil:
		return "", "", false
	case m.Voice.Only:
		switch {
		case m.State == message.StateSuppressed && m.Reason == message.ReasonVoiceOnly:
			return ledger.CallQueued, message.ReasonVoiceOnly, true
		case m.State == message.StateHeld:
			// Held by the content check: armed until an operator
			// decides; a release queues the call, not the SMS
			// (DecideHeld), a drop cancels it (ArmCalls).
			return ledger.CallArmed, message.ReasonVoiceOnly, true
		}
		return "", "", false
	case m.State == message.StateSuppressed:
		return "", "", false
	}
	return ledger.CallArmed, "", true
}

// insertCalls stores the calls of the messages of ms that Insert has just
// created (fresh[m]), with a status outbox row each.
func (t *wtx) insertCalls(ctx context.Context, ms []*message.Message, fresh map[*message.Message]bool, now int64) error {
	for _, m := range ms {
		if !fresh[m] {
			continue
		}
		st, reason, ok := newCall(m)
		if !ok {
			continue
		}
		say := ""
		if len(m.Voice.Say) > 0 {
			b, err := json.Marshal(m.Voice.Say)
			if err != nil {
				return fmt.Errorf("call of message %d: say: %w", m.ID, err)
			}
			say = string(b)
		}
		urgent := int64(0)
		if m.Urgent {
			urgent = 1
		}
		var id int64
		err := queryEach(ctx, t.q, func(r Rows) error { return r.Scan(&id) },
			`INSERT INTO calls (`+callInsertCols+`) VALUES (`+Placeholders(1, 17)+`) RETURNING id`,
			m.ID, m.Key, m.EventID, m.RuleID, m.Entity, m.Recipient, m.Text, say, urgent, int64(m.Priority),
			string(st), reason, int64(m.Voice.FallbackAfter), Nanos(m.NotBefore), Nanos(m.ExpiresAt), now, now)
		if err != nil {
			return fmt.Errorf("call of message %d: %w", m.ID, err)
		}
		t.outCall(id, m.ID, st, reason, now)
	}
	return nil
}

// scanCall reads one row of CallCols.
func scanCall(r Scanner) (*ledger.Call, error) {
	var (
		c                                          ledger.Call
		say, st                                    string
		urgent, prio, attempts, fallback, sipState int64
		notBefore, expires, claimed, created, upd  int64
	)
	err := r.Scan(&c.ID, &c.MessageID, &c.Key, &c.EventID, &c.RuleID, &c.Entity, &c.Recipient, &c.Text, &say,
		&urgent, &prio, &st, &c.Reason, &attempts, &fallback, &notBefore, &expires, &c.Owner, &claimed,
		&c.SIPCallID, &sipState, &created, &upd)
	if err != nil {
		return nil, err
	}
	if say != "" {
		if err := json.Unmarshal([]byte(say), &c.Say); err != nil {
			return nil, fmt.Errorf("call %d: say: %w", c.ID, err)
		}
	}
	c.Urgent, c.Priority, c.State, c.Attempts = urgent != 0, int(prio), ledger.CallState(st), int(attempts)
	c.FallbackAfter, c.SIPStatus = time.Duration(fallback), int(sipState)
	c.NotBefore, c.ExpiresAt, c.ClaimedAt = Time(notBefore), Time(expires), Time(claimed)
	c.CreatedAt, c.UpdatedAt = Time(created), Time(upd)
	return &c, nil
}

// callOrder orders calls as ClaimCalls hands them out: urgent first, then
// higher priority, then earlier NotBefore.
func callOrder(a, b *ledger.Call) int {
	ua, ub := 0, 0
	if a.Urgent {
		ua = 1
	}
	if b.Urgent {
		ub = 1
	}
	return cmp.Or(cmp.Compare(ub, ua), cmp.Compare(b.Priority, a.Priority), a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.ID, b.ID))
}

// stamp is at in Unix ns, or the ledger's now when at is zero.
func (s *Store) stamp(at time.Time) int64 {
	if at.IsZero() {
		return s.now()
	}
	return at.UnixNano()
}

// ArmCalls implements ledger.CallStore. Only armed calls whose SMS has
// ended, or whose fallback time has passed, are read: a join of the armed
// calls (partial index calls_armed) with their messages by key. A held
// SMS waits for the operator: its call is not queued by the clock (that
// would go round the hold). The fallback time counts from the
// submission, or, for an SMS never submitted, from when it was due (its
// NotBefore: a message scheduled for the morning is not called about at
// night) or created, whichever is later.
func (s *Store) ArmCalls(ctx context.Context, now time.Time) (ledger.ArmResult, error) {
	nowN := now.UnixNano()
	var res ledger.ArmResult
	err := s.write(ctx, func(t *wtx) error {
		res = ledger.ArmResult{} // a retried transaction starts afresh
		type armed struct {
			id, msg int64
			state   string
		}
		var as []armed
		err := queryEach(ctx, t.q, func(r Rows) error {
			var a armed
			if err := r.Scan(&a.id, &a.msg, &a.state); err != nil {
				return err
			}
			as = append(as, a)
			return nil
		}, `SELECT c.id, c.message_id, m.state FROM calls c JOIN messages m ON m.id = c.message_id
			WHERE c.state = 'armed' AND (m.state IN `+FinalStates+`
				OR (m.state <> 'held' AND CASE WHEN m.submitted_at > 0 THEN m.submitted_at
					WHEN m.not_before > m.created_at THEN m.not_before ELSE m.created_at END + c.fallback_after <= $1))
			ORDER BY c.id`, nowN)
		if err != nil {
			return err
		}
		for _, a := range as {
			st, reason := ledger.CallQueued, ledger.ReasonNoDelivery
			switch message.State(a.state) {
			case message.StateFailed, message.StateExpired, message.StatePartial, message.StateNoReceipt:
				reason = ledger.ReasonSMSPrefix + a.state
			case message.StateDelivered:
				st, reason = ledger.CallCancelled, ledger.ReasonSMSDelivered
			case message.StateCancelled, message.StateSuppressed:
				st, reason = ledger.CallCancelled, ledger.ReasonSMSPrefix+a.state
			}
			n, err := t.q.Exec(ctx, `UPDATE calls SET state = $1, reason = $2, not_before = CASE WHEN $1 = 'queued' THEN $3 ELSE not_before END,
				updated_at = $3 WHERE id = $4 AND state = 'armed'`, string(st), reason, nowN, a.id)
			if err != nil {
				return fmt.Errorf("call %d: %w", a.id, err)
			}
			if n == 0 {
				continue // another instance took it meanwhile
			}
			t.outCall(a.id, a.msg, st, reason, nowN)
			if st == ledger.CallQueued {
				res.Queued++
			} else {
				res.Cancelled++
			}
		}
		return nil
	})
	if err != nil {
		return ledger.ArmResult{}, fmt.Errorf("ledger arm calls: %w", err)
	}
	return res, nil
}

// ClaimCalls implements ledger.CallStore. On PostgreSQL the transaction
// first takes the status outbox lock (which a claim takes to append its
// rows anyway), so instances claim one after the other and never claim
// two calls to one recipient between them.
func (s *Store) ClaimCalls(ctx context.Context, now time.Time, limit int, owner string) (out []*ledger.Call, err error) {
	if limit <= 0 {
		return nil, nil
	}
	nowN := now.UnixNano()
	err = s.write(ctx, func(t *wtx) error {
		out = out[:0] // a retried transaction starts afresh
		if s.d.OutboxLock != "" {
			if _, err := t.q.Exec(ctx, s.d.OutboxLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		err := queryEach(ctx, t.q, func(r Rows) error {
			var id, msg int64
			if err := r.Scan(&id, &msg); err != nil {
				return err
			}
			t.outCall(id, msg, ledger.CallExpired, reasonCallExpired, nowN)
			return nil
		}, `UPDATE calls SET state = 'expired', reason = $1, updated_at = $2
			WHERE state = 'queued' AND expires_at > 0 AND expires_at < $2 RETURNING id, message_id`, reasonCallExpired, nowN)
		if err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		// Candidates in claim order, a few per call wanted (a recipient
		// with several due calls gives one); the rest wait for the next
		// claim.
		var ids []int64
		taken := map[string]bool{}
		err = queryEach(ctx, t.q, func(r Rows) error {
			var id int64
			var rcpt string
			if err := r.Scan(&id, &rcpt); err != nil {
				return err
			}
			if !taken[rcpt] && len(ids) < limit {
				taken[rcpt] = true
				ids = append(ids, id)
			}
			return nil
		}, `SELECT c.id, c.recipient FROM calls c WHERE c.state = 'queued' AND c.not_before <= $1
			AND NOT EXISTS (SELECT 1 FROM calls b WHERE b.recipient = c.recipient AND b.state IN `+activeCalls+`)
			ORDER BY c.urgent DESC, c.priority DESC, c.not_before, c.id LIMIT $2`, nowN, int64(4*limit))
		if err != nil {
			return err
		}
		return Chunks(ids, s.d.MaxList, func(ids []int64) error {
			in, args := s.d.Ints("id", 3, ids)
			return queryEach(ctx, t.q, func(r Rows) error {
				c, err := scanCall(r)
				if err != nil {
					return err
				}
				t.outCall(c.ID, c.MessageID, ledger.CallClaimed, "", nowN)
				out = append(out, c)
				return nil
			}, `UPDATE calls SET state = 'claimed', owner = $1, claimed_at = $2, updated_at = $2
				WHERE `+in+` AND state = 'queued' RETURNING `+CallCols, append([]any{owner, nowN}, args...)...)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ledger claim calls: %w", err)
	}
	slices.SortFunc(out, callOrder)
	return out, nil
}

// BeforeDial implements ledger.CallStore.
func (s *Store) BeforeDial(ctx context.Context, id int64, owner, sipCallID string, at time.Time) error {
	atN := s.stamp(at)
	err := s.write(ctx, func(t *wtx) error {
		var msg, attempts int64
		found := false
		err := queryEach(ctx, t.q, func(r Rows) error { found = true; return r.Scan(&msg, &attempts) },
			`UPDATE calls SET state = 'dialling', attempts = attempts + 1, sip_call_id = $1, sip_status = 0, reason = '', updated_at = $2
			WHERE id = $3 AND state = 'claimed' AND owner = $4 RETURNING message_id, attempts`, sipCallID, atN, id, owner)
		if err != nil {
			return err
		}
		if !found {
			return ledger.ErrCallNotClaimed
		}
		// The attempt's Call-ID in its dialling row: trace names every
		// attempt's (the call row keeps only the last).
		t.outCall(id, msg, ledger.CallDialling, ledger.ReasonCallIDPrefix+sipCallID, atN)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger before dial of call %d: %w", id, err)
	}
	return nil
}

// CallProgress implements ledger.CallStore. A call goes forward only:
// dialling to ringing or answered, ringing to answered.
func (s *Store) CallProgress(ctx context.Context, id int64, sipCallID string, state ledger.CallState, at time.Time) error {
	var from string
	switch state {
	case ledger.CallRinging:
		from = "('dialling')"
	case ledger.CallAnswered:
		from = "('dialling','ringing')"
	default:
		return fmt.Errorf("ledger call progress of call %d to %q: %w", id, state, ledger.ErrBadTransition)
	}
	atN := s.stamp(at)
	err := s.write(ctx, func(t *wtx) error {
		return queryEach(ctx, t.q, func(r Rows) error {
			var msg int64
			if err := r.Scan(&msg); err != nil {
				return err
			}
			t.outCall(id, msg, state, "", atN)
			return nil
		}, `UPDATE calls SET state = $1, updated_at = $2 WHERE id = $3 AND sip_call_id = $4 AND sip_call_id <> ''
			AND state IN `+from+` RETURNING message_id`, string(state), atN, id, sipCallID)
	})
	if err != nil {
		return fmt.Errorf("ledger call progress of call %d: %w", id, err)
	}
	return nil
}

// RetryReason is the reason of a call queued again after an attempt
// ended with outcome.
func RetryReason(outcome ledger.CallState) string { return "retry after " + string(outcome) }

// CallEnded implements ledger.CallStore. A retried call records its
// outcome (status row) and goes back to queued, due at RetryAt, its owner
// cleared; its SIPCallID and SIPStatus stay those of the attempt that
// ended until the next BeforeDial.
func (s *Store) CallEnded(ctx context.Context, ends []ledger.CallEnd) error {
	for _, e := range ends {
		if !e.Outcome.Outcome() {
			return fmt.Errorf("ledger call ended: call %d outcome %q: %w", e.ID, e.Outcome, ledger.ErrBadTransition)
		}
	}
	err := s.write(ctx, func(t *wtx) error {
		for _, e := range ends {
			atN := s.stamp(e.At)
			st, reason, notBefore := e.Outcome, e.Reason, int64(0)
			if !e.RetryAt.IsZero() {
				st, reason, notBefore = ledger.CallQueued, RetryReason(e.Outcome), e.RetryAt.UnixNano()
			}
			err := queryEach(ctx, t.q, func(r Rows) error {
				var msg int64
				if err := r.Scan(&msg); err != nil {
					return err
				}
				t.outCall(e.ID, msg, e.Outcome, e.Reason, atN)
				if st == ledger.CallQueued {
					t.outCall(e.ID, msg, ledger.CallQueued, reason, atN)
				}
				return nil
			}, `UPDATE calls SET state = $1, reason = $2, sip_status = $3,
				not_before = CASE WHEN $1 = 'queued' THEN $4 ELSE not_before END,
				owner = CASE WHEN $1 = 'queued' THEN '' ELSE owner END, updated_at = $5
				WHERE id = $6 AND ((sip_call_id = $7 AND sip_call_id <> '' AND state IN `+inProgressCalls+`)
					OR ($7 = '' AND state = 'claimed')) RETURNING message_id`,
				string(st), reason, int64(e.SIPStatus), notBefore, atN, e.ID, e.SIPCallID)
			if err != nil {
				return fmt.Errorf("call %d: %w", e.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger call ended: %w", err)
	}
	return nil
}

// ReleaseCalls implements ledger.CallStore.
func (s *Store) ReleaseCalls(ctx context.Context, ids []int64, notBefore time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	nowN := s.now()
	err := s.write(ctx, func(t *wtx) error {
		return Chunks(ids, s.d.MaxList, func(ids []int64) error {
			in, args := s.d.Ints("id", 4, ids)
			return queryEach(ctx, t.q, func(r Rows) error {
				var id, msg int64
				if err := r.Scan(&id, &msg); err != nil {
					return err
				}
				t.outCall(id, msg, ledger.CallQueued, reasonCallReleased, nowN)
				return nil
			}, `UPDATE calls SET state = 'queued', reason = $1, not_before = $2, owner = '', claimed_at = 0, updated_at = $3
				WHERE `+in+` AND state = 'claimed' RETURNING id, message_id`,
				append([]any{reasonCallReleased, Nanos(notBefore), nowN}, args...)...)
		})
	})
	if err != nil {
		return fmt.Errorf("ledger release calls: %w", err)
	}
	return nil
}

// StaleCalls implements ledger.CallStore.
func (s *Store) StaleCalls(ctx context.Context, owner string, staleBefore time.Time) ([]*ledger.Call, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []*ledger.Call
	err = queryEach(ctx, q, func(r Rows) error {
		c, err := scanCall(r)
		if err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}, `SELECT `+CallCols+` FROM calls WHERE state IN `+activeCalls+`
		AND (owner = $1 OR (CAST($2 AS BIGINT) > 0 AND claimed_at < CAST($2 AS BIGINT))) ORDER BY id`, owner, Nanos(staleBefore))
	if err != nil {
		return nil, fmt.Errorf("ledger stale calls: %w", err)
	}
	return out, nil
}

// Calls implements ledger.CallStore.
func (s *Store) Calls(ctx context.Context, messageIDs []int64) ([]*ledger.Call, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out, err := s.callsOf(ctx, q, messageIDs)
	if err != nil {
		return nil, fmt.Errorf("ledger calls: %w", err)
	}
	return out, nil
}

func (s *Store) callsOf(ctx context.Context, q Q, messageIDs []int64) ([]*ledger.Call, error) {
	var out []*ledger.Call
	err := Chunks(messageIDs, s.d.MaxList, func(ids []int64) error {
		in, args := s.d.Ints("message_id", 1, ids)
		return queryEach(ctx, q, func(r Rows) error {
			c, err := scanCall(r)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		}, `SELECT `+CallCols+` FROM calls WHERE `+in, args...)
	})
	slices.SortFunc(out, func(a, b *ledger.Call) int {
		return cmp.Or(cmp.Compare(a.MessageID, b.MessageID), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// CallSummary implements ledger.CallStore.
func (s *Store) CallSummary(ctx context.Context) (map[ledger.CallState]int, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out, err := callSummary(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("ledger call summary: %w", err)
	}
	return out, nil
}

func callSummary(ctx context.Context, q Q) (map[ledger.CallState]int, error) {
	out := make(map[ledger.CallState]int)
	err := queryEach(ctx, q, func(r Rows) error {
		var st string
		var n int64
		if err := r.Scan(&st, &n); err != nil {
			return err
		}
		out[ledger.CallState(st)] = int(n)
		return nil
	}, `SELECT state, count(*) FROM calls GROUP BY state`)
	return out, err
}

// traceCalls completes the TraceCall entries of es (in status outbox
// order, as Trace reads them) of the messages ids: Attempt counts the
// dialling changes of the call so far, and the entries of its last
// attempt get the Call-ID the calls row keeps (an earlier attempt's is
// not kept).
func (s *Store) traceCalls(ctx context.Context, q Q, ids []int64, es []ledger.TraceEntry) error {
	dials := map[int64]int{}
	type attempt struct {
		call int64
		n    int
	}
	sip := map[attempt]string{} // from the dialling rows
	for i := range es {
		e := &es[i]
		if e.Kind != ledger.TraceCall {
			continue
		}
		if ledger.CallState(e.State) == ledger.CallDialling {
			dials[e.CallID]++
			if id, ok := strings.CutPrefix(e.Reason, ledger.ReasonCallIDPrefix); ok {
				sip[attempt{e.CallID, dials[e.CallID]}] = id
				e.Reason = ""
			}
		}
		e.Attempt = dials[e.CallID]
		if e.Attempt > 0 {
			e.SIPCallID = sip[attempt{e.CallID, e.Attempt}]
		}
	}
	if len(dials) == 0 {
		return nil
	}
	calls, err := s.callsOf(ctx, q, ids)
	if err != nil {
		return err
	}
	last := make(map[int64]*ledger.Call, len(calls))
	for _, c := range calls {
		last[c.ID] = c
	}
	for i := range es {
		e := &es[i]
		if c := last[e.CallID]; e.Kind == ledger.TraceCall && c != nil && e.SIPCallID == "" && e.Attempt > 0 && e.Attempt == c.Attempts {
			e.SIPCallID = c.SIPCallID
		}
	}
	return nil
}
