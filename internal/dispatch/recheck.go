package dispatch

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/redact"
	"github.com/traffic12123/gateway/internal/rules"
)

// Rechecker looks at claimed messages once more just before they are
// submitted and returns those no longer due, with the reason they end
// cancelled. The sender calls it with every claim (SenderConfig.Recheck).
type Rechecker interface {
	Recheck(ctx context.Context, msgs []*message.Message, now time.Time) map[int64]string
}

// StateReader is the ledger's store of the latest licence and vehicle
// states (ledger.StateStore).
type StateReader interface {
	LatestStates(ctx context.Context, entities []string) (map[string]ledger.EntityState, error)
}

// stillDuer is a rules set with still_due expressions (rules.Set).
type stillDuer interface {
	HasStillDue(ruleID string) bool
	StillDue(ruleID, kind string, data []byte, now time.Time) (due, checked bool, err error)
}

var _ stillDuer = (*rules.Set)(nil)

// StillDue is the Rechecker of the rules' still_due expressions: a message
// whose rule declares one is evaluated against the latest known state of
// its licence or vehicle; false cancels it with reason "resolved: <type>
// <id>" of the event that resolved it. A message without a stored state,
// or whose expression fails, goes as decided (logged): a reminder is not
// withheld on a doubt.
type StillDue struct {
	Rules   *atomic.Pointer[Evaluator]
	States  StateReader
	Logger  *slog.Logger
	Metrics *Metrics
}

var _ Rechecker = (*StillDue)(nil)

// Recheck implements Rechecker.
func (r *StillDue) Recheck(ctx context.Context, msgs []*message.Message, now time.Time) map[int64]string {
	sd, ok := (*r.Rules.Load()).(stillDuer)
	if !ok || len(msgs) == 0 {
		return nil
	}
	var entities []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Entity != "" && sd.HasStillDue(m.RuleID) && !seen[m.Entity] {
			seen[m.Entity] = true
			entities = append(entities, m.Entity)
		}
	}
	if len(entities) == 0 {
		return nil
	}
	states, err := r.States.LatestStates(ctx, entities)
	if err != nil {
		r.log().Warn("re-check: latest states unavailable; sending as decided", "messages", len(msgs), "err", err)
		return nil
	}
	var out map[int64]string
	for _, m := range msgs {
		st, ok := states[m.Entity]
		if !ok || !seen[m.Entity] {
			continue
		}
		due, checked, err := sd.StillDue(m.RuleID, st.Kind, st.Data, now)
		if err != nil {
			r.log().Warn("re-check failed; sending as decided", "rule", m.RuleID, "message", m.ID, "to", redact.Phone(m.Recipient), "err", err)
			continue
		}
		if checked && !due {
			if out == nil {
				out = map[int64]string{}
			}
			out[m.ID] = rules.ResolvedReason(st.EventType, st.EventID)
			if r.Metrics != nil {
				r.Metrics.resolved.WithLabelValues(m.RuleID).Inc()
			}
		}
	}
	return out
}

func (r *StillDue) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// recheck drops the claimed messages the Rechecker finds no longer due:
// they end cancelled (their slots are freed as for any finished message).
func (s *Sender) recheck(ctx context.Context, msgs []*message.Message) []*message.Message {
	if s.cfg.Recheck == nil || len(msgs) == 0 {
		return msgs
	}
	gone := s.cfg.Recheck.Recheck(ctx, msgs, s.cfg.Now())
	if len(gone) == 0 {
		return msgs
	}
	keep := msgs[:0]
	for _, m := range msgs {
		if why, ok := gone[m.ID]; ok {
			s.finish(ctx, result{tr: &ledger.Transition{ID: m.ID, State: message.StateCancelled, Reason: why}})
			continue
		}
		keep = append(keep, m)
	}
	return keep
}

// SetRecheck sets SenderConfig.Recheck; call it before Run.
func (s *Sender) SetRecheck(r Rechecker) { s.cfg.Recheck = r }
