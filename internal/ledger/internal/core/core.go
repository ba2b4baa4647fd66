// Package core is the ledger logic shared by ledger/sqlite and
// ledger/postgres: the SQL (with $n placeholders both databases bind), the
// receipt-matching algorithm and the Store built on a small DB interface.
// The implementations provide connections, the schema and the statements
// that differ (Dialect).
package core

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// Part is a stored part of a submitted message.
type Part struct {
	MessageID   int64
	Seq         int
	Stat        string
	SubmittedAt int64 // Unix ns the SMSC accepted the part; 0 unknown
}

// Candidate is an unknown message a receipt may reconcile.
type Candidate struct {
	ID       int64
	Text     string
	Segments int
	HasIDs   bool   // some part's id is known: its receipts settle by id, not by text
	IDs      string // carrier_ids as stored ("" or with a place per part)
}

// HasGaps reports whether stored carrier ids leave a part without one.
func HasGaps(cids string) bool {
	if cids == "" {
		return false
	}
	for _, id := range SplitIDs(cids) {
		if id == "" {
			return true
		}
	}
	return false
}

// AnyID reports whether stored carrier ids name at least one part.
func AnyID(cids string) bool { return strings.Trim(cids, ",") != "" }

// expectedParts is the number of parts a message's state derives from:
// one per carrier id when a submit result recorded them (a long message
// sent in one message_payload has one), else its segments.
func expectedParts(segments int64, carrierIDs string) int {
	if carrierIDs != "" {
		return strings.Count(carrierIDs, ",") + 1
	}
	return int(segments)
}

// Derive is what a message's derivation needs.
type Derive struct {
	State     message.State
	Segments  int      // parts expected (expectedParts)
	NoResult  bool     // no submit result recorded: parts come from reconciliation
	Gaps      bool     // a submit result recorded some parts without an id (not accepted, or unknown)
	Recipient string   // the handset the parts went to
	Stats     []string // last stat of every part by seq, "" when none yet
}

type partKey struct{ carrier, id string }

// receiptCache holds, for one batch, the parts and messages the batch
// touches, loaded with a few queries and kept up to date as receipts apply.
type receiptCache struct {
	parts map[partKey]Part
	msgs  map[int64]*Derive
}

// prefetch loads the parts that rs name and their messages.
func (t *wtx) prefetch(ctx context.Context, rs []ledger.Receipt) (*receiptCache, error) {
	c := &receiptCache{parts: make(map[partKey]Part, len(rs)), msgs: make(map[int64]*Derive, len(rs))}
	byCarrier := make(map[string][]string)
	for _, r := range rs {
		byCarrier[r.Carrier] = append(byCarrier[r.Carrier], r.MessageID)
	}
	for carrier, ids := range byCarrier {
		err := Chunks(ids, t.d.MaxList, func(ids []string) error {
			in, args := t.d.Strings("carrier_id", 2, ids)
			return queryEach(ctx, t.q, func(r Rows) error {
				var id string
				var p Part
				var seq int64
				if err := r.Scan(&id, &p.MessageID, &seq, &p.Stat, &p.SubmittedAt); err != nil {
					return err
				}
				p.Seq = int(seq)
				c.parts[partKey{carrier, id}] = p
				c.msgs[p.MessageID] = nil
				return nil
			}, `SELECT carrier_id, message_id, seq, stat, submitted_at FROM parts WHERE carrier = $1 AND `+in+t.d.ForUpdate, append([]any{carrier}, args...)...)
		})
		if err != nil {
			return nil, fmt.Errorf("prefetch parts: %w", err)
		}
	}
	if len(c.msgs) == 0 {
		return c, nil
	}
	ids := make([]int64, 0, len(c.msgs))
	for id := range c.msgs {
		ids = append(ids, id)
	}
	var multi []int64
	err := Chunks(ids, t.d.MaxList, func(ids []int64) error {
		in, args := t.d.Ints("id", 1, ids)
		return queryEach(ctx, t.q, func(r Rows) error {
			var id, segs int64
			var st, cids, rcpt string
			if err := r.Scan(&id, &st, &segs, &cids, &rcpt); err != nil {
				return err
			}
			n := expectedParts(segs, cids)
			c.msgs[id] = &Derive{State: message.State(st), Segments: n, NoResult: cids == "", Gaps: HasGaps(cids), Recipient: rcpt}
			if n > 1 {
				multi = append(multi, id)
			}
			return nil
		}, `SELECT id, state, segments, carrier_ids, recipient FROM messages WHERE `+in+t.d.ForUpdate, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("prefetch messages: %w", err)
	}
	for _, p := range c.parts { // a later (or superseded) part: read them all
		if d := c.msgs[p.MessageID]; d != nil && d.Segments <= 1 && p.Seq != 0 && d.Stats == nil {
			d.Stats = []string{} // marks it as queued for the read below
			multi = append(multi, p.MessageID)
		}
	}
	for _, p := range c.parts { // single-part messages: the part is all there is
		if d := c.msgs[p.MessageID]; d != nil && d.Segments <= 1 && d.Stats == nil {
			d.Stats = []string{p.Stat}
		}
	}
	for _, id := range multi {
		c.msgs[id].Stats = nil
	}
	err = Chunks(multi, t.d.MaxList, func(ids []int64) error {
		in, args := t.d.Ints("message_id", 1, ids)
		return queryEach(ctx, t.q, func(r Rows) error {
			var id, seq int64
			var st string
			if err := r.Scan(&id, &seq, &st); err != nil {
				return err
			}
			d := c.msgs[id]
			for len(d.Stats) <= int(seq) {
				d.Stats = append(d.Stats, "")
			}
			d.Stats[seq] = st
			return nil
		}, `SELECT message_id, seq, stat FROM parts WHERE `+in+` AND seq >= 0`, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("prefetch message parts: %w", err)
	}
	for id, d := range c.msgs {
		if d == nil { // part without message (pruned): load lazily, finds nothing
			delete(c.msgs, id)
		}
	}
	return c, nil
}

// derivation returns the cached derivation input of a message, loading it
// when the batch did not.
func (t *wtx) derivation(ctx context.Context, c *receiptCache, id int64) (*Derive, error) {
	if d, ok := c.msgs[id]; ok {
		return d, nil
	}
	d, err := t.ForDerive(ctx, id)
	if err != nil {
		return nil, err
	}
	c.msgs[id] = &d
	return &d, nil
}

// ApplyReceipts applies rs in order.
func (t *wtx) ApplyReceipts(ctx context.Context, rs []ledger.Receipt, now int64) ([]ledger.ReceiptResult, error) {
	norm := make([]ledger.Receipt, len(rs))
	for i, r := range rs {
		r.MessageID = ledger.NormalizeID(r.MessageID)
		norm[i] = r
	}
	c, err := t.prefetch(ctx, norm)
	if err != nil {
		return nil, err
	}
	if t.d.LockKeys != nil {
		// A receipt whose part is not there yet may race a Submitted on
		// another instance that is storing it: take the ids' locks (which
		// Submitted holds until it commits), then look again.
		var missing []ledger.Receipt
		byCarrier := make(map[string][]string)
		for _, r := range norm {
			if _, ok := c.parts[partKey{r.Carrier, r.MessageID}]; !ok {
				missing = append(missing, r)
				byCarrier[r.Carrier] = append(byCarrier[r.Carrier], r.MessageID)
			}
		}
		if len(missing) > 0 {
			if err := t.lockKeys(ctx, byCarrier); err != nil {
				return nil, err
			}
			c2, err := t.prefetch(ctx, missing)
			if err != nil {
				return nil, err
			}
			maps.Copy(c.parts, c2.parts)
			for id, d := range c2.msgs {
				if _, ok := c.msgs[id]; !ok {
					c.msgs[id] = d
				}
			}
		}
	}
	out := make([]ledger.ReceiptResult, len(rs))
	for i, r := range norm {
		res, err := t.applyOne(ctx, c, r, now)
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %w", i, err)
		}
		out[i] = res
	}
	if err := t.flushUpdates(ctx); err != nil {
		return nil, err
	}
	if err := t.flushPending(ctx); err != nil {
		return nil, err
	}
	return out, t.flushReceipts(ctx)
}

// lockKeys takes the dialect's per-id locks, carriers in order.
func (t *wtx) lockKeys(ctx context.Context, byCarrier map[string][]string) error {
	if t.d.LockKeys == nil {
		return nil
	}
	for _, carrier := range slices.Sorted(maps.Keys(byCarrier)) {
		if err := t.d.LockKeys(ctx, t.q, carrier, byCarrier[carrier]); err != nil {
			return fmt.Errorf("lock carrier ids: %w", err)
		}
	}
	return nil
}

// ApplyPending applies the pending receipts of freshly stored parts.
// since, when set, names per id the earliest receipt that can be this
// part's (its message's claim): older ones belong to an earlier
// submission that had the same id, and are dropped.
func (t *wtx) ApplyPending(ctx context.Context, carrier string, ids []string, since map[string]int64, now int64) error {
	ps, err := t.TakePending(ctx, carrier, ids)
	if err != nil || len(ps) == 0 {
		return err
	}
	rs := make([]ledger.Receipt, 0, len(ps))
	for _, p := range ps {
		if p.at < since[p.r.MessageID] {
			continue
		}
		rs = append(rs, p.r)
	}
	if len(rs) == 0 {
		return nil
	}
	_, err = t.ApplyReceipts(ctx, rs, now)
	return err
}

func (t *wtx) applyOne(ctx context.Context, c *receiptCache, r ledger.Receipt, now int64) (ledger.ReceiptResult, error) {
	done := Nanos(r.Done)
	k := partKey{r.Carrier, r.MessageID}
	p, found := c.parts[k]
	if found && r.Recipient != "" {
		// An SMSC that reused an id: the receipt from another handset
		// is not this part's (its own part is recorded later, or lost).
		d, err := t.derivation(ctx, c, p.MessageID)
		if err != nil {
			return ledger.ReceiptResult{}, err
		}
		if d.Recipient != "" && d.Recipient != r.Recipient {
			found = false
		}
	}
	if found {
		if ledger.FinalStat(p.Stat) && !ledger.FinalStat(r.Stat) || !ledger.FinalStat(p.Stat) && p.Stat == r.Stat {
			// An intermediate one after the final, or the same
			// intermediate again.
			return ledger.ReceiptResult{Outcome: ledger.OutcomeDuplicate, MessageID: p.MessageID}, nil
		}
		if ledger.FinalStat(p.Stat) {
			// The part already has its final receipt: this is the same
			// receipt again, or the receipt of a later submission the
			// SMSC gave the same id (it restarted its counter) whose
			// part is not recorded yet. Never apply it to this part:
			// keep it pending, for a part that Submitted or LateParts
			// stores under this id after its message was claimed.
			t.InsertPending(r, now)
			if p.Stat == r.Stat {
				return ledger.ReceiptResult{Outcome: ledger.OutcomeDuplicate, MessageID: p.MessageID}, nil
			}
			return ledger.ReceiptResult{Outcome: ledger.OutcomePending}, nil
		}
		t.UpdatePart(r.Carrier, r.MessageID, r.Stat, r.Err, done)
		p.Stat = r.Stat
		c.parts[k] = p
		t.LogReceipt(p.MessageID, r.Carrier, r.MessageID, r.Stat, r.Err, done, now)
		if p.Seq < 0 {
			// A part of an earlier send that a resend superseded: logged,
			// but the message's state follows the resend's parts.
			return ledger.ReceiptResult{Outcome: ledger.OutcomeMatched, MessageID: p.MessageID}, nil
		}
		res, err := t.derive(ctx, c, p, r, now, false)
		if ledger.FinalStat(r.Stat) {
			res.PartSubmitted = Time(p.SubmittedAt)
		}
		return res, err
	}
	dup, err := t.PendingExists(ctx, r)
	if err != nil {
		return ledger.ReceiptResult{}, err
	}
	if dup {
		// A copy of a pending receipt: counted once, applied once (the
		// part takes one of them; another copy then finds it final).
		// Its arrival time moves on, so that a part claimed meanwhile
		// still takes it (a reused id with a receipt like an old one).
		t.InsertPending(r, now)
		return ledger.ReceiptResult{Outcome: ledger.OutcomeDuplicate}, nil
	}
	if r.Recipient != "" && r.Text != "" {
		cs, err := t.UnknownCandidates(ctx, r.Carrier, r.Recipient)
		if err != nil {
			return ledger.ReceiptResult{}, err
		}
		for _, cand := range cs {
			if cand.HasIDs || !ledger.ReceiptMatchesText(cand.Text, r.Text) {
				// A message with known part ids is settled by ids and
				// late responses: a text match cannot say which part.
				continue
			}
			d, err := t.derivation(ctx, c, cand.ID)
			if err != nil {
				return ledger.ReceiptResult{}, err
			}
			if len(d.Stats) >= max(cand.Segments, 1) {
				// Every part already has its receipt: this one is another
				// message's (the same text twice to one phone).
				continue
			}
			seq := len(d.Stats)
			if slots := SplitIDs(cand.IDs); len(slots) > 1 {
				// A send recorded each part's outcome: the receipt is
				// one of the parts whose outcome is unknown (never one
				// not sent or refused); it takes the first such place.
				var err error
				if seq, err = t.unknownSlot(ctx, cand.ID, slots, d.Stats); err != nil {
					return ledger.ReceiptResult{}, err
				}
				if seq < 0 {
					continue
				}
				slots[seq] = r.MessageID
				joined := JoinIDs(slots)
				if _, err := t.q.Exec(ctx, `UPDATE messages SET carrier_ids = $1 WHERE id = $2`, joined, cand.ID); err != nil {
					return ledger.ReceiptResult{}, err
				}
				d.Gaps = HasGaps(joined)
			}
			p := Part{MessageID: cand.ID, Seq: seq, Stat: r.Stat}
			if err := t.InsertPart(ctx, PartRow{MessageID: cand.ID, Seq: p.Seq, Carrier: r.Carrier, CarrierID: r.MessageID,
				Stat: r.Stat, Err: r.Err, Done: done, SubmittedAt: now}); err != nil {
				return ledger.ReceiptResult{}, err
			}
			for len(d.Stats) <= seq {
				d.Stats = append(d.Stats, "")
			}
			c.parts[k] = p
			t.LogReceipt(cand.ID, r.Carrier, r.MessageID, r.Stat, r.Err, done, now)
			return t.derive(ctx, c, p, r, now, true)
		}
	}
	t.InsertPending(r, now)
	return ledger.ReceiptResult{Outcome: ledger.OutcomePending}, nil
}

// unknownSlot returns the first part of a message whose last send's
// outcome was unknown and which has neither an id nor a reconciled
// receipt yet; -1 when there is none (or no outcomes were recorded: then
// the first part without one).
func (t *wtx) unknownSlot(ctx context.Context, id int64, slots, stats []string) (int, error) {
	var outcomes string
	found := false
	err := queryEach(ctx, t.q, func(r Rows) error { found = true; return r.Scan(&outcomes) },
		`SELECT outcomes FROM send_refs WHERE message_id = $1`, id)
	if err != nil {
		return -1, err
	}
	os := strings.Split(outcomes, ";")
	for i := range slots {
		if slots[i] != "" || (i < len(stats) && stats[i] != "") {
			continue
		}
		if !found || len(os) != len(slots) || os[i] == "unknown" {
			return i, nil
		}
	}
	return -1, nil
}

func (t *wtx) derive(ctx context.Context, c *receiptCache, p Part, r ledger.Receipt, now int64, reconciled bool) (ledger.ReceiptResult, error) {
	res := ledger.ReceiptResult{Outcome: ledger.OutcomeMatched, MessageID: p.MessageID, Reconciled: reconciled}
	d, err := t.derivation(ctx, c, p.MessageID)
	if err != nil {
		return res, err
	}
	for len(d.Stats) <= p.Seq {
		d.Stats = append(d.Stats, "")
	}
	d.Stats[p.Seq] = r.Stat
	var newState message.State
	var reason string
	switch {
	case d.State == message.StateSubmitted || d.State == message.StateUnknown ||
		(reconciled && d.State == message.StateQueued):
		st, why, ok := ledger.DeriveState(d.Segments, d.Stats)
		if ok && (d.NoResult && len(d.Stats) < d.Segments) {
			// Parts are missing (maybe never submitted: the process died
			// between them): one part's failure does not settle the
			// message yet; the missing parts' receipts will, or it is
			// resent whole after the grace period (Unknown, Requeue).
			ok = false
		}
		if ok && st != d.State {
			newState, reason = st, why
		} else if !ok && d.State != message.StateSubmitted && !d.Gaps {
			// Any receipt proves the SMSC took it: no resend. (With
			// parts known to lack an id it proves only its own part:
			// the missing ones are still resent.)
			newState, reason = message.StateSubmitted, "reconciled by receipt"
		}
	}
	t.SetReceipt(p.MessageID, r.Stat, r.Err, newState, reason, now)
	if newState != "" {
		d.State = newState
		res.Changed, res.State = true, newState
	}
	return res, nil
}

// RetryPending tries the pending receipts of the messages' recipients
// against them once more: a receipt that arrived while a message was still
// sending (before the submit result was recorded, which a crash or a
// timeout then lost) names an id the ledger never learns, and waits in
// pending_receipts. Called when messages become unknown and before they are
// resent. It returns the messages the receipts changed.
func (t *wtx) RetryPending(ctx context.Context, ids []int64, now int64) (map[int64]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	type target struct{ carrier, text string }
	byRcpt := make(map[string][]target)
	err := Chunks(ids, t.d.MaxList, func(ids []int64) error {
		in, args := t.d.Ints("id", 1, ids)
		return queryEach(ctx, t.q, func(r Rows) error {
			var rcpt string
			var tg target
			if err := r.Scan(&rcpt, &tg.carrier, &tg.text); err != nil {
				return err
			}
			if rcpt != "" && tg.text != "" {
				byRcpt[rcpt] = append(byRcpt[rcpt], tg)
			}
			return nil
		}, `SELECT recipient, carrier, body FROM messages WHERE `+in, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("pending receipts of unknown messages: %w", err)
	}
	type pend struct {
		r  ledger.Receipt
		at int64
	}
	var take []pend
	for _, rcpt := range slices.Sorted(maps.Keys(byRcpt)) {
		tgs := byRcpt[rcpt]
		err := queryEach(ctx, t.q, func(r Rows) error {
			var p pend
			var done int64
			if err := r.Scan(&p.r.Carrier, &p.r.MessageID, &p.r.Stat, &p.r.Err, &p.r.Recipient, &p.r.Text, &done, &p.at); err != nil {
				return err
			}
			p.r.Done = Time(done)
			for _, tg := range tgs {
				if (tg.carrier == "" || tg.carrier == p.r.Carrier) && ledger.ReceiptMatchesText(tg.text, p.r.Text) {
					take = append(take, p)
					break
				}
			}
			return nil
		}, `SELECT carrier, carrier_id, stat, err, recipient, body, done_at, received_at FROM pending_receipts
			WHERE recipient = $1 ORDER BY received_at, carrier, carrier_id`, rcpt)
		if err != nil {
			return nil, fmt.Errorf("pending receipts of unknown messages: %w", err)
		}
	}
	if len(take) == 0 {
		return nil, nil
	}
	var rs []ledger.Receipt
	for pass := range 2 { // intermediate stats first, so a final stat wins
		for _, p := range take {
			if ledger.FinalStat(p.r.Stat) != (pass == 1) {
				continue
			}
			n, err := t.q.Exec(ctx, `DELETE FROM pending_receipts WHERE carrier = $1 AND carrier_id = $2 AND stat = $3
				AND done_at = $4 AND recipient = $5 AND err = $6 AND body = $7`,
				p.r.Carrier, p.r.MessageID, p.r.Stat, Nanos(p.r.Done), p.r.Recipient, p.r.Err, p.r.Text)
			if err != nil {
				return nil, fmt.Errorf("take pending receipt: %w", err)
			}
			if n > 0 { // else another instance took it meanwhile
				rs = append(rs, p.r)
			}
		}
	}
	if len(rs) == 0 {
		return nil, nil
	}
	res, err := t.ApplyReceipts(ctx, rs, now)
	if err != nil {
		return nil, err
	}
	changed := make(map[int64]bool)
	for _, r := range res {
		if r.Outcome == ledger.OutcomeMatched {
			changed[r.MessageID] = true
		}
	}
	return changed, nil
}
