package core

import (
	"context"
	"fmt"
	"math"

	"github.com/traffic12123/gateway/internal/ledger"
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
