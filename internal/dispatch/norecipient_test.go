package dispatch_test

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
)

// TestNoRecipientTraced: a rule that matches an event without a phone
// leaves a suppressed record (reason no_recipient) that trace finds by
// the licence, once even when the event is delivered twice.
func TestNoRecipientTraced(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		r := newRig(t, open, capsRules, time.Date(2026, 11, 27, 10, 0, 0, 0, policy.Shanghai()))
		ev := r.event("licence.snapshot", map[string]any{"licence": licence("", 0, nil)})
		r.handle(ev)
		r.handle(ev) // redelivered
		got := r.trace(ledger.TraceQuery{Entity: "110105199003071239"})
		if len(got) != 1 {
			t.Fatalf("trace: %v", got)
		}
		for _, e := range got {
			if e.State != message.StateSuppressed || e.Reason != "no_recipient" || e.RuleID != "t.remind" || e.Recipient != "" {
				t.Fatalf("trace entry %+v", e)
			}
		}
	})
}

// TestInvalidRecipientTraced: a recipient expression that yields no mobile
// number is stored suppressed with reason invalid_recipient.
func TestInvalidRecipientTraced(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		r := newRig(t, open, map[string]string{"r.yaml": `rules:
  - id: t.bad
    on: [licence.snapshot]
    when: "true"
    recipient: event.licence.region   # an operator's slip: not a phone
    template: {text: "提醒"}
`}, time.Date(2026, 11, 27, 10, 0, 0, 0, policy.Shanghai()))
		r.handle(r.event("licence.snapshot", map[string]any{"licence": licence("13900139000", 0, nil)}))
		got := r.trace(ledger.TraceQuery{Entity: "110105199003071239"})
		if len(got) != 1 {
			t.Fatalf("trace: %v", got)
		}
		for _, e := range got {
			if e.State != message.StateSuppressed || e.Reason != "invalid_recipient" {
				t.Fatalf("trace entry %+v", e)
			}
		}
	})
}
