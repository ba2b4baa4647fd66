package rules

import (
	"testing"

	"github.com/traffic12123/gateway/internal/event"
)

func quietCar() *event.Event {
	return &event.Event{ID: "b1", Source: "/bench", Type: event.TypeVehicleSnapshot, Time: testNow,
		VehicleSnapshot: &event.VehicleSnapshot{Vehicle: event.Vehicle{
			Plate: "京A12345", PlateType: "02", Owner: "张三", Phone: "13800138000", Region: "110105",
			Use: event.UsePrivate, Status: "A", InspectionValidUntil: at("2027-08-31T00:00:00+08:00")}}}
}

func benchEvaluate(b *testing.B, ev *event.Event, wantDecisions int) {
	set := loadDefault(b)
	res, err := set.Evaluate(ev, testNow)
	if err != nil || len(res.Decisions) != wantDecisions || len(res.Skipped) != 0 {
		b.Fatalf("decisions %d skipped %v err %v", len(res.Decisions), res.Skipped, err)
	}
	rules := len(set.byType[ev.Type])
	b.ReportAllocs()
	for b.Loop() {
		set.Evaluate(ev, testNow)
	}
	perEvent := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(1/perEvent, "events/s")
	b.ReportMetric(perEvent*1e9/float64(rules), "ns/rule")
}

// BenchmarkEvaluateNoFire: the daily sweep's common case, a vehicle snapshot
// that every vehicle rule (10 listen to vehicle.snapshot) rejects.
func BenchmarkEvaluateNoFire(b *testing.B) {
	b.Run("vehicle.snapshot", func(b *testing.B) { benchEvaluate(b, quietCar(), 0) })
	b.Run("violation.processed", func(b *testing.B) { benchEvaluate(b, pointsEvent(0, 2), 0) })
}

// BenchmarkEvaluateFire: an event that fires, with rendering and measuring.
func BenchmarkEvaluateFire(b *testing.B) {
	b.Run("points_9", func(b *testing.B) { benchEvaluate(b, pointsEvent(8, 10), 1) })
	b.Run("inspection_due", func(b *testing.B) {
		ev := quietCar()
		ev.VehicleSnapshot.Vehicle.InspectionValidUntil = at("2026-12-20T00:00:00+08:00")
		benchEvaluate(b, ev, 1)
	})
}

// BenchmarkEvaluateNoFireParallel: the same on every core (GOMAXPROCS
// goroutines sharing one Set), events/s for the whole machine.
func BenchmarkEvaluateNoFireParallel(b *testing.B) {
	set := loadDefault(b)
	ev := quietCar()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			set.Evaluate(ev, testNow)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
