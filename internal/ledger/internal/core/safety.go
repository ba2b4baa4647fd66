package core

import (
	"context"
	"fmt"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// RecordEvents implements ledger.Store.
func (s *Store) RecordEvents(ctx context.Context, hs []ledger.EventHash) (map[string]string, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	nowN := s.now()
	stored := map[string]string{}
	err := s.write(ctx, func(t *wtx) error {
		clear(stored)
		seen := map[string]bool{}
		var ids []string
		var rows []any
		for _, h := range hs {
			if seen[h.EventID] {
				continue
			}
			seen[h.EventID] = true
			ids = append(ids, h.EventID)
			rows = append(rows, h.EventID, h.Hash, nowN)
		}
		const per = 300
		for lo := 0; lo < len(ids); lo += per {
			hi := min(lo+per, len(ids))
			if _, err := t.q.Exec(ctx, `INSERT INTO event_hashes (event_id, hash, at) VALUES `+Tuples(hi-lo, 3)+
				` ON CONFLICT (event_id) DO NOTHING`, rows[lo*3:hi*3]...); err != nil {
				return err
			}
		}
		return Chunks(ids, s.d.MaxList, func(chunk []string) error {
			in, args := s.d.Strings("event_id", 1, chunk)
			return queryEach(ctx, t.q, func(r Rows) error {
				var id, h string
				if err := r.Scan(&id, &h); err != nil {
					return err
				}
				stored[id] = h
				return nil
			}, `SELECT event_id, hash FROM event_hashes WHERE `+in, args...)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ledger record events: %w", err)
	}
	return stored, nil
}

// PruneEvents implements ledger.Store.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(t *wtx) error {
		var err error
		n, err = t.q.Exec(ctx, `DELETE FROM event_hashes WHERE at < $1`, Nanos(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ledger prune events: %w", err)
	}
	return int(n), nil
}

// Held implements ledger.Store.
func (s *Store) Held(ctx context.Context, limit int) ([]*message.Message, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []*message.Message
	err = queryEach(ctx, q, func(r Rows) error {
		m, err := ScanMessage(r)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}, `SELECT `+MsgCols+` FROM messages WHERE state = 'held' ORDER BY created_at, id LIMIT $1`, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("ledger held: %w", err)
	}
	return out, nil
}

// DecideHeld implements ledger.Store.
func (s *Store) DecideHeld(ctx context.Context, ids []int64, d ledger.HeldDecision) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	nowN := s.now()
	st, reason, decision := message.StateQueued, ledger.ReasonReleasedBy+d.Who, "release"
	done := int64(0)
	if !d.Release {
		st, reason, decision, done = message.StateCancelled, ledger.ReasonDroppedBy+d.Who, "drop", nowN
	}
	var changed []int64
	err := s.write(ctx, func(t *wtx) error {
		changed = changed[:0]
		for _, id := range ids {
			st, reason, done := st, reason, done
			if d.Release {
				// A voice-only message: its call goes, never an SMS.
				voiceOnly := false
				if err := queryEach(ctx, t.q, func(r Rows) error {
					var call int64
					if err := r.Scan(&call); err != nil {
						return err
					}
					voiceOnly = true
					t.outCall(call, id, ledger.CallQueued, message.ReasonVoiceOnly, nowN)
					return nil
				}, `UPDATE calls SET state = 'queued', not_before = $1, updated_at = $1
					WHERE message_id = $2 AND state = 'armed' AND reason = $3
					AND EXISTS (SELECT 1 FROM messages m WHERE m.id = $2 AND m.state = 'held') RETURNING id`,
					nowN, id, message.ReasonVoiceOnly); err != nil {
					return fmt.Errorf("message %d: call: %w", id, err)
				}
				if voiceOnly {
					st, reason, done = message.StateSuppressed, message.ReasonVoiceOnly, nowN
				}
			}
			n, err := t.q.Exec(ctx, `UPDATE messages SET state = $1, reason = $2, not_before = $3, done_at = $4, updated_at = $3
				WHERE id = $5 AND state = 'held'`, string(st), reason, nowN, done, id)
			if err != nil {
				return fmt.Errorf("message %d: %w", id, err)
			}
			if n == 0 {
				continue
			}
			if _, err := t.q.Exec(ctx, `INSERT INTO held_decisions (message_id, decision, who, note, at) VALUES ($1, $2, $3, $4, $5)`,
				id, decision, d.Who, d.Note, nowN); err != nil {
				return err
			}
			t.out(id, st, reason, nowN)
			changed = append(changed, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger decide held: %w", err)
	}
	return changed, nil
}

// HeldDecisions implements ledger.Store.
func (s *Store) HeldDecisions(ctx context.Context, messageID int64) ([]ledger.HeldDecision, error) {
	q, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []ledger.HeldDecision
	err = queryEach(ctx, q, func(r Rows) error {
		var d ledger.HeldDecision
		var decision string
		var at int64
		if err := r.Scan(&decision, &d.Who, &d.Note, &at); err != nil {
			return err
		}
		d.Release, d.At = decision == "release", Time(at)
		out = append(out, d)
		return nil
	}, `SELECT decision, who, note, at FROM held_decisions WHERE message_id = $1 ORDER BY id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("ledger held decisions: %w", err)
	}
	return out, nil
}

// Ping implements ledger.Store.
func (s *Store) Ping(ctx context.Context) error {
	err := s.write(ctx, func(t *wtx) error {
		_, err := t.q.Exec(ctx, `UPDATE meta SET v = v WHERE k = 'status_acked'`)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger ping: %w", err)
	}
	return nil
}
