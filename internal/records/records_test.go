package records

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/pkg/ivr"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func ev(id string, at time.Time, set func(*event.Event)) *event.Event {
	e := &event.Event{ID: id, Source: "test", Time: at}
	set(e)
	return e
}

func open(t *testing.T) *Store {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "records.db")
	if pg := os.Getenv("IVR_TEST_POSTGRES_DSN"); pg != "" {
		dsn = pg // same schema on PostgreSQL (.ci/postgres.sh prints a DSN)
	}
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if s.postgres {
		for _, tbl := range []string{"ivr_licences", "ivr_vehicles", "ivr_violations", "ivr_advisories", "ivr_cdrs", "ivr_attempts"} {
			if _, err := s.db.Exec("TRUNCATE " + tbl); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestReadModel(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	lic := event.Licence{Number: "11010519900101123X", Phone: "+8613800138000", Region: "110105", Status: "A", Points: 3,
		CycleEnd: t0.AddDate(0, 3, 0), ValidUntil: t0.AddDate(5, 0, 0)}
	veh := event.Vehicle{Plate: "京A12345", Phone: "13800138000", Region: "110105", Status: "A", InspectionValidUntil: t0.AddDate(0, 6, 0)}
	v1 := event.Violation{ID: "v1", Time: t0.Add(-48 * time.Hour), Place: "长安街", Fine: 200, Points: 3}
	v2 := event.Violation{ID: "v2", Time: t0.Add(-24 * time.Hour), Place: "二环路", Fine: 100, Points: 1}
	older := lic
	older.Points = 9
	evs := []*event.Event{
		ev("1", t0, func(e *event.Event) { e.LicenceSnapshot = &event.LicenceSnapshot{Licence: lic} }),
		ev("0", t0.Add(-time.Hour), func(e *event.Event) { e.LicenceSnapshot = &event.LicenceSnapshot{Licence: older} }), // stale: ignored
		ev("2", t0, func(e *event.Event) { e.ViolationRecorded = &event.ViolationRecorded{Violation: v1, Vehicle: veh} }),
		ev("3", t0, func(e *event.Event) { e.ViolationRecorded = &event.ViolationRecorded{Violation: v2, Vehicle: veh} }),
		ev("4", t0.Add(time.Minute), func(e *event.Event) {
			e.ViolationProcessed = &event.ViolationProcessed{Violation: v2, Licence: lic, Plate: veh.Plate}
		}),
		// Redelivered recorded event after processing: stays processed.
		ev("3", t0, func(e *event.Event) { e.ViolationRecorded = &event.ViolationRecorded{Violation: v2, Vehicle: veh} }),
		ev("5", t0, func(e *event.Event) {
			e.AdvisoryPublished = &event.AdvisoryPublished{ID: "a1", Regions: []string{"110000"}, Kind: "weather", Text: "大雾", ValidUntil: t0.Add(24 * time.Hour)}
		}),
		ev("6", t0, func(e *event.Event) {
			e.AdvisoryPublished = &event.AdvisoryPublished{ID: "a2", Regions: []string{"440300"}, Kind: "roadworks", Text: "施工", ValidUntil: t0.Add(24 * time.Hour)}
		}),
		ev("7", t0, func(e *event.Event) {
			e.AdvisoryPublished = &event.AdvisoryPublished{ID: "a3", Regions: []string{"110105"}, Kind: "weather", Text: "过期", ValidUntil: t0.Add(-time.Hour)}
		}),
	}
	if err := s.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	phone := "13800138000"
	if ok, err := s.Registered(ctx, phone); err != nil || !ok {
		t.Fatalf("registered %v %v", ok, err)
	}
	if ok, _ := s.Registered(ctx, "13900000000"); ok {
		t.Fatal("unknown phone registered")
	}
	if id, err := s.IDNumber(ctx, phone); err != nil || !strings.HasSuffix(id, "01123X") {
		t.Fatalf("id %q %v", id, err)
	}
	l, err := s.Licence(ctx, phone)
	if err != nil || l == nil || l.Points != 3 || !l.CycleEnd.Equal(lic.CycleEnd) || !l.ReviewDue.IsZero() {
		t.Fatalf("licence %+v %v", l, err)
	}
	vs, err := s.Vehicles(ctx, phone)
	if err != nil || len(vs) != 1 || vs[0].Plate != "京A12345" || !vs[0].InspectionValidUntil.Equal(veh.InspectionValidUntil) {
		t.Fatalf("vehicles %+v %v", vs, err)
	}
	sum, err := s.Violations(ctx, phone)
	want := ivr.ViolationSummary{Count: 1, Fine: 200, Points: 3, Latest: v1.Time, LatestPlace: "长安街"}
	if err != nil || sum.Count != want.Count || sum.Fine != want.Fine || sum.Points != want.Points ||
		!sum.Latest.Equal(want.Latest) || sum.LatestPlace != want.LatestPlace {
		t.Fatalf("violations %+v %v", sum, err)
	}
	regions, err := s.Regions(ctx, phone)
	if err != nil || len(regions) == 0 {
		t.Fatalf("regions %v %v", regions, err)
	}
	as, err := s.Advisories(ctx, regions, t0)
	if err != nil || len(as) != 1 || as[0].Text != "大雾" {
		t.Fatalf("advisories %+v %v", as, err)
	}
	if all, _ := s.Advisories(ctx, nil, t0); len(all) != 2 {
		t.Fatalf("all advisories %+v", all)
	}
	// A home area prefix takes what lies in it: "44" (Guangdong) the
	// Shenzhen roadworks, "11" (Beijing) the Beijing fog.
	if gd, _ := s.Advisories(ctx, []string{"44"}, t0); len(gd) != 1 || gd[0].Text != "施工" {
		t.Fatalf("Guangdong advisories %+v", gd)
	}
	if bj, _ := s.Advisories(ctx, []string{"11"}, t0); len(bj) != 1 || bj[0].Text != "大雾" {
		t.Fatalf("Beijing advisories %+v", bj)
	}
	if err := s.Record(ctx, ivr.CDR{CallID: "c1", Caller: "138****8000", Start: t0, End: t0.Add(time.Minute), Path: []string{"main"}, Cause: "done"}); err != nil {
		t.Fatal(err)
	}
	cdrs, err := s.CDRs(ctx, 10)
	if err != nil || len(cdrs) != 1 || cdrs[0].Path[0] != "main" {
		t.Fatalf("cdrs %+v %v", cdrs, err)
	}
}

// TestGeneratedEvents applies generated traffic: every event type must be
// accepted, and replaying the same batch changes nothing.
func TestGeneratedEvents(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	g := eventgen.New(1, t0)
	var evs []*event.Event
	for range 2000 {
		_, _, e := g.Next()
		evs = append(evs, e)
	}
	if err := s.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM ivr_licences) + (SELECT COUNT(*) FROM ivr_vehicles) + (SELECT COUNT(*) FROM ivr_violations WHERE processed = 0)`).Scan(&n)
		return n
	}
	before := count()
	if before == 0 {
		t.Fatal("nothing stored")
	}
	if err := s.Apply(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if after := count(); after != before {
		t.Fatalf("replay changed the model: %d → %d", before, after)
	}
}

func BenchmarkViolations(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "r.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g := eventgen.New(1, t0)
	var evs []*event.Event
	for range 5000 {
		_, _, e := g.Next()
		evs = append(evs, e)
	}
	s.Apply(ctx, evs...)
	for b.Loop() {
		s.Violations(ctx, "13800138000")
	}
}

// lockoutStores opens two stores on one SQLite file, and two on
// PostgreSQL when SMSGW_TEST_POSTGRES_DSN (or IVR_TEST_POSTGRES_DSN) is set:
// two instances sharing a database.
func lockoutStores(t *testing.T) map[string][2]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string][2]*Store{}
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "lock.db")}
	if pg := os.Getenv("SMSGW_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	} else if pg := os.Getenv("IVR_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	}
	for name, dsn := range dsns {
		var pair [2]*Store
		for i := range pair {
			s, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			pair[i] = s
		}
		if pair[0].postgres {
			if _, err := pair[0].db.Exec("TRUNCATE ivr_attempts"); err != nil {
				t.Fatal(err)
			}
		}
		out[name] = pair
	}
	return out
}

// TestLockouts: 20 parallel attempts from two instances on one database,
// for one number and for one ID: exactly 3 are allowed; the lock expires,
// and a success clears it.
func TestLockouts(t *testing.T) {
	ctx := context.Background()
	for name, pair := range lockoutStores(t) {
		t.Run(name, func(t *testing.T) {
			for _, keys := range [][]string{
				{ivr.PhoneKey("13800138000")},     // 20 calls from one number
				{ivr.IDKey("11010119900112345X")}, // 20 numbers, one ID: the shared key
				{ivr.PhoneKey("13800138001"), ivr.IDKey("11010119900112345Y")},
			} {
				var mu sync.Mutex
				allowed, last := 0, 0
				var wg sync.WaitGroup
				for i := range 20 {
					wg.Go(func() {
						r, err := pair[i%2].Attempt(ctx, keys, t0, 3, time.Hour)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						defer mu.Unlock()
						if r.Allowed {
							allowed++
						}
						if r.Last {
							last++
						}
					})
				}
				wg.Wait()
				if allowed != 3 || last != 1 {
					t.Fatalf("%v: allowed %d, last %d; want 3, 1", keys, allowed, last)
				}
				if r, _ := pair[0].Attempt(ctx, keys, t0.Add(59*time.Minute), 3, time.Hour); r.Allowed {
					t.Fatalf("%v: allowed within the hour", keys)
				}
				if r, _ := pair[1].Attempt(ctx, keys, t0.Add(61*time.Minute), 3, time.Hour); !r.Allowed || r.Last {
					t.Fatalf("%v: after the hour %+v", keys, r)
				}
				if err := pair[0].Succeeded(ctx, keys); err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if r, _ := pair[i%2].Attempt(ctx, keys, t0.Add(62*time.Minute), 3, time.Hour); !r.Allowed || r.Last != (i == 2) {
						t.Fatalf("%v: attempt %d after success %+v", keys, i+1, r)
					}
				}
				// A period without a lock runs out too.
				pair[0].Succeeded(ctx, keys)
				pair[0].Attempt(ctx, keys, t0, 3, time.Hour)
				pair[0].Attempt(ctx, keys, t0, 3, time.Hour)
				if r, _ := pair[1].Attempt(ctx, keys, t0.Add(2*time.Hour), 3, time.Hour); !r.Allowed || r.Last {
					t.Fatalf("%v: old attempts still counted %+v", keys, r)
				}
			}
		})
	}
}

// TestProbe: the consumer dead-letters a record that fails alone only
// while Probe says the store takes writes (ingest.Prober); a store that
// cannot write must say so, or an outage would empty the stream.
func TestProbe(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for range 2 { // the second write updates the row the first made
		if err := s.Probe(ctx); err != nil {
			t.Fatalf("probe on a working store: %v", err)
		}
	}
	s.Close()
	if err := s.Probe(ctx); err == nil {
		t.Fatal("probe on a closed store succeeded")
	}
}
