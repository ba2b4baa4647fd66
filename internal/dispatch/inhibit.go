package dispatch

import (
	"context"
	"fmt"
	"slices"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
)

// inhibitions turns a decision's inhibit targets into ledger inhibitions
// (recipients normalised as the messages store them).
func inhibitions(d *rules.Decision) []ledger.Inhibition {
	var out []ledger.Inhibition
	for _, t := range d.Inhibits {
		in := ledger.Inhibition{Rules: t.Rules, Entity: t.Entity, Reason: rules.InhibitedReason(d.RuleID)}
		if t.Recipient != "" {
			n, err := route.Normalize(t.Recipient)
			if err != nil {
				continue // no message can have gone to it
			}
			in.Recipient = n
		}
		if in.Recipient == "" && in.Entity == "" {
			continue
		}
		out = append(out, in)
	}
	return out
}

// inhibitInBatch suppresses the batch's own target messages that a more
// severe one of the same batch inhibits (an earlier event's, or a later
// one's: either way the person gets the more severe text only).
func inhibitInBatch(cands []policy.Candidate, inhs []ledger.Inhibition) {
	for _, in := range inhs {
		for _, c := range cands {
			m := c.Msg
			if (m.State != message.StateQueued && m.State != message.StateScheduled) || !slices.Contains(in.Rules, m.RuleID) ||
				(in.Recipient != "" && m.Recipient != in.Recipient) || (in.Entity != "" && m.Entity != in.Entity) {
				continue
			}
			m.State, m.Reason = message.StateSuppressed, in.Reason
		}
	}
}

// cancelInhibited cancels pending messages of earlier batches that the
// batch's decisions inhibit.
func (p *Pipeline) cancelInhibited(ctx context.Context, inhs []ledger.Inhibition) error {
	if len(inhs) == 0 || p.states == nil {
		return nil
	}
	n, err := p.states.CancelInhibited(ctx, inhs)
	if err != nil {
		return fmt.Errorf("dispatch: inhibit: %w", err)
	}
	p.cfg.Metrics.cancelled.Add(float64(n))
	return nil
}

// putStates keeps the licence and vehicle states the batch's events carry,
// for the re-check of pending messages at send time (the ledger keeps
// those of entities with a pending message, the newest event winning).
func (p *Pipeline) putStates(ctx context.Context, evs []*event.Event, keep map[string]bool) error {
	if p.states == nil {
		return nil
	}
	// Most events (the daily sweep) are about licences and vehicles with
	// nothing pending: ask which have something before encoding states.
	// keep are the entities of this batch's messages, about to be stored.
	var ents []string
	seen := make(map[string]bool, len(evs))
	for _, e := range evs {
		if k := e.Entity(); k != "" && e.AdvisoryPublished == nil && !seen[k] && !keep[k] {
			seen[k] = true
			ents = append(ents, k)
		}
	}
	pending := map[string]bool{}
	if len(ents) > 0 {
		var err error
		if pending, err = p.states.PendingEntities(ctx, ents); err != nil {
			return fmt.Errorf("dispatch: states: %w", err)
		}
	}
	if len(pending) == 0 && len(keep) == 0 {
		return nil
	}
	var sts []ledger.EntityState
	for _, e := range evs {
		k := e.Entity()
		if !pending[k] && !keep[k] {
			continue
		}
		if o, ok := rules.Observe(e); ok {
			sts = append(sts, ledger.EntityState{Entity: o.Entity, Kind: o.Kind, Data: o.Data, EventID: e.ID, EventType: string(e.Type), At: e.Time, Keep: keep[k]})
		}
	}
	if err := p.states.PutStates(ctx, sts); err != nil {
		return fmt.Errorf("dispatch: states: %w", err)
	}
	return nil
}
