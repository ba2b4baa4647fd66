package dispatch_test

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
)

// capsRules: every licence snapshot reminds the holder; the set caps at 3
// a day and 10 a week; one urgent rule bypasses.
var capsRules = map[string]string{
	"settings.yaml": "caps:\n  per_recipient_per_day: 3\n  per_recipient_per_week: 10\n",
	"r.yaml": `rules:
  - id: t.remind
    on: [licence.snapshot]
    when: event.licence.status == "A"
    recipient: event.licence.phone
    template: {text: "提醒"}
  - id: t.urgent
    on: [licence.snapshot]
    when: event.licence.status == "B"
    recipient: event.licence.phone
    urgent: true
    template: {text: "紧急"}
`,
}

// TestCapsFromRuleSet: the rule set's caps are what policy applies. Twelve
// non-urgent reminders to one phone over four days: 3 a day go out on days
// 1–3 (9, the fourth of each day capped), day 4 stops at the weekly 10;
// urgent ones always go.
func TestCapsFromRuleSet(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		start := time.Date(2026, 11, 23, 10, 0, 0, 0, policy.Shanghai()) // a Monday
		r := newRig(t, open, capsRules, start)
		const phone = "13900139000"
		got := map[string]int{}
		for day := range 4 {
			r.clock.Set(start.AddDate(0, 0, day))
			for range 4 {
				r.clock.Add(time.Minute)
				r.handle(r.event("licence.snapshot", map[string]any{"licence": licence(phone, day, nil)}))
			}
			if day == 3 {
				r.handle(r.event("licence.snapshot", map[string]any{"licence": licence(phone, day, map[string]any{"status": "B"})}))
			}
		}
		for _, e := range r.trace(ledger.TraceQuery{Phone: phone}) {
			k := string(e.State)
			if e.State == message.StateSuppressed {
				k += ":" + e.Reason
			}
			if e.RuleID == "t.urgent" {
				k = "urgent:" + k
			}
			got[k]++
		}
		want := map[string]int{"queued": 10, "suppressed:daily_cap": 3, "suppressed:weekly_cap": 3, "urgent:queued": 1}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, n := range want {
			if got[k] != n {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	})
}
