package rules

import (
	"strings"
	"testing"
	"time"
)

func TestStillDueLoad(t *testing.T) {
	rule := func(on, stillDue string) string {
		return "rules:\n  - id: r\n    on: [" + on + "]\n    when: \"true\"\n    recipient: '\"13800138000\"'\n    template: {text: \"甲\"}\n    still_due: '" + stillDue + "'\n"
	}
	for _, tc := range []struct{ on, expr, want string }{
		{"advisory.published", "true", "all about a licence or all about a vehicle"},
		{"vehicle.snapshot, licence.snapshot", "true", "all about a licence or all about a vehicle"},
		{"vehicle.snapshot", "state.points > 1", "undefined field 'points'"},
		{"licence.snapshot", "state.points", "yields int, want bool"},
		{"vehicle.snapshot", "event.vehicle.status == \"A\"", "undeclared reference to 'event'"},
	} {
		_, err := Load(map[string][]byte{"r.yaml": []byte(rule(tc.on, tc.expr))}, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "r.yaml:7:") {
			t.Errorf("%s / %s: error %v, want %q at r.yaml:7", tc.on, tc.expr, err, tc.want)
		}
	}
	set, err := Load(map[string][]byte{"r.yaml": []byte(rule("violation.recorded, vehicle.snapshot", `!state.status.contains("E") && days_between(now, state.inspection_valid_until) <= 30`))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, set.Settings().Location)
	for _, tc := range []struct {
		kind, data   string
		due, checked bool
	}{
		{KindVehicle, `{"plate":"京A12345","status":"A","inspection_valid_until":"2026-12-27T00:00:00+08:00"}`, true, true},
		{KindVehicle, `{"plate":"京A12345","status":"A","inspection_valid_until":"2028-12-27T00:00:00+08:00"}`, false, true},
		{KindVehicle, `{"plate":"京A12345","status":"GE","inspection_valid_until":"2026-12-27T00:00:00+08:00"}`, false, true},
		{KindLicence, `{"number":"x"}`, true, false}, // another kind: not checked
	} {
		due, checked, err := set.StillDue("r", tc.kind, []byte(tc.data), now)
		if err != nil || due != tc.due || checked != tc.checked {
			t.Errorf("%s: due %v checked %v err %v, want %v %v", tc.data, due, checked, err, tc.due, tc.checked)
		}
	}
	if _, checked, _ := set.StillDue("nope", KindVehicle, []byte(`{}`), now); checked {
		t.Error("a rule without still_due was checked")
	}
}
