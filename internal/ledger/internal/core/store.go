package core

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// Store implements ledger.Store over a DB and a Dialect.
type Store struct {
	db     DB
	d      *Dialect
	opts   ledger.Options
	closed atomic.Bool
}

var _ ledger.Store = (*Store)(nil)

// NewStore builds a Store; the schema must exist.
func NewStore(db DB, d *Dialect, opts ledger.Options) *Store {
	return &Store{db: db, d: d, opts: opts.WithDefaults()}
}

func (s *Store) now() int64 { return s.opts.Now().UnixNano() }

func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	return s.db.Write(ctx, func(q Q) error {
		t := &wtx{q: q, d: s.d}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flushPending(ctx); err != nil {
			return err
		}
		if err := t.flushReceipts(ctx); err != nil {
			return err
		}
		return t.flush(ctx)
	})
}

func (s *Store) read() (Q, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	return s.db.Read(), nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

// Insert implements ledger.Store.
func (s *Store) Insert(ctx context.Context, msgs []*message.Message) (err error) {
	if len(msgs) == 0 {
		return nil
	}
	defer func(start time.Time) { s.opts.Metrics.Observe("insert", start, len(msgs), err) }(time.Now())
	now := s.opts.Now()
	nowN := now.UnixNano()
	for _, m := range msgs {
		Prepare(m, now)
	}
	// Rows keep the caller's order (IDs ascend with it). Two PostgreSQL
	// instances inserting overlapping batches in different orders may
	// deadlock; the write is then retried (db.Write).
	err = s.write(ctx, func(t *wtx) error {
		for _, m := range msgs { // a retried transaction starts afresh
			m.ID = 0
		}
		return Chunks(msgs, 200, func(ms []*message.Message) error {
			args := make([][]any, len(ms))
			for i, m := range ms {
				args[i] = InsertArgs(m, nowN)
			}
			ins, err := s.d.InsertMessages(ctx, t.q, args)
			if err != nil {
				return fmt.Errorf("insert messages: %w", err)
			}
			ids := make(map[string]int64, len(ins))
			for _, r := range ins {
				ids[r.Key] = r.ID
			}
			var dups []string
			var voice map[*message.Message]bool // new messages with a voice plan
			for _, m := range ms {
				if id, ok := ids[m.Key]; ok {
					m.ID = id
					t.out(id, m.State, m.Reason, nowN)
					delete(ids, m.Key) // a repeat in the same batch is a duplicate
					if m.Voice != nil {
						if voice == nil {
							voice = make(map[*message.Message]bool)
						}
						voice[m] = true
					}
				} else {
					dups = append(dups, m.Key)
				}
			}
			if len(voice) > 0 {
				if err := t.insertCalls(ctx, ms, voice, nowN); err != nil {
					return fmt.Errorf("insert calls: %w", err)
				}
			}
			if len(dups) == 0 {
				return nil
			}
			in, dargs := s.d.Strings("key", 1, dups)
			rows, err := t.q.Query(ctx, `SELECT id, key, state, created_at FROM messages WHERE `+in, dargs...)
			if err != nil {
				return fmt.Errorf("look up duplicates: %w", err)
			}
			defer rows.Close()
			type ex struct {
				id      int64
				state   string
				created int64
			}
			exist := make(map[string]ex, len(dups))
			for rows.Next() {
				var e ex
				var k string
				if err := rows.Scan(&e.id, &k, &e.state, &e.created); err != nil {
					return err
				}
				exist[k] = e
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, m := range ms {
				if e, ok := exist[m.Key]; ok && (m.ID == 0 || m.ID == e.id) {
					m.ID, m.State, m.CreatedAt = e.id, message.State(e.state), Time(e.created)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("ledger insert: %w", err)
	}
	return nil
}

// Claim implements ledger.Store. In one transaction it expires the due
// messages past their expiry (expireDue), then, one priority level at a
// time from the highest (nextPriority), picks the due messages it may send
// (claimable) and moves them to sending (markSending); after the commit it
// adds what a resend needs (loadRefs).
func (s *Store) Claim(ctx context.Context, now time.Time, limit int, owner string) (out []*message.Message, err error) {
	if limit <= 0 {
		return nil, nil
	}
	defer func(start time.Time) { s.opts.Metrics.Observe("claim", start, len(out), err) }(time.Now())
	nowN := now.UnixNano()
	err = s.write(ctx, func(t *wtx) error {
		out = out[:0] // a retried transaction starts afresh
		if err := t.expireDue(ctx, nowN); err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		// One priority level at a time, highest first: each level is an
		// index range on (priority, not_before), so rows scheduled far
		// ahead at a high priority (a night's advisories waiting for the
		// end of quiet hours) are never scanned.
		level := int64(math.MaxInt64)
		claimed := map[string]bool{} // recipients
		for len(out) < limit {
			p, found, err := t.nextPriority(ctx, level)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			if !found {
				break
			}
			level = p
			ids, err := t.claimable(ctx, p, nowN, limit-len(out), claimed)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			ms, err := t.markSending(ctx, ids, owner, nowN)
			if err != nil {
				return fmt.Errorf("claim: %w", err)
			}
			out = append(out, ms...)
		}
		return nil
	})
	if err == nil {
		err = s.loadRefs(ctx, out)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger claim: %w", err)
	}
	slices.SortFunc(out, func(a, b *message.Message) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.NotBefore.Compare(b.NotBefore), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// expireDue ends the queued and scheduled messages whose expiry has
// passed: expired, or partial when some of their parts were accepted
// (those parts are on the handset, their ids still take receipts).
func (t *wtx) expireDue(ctx context.Context, nowN int64) error {
	return queryEach(ctx, t.q, func(r Rows) error {
		var id int64
		var st, why string
		if err := r.Scan(&id, &st, &why); err != nil {
			return err
		}
		t.out(id, message.State(st), why, nowN)
		return nil
	}, `UPDATE messages SET
			state = CASE WHEN REPLACE(carrier_ids, ',', '') <> '' THEN 'partial' ELSE 'expired' END,
			reason = CASE WHEN REPLACE(carrier_ids, ',', '') <> '' THEN 'validity over before the missing parts were accepted' ELSE 'expired before send' END,
			done_at = $1, updated_at = $1
		WHERE `+t.d.InSubquery("id", `SELECT id FROM messages WHERE state IN ('queued','scheduled') AND expires_at > 0 AND expires_at < $1`+t.d.SkipLocked)+`
		RETURNING id, state, reason`, nowN)
}

// nextPriority returns the highest priority below below that has queued
// or scheduled messages.
func (t *wtx) nextPriority(ctx context.Context, below int64) (p int64, found bool, err error) {
	err = queryEach(ctx, t.q, func(r Rows) error {
		found = true
		return r.Scan(&p)
	}, `SELECT priority FROM messages WHERE state IN ('queued','scheduled') AND priority < $1
		ORDER BY priority DESC LIMIT 1`, below)
	return p, found, err
}

// claimable returns up to limit due messages of priority p, oldest due
// first, at most one per recipient: none to a recipient in claimed (taken
// at a higher level), to which it adds theirs.
//
// At most one message per recipient is sending or a candidate for receipt
// reconciliation (unknown; requeued after an unknown outcome, whose first
// send's receipt may still come; submitted by receipts alone with parts
// missing): if two to one phone were, a receipt whose excerpt fits both
// (UCS2 excerpts are "???12123????…") could settle the wrong one, and the
// other would be resent. So recipients that have one are skipped, except
// that the oldest requeued message is the one to send next. (TestCrash
// found the requeued case: a receipt of a message interrupted by a crash
// settled an older requeued one.) A message waiting to resend its missing
// parts goes first too: another long message to that phone meanwhile
// could get the same 8-bit concatenation reference, and the handset would
// join parts of both.
func (t *wtx) claimable(ctx context.Context, p, nowN int64, limit int, claimed map[string]bool) ([]int64, error) {
	var ids []int64
	err := queryEach(ctx, t.q, func(r Rows) error {
		var id int64
		var rcp string
		if err := r.Scan(&id, &rcp); err != nil {
			return err
		}
		if !claimed[rcp] {
			claimed[rcp] = true
			ids = append(ids, id)
		}
		return nil
	}, `SELECT m.id, m.recipient FROM messages m WHERE m.state IN ('queued','scheduled')
			AND m.priority = $1 AND m.not_before <= $2
			AND NOT EXISTS (SELECT 1 FROM messages b WHERE b.recipient = m.recipient AND b.id <> m.id
				AND (b.state IN ('sending','unknown') OR (b.state = 'submitted' AND b.carrier_ids = ''
						AND (SELECT count(*) FROM parts p WHERE p.message_id = b.id AND p.seq >= 0) < b.segments)
					OR (b.state = 'queued' AND b.requeues > 0 AND (m.requeues = 0 OR b.id < m.id))
					OR (b.state = 'queued' AND b.carrier_ids <> '' AND (m.carrier_ids = '' OR b.id < m.id))))
			ORDER BY m.not_before, m.id LIMIT $3`+t.d.SkipLocked, p, nowN, int64(limit))
	return ids, err
}

// markSending moves the messages ids to sending for owner, counting the
// attempt, and returns them.
func (t *wtx) markSending(ctx context.Context, ids []int64, owner string, nowN int64) ([]*message.Message, error) {
	var out []*message.Message
	err := Chunks(ids, t.d.MaxList, func(ids []int64) error {
		args := []any{owner, nowN}
		for _, id := range ids {
			args = append(args, id)
		}
		return queryEach(ctx, t.q, func(r Rows) error {
			m, err := ScanMessage(r)
			if err != nil {
				return err
			}
			out = append(out, m)
			return nil
		}, `UPDATE messages SET state = 'sending', attempts = attempts + 1, owner = $1, claimed_at = $2, updated_at = $2
			WHERE id IN (`+Placeholders(3, len(ids))+`) RETURNING `+MsgCols, args...)
	})
	return out, err
}

// loadRefs sets the concatenation reference of claimed messages whose
// earlier send left parts without an id, and fills the places of parts
// that receipts proved accepted (reconciled after a crash mid-message:
// no submit result recorded their ids), so that only the others are sent.
// A message at its first claim (attempts just became 1) and with no
// carrier id has neither: references and parts are stored by a send
// (Submitted, LateParts) or by receipts matched to a message sent before,
// so it is not looked up.
func (s *Store) loadRefs(ctx context.Context, ms []*message.Message) error {
	var ids []int64
	var byID map[int64]*message.Message
	for _, m := range ms {
		if AnyID(JoinIDs(m.CarrierIDs)) || m.Segments > 1 && m.Attempts > 1 {
			if byID == nil {
				byID = make(map[int64]*message.Message)
			}
			ids = append(ids, m.ID)
			byID[m.ID] = m
		}
	}
	if len(ids) == 0 {
		return nil
	}
	q, err := s.read()
	if err != nil {
		return err
	}
	err = Chunks(ids, s.d.MaxList, func(ids []int64) error {
		in, args := s.d.Ints("message_id", 1, ids)
		return queryEach(ctx, q, func(r Rows) error {
			var id, ref int64
			if err := r.Scan(&id, &ref); err != nil {
				return err
			}
			if m := byID[id]; m != nil {
				m.ConcatRef, m.HasConcatRef = uint16(ref), true
			}
			return nil
		}, `SELECT message_id, ref FROM send_refs WHERE `+in, args...)
	})
	if err != nil {
		return err
	}
	return Chunks(ids, s.d.MaxList, func(ids []int64) error {
		in, args := s.d.Ints("message_id", 1, ids)
		return queryEach(ctx, q, func(r Rows) error {
			var id, seq int64
			var cid string
			if err := r.Scan(&id, &seq, &cid); err != nil {
				return err
			}
			m := byID[id]
			if m == nil {
				return nil
			}
			if len(m.CarrierIDs) == 0 && m.Segments > 1 {
				m.CarrierIDs = make([]string, m.Segments)
			}
			if int(seq) < len(m.CarrierIDs) && m.CarrierIDs[seq] == "" {
				m.CarrierIDs[seq] = cid
			}
			return nil
		}, `SELECT message_id, seq, carrier_id FROM parts WHERE `+in+` AND seq >= 0`, args...)
	})
}

// NextDue implements ledger.Store.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	q, err := s.read()
	if err != nil {
		return time.Time{}, false, err
	}
	// The earliest per priority level, each an index seek on
	// (priority, not_before): no index of its own to keep up on every
	// insert and claim.
	var best int64
	found := false
	prev := int64(math.MaxInt64)
	for {
		var p, nb int64
		ok := false
		err := queryEach(ctx, q, func(r Rows) error {
			ok = true
			return r.Scan(&p)
		}, `SELECT priority FROM messages WHERE state IN ('queued','scheduled') AND priority < $1
			ORDER BY priority DESC LIMIT 1`, prev)
		if err == nil && ok {
			err = queryEach(ctx, q, func(r Rows) error { return r.Scan(&nb) },
				`SELECT not_before FROM messages WHERE state IN ('queued','scheduled') AND priority = $1
				ORDER BY not_before LIMIT 1`, p)
		}
		if err != nil {
			return time.Time{}, false, fmt.Errorf("ledger next due: %w", err)
		}
		if !ok {
			break
		}
		if !found || nb < best {
			best, found = nb, true
		}
		prev = p
	}
	if !found {
		return time.Time{}, false, nil
	}
	return time.Unix(0, best), true, nil
}

// Submitted implements ledger.Store.
func (s *Store) Submitted(ctx context.Context, subs []ledger.Submission) (err error) {
	if len(subs) == 0 {
		return nil
	}
	defer func(start time.Time) { s.opts.Metrics.Observe("submitted", start, len(subs), err) }(time.Now())
	nowN := s.now()
	err = s.write(ctx, func(t *wtx) error {
		var parts [][]any
		var upd [][]any
		var refs [][]any
		type outcome struct {
			state  message.State
			reason string
		}
		outs := make(map[int64]outcome, len(subs))
		byCarrier := make(map[string][]string)
		// Ids stored meanwhile (a late response recorded by LateParts)
		// fill the parts this submission has none for.
		stored := make(map[int64][]string, len(subs))
		subIDs := make([]int64, 0, len(subs))
		for _, sub := range subs {
			subIDs = append(subIDs, sub.ID)
		}
		slices.Sort(subIDs)
		err := Chunks(subIDs, s.d.MaxList, func(ids []int64) error {
			in, args := s.d.Ints("id", 1, ids)
			return queryEach(ctx, t.q, func(r Rows) error {
				var id int64
				var cids string
				if err := r.Scan(&id, &cids); err != nil {
					return err
				}
				if AnyID(cids) {
					stored[id] = SplitIDs(cids)
				}
				return nil
			}, `SELECT id, carrier_ids FROM messages WHERE `+in+s.d.ForUpdate, args...)
		})
		if err != nil {
			return fmt.Errorf("stored parts: %w", err)
		}
		merged := make([]ledger.Submission, 0, len(subs))
		for _, sub := range subs {
			ids := make([]string, len(sub.CarrierIDs))
			anyID := false
			for i, id := range sub.CarrierIDs {
				ids[i] = ledger.NormalizeID(id)
				if old := stored[sub.ID]; ids[i] == "" && len(old) == len(ids) {
					ids[i] = old[i]
				}
				anyID = anyID || ids[i] != ""
			}
			sub.CarrierIDs = ids
			merged = append(merged, sub)
			at := Nanos(sub.At)
			if at == 0 {
				at = nowN
			}
			o := outcome{message.StateSubmitted, ""}
			if !sub.Complete() {
				o = outcome{sub.State, sub.Reason}
				switch {
				case o.state == "":
					o.state = message.StateUnknown
				case o.state == message.StateFailed && anyID:
					o.state = message.StatePartial // parts are on the handset: never "failed"
				}
			}
			outs[sub.ID] = o
			done := int64(0)
			if o.state.Final() {
				done = nowN
			}
			subAt := int64(0)
			if anyID {
				subAt = at
			}
			// A place per part (empty: no id yet), so that a receipt
			// reconciled by text takes the place of a part whose outcome
			// was unknown, never one not sent.
			cids := JoinIDs(ids)
			upd = append(upd, []any{sub.ID, sub.Carrier, cids, subAt, string(o.state), o.reason, Nanos(sub.NotBefore), done})
			for i, id := range ids {
				if id == "" {
					continue
				}
				parts = append(parts, []any{sub.Carrier, id, sub.ID, int64(i), "", "", int64(0), at})
				byCarrier[sub.Carrier] = append(byCarrier[sub.Carrier], id)
			}
			if sub.HasRef && !sub.Complete() {
				refs = append(refs, []any{sub.ID, int64(sub.Ref), strings.Join(sub.Outcomes, ";"), nowN})
			}
		}
		// Fixed lock order between concurrent PostgreSQL batches.
		slices.SortFunc(upd, func(a, b []any) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })
		var resent []int64           // requeued before: may hold parts of an earlier send
		claimed := map[int64]int64{} // message → claimed_at: receipts before it are not its parts'
		err = Chunks(upd, 300, func(rows [][]any) error {
			src, args := s.d.Values(rows)
			return queryEach(ctx, t.q, func(r Rows) error {
				var id, requeues, claimedAt int64
				if err := r.Scan(&id, &requeues, &claimedAt); err != nil {
					return err
				}
				o := outs[id]
				t.out(id, o.state, o.reason, nowN)
				if requeues > 0 {
					resent = append(resent, id)
				}
				claimed[id] = claimedAt
				return nil
			}, `UPDATE messages SET state = v.column5, reason = v.column6, carrier = v.column2, carrier_ids = v.column3,
					submitted_at = CASE WHEN v.column4 > 0 THEN v.column4 ELSE submitted_at END,
					not_before = CASE WHEN v.column7 > 0 THEN v.column7 ELSE not_before END,
					done_at = v.column8, updated_at = $`+strconv.Itoa(len(args)+1)+`
				FROM `+src+` AS v WHERE messages.id = v.column1 AND messages.state IN ('sending','unknown','queued','scheduled')
				RETURNING messages.id, messages.requeues, messages.claimed_at`, append(args, nowN)...)
		})
		if err != nil {
			return fmt.Errorf("update messages: %w", err)
		}
		if len(refs) > 0 {
			if err := t.insertRows(ctx, "send_refs", "message_id, ref, outcomes, updated_at", refs,
				`ON CONFLICT (message_id) DO UPDATE SET outcomes = excluded.outcomes, updated_at = excluded.updated_at`); err != nil {
				return fmt.Errorf("send refs: %w", err)
			}
		}
		if err := t.lockKeys(ctx, byCarrier); err != nil {
			return err
		}
		if err := t.supersede(ctx, resent, merged); err != nil {
			return err
		}
		// An SMSC that restarted its counter can give two messages of one
		// batch the same id: the later result is the most recent
		// submission (and PostgreSQL refuses to upsert one row twice in
		// a statement).
		parts = lastPerID(parts)
		// A carrier id stored before for the same message (a receipt
		// reconciled it) keeps its receipt stat and takes its real seq.
		// One stored for another message is the SMSC reusing an id: the
		// part is this message's now (the most recent submission).
		err = t.insertRows(ctx, "parts", "carrier, carrier_id, message_id, seq, stat, err, done_at, submitted_at", parts,
			`ON CONFLICT (carrier, carrier_id) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq,
				stat = CASE WHEN parts.message_id = excluded.message_id THEN parts.stat ELSE excluded.stat END,
				err = CASE WHEN parts.message_id = excluded.message_id THEN parts.err ELSE excluded.err END,
				done_at = CASE WHEN parts.message_id = excluded.message_id THEN parts.done_at ELSE excluded.done_at END,
				submitted_at = excluded.submitted_at
			WHERE parts.message_id <> excluded.message_id OR parts.seq <> excluded.seq`)
		if err != nil {
			return fmt.Errorf("parts: %w", err)
		}
		// Receipts kept pending while they were sending may settle the
		// ones whose outcome is unknown (by text, when no id is known).
		var unknown []int64
		for id, o := range outs {
			if o.state == message.StateUnknown {
				unknown = append(unknown, id)
			}
		}
		slices.Sort(unknown)
		if _, err := t.RetryPending(ctx, unknown, nowN); err != nil {
			return err
		}
		since := make(map[string]int64)
		for _, p := range parts {
			since[p[1].(string)] = claimed[p[2].(int64)]
		}
		for carrier, ids := range byCarrier {
			if err := Chunks(ids, s.d.MaxList, func(ids []string) error {
				return t.ApplyPending(ctx, carrier, ids, since, nowN)
			}); err != nil {
				return fmt.Errorf("pending receipts: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger submitted: %w", err)
	}
	return nil
}

// lastPerID keeps, of part rows (carrier, carrier_id, …) naming one id
// twice, the last.
func lastPerID(rows [][]any) [][]any {
	last := make(map[partKey]int, len(rows))
	for i, r := range rows {
		last[partKey{r[0].(string), r[1].(string)}] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([][]any, 0, len(last))
	for i, r := range rows {
		if last[partKey{r[0].(string), r[1].(string)}] == i {
			out = append(out, r)
		}
	}
	return out
}

// LateParts implements ledger.Store.
func (s *Store) LateParts(ctx context.Context, ls []ledger.LatePart) (err error) {
	if len(ls) == 0 {
		return nil
	}
	defer func(start time.Time) { s.opts.Metrics.Observe("late_parts", start, len(ls), err) }(time.Now())
	nowN := s.now()
	slices.SortFunc(ls, func(a, b ledger.LatePart) int { return cmp.Compare(a.ID, b.ID) })
	err = s.write(ctx, func(t *wtx) error {
		for _, l := range ls {
			if l.Refused {
				if err := t.lateRefusal(ctx, l, nowN); err != nil {
					return fmt.Errorf("late refusal: %w", err)
				}
				continue
			}
			id := ledger.NormalizeID(l.CarrierID)
			if id == "" || l.Part < 1 || l.Part > max(l.Parts, 1) {
				continue
			}
			var st, cids string
			var segs, claimedAt int64
			found := false
			err := queryEach(ctx, t.q, func(r Rows) error {
				found = true
				return r.Scan(&st, &cids, &segs, &claimedAt)
			}, `SELECT state, carrier_ids, segments, claimed_at FROM messages WHERE id = $1`+s.d.ForUpdate, l.ID)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			ids := SplitIDs(cids)
			for len(ids) < max(l.Parts, 1) {
				ids = append(ids, "")
			}
			if ids[l.Part-1] == id {
				continue
			}
			ids[l.Part-1] = id
			joined := JoinIDs(ids)
			newState := message.State(st)
			reason := ""
			if !HasGaps(joined) && (st == string(message.StateUnknown) || st == string(message.StateQueued)) {
				newState, reason = message.StateSubmitted, "late response: every part accepted"
			}
			at := Nanos(l.At)
			if at == 0 {
				at = nowN
			}
			if _, err := t.q.Exec(ctx, `UPDATE messages SET carrier_ids = $1, state = $2, reason = CASE WHEN $2 <> state THEN $3 ELSE reason END,
				submitted_at = CASE WHEN submitted_at = 0 THEN $4 ELSE submitted_at END, updated_at = $5 WHERE id = $6`,
				joined, string(newState), reason, at, nowN, l.ID); err != nil {
				return fmt.Errorf("late part: %w", err)
			}
			if string(newState) != st {
				t.out(l.ID, newState, reason, nowN)
			}
			if err := t.lockKeys(ctx, map[string][]string{l.Carrier: {id}}); err != nil {
				return err
			}
			if err := t.InsertPart(ctx, PartRow{MessageID: l.ID, Seq: l.Part - 1, Carrier: l.Carrier, CarrierID: id, SubmittedAt: at}); err != nil {
				return fmt.Errorf("late part: %w", err)
			}
			if err := t.ApplyPending(ctx, l.Carrier, []string{id}, map[string]int64{id: claimedAt}, nowN); err != nil {
				return fmt.Errorf("late part pending receipts: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger late parts: %w", err)
	}
	return nil
}

// lateRefusal records that a part reported unknown was refused after
// all: it is not on the handset. When no part of the unknown message is
// unknown any more, the message is queued to resend its missing parts
// (under its reference) instead of waiting for the reconciler.
func (t *wtx) lateRefusal(ctx context.Context, l ledger.LatePart, now int64) error {
	if l.Part < 1 {
		return nil
	}
	var st string
	found := false
	err := queryEach(ctx, t.q, func(r Rows) error { found = true; return r.Scan(&st) },
		`SELECT state FROM messages WHERE id = $1`+t.d.ForUpdate, l.ID)
	if err != nil || !found || st != string(message.StateUnknown) {
		return err
	}
	unknownLeft := false
	if l.Parts > 1 {
		var outcomes string
		hasRef := false
		err := queryEach(ctx, t.q, func(r Rows) error { hasRef = true; return r.Scan(&outcomes) },
			`SELECT outcomes FROM send_refs WHERE message_id = $1`, l.ID)
		if err != nil || !hasRef {
			return err
		}
		os := strings.Split(outcomes, ";")
		if len(os) != l.Parts {
			return nil // not the send these outcomes describe
		}
		os[l.Part-1] = "refused late"
		for _, o := range os {
			unknownLeft = unknownLeft || o == "unknown"
		}
		if _, err := t.q.Exec(ctx, `UPDATE send_refs SET outcomes = $1, updated_at = $2 WHERE message_id = $3`,
			strings.Join(os, ";"), now, l.ID); err != nil {
			return err
		}
	}
	if unknownLeft {
		return nil
	}
	const why = "late refusal: the missing parts are resent"
	n, err := t.q.Exec(ctx, `UPDATE messages SET state = 'queued', reason = $1, not_before = $2, updated_at = $2
		WHERE id = $3 AND state = 'unknown'`, why, now, l.ID)
	if err == nil && n > 0 {
		t.out(l.ID, message.StateQueued, why, now)
	}
	return err
}

// NoReceipt implements ledger.Store.
func (s *Store) NoReceipt(ctx context.Context, now time.Time, validity, grace time.Duration, limit int) (n int, err error) {
	nowN := now.UnixNano()
	cut := now.Add(-validity - grace).UnixNano()
	expCut := now.Add(-grace).UnixNano()
	err = s.write(ctx, func(t *wtx) error {
		var ids []int64
		err := queryEach(ctx, t.q, func(r Rows) error {
			var id int64
			if err := r.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		}, `SELECT id FROM messages WHERE state = 'submitted' AND submitted_at > 0
			AND ((expires_at > 0 AND expires_at < $1) OR submitted_at < $2)
			ORDER BY submitted_at LIMIT $3`+s.d.SkipLocked, expCut, cut, int64(limit))
		if err != nil {
			return err
		}
		n = 0
		for _, id := range ids {
			c, err := t.q.Exec(ctx, `UPDATE messages SET state = 'no_receipt', reason = $1, done_at = $2, updated_at = $2
				WHERE id = $3 AND state = 'submitted'`, ledger.ReasonNoReceipt, nowN, id)
			if err != nil {
				return err
			}
			if c > 0 {
				t.out(id, message.StateNoReceipt, ledger.ReasonNoReceipt, nowN)
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger no receipt: %w", err)
	}
	return n, nil
}

// supersede moves the parts of an earlier send of resent messages (parts
// that receipts reconciled after an unknown outcome) out of the way of the
// new send's: seq n becomes -1-n, so derivation, which reads seq >= 0 only,
// follows the new parts, and the old parts' receipts are still recognised
// (and logged) instead of waiting as pending. Carrier ids the new send
// names again stay.
func (t *wtx) supersede(ctx context.Context, ids []int64, subs []ledger.Submission) error {
	if len(ids) == 0 {
		return nil
	}
	keep := make(map[int64]map[partKey]bool, len(ids))
	for _, sub := range subs {
		k := make(map[partKey]bool, len(sub.CarrierIDs))
		for _, id := range sub.CarrierIDs {
			k[partKey{sub.Carrier, ledger.NormalizeID(id)}] = true
		}
		keep[sub.ID] = k
	}
	var old []partKey
	err := Chunks(ids, t.d.MaxList, func(ids []int64) error {
		in, args := t.d.Ints("message_id", 1, ids)
		return queryEach(ctx, t.q, func(r Rows) error {
			var msg int64
			var k partKey
			if err := r.Scan(&msg, &k.carrier, &k.id); err != nil {
				return err
			}
			if !keep[msg][k] {
				old = append(old, k)
			}
			return nil
		}, `SELECT message_id, carrier, carrier_id FROM parts WHERE `+in+` AND seq >= 0`, args...)
	})
	if err != nil {
		return fmt.Errorf("earlier parts: %w", err)
	}
	slices.SortFunc(old, func(a, b partKey) int { return cmp.Or(cmp.Compare(a.carrier, b.carrier), cmp.Compare(a.id, b.id)) })
	for _, k := range old {
		if _, err := t.q.Exec(ctx, `UPDATE parts SET seq = -1 - seq WHERE carrier = $1 AND carrier_id = $2 AND seq >= 0`, k.carrier, k.id); err != nil {
			return fmt.Errorf("supersede earlier parts: %w", err)
		}
	}
	return nil
}

// Transition implements ledger.Store.
func (s *Store) Transition(ctx context.Context, ts []ledger.Transition) (err error) {
	defer func(start time.Time) { s.opts.Metrics.Observe("transition", start, len(ts), err) }(time.Now())
	for _, tr := range ts {
		if !ledger.Transitionable(tr.State) {
			return fmt.Errorf("ledger transition of %d to %q: %w", tr.ID, tr.State, ledger.ErrBadTransition)
		}
	}
	nowN := s.now()
	err = s.write(ctx, func(t *wtx) error {
		var unknown []int64 // receipts that came while they were sending may settle them
		for _, tr := range ts {
			done := int64(0)
			if tr.State.Final() {
				done = nowN
			}
			// A message with an accepted part is never failed: its parts
			// are on the handset and their receipts still settle.
			var st string
			err := queryEach(ctx, t.q, func(r Rows) error { return r.Scan(&st) },
				`UPDATE messages SET state = CASE WHEN $1 = 'failed' AND REPLACE(carrier_ids, ',', '') <> '' THEN 'partial' ELSE $1 END, reason = $2,
				not_before = CASE WHEN CAST($3 AS BIGINT) > 0 THEN CAST($3 AS BIGINT) ELSE not_before END, done_at = $4, updated_at = $5
				WHERE id = $6 AND state NOT IN `+FinalStates+` RETURNING state`, string(tr.State), tr.Reason, Nanos(tr.NotBefore), done, nowN, tr.ID)
			if err != nil {
				return fmt.Errorf("message %d: %w", tr.ID, err)
			}
			if st != "" {
				t.out(tr.ID, message.State(st), tr.Reason, nowN)
				if tr.State == message.StateUnknown {
					unknown = append(unknown, tr.ID)
				}
			}
		}
		_, err := t.RetryPending(ctx, unknown, nowN)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger transition: %w", err)
	}
	return nil
}

// Receipts implements ledger.Store.
func (s *Store) Receipts(ctx context.Context, rs []ledger.Receipt) (out []ledger.ReceiptResult, err error) {
	if len(rs) == 0 {
		return nil, nil
	}
	defer func(start time.Time) {
		s.opts.Metrics.Observe("receipts", start, len(rs), err)
		s.opts.Metrics.Receipt(out)
	}(time.Now())
	err = s.write(ctx, func(t *wtx) error {
		var err error
		out, err = t.ApplyReceipts(ctx, rs, s.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger receipts: %w", err)
	}
	return out, nil
}

// updateReturningIDs runs an UPDATE … RETURNING id and records an outbox row
// per id.
func updateReturningIDs(ctx context.Context, t *wtx, st message.State, reason string, at int64, sql string, args ...any) (int, error) {
	rows, err := t.q.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return n, err
		}
		t.out(id, st, reason, at)
		n++
	}
	return n, rows.Err()
}

// Cancel implements ledger.Store.
func (s *Store) Cancel(ctx context.Context, cancelKeys []string, reason string) (int, error) {
	nowN := s.now()
	total := 0
	err := s.write(ctx, func(t *wtx) error {
		total = 0 // a retried transaction starts afresh
		return Chunks(cancelKeys, s.d.MaxList, func(keys []string) error {
			in, args := s.d.Strings("cancel_key", 3, keys)
			n, err := updateReturningIDs(ctx, t, message.StateCancelled, reason, nowN,
				`UPDATE messages SET state = 'cancelled', reason = $1, done_at = $2, updated_at = $2
				WHERE `+in+` AND cancel_key <> '' AND state IN ('queued','scheduled') RETURNING id`,
				append([]any{reason, nowN}, args...)...)
			total += n
			if err != nil {
				return err
			}
			// Their calls too, when not yet dialled: a fallback call
			// queued after its SMS failed, or a voice-only call.
			return queryEach(ctx, t.q, func(r Rows) error {
				var id, msg int64
				if err := r.Scan(&id, &msg); err != nil {
					return err
				}
				t.outCall(id, msg, ledger.CallCancelled, reason, nowN)
				return nil
			}, `UPDATE calls SET state = 'cancelled', reason = $1, updated_at = $2
				WHERE state IN ('armed','queued') AND message_id IN (SELECT id FROM messages WHERE `+in+` AND cancel_key <> '')
				RETURNING id, message_id`,
				append([]any{reason, nowN}, args...)...)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("ledger cancel: %w", err)
	}
	return total, nil
}

// Recover implements ledger.Store.
func (s *Store) Recover(ctx context.Context, owner string, staleBefore time.Time) (int, error) {
	nowN := s.now()
	var n int
	err := s.write(ctx, func(t *wtx) error {
		var ids []int64
		err := queryEach(ctx, t.q, func(r Rows) error {
			var id int64
			if err := r.Scan(&id); err != nil {
				return err
			}
			t.out(id, message.StateUnknown, ledger.ReasonCrash, nowN)
			ids = append(ids, id)
			return nil
		}, `UPDATE messages SET state = 'unknown', reason = $1, updated_at = $2
			WHERE state = 'sending' AND (owner = $3 OR (CAST($4 AS BIGINT) > 0 AND claimed_at < CAST($4 AS BIGINT))) RETURNING id`,
			ledger.ReasonCrash, nowN, owner, Nanos(staleBefore))
		if err != nil {
			return err
		}
		n = len(ids)
		// Receipts that arrived before the submit result was recorded.
		_, err = t.RetryPending(ctx, ids, nowN)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger recover: %w", err)
	}
	if n > 0 {
		s.opts.Logger.Warn("messages left sending by a crash are now unknown", "count", n, "owner", owner)
	}
	return n, nil
}

// partlyAccepted is the SQL condition of a message submitted by
// reconciliation alone (no submit result, so no carrier_ids) with fewer
// parts than segments: the process died between the parts of a long
// message, or the receipts of the others are still to come.
const partlyAccepted = `(state = 'submitted' AND carrier_ids = ''
	AND (SELECT count(*) FROM parts p WHERE p.message_id = messages.id AND p.seq >= 0) < segments)`

// Unknown implements ledger.Store.
func (s *Store) Unknown(ctx context.Context, olderThan time.Time, limit int) ([]*message.Message, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	type row struct {
		m       *message.Message
		updated int64
	}
	var rows []row
	// Two index range scans (one partial index each), merged.
	for _, where := range []string{`state = 'unknown'`, partlyAccepted} {
		err := queryEach(ctx, q, func(r Rows) error {
			var x row
			var err error
			x.m, err = ScanMessage(withExtra{r, &x.updated})
			if err != nil {
				return err
			}
			rows = append(rows, x)
			return nil
		}, `SELECT `+MsgCols+`, updated_at FROM messages WHERE `+where+` AND updated_at < $1
			ORDER BY updated_at, id LIMIT $2`, Nanos(olderThan), int64(limit))
		if err != nil {
			return nil, fmt.Errorf("ledger unknown: %w", err)
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Or(cmp.Compare(a.updated, b.updated), cmp.Compare(a.m.ID, b.m.ID)) })
	out := make([]*message.Message, 0, min(len(rows), limit))
	for _, x := range rows[:min(len(rows), limit)] {
		out = append(out, x.m)
	}
	return out, nil
}

// settleByRecipient settles an unknown message from the receipts its
// recipient's handset sent since the message was claimed under ids no
// part to that phone has (an id another phone's part has was reused by
// the SMSC): Claim keeps every other message to that phone from being in
// flight or unknown meanwhile, and the parts of those submitted have
// their ids, so such receipts are this message's parts whose responses
// were lost (the excerpt may be empty: no text to match). Only when
// there are exactly as many such ids as parts without one are they
// taken (in the order they arrived), the message becomes submitted and
// the receipts apply; otherwise nothing changes.
func (t *wtx) settleByRecipient(ctx context.Context, id, now int64) (bool, error) {
	var rcpt, carrier, cids, st string
	var segs, claimedAt int64
	found := false
	err := queryEach(ctx, t.q, func(r Rows) error {
		found = true
		return r.Scan(&rcpt, &carrier, &cids, &segs, &claimedAt, &st)
	}, `SELECT recipient, carrier, carrier_ids, segments, claimed_at, state FROM messages WHERE id = $1`+t.d.ForUpdate, id)
	if err != nil || !found || st != string(message.StateUnknown) || rcpt == "" || carrier == "" || claimedAt == 0 {
		return false, err
	}
	ids := SplitIDs(cids)
	if len(ids) == 0 {
		ids = make([]string, max(segs, 1))
	}
	// Only parts whose last outcome was unknown can have reached the
	// handset; those not sent or refused are known to be missing.
	var outcomes []string
	err = queryEach(ctx, t.q, func(r Rows) error {
		var o string
		if err := r.Scan(&o); err != nil {
			return err
		}
		outcomes = strings.Split(o, ";")
		return nil
	}, `SELECT outcomes FROM send_refs WHERE message_id = $1`, id)
	if err != nil {
		return false, err
	}
	if len(outcomes) != len(ids) {
		outcomes = nil
	}
	var gaps []int
	missing := false
	for i, x := range ids {
		if x != "" {
			continue
		}
		if outcomes == nil || outcomes[i] == "unknown" {
			gaps = append(gaps, i)
		} else {
			missing = true
		}
	}
	if len(gaps) == 0 {
		return false, nil
	}
	var cand []string
	seen := map[string]bool{}
	err = queryEach(ctx, t.q, func(r Rows) error {
		var cid string
		if err := r.Scan(&cid); err != nil {
			return err
		}
		if !seen[cid] {
			seen[cid] = true
			cand = append(cand, cid)
		}
		return nil
	}, `SELECT p.carrier_id FROM pending_receipts p WHERE p.recipient = $1 AND p.carrier = $2 AND p.received_at >= $3
		AND NOT EXISTS (SELECT 1 FROM parts x JOIN messages mm ON mm.id = x.message_id
			WHERE x.carrier = p.carrier AND x.carrier_id = p.carrier_id AND mm.recipient = p.recipient)
		ORDER BY p.received_at, p.carrier_id`, rcpt, carrier, claimedAt)
	if err != nil || len(cand) != len(gaps) {
		return false, err
	}
	for i, g := range gaps {
		ids[g] = cand[i]
	}
	joined := JoinIDs(ids)
	st2, why := message.StateSubmitted, "reconciled: receipts from the handset under ids of the unknown parts"
	if missing {
		// The parts not sent go now, under the message's reference.
		st2, why = message.StateQueued, "reconciled the unknown parts by receipts from the handset; resending the parts not sent"
	}
	if _, err := t.q.Exec(ctx, `UPDATE messages SET carrier_ids = $1, state = $2, reason = $3,
		not_before = CASE WHEN $2 = 'queued' THEN $4 ELSE not_before END,
		submitted_at = CASE WHEN submitted_at = 0 THEN $4 ELSE submitted_at END, updated_at = $4 WHERE id = $5`,
		joined, string(st2), why, now, id); err != nil {
		return false, err
	}
	t.out(id, st2, why, now)
	since := make(map[string]int64, len(gaps))
	for _, g := range gaps {
		if err := t.InsertPart(ctx, PartRow{MessageID: id, Seq: g, Carrier: carrier, CarrierID: ids[g], SubmittedAt: now}); err != nil {
			return false, err
		}
		since[ids[g]] = claimedAt
	}
	return true, t.ApplyPending(ctx, carrier, cand, since, now)
}

// withExtra scans one more column after the caller's.
type withExtra struct {
	r     Scanner
	extra any
}

func (w withExtra) Scan(dest ...any) error { return w.r.Scan(append(dest, w.extra)...) }

// Requeue implements ledger.Store.
func (s *Store) Requeue(ctx context.Context, ids []int64, maxRequeues int, notBefore time.Time) (ledger.RequeueResult, error) {
	nowN := s.now()
	var res ledger.RequeueResult
	err := s.write(ctx, func(t *wtx) error {
		res = ledger.RequeueResult{} // a retried transaction starts afresh
		// Receipts kept as pending while they were sending may prove they
		// were accepted: they are not resent in this round.
		changed, err := t.RetryPending(ctx, ids, nowN)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if changed[id] {
				continue
			}
			settled, err := t.settleByRecipient(ctx, id, nowN)
			if err != nil {
				return err
			}
			if settled {
				continue
			}
			var st, cids string
			var requeues, segs, parts int64
			found := false
			err = queryEach(ctx, t.q, func(r Rows) error {
				found = true
				return r.Scan(&st, &requeues, &segs, &cids, &parts)
			}, `SELECT state, requeues, segments, carrier_ids,
				(SELECT count(*) FROM parts p WHERE p.message_id = messages.id AND p.seq >= 0)
				FROM messages WHERE id = $1`+s.d.ForUpdate, id)
			if err != nil {
				return err
			}
			partial := st == string(message.StateSubmitted) && cids == "" && parts < segs
			if !found || (st != string(message.StateUnknown) && !partial) {
				continue // settled meanwhile
			}
			var why, failWhy string
			if partial {
				why = fmt.Sprintf("requeued: %d of %d parts accepted", parts, segs)
				failWhy = fmt.Sprintf("partly accepted (%d of %d parts): requeue limit reached", parts, segs)
			} else {
				why = "requeued after unknown outcome"
				failWhy = "unknown outcome: requeue limit reached"
			}
			// Parts on the handset: by id, or proved by receipts
			// (reconciled parts of a message a crash interrupted again).
			onHandset := partial || AnyID(cids) || parts > 0
			limit := int64(maxRequeues)
			if onHandset {
				// Parts are on the handset: giving up leaves a fragment,
				// and only the missing parts go again (same reference),
				// so they get a few more tries than a whole message.
				limit += ledger.PartsResendExtra
			}
			if requeues < limit {
				n, err := t.q.Exec(ctx, `UPDATE messages SET state = 'queued', requeues = requeues + 1, not_before = $1, updated_at = $2,
					reason = $3 WHERE id = $4 AND state = $5 AND requeues = $6`,
					Nanos(notBefore), nowN, why, id, st, requeues)
				if err != nil {
					return err
				}
				if n > 0 {
					t.out(id, message.StateQueued, fmt.Sprintf("%s (%d/%d)", why, requeues+1, limit), nowN)
					res.Requeued++
				}
				continue
			}
			// Parts accepted (by id, or proved by receipts): partial,
			// never failed.
			final := message.StateFailed
			if onHandset {
				final = message.StatePartial
			}
			n, err := t.q.Exec(ctx, `UPDATE messages SET state = $5, reason = $1, done_at = $2, updated_at = $2
				WHERE id = $3 AND state = $4`, failWhy, nowN, id, st, string(final))
			if err != nil {
				return err
			}
			if n > 0 {
				t.out(id, final, failWhy, nowN)
				res.Failed++
			}
		}
		return nil
	})
	if err != nil {
		return ledger.RequeueResult{}, fmt.Errorf("ledger requeue: %w", err)
	}
	return res, nil
}
