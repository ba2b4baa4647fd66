package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

var _ ledger.StateStore = (*Store)(nil)

// pendingEntity is the SQL condition "entity col has a queued or scheduled
// message" (the partial index messages_entity serves it).
func pendingEntity(col string) string {
	return `EXISTS (SELECT 1 FROM messages m WHERE m.entity = ` + col + ` AND m.entity <> '' AND m.state IN ('queued','scheduled'))`
}

// PutStates implements ledger.StateStore.
func (s *Store) PutStates(ctx context.Context, states []ledger.EntityState) error {
	newest := make(map[string]int, len(states))
	var rows [][]any
	nowN := s.now()
	for _, st := range states {
		if st.Entity == "" {
			continue
		}
		keep := int64(0)
		if st.Keep {
			keep = 1
		}
		row := []any{st.Entity, st.Kind, string(st.Data), st.EventID, st.EventType, Nanos(st.At), nowN, keep}
		if i, ok := newest[st.Entity]; ok {
			if rows[i][5].(int64) <= Nanos(st.At) {
				row[7] = max(row[7].(int64), rows[i][7].(int64))
				rows[i] = row
			} else if keep == 1 {
				rows[i][7] = keep
			}
			continue
		}
		newest[st.Entity] = len(rows)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	// A fixed lock order keeps concurrent PostgreSQL batches from deadlocking.
	slices.SortFunc(rows, func(a, b []any) int { return cmp.Compare(a[0].(string), b[0].(string)) })
	err := s.write(ctx, func(t *wtx) error {
		return Chunks(rows, 250, func(rows [][]any) error {
			src, args := s.d.Values(rows)
			_, err := t.q.Exec(ctx, `INSERT INTO entity_state (entity, kind, data, event_id, event_type, at, updated_at)
				SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7 FROM `+src+` AS v
				WHERE (v.column8 = 1 OR `+pendingEntity("v.column1")+`)
				ON CONFLICT (entity) DO UPDATE SET kind = excluded.kind, data = excluded.data, event_id = excluded.event_id,
					event_type = excluded.event_type, at = excluded.at, updated_at = excluded.updated_at
				WHERE excluded.at >= entity_state.at`, args...)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("ledger put states: %w", err)
	}
	return nil
}

// PendingEntities implements ledger.StateStore.
func (s *Store) PendingEntities(ctx context.Context, entities []string) (map[string]bool, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	err = Chunks(entities, s.d.MaxList, func(es []string) error {
		in, args := s.d.Strings("entity", 1, es)
		return queryEach(ctx, q, func(r Rows) error {
			var e string
			if err := r.Scan(&e); err != nil {
				return err
			}
			out[e] = true
			return nil
		}, `SELECT DISTINCT entity FROM messages WHERE `+in+` AND entity <> '' AND state IN ('queued','scheduled')`, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger pending entities: %w", err)
	}
	return out, nil
}

// LatestStates implements ledger.StateStore.
func (s *Store) LatestStates(ctx context.Context, entities []string) (map[string]ledger.EntityState, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]ledger.EntityState)
	err = Chunks(entities, s.d.MaxList, func(es []string) error {
		in, args := s.d.Strings("entity", 1, es)
		return queryEach(ctx, q, func(r Rows) error {
			var st ledger.EntityState
			var data string
			var at int64
			if err := r.Scan(&st.Entity, &st.Kind, &data, &st.EventID, &st.EventType, &at); err != nil {
				return err
			}
			st.Data, st.At = []byte(data), Time(at)
			out[st.Entity] = st
			return nil
		}, `SELECT entity, kind, data, event_id, event_type, at FROM entity_state WHERE `+in, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("ledger latest states: %w", err)
	}
	return out, nil
}

// PruneStates implements ledger.StateStore.
func (s *Store) PruneStates(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(t *wtx) error {
		var err error
		n, err = t.q.Exec(ctx, `DELETE FROM entity_state WHERE updated_at < $1 AND NOT `+pendingEntity("entity_state.entity"), Nanos(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger prune states: %w", err)
	}
	return int(n), nil
}

// CancelInhibited implements ledger.StateStore.
func (s *Store) CancelInhibited(ctx context.Context, inhs []ledger.Inhibition) (int, error) {
	for _, in := range inhs {
		if in.Recipient == "" && in.Entity == "" {
			return 0, errors.New("ledger cancel inhibited: an inhibition needs a recipient or an entity")
		}
	}
	nowN := s.now()
	total := 0
	err := s.write(ctx, func(t *wtx) error {
		total = 0 // a retried transaction starts afresh
		for _, in := range inhs {
			if len(in.Rules) == 0 {
				continue
			}
			args := []any{in.Reason, nowN}
			where := ""
			for _, kv := range [][2]string{{"recipient", in.Recipient}, {"entity", in.Entity}} {
				if kv[1] != "" {
					args = append(args, kv[1])
					where += " AND " + kv[0] + " = $" + strconv.Itoa(len(args))
				}
			}
			rin, rargs := s.d.Strings("rule_id", len(args)+1, in.Rules)
			n, err := updateReturningIDs(ctx, t, message.StateCancelled, in.Reason, nowN,
				`UPDATE messages SET state = 'cancelled', reason = $1, done_at = $2, updated_at = $2
				WHERE state IN ('queued','scheduled')`+where+` AND `+rin+` RETURNING id`, append(args, rargs...)...)
			if err != nil {
				return err
			}
			total += n
			// The calls of those reminders not dialled yet (a fallback
			// queued after its SMS failed, a voice-only call).
			if err := queryEach(ctx, t.q, func(r Rows) error {
				var id, msg int64
				if err := r.Scan(&id, &msg); err != nil {
					return err
				}
				t.outCall(id, msg, ledger.CallCancelled, in.Reason, nowN)
				return nil
			}, `UPDATE calls SET state = 'cancelled', reason = $1, updated_at = $2
				WHERE state IN ('armed','queued')`+where+` AND `+rin+` RETURNING id, message_id`, append(args, rargs...)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger cancel inhibited: %w", err)
	}
	return total, nil
}
