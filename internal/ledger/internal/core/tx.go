package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// wtx is a write transaction with buffered outbox and receipt-log rows.
type wtx struct {
	q        Q
	d        *Dialect
	outbox   []OutRow
	receipts [][]any // receipt-log rows

	// Pending receipts of the current batch, inserted by flushPending.
	pending    [][]any
	pendingIdx map[pendingKey]int // index in pending

	// Receipt updates of the current batch, applied by flushUpdates.
	partUpd map[partKey]partUpdate
	msgUpd  map[int64]*msgUpdate
}

type partUpdate struct {
	stat, err string
	done      int64
}

type msgUpdate struct {
	stat, err, state, reason string
	at                       int64
}

func (t *wtx) out(id int64, st message.State, reason string, at int64) {
	t.outbox = append(t.outbox, OutRow{MessageID: id, State: string(st), Reason: reason, At: at})
}

func (t *wtx) flush(ctx context.Context) error {
	if len(t.outbox) == 0 {
		return nil
	}
	if t.d.OutboxLock != "" {
		if _, err := t.q.Exec(ctx, t.d.OutboxLock); err != nil {
			return fmt.Errorf("status outbox lock: %w", err)
		}
	}
	err := Chunks(t.outbox, 500, func(rows []OutRow) error { return t.d.InsertOutbox(ctx, t.q, rows) })
	t.outbox = t.outbox[:0]
	if err != nil {
		return fmt.Errorf("status outbox: %w", err)
	}
	return nil
}

func (t *wtx) Part(ctx context.Context, carrier, id string) (Part, bool, error) {
	rows, err := t.q.Query(ctx, `SELECT message_id, seq, stat FROM parts WHERE carrier = $1 AND carrier_id = $2`, carrier, id)
	if err != nil {
		return Part{}, false, err
	}
	defer rows.Close()
	var p Part
	var seq int64
	if !rows.Next() {
		return Part{}, false, rows.Err()
	}
	if err := rows.Scan(&p.MessageID, &seq, &p.Stat); err != nil {
		return Part{}, false, err
	}
	p.Seq = int(seq)
	return p, true, rows.Err()
}

// UpdatePart buffers a part's new receipt stat until flushUpdates.
func (t *wtx) UpdatePart(carrier, id, stat, errCode string, done int64) {
	if t.partUpd == nil {
		t.partUpd = make(map[partKey]partUpdate)
	}
	t.partUpd[partKey{carrier, id}] = partUpdate{stat, errCode, done}
}

// flushUpdates applies the buffered part and message receipt updates, one
// statement per chunk.
func (t *wtx) flushUpdates(ctx context.Context) error {
	if len(t.partUpd) > 0 {
		rows := make([][]any, 0, len(t.partUpd))
		for k, u := range t.partUpd {
			rows = append(rows, []any{k.carrier, k.id, u.stat, u.err, u.done})
		}
		clear(t.partUpd)
		// A fixed lock order keeps concurrent PostgreSQL batches from
		// deadlocking.
		slices.SortFunc(rows, func(a, b []any) int {
			return cmp.Or(cmp.Compare(a[0].(string), b[0].(string)), cmp.Compare(a[1].(string), b[1].(string)))
		})
		err := Chunks(rows, 400, func(rows [][]any) error {
			src, args := t.d.Values(rows)
			_, err := t.q.Exec(ctx, `UPDATE parts SET stat = v.column3, err = v.column4, done_at = v.column5
				FROM `+src+` AS v WHERE parts.carrier = v.column1 AND parts.carrier_id = v.column2`, args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("update parts: %w", err)
		}
	}
	if len(t.msgUpd) > 0 {
		rows := make([][]any, 0, len(t.msgUpd))
		for id, u := range t.msgUpd {
			rows = append(rows, []any{id, u.stat, u.err, u.state, u.reason, u.at})
		}
		clear(t.msgUpd)
		slices.SortFunc(rows, func(a, b []any) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })
		err := Chunks(rows, 300, func(rows [][]any) error {
			src, args := t.d.Values(rows)
			_, err := t.q.Exec(ctx, `UPDATE messages SET receipt_status = v.column2, receipt_error = v.column3, updated_at = v.column6,
				state = CASE WHEN v.column4 <> '' THEN v.column4 ELSE state END,
				reason = CASE WHEN v.column4 <> '' THEN v.column5 ELSE reason END,
				done_at = CASE WHEN v.column4 <> '' AND v.column4 <> 'submitted' THEN v.column6 ELSE done_at END,
				submitted_at = CASE WHEN v.column4 <> '' AND submitted_at = 0 THEN v.column6 ELSE submitted_at END
				FROM `+src+` AS v WHERE messages.id = v.column1`, args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("update messages: %w", err)
		}
	}
	return nil
}

// PartRow is a row of parts: part Seq (from 0) of message MessageID,
// accepted by the SMSC under (Carrier, CarrierID) at SubmittedAt, with its
// receipt's Stat, Err and Done when one is known.
type PartRow struct {
	MessageID   int64
	Seq         int
	Carrier     string
	CarrierID   string
	Stat        string
	Err         string
	Done        int64
	SubmittedAt int64
}

// InsertPart stores a part. A row under the same carrier id for another
// message (an id the SMSC reused) is replaced; one for the same message
// stays as it is.
func (t *wtx) InsertPart(ctx context.Context, p PartRow) error {
	_, err := t.q.Exec(ctx, `INSERT INTO parts (carrier, carrier_id, message_id, seq, stat, err, done_at, submitted_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (carrier, carrier_id) DO UPDATE SET message_id = excluded.message_id, seq = excluded.seq,
			stat = excluded.stat, err = excluded.err, done_at = excluded.done_at, submitted_at = excluded.submitted_at
				WHERE parts.message_id <> excluded.message_id`,
		p.Carrier, p.CarrierID, p.MessageID, int64(p.Seq), p.Stat, p.Err, p.Done, p.SubmittedAt)
	return err
}

// LogReceipt buffers a receipt-log row until flushReceipts.
func (t *wtx) LogReceipt(msgID int64, carrier, id, stat, errCode string, done, at int64) {
	t.receipts = append(t.receipts, []any{msgID, carrier, id, stat, errCode, done, at})
}

// insertRows inserts rows (one shape: int64 and string values) with one
// statement per chunk; suffix may hold an ON CONFLICT clause.
func (t *wtx) insertRows(ctx context.Context, table, cols string, rows [][]any, suffix string) error {
	return Chunks(rows, 250, func(rows [][]any) error {
		src, args := t.d.Values(rows)
		// "WHERE true" keeps SQLite from reading ON CONFLICT as a join.
		_, err := t.q.Exec(ctx, `INSERT INTO `+table+` (`+cols+`) SELECT * FROM `+src+` AS v WHERE true `+suffix, args...)
		return err
	})
}

func (t *wtx) flushReceipts(ctx context.Context) error {
	if len(t.receipts) == 0 {
		return nil
	}
	err := t.insertRows(ctx, "receipts", "message_id, carrier, carrier_id, stat, err, done_at, received_at", t.receipts, "")
	t.receipts = t.receipts[:0]
	if err != nil {
		return fmt.Errorf("receipt log: %w", err)
	}
	return nil
}

// PendingExists reports whether this very receipt (every field the SMSC
// wrote) is pending already, stored or buffered in this batch: a copy of
// it. Another receipt for the id with the same stat (an SMSC that reused
// the id) is not.
func (t *wtx) PendingExists(ctx context.Context, r ledger.Receipt) (bool, error) {
	if _, ok := t.pendingIdx[pendingKeyOf(r)]; ok {
		return true, nil
	}
	rows, err := t.q.Query(ctx, `SELECT 1 FROM pending_receipts WHERE carrier = $1 AND carrier_id = $2 AND stat = $3
		AND done_at = $4 AND recipient = $5 AND err = $6 AND body = $7`,
		r.Carrier, r.MessageID, r.Stat, Nanos(r.Done), r.Recipient, r.Err, r.Text)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := rows.Next()
	return found, rows.Err()
}

// pendingKey is the key of pending_receipts: the whole receipt.
type pendingKey struct {
	carrier, id, stat, err, recipient, body string
	done                                    int64
}

func pendingKeyOf(r ledger.Receipt) pendingKey {
	return pendingKey{r.Carrier, r.MessageID, r.Stat, r.Err, r.Recipient, r.Text, Nanos(r.Done)}
}

// InsertPending keeps r pending, buffered until flushPending. A copy of a
// pending receipt moves its received_at to at: receipts that nothing
// tells apart (no dates, no recipient) may be a newer submission's under
// a reused id, and ApplyPending drops only those received before the
// part's claim.
func (t *wtx) InsertPending(r ledger.Receipt, at int64) {
	k := pendingKeyOf(r)
	if i, ok := t.pendingIdx[k]; ok {
		t.pending[i][7] = at
		return
	}
	if t.pendingIdx == nil {
		t.pendingIdx = make(map[pendingKey]int)
	}
	t.pendingIdx[k] = len(t.pending)
	t.pending = append(t.pending, []any{r.Carrier, r.MessageID, r.Stat, r.Err, r.Recipient, r.Text, Nanos(r.Done), at})
}

// flushPending inserts the buffered pending receipts, one statement per
// chunk, in key order (a fixed lock order between PostgreSQL instances);
// each key is in the buffer once, as one statement may not update a row
// twice.
func (t *wtx) flushPending(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	slices.SortFunc(t.pending, func(a, b []any) int {
		return cmp.Or(cmp.Compare(a[0].(string), b[0].(string)), cmp.Compare(a[1].(string), b[1].(string)), cmp.Compare(a[2].(string), b[2].(string)))
	})
	err := t.insertRows(ctx, "pending_receipts", "carrier, carrier_id, stat, err, recipient, body, done_at, received_at", t.pending,
		"ON CONFLICT (carrier, carrier_id, stat, done_at, recipient, err, body) DO UPDATE SET received_at = excluded.received_at")
	t.pending = t.pending[:0]
	clear(t.pendingIdx)
	if err != nil {
		return fmt.Errorf("pending receipts: %w", err)
	}
	return nil
}

// pendingReceipt is a pending receipt and when it was received.
type pendingReceipt struct {
	r  ledger.Receipt
	at int64
}

func (t *wtx) TakePending(ctx context.Context, carrier string, ids []string) ([]pendingReceipt, error) {
	in, args := t.d.Strings("carrier_id", 2, ids)
	rows, err := t.q.Query(ctx, `DELETE FROM pending_receipts WHERE carrier = $1 AND `+in+`
		RETURNING carrier, carrier_id, stat, err, recipient, body, done_at, received_at`, append([]any{carrier}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ps []pendingReceipt
	for rows.Next() {
		var p pendingReceipt
		var done int64
		if err := rows.Scan(&p.r.Carrier, &p.r.MessageID, &p.r.Stat, &p.r.Err, &p.r.Recipient, &p.r.Text, &done, &p.at); err != nil {
			return nil, err
		}
		p.r.Done = Time(done)
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Intermediate stats first, then by arrival, so a final stat wins.
	slices.SortStableFunc(ps, func(a, b pendingReceipt) int { return cmp.Compare(a.at, b.at) })
	out := make([]pendingReceipt, 0, len(ps))
	for pass := range 2 {
		for _, p := range ps {
			if ledger.FinalStat(p.r.Stat) == (pass == 1) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func (t *wtx) UnknownCandidates(ctx context.Context, carrier, recipient string) ([]Candidate, error) {
	// Unknown messages; unknown ones requeued for a resend that has not
	// happened yet (a late receipt then saves the duplicate); and messages
	// submitted by reconciliation alone (no submit result: carrier_ids
	// empty), which take the receipts of their other parts. The caller
	// skips those whose parts are all there. Oldest first.
	rows, err := t.q.Query(ctx, `SELECT id, body, segments, carrier_ids FROM messages
		WHERE recipient = $1 AND (state = 'unknown' OR (state = 'queued' AND requeues > 0)
			OR (state = 'submitted' AND carrier_ids = ''))
		AND (carrier = $2 OR carrier = '') ORDER BY id`, recipient, carrier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []Candidate
	for rows.Next() {
		var c Candidate
		var segs int64
		var cids string
		if err := rows.Scan(&c.ID, &c.Text, &segs, &cids); err != nil {
			return nil, err
		}
		c.Segments, c.HasIDs, c.IDs = int(segs), AnyID(cids), cids
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

func (t *wtx) ForDerive(ctx context.Context, msgID int64) (Derive, error) {
	var d Derive
	rows, err := t.q.Query(ctx, `SELECT state, segments, carrier_ids, recipient FROM messages WHERE id = $1`, msgID)
	if err != nil {
		return d, err
	}
	var state, cids string
	var segs int64
	if rows.Next() {
		err = rows.Scan(&state, &segs, &cids, &d.Recipient)
	}
	rows.Close()
	if err != nil {
		return d, err
	}
	if err := rows.Err(); err != nil {
		return d, err
	}
	d.State, d.Segments, d.NoResult, d.Gaps = message.State(state), expectedParts(segs, cids), cids == "", HasGaps(cids)
	// Parts of the current send only: a resend moves the earlier send's
	// parts to negative seqs.
	rows, err = t.q.Query(ctx, `SELECT seq, stat FROM parts WHERE message_id = $1 AND seq >= 0 ORDER BY seq`, msgID)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var s string
		if err := rows.Scan(&seq, &s); err != nil {
			return d, err
		}
		for len(d.Stats) <= int(seq) {
			d.Stats = append(d.Stats, "")
		}
		d.Stats[seq] = s
	}
	return d, rows.Err()
}

// SetReceipt buffers the last receipt of a message and, when state is not
// empty, its move to state (with an outbox row) until flushUpdates.
func (t *wtx) SetReceipt(msgID int64, stat, errCode string, state message.State, reason string, at int64) {
	if t.msgUpd == nil {
		t.msgUpd = make(map[int64]*msgUpdate)
	}
	u := t.msgUpd[msgID]
	if u == nil {
		u = &msgUpdate{}
		t.msgUpd[msgID] = u
	}
	u.stat, u.err, u.at = stat, errCode, at
	if state != "" {
		u.state, u.reason = string(state), reason
		t.out(msgID, state, reason, at)
	}
}
