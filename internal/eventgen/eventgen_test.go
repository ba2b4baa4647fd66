package eventgen

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, cst)

func daysBetween(a, b time.Time) int {
	ya, ma, da := a.In(cst).Date()
	yb, mb, db := b.In(cst).Date()
	return int(time.Date(yb, mb, db, 0, 0, 0, 0, time.UTC).Sub(time.Date(ya, ma, da, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

var fleetUses = []string{event.UseSchoolBus, event.UseHazardousGoods, event.UsePassenger, event.UseFreight}

// fires is an independent reading of the default rules (rules/*.yaml): the
// ids of the rules an event should fire at now.
func fires(ev *event.Event, now time.Time) []string {
	var out []string
	add := func(cond bool, id string) {
		if cond {
			out = append(out, id)
		}
	}
	fleetCount := func(v *event.Vehicle) {
		add(slices.Contains(fleetUses, v.Use) && v.Enterprise != nil && v.Enterprise.ContactPhone != "" &&
			v.UnprocessedViolations >= 3, "fleet.unprocessed_violations")
	}
	ab := func(class string) bool { return strings.HasPrefix(class, "A") || strings.HasPrefix(class, "B") }
	switch ev.Type {
	case event.TypeViolationRecorded:
		p := ev.ViolationRecorded
		add(p.Violation.Monitoring, "violation.recorded")
		fleetCount(&p.Vehicle)
	case event.TypeViolationProcessed:
		p := ev.ViolationProcessed
		l := p.Licence
		// at 12 the 9- and 6-point rules match too (inhibited by 满分)
		add(p.PointsBefore < 9 && l.Points >= 9, "violation.points_9")
		add(p.PointsBefore < 12 && l.Points >= 12, "violation.points_12")
		add(ab(l.Class) && l.ProbationUntil.After(now) && p.PointsBefore < 6 && l.Points >= 6, "licence.ab_probation_points")
		add(l.ProbationUntil.After(now) && p.PointsBefore < 12 && l.Points >= 12, "licence.probation_full")
	case event.TypeLicenceSnapshot:
		l := ev.LicenceSnapshot.Licence
		dead := l.Status == "E" || l.Status == "F" || l.Status == "G"
		add(!l.ReviewDue.IsZero() && l.Status == "A" && daysBetween(now, l.ReviewDue) >= 0 && daysBetween(now, l.ReviewDue) <= 30, "licence.review_due")
		add(!l.ValidUntil.IsZero() && !dead && daysBetween(l.ValidUntil, now) >= 1, "licence.renewal_overdue")
		add(!l.MedicalDue.IsZero() && !dead && daysBetween(l.MedicalDue, now) >= 1, "licence.medical_overdue")
	case event.TypeLicenceStatusChanged:
		p := ev.LicenceStatusChanged
		add(slices.Contains([]string{"E", "F", "G"}, p.NewStatus) && p.OldStatus != p.NewStatus, "licence.cancelled")
	case event.TypeVehicleSnapshot:
		v := ev.VehicleSnapshot.Vehicle
		gone := strings.ContainsAny(v.Status, "EM")
		insp, scrap := v.InspectionValidUntil, v.ScrapDeadline
		add(!insp.IsZero() && !gone && daysBetween(now, insp) >= 0 && daysBetween(now, insp) <= 30, "vehicle.inspection_due")
		add(!insp.IsZero() && !gone && daysBetween(insp, now) >= 1 && v.MissedInspections < 3, "vehicle.inspection_overdue")
		add(v.MissedInspections >= 3 && !strings.Contains(v.Status, "E"), "vehicle.missed_3_cycles")
		add(!scrap.IsZero() && !strings.Contains(v.Status, "E") && daysBetween(now, scrap) >= 31 && daysBetween(now, scrap) <= 365, "vehicle.scrap_within_year")
		add(!scrap.IsZero() && !strings.Contains(v.Status, "E") && daysBetween(now, scrap) >= 0 && daysBetween(now, scrap) <= 30, "vehicle.scrap_limit")
		add(!scrap.IsZero() && !strings.Contains(v.Status, "E") && daysBetween(scrap, now) >= 1, "vehicle.scrap_overdue")
		add(!v.TransferInDue.IsZero() && daysBetween(v.TransferInDue, now) >= 1, "vehicle.transfer_in_overdue")
		fleetCount(&v)
		fleet := slices.Contains(fleetUses, v.Use) && v.Enterprise != nil && v.Enterprise.ContactPhone != ""
		add(fleet && !insp.IsZero() && !strings.Contains(v.Status, "E") && daysBetween(insp, now) >= 1, "fleet.inspection_overdue")
	case event.TypeAdvisoryPublished:
		k := ev.AdvisoryPublished.Kind
		add(k == event.AdvisoryWeather || k == event.AdvisoryTrafficControl, "advisory.warning")
		add(k == event.AdvisoryBlackSpot || k == event.AdvisoryRoadworks, "advisory.notice")
	}
	return out
}

func TestDefaultMix(t *testing.T) {
	g := New(42, testNow)
	const n = 20000
	types := map[event.Type]int{}
	scenarios := map[string]int{}
	carriers := map[string]int{}
	firing := 0
	for i := 0; i < n; i++ {
		topic, key, ev := g.Next()
		raw, err := event.Encode(ev)
		if err != nil {
			t.Fatalf("event %d (%s, %s) invalid: %v", i, ev.Type, g.Scenario(), err)
		}
		back, err := event.Decode(raw)
		if err != nil {
			t.Fatalf("event %d does not decode: %v\n%s", i, err, raw)
		}
		if string(key) != back.Entity() || key == nil {
			t.Fatalf("key %q, entity %q", key, back.Entity())
		}
		if topic != DefaultTopics[ev.Type] {
			t.Fatalf("topic %q for %s", topic, ev.Type)
		}
		types[ev.Type]++
		scenarios[g.Scenario()]++
		got := fires(ev, testNow)
		if sc := g.Scenario(); sc == "none" {
			if len(got) != 0 {
				t.Fatalf("%s event meant to fire nothing fires %v: %s", ev.Type, got, raw)
			}
		} else {
			firing++
			if !slices.Contains(got, sc) {
				t.Fatalf("%s event meant to fire %s fires %v: %s", ev.Type, sc, got, raw)
			}
		}
		for _, ph := range phones(ev) {
			carriers[carrierOf(ph)]++
		}
	}
	for _, typ := range event.Types {
		if types[typ] == 0 {
			t.Errorf("no %s in %d events", typ, n)
		}
	}
	if share := float64(firing) / n; share < 0.5 {
		t.Errorf("only %.0f%% of the default mix fires a reminder", share*100)
	}
	for _, c := range []string{"mobile", "unicom", "telecom", "broadnet"} {
		if carriers[c] == 0 {
			t.Errorf("no %s numbers", c)
		}
	}
	if carriers["other"] != 0 {
		t.Errorf("%d numbers outside the carriers' blocks", carriers["other"])
	}
	for _, sc := range []string{"violation.recorded", "violation.points_9", "violation.points_12", "licence.review_due",
		"licence.renewal_overdue", "licence.medical_overdue", "licence.cancelled", "vehicle.inspection_due",
		"vehicle.inspection_overdue", "vehicle.missed_3_cycles", "vehicle.scrap_within_year", "vehicle.scrap_limit",
		"vehicle.scrap_overdue", "vehicle.transfer_in_overdue", "fleet.unprocessed_violations",
		"fleet.inspection_overdue", "advisory.warning", "advisory.notice", "licence.ab_probation_points", "licence.probation_full"} {
		if scenarios[sc] == 0 {
			t.Errorf("scenario %s never generated", sc)
		}
	}
	t.Logf("types %v", types)
	t.Logf("scenarios %v", scenarios)
}

func TestSweepMix(t *testing.T) {
	g := NewWith(7, testNow, Options{Mix: MixSweep})
	const n = 40000
	firing := 0
	for i := 0; i < n; i++ {
		_, _, ev := g.Next()
		if ev.Type != event.TypeLicenceSnapshot && ev.Type != event.TypeVehicleSnapshot {
			t.Fatalf("sweep produced %s", ev.Type)
		}
		if _, err := event.Encode(ev); err != nil {
			t.Fatal(err)
		}
		got := fires(ev, testNow)
		if (g.Scenario() == "none") != (len(got) == 0) {
			t.Fatalf("scenario %s but fires %v", g.Scenario(), got)
		}
		if len(got) > 0 {
			firing++
		}
	}
	if share := float64(firing) / n; share < 0.006 || share > 0.014 {
		t.Errorf("%.2f%% of the sweep fires, want about 1%%", share*100)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := New(3, testNow), New(3, testNow)
	for i := 0; i < 500; i++ {
		ta, ka, ea := a.Next()
		tb, kb, eb := b.Next()
		if ta != tb || string(ka) != string(kb) || !reflect.DeepEqual(ea, eb) {
			t.Fatalf("event %d differs", i)
		}
	}
	_, _, e1 := New(4, testNow).Next()
	_, _, e2 := New(5, testNow).Next()
	if reflect.DeepEqual(e1, e2) {
		t.Error("different seeds gave the same event")
	}
}

func TestCorrupt(t *testing.T) {
	g := New(9, testNow)
	for i := 0; i < 50; i++ {
		_, _, ev := g.Next()
		raw, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range event.Reasons {
			_, err := event.Decode(Corrupt(raw, r))
			if got := event.ReasonOf(err); got != r {
				t.Fatalf("Corrupt(%s) decodes with %q (%v)", r, got, err)
			}
		}
	}
}

func phones(ev *event.Event) []string {
	var out []string
	switch {
	case ev.ViolationRecorded != nil:
		out = append(out, ev.ViolationRecorded.Vehicle.Phone)
	case ev.ViolationProcessed != nil:
		out = append(out, ev.ViolationProcessed.Licence.Phone)
	case ev.LicenceSnapshot != nil:
		out = append(out, ev.LicenceSnapshot.Licence.Phone)
	case ev.VehicleSnapshot != nil:
		out = append(out, ev.VehicleSnapshot.Vehicle.Phone)
	}
	return out
}

func carrierOf(phone string) string {
	p := phone[:3]
	for name, set := range map[string][]string{"mobile": mobilePrefixes, "unicom": unicomPrefixes, "telecom": telecomPrefixes, "broadnet": broadnetPrefixes} {
		if slices.Contains(set, p) {
			return name
		}
	}
	return "other"
}

func BenchmarkNextEncode(b *testing.B) {
	g := New(1, testNow)
	b.ReportAllocs()
	for b.Loop() {
		_, _, ev := g.Next()
		if _, err := event.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSweep decodes generated sweep snapshots, the bulk of the
// daily load, and reports decodes per second on one goroutine.
func BenchmarkDecodeSweep(b *testing.B) {
	for _, mix := range []Mix{MixSweep, MixDefault} {
		b.Run(string(mix), func(b *testing.B) {
			g := NewWith(1, testNow, Options{Mix: mix})
			raws := make([][]byte, 4096)
			size := 0
			for i := range raws {
				_, _, ev := g.Next()
				raw, err := event.Encode(ev)
				if err != nil {
					b.Fatal(err)
				}
				raws[i] = raw
				size += len(raw)
			}
			b.SetBytes(int64(size / len(raws)))
			b.ReportAllocs()
			i := 0
			start := time.Now()
			for b.Loop() {
				if _, err := event.Decode(raws[i%len(raws)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(i)/time.Since(start).Seconds(), "decodes/s")
		})
	}
}
