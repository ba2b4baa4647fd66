package core

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// queryEach runs sql and calls scan for every row.
func queryEach(ctx context.Context, q Q, scan func(Rows) error, sql string, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RecentDedupe implements ledger.Store.
func (s *Store) RecentDedupe(ctx context.Context, keys []string, since time.Time) (map[string]bool, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	err = Chunks(keys, s.d.MaxList, func(ks []string) error {
		in, args := s.d.Strings("dedupe_key", 2, ks)
		return queryEach(ctx, q, func(r Rows) error {
			var k string
			if err := r.Scan(&k); err != nil {
				return err
			}
			out[k] = true
			return nil
		}, `SELECT DISTINCT dedupe_key FROM messages WHERE `+in+` AND dedupe_key <> '' AND created_at >= $1 AND (state <> 'suppressed' OR reason = '`+message.ReasonVoiceOnly+`')`,
			append([]any{Nanos(since)}, args...)...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger recent dedupe: %w", err)
	}
	return out, nil
}

// CountSince implements ledger.Store.
func (s *Store) CountSince(ctx context.Context, recipients []string, since time.Time) (map[string]int, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int)
	err = Chunks(recipients, s.d.MaxList, func(rs []string) error {
		in, args := s.d.Strings("recipient", 2, rs)
		return queryEach(ctx, q, func(r Rows) error {
			var k string
			var n int64
			if err := r.Scan(&k, &n); err != nil {
				return err
			}
			out[k] += int(n)
			return nil
		}, `SELECT recipient, count(*) FROM messages WHERE `+in+` AND created_at >= $1
			AND state NOT IN ('suppressed','cancelled') GROUP BY recipient`,
			append([]any{Nanos(since)}, args...)...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger count since: %w", err)
	}
	return out, nil
}

// OptOut implements ledger.Store.
func (s *Store) OptOut(ctx context.Context, phone string, on bool) error {
	err := s.write(ctx, func(t *wtx) error {
		var err error
		if on {
			_, err = t.q.Exec(ctx, `INSERT INTO opt_outs (phone, at) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING`, phone, s.now())
		} else {
			_, err = t.q.Exec(ctx, `DELETE FROM opt_outs WHERE phone = $1`, phone)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger opt out: %w", err)
	}
	return nil
}

// OptedOut implements ledger.Store.
func (s *Store) OptedOut(ctx context.Context, phones []string) (map[string]bool, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	err = Chunks(phones, s.d.MaxList, func(ps []string) error {
		in, args := s.d.Strings("phone", 1, ps)
		return queryEach(ctx, q, func(r Rows) error {
			var k string
			if err := r.Scan(&k); err != nil {
				return err
			}
			out[k] = true
			return nil
		}, `SELECT phone FROM opt_outs WHERE `+in, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger opted out: %w", err)
	}
	return out, nil
}

// contactsChunk is the rows per INSERT of UpsertContacts; a shorter last
// chunk is padded to a power of two, so at most a few statement texts
// exist (each prepared once on the SQLite writer connection).
const contactsChunk = 256

// UpsertContacts implements ledger.Store. A plain multi-row VALUES insert
// (no row-source subquery), its arguments built before the transaction
// takes the writer; rows are written in the caller's order, so a caller
// that sorts by (region, phone, entity) touches each B-tree page once.
// Duplicates, in the batch or already stored, are ignored.
func (s *Store) UpsertContacts(ctx context.Context, cs []ledger.Contact) error {
	var chunks [][]any
	_ = Chunks(cs, contactsChunk, func(cs []ledger.Contact) error { // never fails: it only builds arguments
		n := contactsChunk
		for n/2 >= len(cs) {
			n /= 2
		}
		args := make([]any, 0, 3*n)
		for i := range n {
			c := &cs[min(i, len(cs)-1)] // padding repeats the last row: a no-op
			args = append(args, c.Region, c.Phone, c.Entity)
		}
		chunks = append(chunks, args)
		return nil
	})
	if len(chunks) == 0 {
		return nil
	}
	err := s.write(ctx, func(t *wtx) error {
		for _, args := range chunks {
			if _, err := t.q.Exec(ctx, contactsSQL(len(args)/3), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger upsert contacts: %w", err)
	}
	return nil
}

var contactsSQLs sync.Map // rows -> statement text

func contactsSQL(n int) string {
	if q, ok := contactsSQLs.Load(n); ok {
		return q.(string)
	}
	q := `INSERT INTO contacts (region, phone, entity) VALUES ` + Tuples(n, 3) + ` ON CONFLICT (region, phone, entity) DO NOTHING`
	contactsSQLs.Store(n, q)
	return q
}

// ContactsInRegions implements ledger.Store. Phones are visited in order,
// each once, while the rows stream from a read connection (so memory stays
// bounded for a province-wide advisory, and fn may use the store). The
// regions become a set of [lo, hi) code ranges, merged where they overlap,
// joined as one row source (PostgreSQL: unnest of two arrays, two bind
// parameters whatever the count; SQLite: a VALUES list): one query for the
// ~2,850 county codes of a nation-wide warning, where one OR term per region
// broke SQLite's expression depth limit at 1,000.
func (s *Store) ContactsInRegions(ctx context.Context, regions []string, fn func(phone string) error) error {
	q, err := s.read()
	if err != nil {
		return err
	}
	ranges := RegionRanges(regions)
	if len(ranges) == 0 {
		return nil
	}
	var fnErr error
	scan := func(r Rows) error {
		var p string
		if err := r.Scan(&p); err != nil {
			return err
		}
		fnErr = fn(p)
		return fnErr
	}
	// SQLite binds at most 32,766 parameters; two per range.
	const perQuery = 8000
	if len(ranges) <= perQuery {
		src, args := s.d.Values(ranges)
		err = queryEach(ctx, q, scan, `SELECT DISTINCT c.phone FROM `+src+` AS v
			JOIN contacts c ON c.region >= v.column1 AND c.region < v.column2 ORDER BY c.phone`, args...)
	} else { // more ranges than any real audience: dedupe across chunks in memory
		seen := map[string]bool{}
		err = Chunks(ranges, perQuery, func(rs [][]any) error {
			src, args := s.d.Values(rs)
			return queryEach(ctx, q, func(r Rows) error {
				var p string
				if err := r.Scan(&p); err != nil {
					return err
				}
				if seen[p] {
					return nil
				}
				seen[p] = true
				fnErr = fn(p)
				return fnErr
			}, `SELECT DISTINCT c.phone FROM `+src+` AS v
				JOIN contacts c ON c.region >= v.column1 AND c.region < v.column2`, args...)
		})
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("ledger contacts in regions: %w", err)
	}
	return nil
}

// RegionRanges turns advisory regions into sorted, merged [lo, hi) ranges
// of region codes (rows of two strings), see ledger.RegionRange. A code
// that covers only itself becomes [code, code+1): codes are 6 digits and
// compare bytewise ("C" collation, ':' follows '9').
func RegionRanges(regions []string) [][]any {
	type rng struct{ lo, hi string }
	rs := make([]rng, 0, len(regions))
	for _, r := range regions {
		lo, hi, exact := ledger.RegionRange(r)
		if exact {
			if lo == "" {
				continue
			}
			hi = lo[:len(lo)-1] + string(lo[len(lo)-1]+1)
		}
		rs = append(rs, rng{lo, hi})
	}
	slices.SortFunc(rs, func(a, b rng) int { return cmp.Compare(a.lo, b.lo) })
	out := make([][]any, 0, len(rs))
	for _, r := range rs {
		if n := len(out); n > 0 && r.lo <= out[n-1][1].(string) {
			if r.hi > out[n-1][1].(string) {
				out[n-1][1] = r.hi
			}
			continue
		}
		out = append(out, []any{r.lo, r.hi})
	}
	return out
}

// PendingStatus implements ledger.Store.
//
// Two reads: the outbox rows after the watermark, then their messages by
// id. As one join, PostgreSQL, which cannot tell how many rows follow a
// watermark read by a subquery and plans on statistics that lag a fast
// growing table, chose a hash join of the messages table that spilled to
// disk at every read under load (about 450 temporary files per 20,000
// messages). Messages are never pruned while they have unacknowledged
// outbox rows, so the second read finds every one.
func (s *Store) PendingStatus(ctx context.Context, limit int) ([]ledger.StatusChange, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []ledger.StatusChange
	err = queryEach(ctx, q, func(r Rows) error {
		var c ledger.StatusChange
		var st string
		var at int64
		if err := r.Scan(&c.ID, &c.MessageID, &st, &c.Reason, &at, &c.Channel, &c.CallID); err != nil {
			return err
		}
		c.State, c.At = message.State(st), Time(at)
		out = append(out, c)
		return nil
	}, `SELECT id, message_id, state, reason, at, channel, call_id FROM status_outbox
		WHERE id > (SELECT v FROM meta WHERE k = 'status_acked') ORDER BY id LIMIT $1`, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("ledger pending status: %w", err)
	}
	type msgCols struct{ key, eventID, ruleID, recipient, carrier string }
	msgs := make(map[int64]msgCols, len(out))
	var ids []int64
	for _, c := range out {
		if _, ok := msgs[c.MessageID]; !ok {
			msgs[c.MessageID] = msgCols{}
			ids = append(ids, c.MessageID)
		}
	}
	err = Chunks(ids, s.d.MaxList, func(ids []int64) error {
		in, args := s.d.Ints("id", 1, ids)
		return queryEach(ctx, q, func(r Rows) error {
			var id int64
			var m msgCols
			if err := r.Scan(&id, &m.key, &m.eventID, &m.ruleID, &m.recipient, &m.carrier); err != nil {
				return err
			}
			msgs[id] = m
			return nil
		}, `SELECT id, key, event_id, rule_id, recipient, carrier FROM messages WHERE `+in, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger pending status: %w", err)
	}
	for i := range out {
		c := &out[i]
		m := msgs[c.MessageID]
		c.Key, c.EventID, c.RuleID, c.Recipient = m.key, m.eventID, m.ruleID, m.recipient
		if c.Channel == ledger.ChannelSMS {
			c.Carrier = m.carrier // the SMS's carrier has nothing to do with its call
		}
	}
	return out, nil
}

// AckStatus implements ledger.Store.
func (s *Store) AckStatus(ctx context.Context, upToID int64) error {
	err := s.write(ctx, func(t *wtx) error {
		_, err := t.q.Exec(ctx, `UPDATE meta SET v = `+s.d.Greatest+`(v, $1) WHERE k = 'status_acked'`, upToID)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger ack status: %w", err)
	}
	return nil
}

// Trace implements ledger.Store.
func (s *Store) Trace(ctx context.Context, tq ledger.TraceQuery) ([]ledger.TraceEntry, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var conds []string
	var args []any
	for _, f := range []struct{ col, v string }{{"recipient", tq.Phone}, {"event_id", tq.EventID}, {"entity", tq.Entity}} {
		if f.v != "" {
			args = append(args, f.v)
			conds = append(conds, fmt.Sprintf("%s = $%d", f.col, len(args)))
		}
	}
	if len(conds) == 0 {
		return nil, ledger.ErrEmptyQuery
	}
	where := conds[0]
	for _, c := range conds[1:] {
		where += " AND " + c
	}
	msgs := make(map[int64]*message.Message)
	var ids []int64
	err = queryEach(ctx, q, func(r Rows) error {
		m, err := ScanMessage(r)
		if err != nil {
			return err
		}
		msgs[m.ID] = m
		ids = append(ids, m.ID)
		return nil
	}, `SELECT `+MsgCols+` FROM messages WHERE `+where+` ORDER BY id LIMIT 10000`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger trace: %w", err)
	}
	var out []ledger.TraceEntry
	entry := func(id int64, k ledger.TraceKind, at int64) ledger.TraceEntry {
		m := msgs[id]
		return ledger.TraceEntry{At: Time(at), Kind: k, MessageID: id, Key: m.Key, EventID: m.EventID, RuleID: m.RuleID, Recipient: m.Recipient}
	}
	err = Chunks(ids, s.d.MaxList, func(ids []int64) error {
		in, args := s.d.Ints("message_id", 1, ids)
		if err := queryEach(ctx, q, func(r Rows) error {
			var id, at, call int64
			var st, reason, channel string
			if err := r.Scan(&id, &st, &reason, &at, &channel, &call); err != nil {
				return err
			}
			kind := ledger.TraceState
			if channel == ledger.ChannelVoice {
				kind = ledger.TraceCall
			}
			e := entry(id, kind, at)
			e.State, e.Reason, e.CallID = message.State(st), reason, call
			out = append(out, e)
			return nil
		}, `SELECT message_id, state, reason, at, channel, call_id FROM status_outbox WHERE `+in+` ORDER BY id`, args...); err != nil {
			return err
		}
		if err := queryEach(ctx, q, func(r Rows) error {
			var id, seq, at int64
			var carrier, cid string
			if err := r.Scan(&id, &seq, &carrier, &cid, &at); err != nil {
				return err
			}
			e := entry(id, ledger.TracePart, at)
			e.Seq, e.Carrier, e.CarrierID = int(seq), carrier, cid
			out = append(out, e)
			return nil
		}, `SELECT message_id, seq, carrier, carrier_id, submitted_at FROM parts WHERE `+in+` ORDER BY seq`, args...); err != nil {
			return err
		}
		return queryEach(ctx, q, func(r Rows) error {
			var id, at int64
			var carrier, cid, stat, errCode string
			if err := r.Scan(&id, &carrier, &cid, &stat, &errCode, &at); err != nil {
				return err
			}
			e := entry(id, ledger.TraceReceipt, at)
			e.Carrier, e.CarrierID, e.Stat, e.Err = carrier, cid, stat, errCode
			out = append(out, e)
			return nil
		}, `SELECT message_id, carrier, carrier_id, stat, err, received_at FROM receipts WHERE `+in+` ORDER BY id`, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger trace: %w", err)
	}
	if err := s.traceCalls(ctx, q, ids, out); err != nil {
		return nil, fmt.Errorf("ledger trace: %w", err)
	}
	// At equal times: the part, then the receipt, then the state it
	// caused, then the call's change it caused.
	kindOrder := map[ledger.TraceKind]int{ledger.TracePart: 0, ledger.TraceReceipt: 1, ledger.TraceState: 2, ledger.TraceCall: 3}
	slices.SortStableFunc(out, func(a, b ledger.TraceEntry) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.MessageID, b.MessageID), cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]))
	})
	return out, nil
}

// Summary implements ledger.Store.
func (s *Store) Summary(ctx context.Context) (ledger.Summary, error) {
	sum := ledger.Summary{
		States:     make(map[message.State]int),
		Carriers:   make(map[string]ledger.CarrierSummary),
		Suppressed: make(map[string]int),
	}
	q, err := s.read()
	if err != nil {
		return sum, err
	}
	err = queryEach(ctx, q, func(r Rows) error {
		var carrier, st, reason string
		var submitted, n, segs int64
		if err := r.Scan(&carrier, &st, &reason, &submitted, &n, &segs); err != nil {
			return err
		}
		state := message.State(st)
		sum.States[state] += int(n)
		if state == message.StateSuppressed {
			sum.Suppressed[reason] += int(n)
			return nil
		}
		if state == message.StateCancelled && submitted == 0 {
			return nil // never went to the carrier (cancel_on, inhibited, resolved at send time)
		}
		c := sum.Carriers[carrier]
		c.Messages += int(n)
		c.Segments += int(segs)
		if submitted != 0 {
			c.Submitted += int(n)
		}
		switch state {
		case message.StateDelivered:
			c.Delivered += int(n)
		case message.StateFailed, message.StateExpired:
			c.Failed += int(n)
		}
		sum.Carriers[carrier] = c
		return nil
	}, cmp.Or(s.d.SummarySQL, GroupBySummary))
	if err != nil {
		return sum, fmt.Errorf("ledger summary: %w", err)
	}
	err = queryEach(ctx, q, func(r Rows) error {
		var n int64
		err := r.Scan(&n)
		sum.Pending = int(n)
		return err
	}, `SELECT count(*) FROM pending_receipts`)
	if err != nil {
		return sum, fmt.Errorf("ledger summary: %w", err)
	}
	if sum.Calls, err = callSummary(ctx, q); err != nil {
		return sum, fmt.Errorf("ledger summary: %w", err)
	}
	return sum, nil
}

// Prune implements ledger.Store.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	beforeN := Nanos(before)
	total := 0
	for {
		n, err := s.pruneBatch(ctx, beforeN, 1000)
		total += n
		if err != nil {
			return total, fmt.Errorf("ledger prune: %w", err)
		}
		if n < 1000 {
			break
		}
	}
	pendingBefore := min(beforeN, s.opts.Now().Add(-s.opts.PendingRetention).UnixNano())
	err := s.write(ctx, func(t *wtx) error {
		_, err := t.q.Exec(ctx, `DELETE FROM pending_receipts WHERE received_at < $1`, pendingBefore)
		return err
	})
	if err != nil {
		return total, fmt.Errorf("ledger prune pending receipts: %w", err)
	}
	return total, nil
}

type auditKey struct{ day, rule, carrier, state string }

func (s *Store) pruneBatch(ctx context.Context, before int64, limit int) (int, error) {
	n := 0
	err := s.write(ctx, func(t *wtx) error {
		n = 0 // a retried transaction starts afresh
		var ids []int64
		agg := make(map[auditKey][2]int64)
		err := queryEach(ctx, t.q, func(r Rows) error {
			var id, created, segs int64
			var rule, carrier, st string
			if err := r.Scan(&id, &created, &rule, &carrier, &st, &segs); err != nil {
				return err
			}
			ids = append(ids, id)
			k := auditKey{Time(created).UTC().Format(time.DateOnly), rule, carrier, st}
			v := agg[k]
			v[0]++
			v[1] += segs
			agg[k] = v
			return nil
		}, `SELECT m.id, m.created_at, m.rule_id, m.carrier, m.state, m.segments FROM messages m
			WHERE m.state IN `+FinalStates+` AND m.updated_at < $1
			AND NOT EXISTS (SELECT 1 FROM status_outbox o WHERE o.message_id = m.id
				AND o.id > (SELECT v FROM meta WHERE k = 'status_acked'))
			AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.message_id = m.id
				AND (c.state IN `+openCalls+` OR c.updated_at >= $1))
			ORDER BY m.updated_at LIMIT $2`+s.d.SkipLocked, before, int64(limit))
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		for k, v := range agg {
			if _, err := t.q.Exec(ctx, `INSERT INTO audit (day, rule_id, carrier, state, messages, segments)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, rule_id, carrier, state)
				DO UPDATE SET messages = audit.messages + excluded.messages, segments = audit.segments + excluded.segments`,
				k.day, k.rule, k.carrier, k.state, v[0], v[1]); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		err = Chunks(ids, s.d.MaxList, func(ids []int64) error {
			for _, tbl := range []string{"parts", "receipts", "status_outbox", "send_refs", "calls"} {
				in, args := s.d.Ints("message_id", 1, ids)
				if _, err := t.q.Exec(ctx, `DELETE FROM `+tbl+` WHERE `+in, args...); err != nil {
					return fmt.Errorf("delete %s: %w", tbl, err)
				}
			}
			in, args := s.d.Ints("id", 1, ids)
			_, err := t.q.Exec(ctx, `DELETE FROM messages WHERE `+in, args...)
			return err
		})
		n = len(ids)
		return err
	})
	return n, err
}

// Audit implements ledger.Store.
func (s *Store) Audit(ctx context.Context) ([]ledger.AuditRow, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []ledger.AuditRow
	err = queryEach(ctx, q, func(r Rows) error {
		var a ledger.AuditRow
		var st string
		var n, segs int64
		if err := r.Scan(&a.Day, &a.RuleID, &a.Carrier, &st, &n, &segs); err != nil {
			return err
		}
		a.State, a.Messages, a.Segments = message.State(st), int(n), int(segs)
		out = append(out, a)
		return nil
	}, `SELECT day, rule_id, carrier, state, messages, segments FROM audit ORDER BY day, rule_id, carrier, state`)
	if err != nil {
		return nil, fmt.Errorf("ledger audit: %w", err)
	}
	return out, nil
}
