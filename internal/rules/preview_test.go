package rules

import (
	"strings"
	"testing"

	"github.com/traffic12123/gateway/internal/event"
)

// TestPreviewDeferralCause: a reminder deferred by the rule's own send
// time is not said to wait for quiet hours, even when previewed in them.
func TestPreviewDeferralCause(t *testing.T) {
	set := loadDefault(t)
	car := func(validUntil string) *event.Event {
		return &event.Event{ID: "v-1", Type: event.TypeVehicleSnapshot, VehicleSnapshot: &event.VehicleSnapshot{Vehicle: event.Vehicle{
			Plate: "京A12345", PlateType: "02", Phone: "13800138000", Region: "110105", Use: "private", Status: "A",
			InspectionValidUntil: at(validUntil)}}}
	}
	for _, tc := range []struct {
		now, validUntil, want, not string
	}{
		{"2026-11-27T02:00:00+08:00", "2026-12-27T00:00:00+08:00", "(deferred: the rule's send time (timing.at))", "quiet hours"},
		{"2026-11-27T22:30:00+08:00", "2026-12-10T00:00:00+08:00", "(deferred: quiet hours 21:00–08:00)", "timing.at"},
	} {
		out, err := Preview(set, car(tc.validUntil), at(tc.now))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
			t.Errorf("at %s: want %q, not %q:\n%s", tc.now, tc.want, tc.not, out)
		}
		if !strings.Contains(out, "re-checked: just before sending, still_due:") {
			t.Errorf("preview does not show the re-check:\n%s", out)
		}
	}
	// inhibition shows
	vp := &event.Event{ID: "p-1", Type: event.TypeViolationProcessed, ViolationProcessed: &event.ViolationProcessed{
		Violation: event.Violation{ID: "V1", Time: at("2026-11-26T08:00:00+08:00"), Code: "1625", Points: 6}, PointsApplied: 6, PointsBefore: 8,
		Licence: event.Licence{Number: "110105199003071239", Phone: "13900139000", Region: "110105", Class: "C1", Status: "B", Points: 14,
			CycleEnd: at("2027-03-01T00:00:00+08:00"), ProbationUntil: at("2027-05-01T00:00:00+08:00")}}}
	out, err := Preview(set, vp, at("2026-11-27T10:00:00+08:00"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FIRES licence.probation_full", "inhibits:   pending violation.points_12, violation.points_9, licence.ab_probation_points to 139****9000 about **************1239",
		"inhibited:  by licence.probation_full"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
}

// TestDeferredByBoth: a send time that falls into quiet hours names both.
func TestDeferredByBoth(t *testing.T) {
	set, err := Load(map[string][]byte{"r.yaml": []byte(`rules:
  - id: r
    on: [licence.snapshot]
    when: "true"
    recipient: event.licence.phone
    template: {text: "甲"}
    timing:
      at: at_local(now, "22:00")
`)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{ID: "l", Type: event.TypeLicenceSnapshot, LicenceSnapshot: &event.LicenceSnapshot{Licence: event.Licence{
		Number: "110105199003071239", Phone: "13900139000", Region: "110105", Class: "C1", Status: "A"}}}
	res, err := set.Evaluate(ev, at("2026-11-27T10:00:00+08:00"))
	if err != nil || len(res.Decisions) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if d := res.Decisions[0]; d.DeferredBy != "timing.at+quiet_hours" || !d.NotBefore.Equal(at("2026-11-28T08:00:00+08:00")) {
		t.Fatalf("deferred by %q to %v", d.DeferredBy, d.NotBefore)
	}
	out, _ := Preview(set, ev, at("2026-11-27T10:00:00+08:00"))
	if !strings.Contains(out, "(deferred: the rule's send time (timing.at), then quiet hours 21:00–08:00)") {
		t.Errorf("preview:\n%s", out)
	}
}
