package core

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// RecordAction implements ledger.ActionLog.
func (s *Store) RecordAction(ctx context.Context, a ledger.OperatorAction) (ledger.OperatorAction, error) {
	nowN := s.now()
	err := s.write(ctx, func(t *wtx) error {
		rows, err := t.q.Query(ctx, `INSERT INTO operator_actions (at, who, role, action, target, detail, remote)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, nowN, a.Who, a.Role, a.Action, a.Target, a.Detail, a.Remote)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("no id returned")
		}
		return rows.Scan(&a.ID)
	})
	if err != nil {
		return ledger.OperatorAction{}, fmt.Errorf("ledger record action: %w", err)
	}
	a.At = Time(nowN)
	return a, nil
}

// Actions implements ledger.ActionLog.
func (s *Store) Actions(ctx context.Context, before int64, limit int) ([]ledger.OperatorAction, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	var out []ledger.OperatorAction
	err = queryEach(ctx, q, func(r Rows) error {
		var a ledger.OperatorAction
		var at int64
		if err := r.Scan(&a.ID, &at, &a.Who, &a.Role, &a.Action, &a.Target, &a.Detail, &a.Remote); err != nil {
			return err
		}
		a.At = Time(at)
		out = append(out, a)
		return nil
	}, `SELECT id, at, who, role, action, target, detail, remote FROM operator_actions WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("ledger actions: %w", err)
	}
	return out, nil
}

// AdvisoryCounts implements ledger.Advisories.
func (s *Store) AdvisoryCounts(ctx context.Context, since time.Time) ([]ledger.AdvisoryCount, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []ledger.AdvisoryCount
	err = queryEach(ctx, q, func(r Rows) error {
		var c ledger.AdvisoryCount
		var n, first, last int64
		if err := r.Scan(&c.EventID, &c.RuleID, &c.State, &n, &first, &last); err != nil {
			return err
		}
		c.Messages, c.First, c.Last = int(n), Time(first), Time(last)
		out = append(out, c)
		return nil
	}, `SELECT event_id, rule_id, state, COUNT(*), MIN(created_at), MAX(updated_at) FROM messages
		WHERE event_type = 'advisory.published' AND created_at >= $1
		GROUP BY event_id, rule_id, state ORDER BY MIN(created_at), event_id, rule_id, state`, Nanos(since))
	if err != nil {
		return nil, fmt.Errorf("ledger advisory counts: %w", err)
	}
	return out, nil
}

// CancelAdvisory implements ledger.Advisories.
func (s *Store) CancelAdvisory(ctx context.Context, eventID, ruleID, reason string) (int, error) {
	nowN := s.now()
	n := 0
	err := s.write(ctx, func(t *wtx) error {
		n = 0
		rows, err := t.q.Query(ctx, `UPDATE messages SET state = 'cancelled', reason = $1, done_at = $2, updated_at = $2
			WHERE event_id = $3 AND rule_id = $4 AND state IN ('queued','scheduled','held') RETURNING id`, reason, nowN, eventID, ruleID)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			t.out(id, message.StateCancelled, reason, nowN)
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger cancel advisory: %w", err)
	}
	return n, nil
}
