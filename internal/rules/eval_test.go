package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
)

var cst = time.FixedZone("CST", 8*3600)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func loadDefault(t testing.TB) *Set {
	t.Helper()
	set, err := LoadDir("../../rules", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestDeferQuiet(t *testing.T) {
	wrap := defaultSettings() // 21:00–08:00 Asia/Shanghai
	morning := defaultSettings()
	morning.quietStart, morning.quietEnd = 0, 7*60 // 00:00–07:00
	off := defaultSettings()
	off.quietStart, off.quietEnd = 0, 0
	tests := []struct {
		name string
		s    Settings
		in   string
		want string
	}{
		{"before start", wrap, "2026-11-27T20:59:59+08:00", "2026-11-27T20:59:59+08:00"},
		{"at start", wrap, "2026-11-27T21:00:00+08:00", "2026-11-28T08:00:00+08:00"},
		{"late evening", wrap, "2026-11-27T23:59:00+08:00", "2026-11-28T08:00:00+08:00"},
		{"after midnight", wrap, "2026-11-28T00:00:00+08:00", "2026-11-28T08:00:00+08:00"},
		{"one minute before end", wrap, "2026-11-28T07:59:00+08:00", "2026-11-28T08:00:00+08:00"},
		{"at end", wrap, "2026-11-28T08:00:00+08:00", "2026-11-28T08:00:00+08:00"},
		{"UTC input", wrap, "2026-11-27T13:30:00Z", "2026-11-28T08:00:00+08:00"},
		{"month end", wrap, "2026-11-30T22:00:00+08:00", "2026-12-01T08:00:00+08:00"},
		{"non-wrapping inside", morning, "2026-11-28T03:00:00+08:00", "2026-11-28T07:00:00+08:00"},
		{"non-wrapping outside", morning, "2026-11-28T22:00:00+08:00", "2026-11-28T22:00:00+08:00"},
		{"disabled", off, "2026-11-28T03:00:00+08:00", "2026-11-28T03:00:00+08:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.s.deferQuiet(at(tt.in))
			if !got.Equal(at(tt.want)) {
				t.Errorf("deferQuiet(%s) = %s, want %s", tt.in, got.In(cst).Format(time.RFC3339), tt.want)
			}
		})
	}
}

// TestEvaluateClockIndependent: the same event gives the same decision
// whatever the server's zone, and the same defer at 03:00 and 15:00 only
// differs by the quiet hours.
func TestEvaluateTiming(t *testing.T) {
	set := loadDefault(t)
	ev := pointsEvent(8, 10)
	tests := []struct {
		now, notBefore string
	}{
		{"2026-11-27T15:00:00+08:00", "2026-11-27T15:00:00+08:00"},
		{"2026-11-27T07:00:00Z", "2026-11-27T15:00:00+08:00"},
		{"2026-11-27T03:00:00+08:00", "2026-11-27T08:00:00+08:00"},
		{"2026-11-27T21:00:00+08:00", "2026-11-28T08:00:00+08:00"},
	}
	for _, tt := range tests {
		res, err := set.Evaluate(ev, at(tt.now))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Decisions) != 1 {
			t.Fatalf("%s: %d decisions", tt.now, len(res.Decisions))
		}
		d := res.Decisions[0]
		if !d.NotBefore.Equal(at(tt.notBefore)) {
			t.Errorf("now %s: not before %s, want %s", tt.now, d.NotBefore, tt.notBefore)
		}
		if d.RuleID != "violation.points_9" || d.Recipient != "18912345678" || d.Encoding != "ucs2" || d.Segments != 2 ||
			d.Chars != len([]rune(d.Text)) || !strings.HasPrefix(d.Text, "【交管12123】") || d.DedupeKey != "violation.points_9|310115198808124567|2027年03月01日" ||
			d.DedupeWindow != 365*24*time.Hour {
			t.Errorf("decision %+v", d)
		}
	}
}

func pointsEvent(before, after int64) *event.Event {
	return &event.Event{ID: fmt.Sprintf("p-%d-%d", before, after), Source: "/test", Type: event.TypeViolationProcessed, Time: testNow,
		ViolationProcessed: &event.ViolationProcessed{
			Violation:     event.Violation{ID: "V1", Time: testNow, Code: "1352", Points: after - before},
			PointsApplied: after - before, PointsBefore: before,
			Licence: event.Licence{Number: "310115198808124567", Phone: "18912345678", Region: "310115", Class: "C1", Status: "A",
				Points: after, CycleEnd: at("2027-03-01T00:00:00+08:00")},
		}}
}

func TestEvaluatePointsBoundaries(t *testing.T) {
	set := loadDefault(t)
	tests := []struct {
		before, after int64
		want          []string
	}{
		{0, 8, nil},
		{6, 8, nil},
		{6, 9, []string{"violation.points_9"}},
		{8, 10, []string{"violation.points_9"}},
		{9, 11, nil},
		{9, 12, []string{"violation.points_12"}},
		{8, 12, []string{"violation.points_12"}},
		{11, 14, []string{"violation.points_12"}},
		{12, 15, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d→%d", tt.before, tt.after), func(t *testing.T) {
			res, err := set.Evaluate(pointsEvent(tt.before, tt.after), testNow)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range res.Decisions {
				if d.InhibitedBy != "" { // 8→12: points_9 matches, 满分 inhibits it
					if d.RuleID != "violation.points_9" || d.InhibitedBy != "violation.points_12" {
						t.Errorf("%s inhibited by %s", d.RuleID, d.InhibitedBy)
					}
					continue
				}
				got = append(got, d.RuleID)
				if d.RuleID == "violation.points_12" && !d.Urgent {
					t.Error("满分 is not urgent")
				}
			}
			if !reflect.DeepEqual(got, tt.want) || len(res.Skipped) != 0 {
				t.Errorf("fired %v skipped %v, want %v", got, res.Skipped, tt.want)
			}
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	set := loadDefault(t)
	if _, err := set.Evaluate(&event.Event{ID: "x", Type: event.TypeVehicleSnapshot}, testNow); !errors.Is(err, ErrEvent) {
		t.Errorf("event without payload: %v, want ErrEvent", err)
	}
	if _, err := set.Evaluate(&event.Event{ID: "x", Type: "vehicle.unknown"}, testNow); !errors.Is(err, ErrEvent) {
		t.Errorf("unknown type: %v, want ErrEvent", err)
	}
	// a rule whose expression fails at run time is skipped with a reason, not fatal
	files := map[string][]byte{"r.yaml": []byte(`rules:
  - id: div
    on: [licence.snapshot]
    when: 10 / event.licence.points > 1
    recipient: event.licence.phone
    template: {text: "x"}
  - id: empty
    on: [licence.snapshot]
    when: "true"
    recipient: event.licence.holder
    template: {text: "y"}
`)}
	s2, err := Load(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s2.Evaluate(&event.Event{ID: "x", Type: event.TypeLicenceSnapshot, LicenceSnapshot: &event.LicenceSnapshot{}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != 2 || res.Skipped[0].Reason != SkipError || res.Skipped[1].Reason != SkipNoRecipient {
		t.Errorf("skipped %+v", res.Skipped)
	}
}

// TestConcurrentEvaluate runs the examples' events from several goroutines
// while the set is swapped (as the gateway does on reload) and checks every
// result equals the sequential one.
func TestConcurrentEvaluate(t *testing.T) {
	set := loadDefault(t)
	set2 := loadDefault(t)
	errs := &errList{}
	var cases []*testCase
	paths, _ := filepath.Glob("../../rules/tests/*.yaml")
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		for _, c := range readTests(p, data, testNow, set.settings.Location, errs) {
			if c.steps != nil {
				cases = append(cases, c.steps...)
			} else {
				cases = append(cases, c)
			}
		}
	}
	if len(errs.errs) > 0 || len(cases) < 20 {
		t.Fatalf("%d cases, errors %v", len(cases), errs.errs)
	}
	want := make([]Result, len(cases))
	for i, c := range cases {
		want[i], _ = set.Evaluate(c.ev, c.now)
	}
	var cur atomic.Pointer[Set]
	cur.Store(set)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (i + g) % len(cases)
				got, err := cur.Load().Evaluate(cases[k].ev, cases[k].now)
				if err != nil || !reflect.DeepEqual(got, want[k]) {
					failures.Add(1)
				}
				if i%50 == 0 && g == 0 {
					if cur.Load() == set {
						cur.Store(set2)
					} else {
						cur.Store(set)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Errorf("%d concurrent evaluations differ from the sequential ones", n)
	}
}

func TestRunTestsReportsMismatchAndGaps(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../rules", dir)
	p := filepath.Join(dir, "tests", "violation.yaml")
	data, _ := os.ReadFile(p)
	// 9→11 must not fire; claim it does
	broken := strings.Replace(string(data), "  - name: points 9 to 11 was already past 9 and does not fire\n", "  - name: points 9 to 11 wrongly expected to fire\n    expect:\n      - {rule: violation.points_9, recipient: \"18912345678\", text: 满分, not_before: \"2026-11-27T10:00:00+08:00\"}\n", 1)
	if broken == string(data) {
		t.Fatal("test file changed; update this test")
	}
	os.WriteFile(p, []byte(broken), 0o644)
	// and drop the advisory examples: both advisory rules become uncovered
	os.Remove(filepath.Join(dir, "tests", "advisory.yaml"))

	rep, err := RunTests(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Failed != 1 {
		t.Fatalf("report OK=%v failed=%d", rep.OK(), rep.Failed)
	}
	var diff string
	for _, c := range rep.Cases {
		if !c.Pass {
			diff = c.Diff
		}
	}
	for _, want := range []string{"--- expected", "+++ actual", "-- rule: violation.points_9", "-  text: 满分"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if len(rep.Uncovered) != 4 || !strings.Contains(rep.String(), "UNCOVERED advisory.warning: no example that fires it") {
		t.Errorf("uncovered %v", rep.Uncovered)
	}
}

func TestPreview(t *testing.T) {
	set := loadDefault(t)
	ev := &event.Event{ID: "adv-1", Type: event.TypeAdvisoryPublished, AdvisoryPublished: &event.AdvisoryPublished{
		ID: "adv-1", Regions: []string{"310115"}, Kind: event.AdvisoryRoadworks, Text: "龙阳路半幅封闭施工，请绕行。",
		ValidUntil: at("2026-11-30T00:00:00+08:00")}}
	out, err := Preview(set, ev, at("2026-11-27T23:00:00+08:00"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FIRES advisory.notice → regions 310115", "【交管12123】交通安全提示：龙阳路半幅封闭施工，请绕行。",
		"ucs2, 1 segment(s)", "2026-11-28 08:00:00", "quiet hours", "no match: advisory.warning"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	out, _ = Preview(set, pointsEvent(8, 10), testNow)
	if !strings.Contains(out, "FIRES violation.points_9 → 189****5678") || !strings.Contains(out, "(**************4567)") ||
		strings.Contains(out, "18912345678") || strings.Contains(out, "310115198808124567") {
		t.Errorf("preview does not mask phone and ID numbers:\n%s", out)
	}
	ev.AdvisoryPublished.ValidUntil = at("2026-11-28T06:00:00+08:00")
	if out, _ := Preview(set, ev, at("2026-11-27T23:00:00+08:00")); !strings.Contains(out, "SKIPPED advisory.notice: expired") {
		t.Errorf("preview of an expiring notice:\n%s", out)
	}
	if _, err := Preview(set, &event.Event{ID: "x", Type: event.TypeLicenceSnapshot}, testNow); !errors.Is(err, ErrEvent) {
		t.Errorf("preview of an event without data: %v", err)
	}
}

func TestEvaluateSkipsAndOptions(t *testing.T) {
	set := loadDefault(t)
	long := &event.Event{ID: "adv-long", Type: event.TypeAdvisoryPublished, AdvisoryPublished: &event.AdvisoryPublished{
		ID: "adv-long", Regions: []string{"110100"}, Kind: event.AdvisoryWeather, Text: strings.Repeat("暴雨", 120),
		ValidUntil: at("2026-11-28T00:00:00+08:00")}}
	res, err := set.Evaluate(long, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Decisions) != 0 || len(res.Skipped) != 1 || res.Skipped[0].Reason != SkipTooLong {
		t.Errorf("an advisory longer than max_segments: %+v", res)
	}

	files := map[string][]byte{"r.yaml": []byte(`rules:
  - id: off
    enabled: false
    on: [vehicle.snapshot]
    when: "true"
    recipient: event.vehicle.phone
    template: {text: "off"}
  - id: on
    on: [vehicle.snapshot]
    when: event.vehicle.status == "G"
    recipient: event.vehicle.phone
    template: {text: "{{ mask_plate(event.vehicle.plate) }}逾期未检验"}
    cancel_on:
      events: [vehicle.status_changed]
`)}
	s2, err := Load(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s2.Rules()); n != 2 {
		t.Errorf("Rules() lists %d, want the disabled one too", n)
	}
	car := quietCar()
	car.VehicleSnapshot.Vehicle.Status = "G"
	res, _ = s2.Evaluate(car, testNow)
	if len(res.Decisions) != 1 || res.Decisions[0].RuleID != "on" || res.Decisions[0].Text != "【交管12123】京A***45逾期未检验" ||
		res.Decisions[0].CancelKey != "on|京A12345" || res.Decisions[0].Segments != 1 || res.Decisions[0].Encoding != "ucs2" {
		t.Errorf("decisions %+v", res.Decisions)
	}
	changed := &event.Event{ID: "c", Type: event.TypeVehicleStatusChanged, VehicleStatusChanged: &event.VehicleStatusChanged{
		OldStatus: "G", NewStatus: "A", Vehicle: car.VehicleSnapshot.Vehicle}}
	res, _ = s2.Evaluate(changed, testNow)
	if len(res.Cancels) != 1 || res.Cancels[0].CancelKey != "on|京A12345" {
		t.Errorf("cancels %+v", res.Cancels)
	}
}

func TestEnvelopeVariables(t *testing.T) {
	set, err := Load(map[string][]byte{"r.yaml": []byte(`rules:
  - id: both
    on: [licence.snapshot, licence.status_changed]
    when: type == "licence.status_changed" || id.startsWith("sweep-")
    recipient: event.licence.phone
    template: {text: "{{ type }} {{ id }} {{ datetime(now) }}"}
`)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lic := event.Licence{Number: "110105199003071239", Phone: "13900139000"}
	tests := []struct {
		ev   *event.Event
		text string
	}{
		{&event.Event{ID: "sweep-1", Type: event.TypeLicenceSnapshot, LicenceSnapshot: &event.LicenceSnapshot{Licence: lic}},
			"【交管12123】licence.snapshot sweep-1 2026年11月27日10时00分"},
		{&event.Event{ID: "other", Type: event.TypeLicenceSnapshot, LicenceSnapshot: &event.LicenceSnapshot{Licence: lic}}, ""},
		{&event.Event{ID: "c-1", Type: event.TypeLicenceStatusChanged, LicenceStatusChanged: &event.LicenceStatusChanged{Licence: lic}},
			"【交管12123】licence.status_changed c-1 2026年11月27日10时00分"},
	}
	for _, tt := range tests {
		res, err := set.Evaluate(tt.ev, testNow)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if len(res.Decisions) == 1 {
			got = res.Decisions[0].Text
		}
		if got != tt.text || len(res.Decisions) > 1 {
			t.Errorf("%s %s: got %q, want %q", tt.ev.Type, tt.ev.ID, got, tt.text)
		}
	}
}
