package dispatch_test

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/policy"
)

var audienceRules = map[string]string{
	"r.yaml": `rules:
  - id: t.advisory
    on: [advisory.published]
    when: "true"
    audience: regions
    urgent: true
    template: {text: "预警"}
`,
}

// TestAudienceFromEveryEventType: drivers known only from violation.*
// events are in an advisory's audience, like those from snapshots.
func TestAudienceFromEveryEventType(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		r := newRig(t, open, audienceRules, time.Date(2026, 11, 27, 10, 0, 0, 0, policy.Shanghai()))
		vio := map[string]any{"id": "V1", "time": "2026-11-20T08:15:00+08:00", "place": "京通快速路", "code": "1625",
			"description": "闯红灯", "fine": 200, "points": 6, "monitoring": true}
		veh := map[string]any{"plate": "京A12345", "plate_type": "02", "owner": "张三", "phone": "13800138001", "region": "110105",
			"use": "private", "status": "A"}
		r.handle(
			r.event("violation.recorded", map[string]any{"violation": vio, "vehicle": veh}),
			r.event("violation.processed", map[string]any{"violation": vio, "points_applied": 6, "points_before": 0,
				"licence": licence("13900139002", 1, map[string]any{"points": 6, "region": "110108"})}),
			r.event("licence.snapshot", map[string]any{"licence": licence("13900139003", 2, map[string]any{"region": "120101"})}),
		)
		r.handle(r.event("advisory.published", map[string]any{"id": "ADV1", "kind": "weather", "text": "大雾",
			"regions": []string{"110000"}, "valid_until": "2026-11-28T00:00:00+08:00"}))
		got := map[string]bool{}
		for _, e := range r.trace(ledger.TraceQuery{EventID: "ev-4"}) {
			got[e.Recipient] = true
		}
		if len(got) != 2 || !got["13800138001"] || !got["13900139002"] {
			t.Fatalf("audience of 110000 = %v, want the two Beijing drivers seen in violations", got)
		}
	})
}
