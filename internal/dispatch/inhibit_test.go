package dispatch_test

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/rules"
)

// TestInhibition runs the default rules: a 9-point reminder deferred by
// the night is cancelled when 满分 fires in a later batch; in one event
// the probation 满分 inhibits the general one (stored suppressed).
func TestInhibition(t *testing.T) {
	set, err := rules.LoadDir("../../rules", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		r := newRigSet(t, open, set, time.Date(2026, 11, 27, 22, 0, 0, 0, policy.Shanghai()))
		vio := map[string]any{"id": "V1", "time": "2026-11-26T08:15:00+08:00", "place": "京通快速路", "code": "1625",
			"description": "闯红灯", "fine": 200, "points": 2, "monitoring": true}
		points := func(phone string, n, before, after int, extra map[string]any) map[string]any {
			x := map[string]any{"points": after}
			for k, v := range extra {
				x[k] = v
			}
			return map[string]any{"violation": vio, "points_applied": after - before, "points_before": before, "licence": licence(phone, n, x)}
		}
		const a, b = "13900139001", "13900139002"
		r.handle(r.event("violation.processed", points(a, 0, 8, 10, nil))) // points_9, deferred to 08:00
		r.clock.Add(time.Hour)
		r.handle(r.event("violation.processed", points(a, 0, 10, 12, nil)),
			r.event("violation.processed", points(b, 1, 6, 12, map[string]any{"probation_until": "2027-05-01T00:00:00+08:00"})))
		got := map[string]string{}
		for _, e := range r.trace(ledger.TraceQuery{Phone: a}) {
			got[e.RuleID] = string(e.State) + " " + e.Reason
		}
		for _, e := range r.trace(ledger.TraceQuery{Phone: b}) {
			got[e.RuleID+" (b)"] = string(e.State) + " " + e.Reason
		}
		want := map[string]string{
			"violation.points_9":         "cancelled inhibited_by:violation.points_12",
			"violation.points_12":        "scheduled ", // urgent, but 满分 at 23:00 still waits for 08:00
			"licence.probation_full (b)": "scheduled ",
			"violation.points_12 (b)":    "suppressed inhibited_by:licence.probation_full",
			"violation.points_9 (b)":     "suppressed inhibited_by:licence.probation_full", // 6→12 crosses 9 too
		}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	})
}
