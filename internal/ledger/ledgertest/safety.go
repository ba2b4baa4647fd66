package ledgertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// safetyTests are the conformance tests of ledger.Safety and of the
// set-based audience query.
var safetyTests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"ContactsThousandsOfRegions", testContactsManyRegions},
	{"EventIDConflicts", testEventConflicts},
	{"HeldReleaseDrop", testHeld},
	{"Ping", func(t *testing.T, e *env) {
		if err := e.s.Ping(e.ctx); err != nil {
			t.Fatal(err)
		}
	}},
}

// countyCodes returns n distinct county-level codes spread over every
// province (none ending in 00).
func countyCodes(n int) []string {
	provinces := []int{11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65}
	var out []string
	for city := 1; len(out) < n; city++ {
		for _, p := range provinces {
			for county := 1; county <= 20 && len(out) < n; county++ {
				out = append(out, fmt.Sprintf("%02d%02d%02d", p, city, county))
			}
		}
	}
	return out[:n]
}

// testContactsManyRegions: an advisory naming ~3,000 county codes (a
// nation-wide warning) is one query that works; before, one OR term per
// region hit SQLite's expression depth limit at 1,000.
func testContactsManyRegions(t *testing.T, e *env) {
	codes := countyCodes(3000)
	var cs []ledger.Contact
	want := map[string]bool{}
	for i, c := range codes {
		if i%3 != 0 {
			continue
		}
		p := fmt.Sprintf("139%08d", i)
		cs = append(cs, ledger.Contact{Phone: p, Region: c, Entity: "e"})
		want[p] = true
	}
	// contacts outside the regions
	cs = append(cs, ledger.Contact{Phone: "13700000001", Region: "110199"}, ledger.Contact{Phone: "13700000002", Region: "820000"})
	if err := e.s.UpsertContacts(e.ctx, cs); err != nil {
		t.Fatal(err)
	}
	var got []string
	start := time.Now()
	if err := e.s.ContactsInRegions(e.ctx, codes, func(p string) error { got = append(got, p); return nil }); err != nil {
		t.Fatalf("3,000 regions: %v", err)
	}
	t.Logf("3,000 county codes, %d contacts: %d phones in %v", len(cs), len(got), time.Since(start))
	if len(got) != len(want) || !slices.IsSorted(got) {
		t.Fatalf("got %d phones (sorted %v), want %d", len(got), slices.IsSorted(got), len(want))
	}
	for _, p := range got {
		if !want[p] {
			t.Fatalf("%s is not in the regions", p)
		}
	}
	// Province codes overlapping county codes: each phone once.
	got = got[:0]
	regions := append(slices.Clone(codes), "110000", "440000", "440300")
	if err := e.s.ContactsInRegions(e.ctx, regions, func(p string) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)+1 || slices.Compact(slices.Clone(got)) == nil || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("with provinces: %d phones, want %d each once", len(got), len(want)+1)
	}
}

func testEventConflicts(t *testing.T, e *env) {
	hs := func(kv ...string) []ledger.EventHash {
		var out []ledger.EventHash
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ledger.EventHash{EventID: kv[i], Hash: kv[i+1]})
		}
		return out
	}
	st, err := e.s.RecordEvents(e.ctx, hs("ev1", "a", "ev2", "b", "ev1", "z"))
	if err != nil || len(st) != 2 || st["ev1"] != "a" || st["ev2"] != "b" {
		t.Fatalf("first sight: %v %v (the first hash of an id wins)", st, err)
	}
	st, err = e.s.RecordEvents(e.ctx, hs("ev1", "a", "ev2", "x", "ev3", "c"))
	if err != nil || st["ev1"] != "a" || st["ev2"] != "b" || st["ev3"] != "c" {
		t.Fatalf("second sight: %v %v", st, err)
	}
	e.clock.Add(time.Hour)
	n, err := e.s.PruneEvents(e.ctx, e.clock.Now().Add(-time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d %v, want 3", n, err)
	}
	if st, _ := e.s.RecordEvents(e.ctx, hs("ev2", "x")); st["ev2"] != "x" {
		t.Fatalf("after prune: %v", st)
	}
}

func testHeld(t *testing.T, e *env) {
	a, b, q := Msg("adv1", "advisory", 1), Msg("adv1", "advisory", 2), Msg("ev9", "r", 3)
	a.State, a.Reason = message.StateHeld, "content: link"
	b.State, b.Reason = message.StateHeld, "audience_over_limit"
	e.insert(a, b, q)
	if got := e.claim(10, "i1"); len(got) != 1 || got[0].ID != q.ID {
		t.Fatalf("claimed %d messages, want only the queued one", len(got))
	}
	held, err := e.s.Held(e.ctx, 10)
	if err != nil || len(held) != 2 || held[0].Reason != "content: link" {
		t.Fatalf("held %v %v", held, err)
	}
	if sum, err := e.s.Summary(e.ctx); err != nil || sum.States[message.StateHeld] != 2 {
		t.Fatalf("summary %v %v, want 2 held", sum.States, err)
	}
	e.clock.Add(time.Minute)
	ch, err := e.s.DecideHeld(e.ctx, []int64{a.ID, q.ID}, ledger.HeldDecision{Release: true, Who: "alice", Note: "checked"})
	if err != nil || !slices.Equal(ch, []int64{a.ID}) {
		t.Fatalf("release changed %v %v, want only the held one", ch, err)
	}
	ch, err = e.s.DecideHeld(e.ctx, []int64{b.ID}, ledger.HeldDecision{Release: false, Who: "bob"})
	if err != nil || len(ch) != 1 {
		t.Fatalf("drop %v %v", ch, err)
	}
	if ch, _ := e.s.DecideHeld(e.ctx, []int64{b.ID}, ledger.HeldDecision{Release: true, Who: "eve"}); len(ch) != 0 {
		t.Fatal("a dropped message was released")
	}
	if got := e.claim(10, "i1"); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("after release claimed %v", got)
	}
	if e.state(b) != message.StateCancelled {
		t.Fatalf("dropped message is %s", e.state(b))
	}
	ds, err := e.s.HeldDecisions(e.ctx, a.ID)
	if err != nil || len(ds) != 1 || !ds[0].Release || ds[0].Who != "alice" || ds[0].Note != "checked" || !ds[0].At.Equal(e.clock.Now()) {
		t.Fatalf("decisions %+v %v", ds, err)
	}
	ds, _ = e.s.HeldDecisions(e.ctx, b.ID)
	if len(ds) != 1 || ds[0].Release || ds[0].Who != "bob" {
		t.Fatalf("decisions of b %+v", ds)
	}
	// The decisions are in the trace (state changes with who).
	es, _ := e.s.Trace(e.ctx, ledger.TraceQuery{EventID: "adv1"})
	var reasons []string
	for _, x := range es {
		if x.Kind == ledger.TraceState {
			reasons = append(reasons, string(x.State)+":"+x.Reason)
		}
	}
	if !slices.Contains(reasons, "queued:released by alice") || !slices.Contains(reasons, "cancelled:dropped by bob") ||
		!slices.Contains(reasons, "held:content: link") {
		t.Fatalf("trace %v", reasons)
	}
}
