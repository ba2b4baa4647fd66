package dispatch

import (
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
)

// noRecipient is the ledger's record of a rule that matched an event
// without a phone to send to: a suppressed message with no recipient, so
// that `smsgw trace --event/--licence/--plate` shows why nobody was told.
// Its key (event, rule, "") makes a redelivered event store it once.
func noRecipient(e *event.Event, ruleID string, now time.Time) policy.Candidate {
	return policy.Candidate{Msg: &message.Message{
		Key:       message.Key(e.ID, ruleID, ""),
		EventID:   e.ID,
		EventType: string(e.Type),
		Entity:    e.Entity(),
		RuleID:    ruleID,
		NotBefore: now,
		CreatedAt: now,
		State:     message.StateSuppressed,
		Reason:    ReasonNoRecipient,
	}}
}
