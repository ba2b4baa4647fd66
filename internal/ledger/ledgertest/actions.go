package ledgertest

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// actionTests are the conformance tests of ledger.ActionLog.
var actionTests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"OperatorActions", testActions},
	{"Advisories", testAdvisories},
}

// testActions: operator actions come back newest first with the ledger's
// id and time, and paging by id returns the older ones.
func testActions(t *testing.T, e *env) {
	al, ok := e.s.(ledger.ActionLog)
	if !ok {
		t.Fatalf("%T does not implement ledger.ActionLog", e.s)
	}
	if got, err := al.Actions(e.ctx, 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty log = %v %v", got, err)
	}
	var ids []int64
	for i, act := range []string{"login", "held.release", "trace.unmask"} {
		e.clock.Set(T0.Add(time.Duration(i) * time.Minute))
		a, err := al.RecordAction(e.ctx, ledger.OperatorAction{Who: "li", Role: "operator", Action: act, Target: "ids 1,2", Detail: "ok", Remote: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 || !a.At.Equal(T0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("recorded %+v", a)
		}
		if len(ids) > 0 && a.ID <= ids[len(ids)-1] {
			t.Fatalf("ids not increasing: %v then %d", ids, a.ID)
		}
		ids = append(ids, a.ID)
	}
	got, err := al.Actions(e.ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "trace.unmask" || got[1].Action != "held.release" {
		t.Fatalf("newest two = %+v", got)
	}
	want := ledger.OperatorAction{ID: ids[2], At: T0.Add(2 * time.Minute), Who: "li", Role: "operator", Action: "trace.unmask", Target: "ids 1,2", Detail: "ok", Remote: "127.0.0.1"}
	if g := got[0]; g.ID != want.ID || !g.At.Equal(want.At) || g.Who != want.Who || g.Role != want.Role || g.Target != want.Target || g.Detail != want.Detail || g.Remote != want.Remote {
		t.Fatalf("row = %+v, want %+v", g, want)
	}
	older, err := al.Actions(e.ctx, got[1].ID, 10)
	if err != nil || len(older) != 1 || older[0].Action != "login" {
		t.Fatalf("older = %+v %v", older, err)
	}
}

// testAdvisories: advisory messages are counted per event, rule and state
// (other events' messages and older ones are not), and cancelling an
// advisory cancels its pending and held messages only, with an outbox row
// each.
func testAdvisories(t *testing.T, e *env) {
	adv, ok := e.s.(ledger.Advisories)
	if !ok {
		t.Fatalf("%T does not implement ledger.Advisories", e.s)
	}
	mk := func(ev, rule string, i int, st message.State) *message.Message {
		m := Msg(ev, rule, i)
		m.EventType, m.Entity, m.State = "advisory.published", "adv-"+ev, st
		return m
	}
	e.clock.Set(T0.Add(-2 * time.Hour))
	e.insert(mk("old", "advisory.notice", 1, message.StateCancelled))
	e.clock.Set(T0)
	a1, a2, a3 := mk("a", "advisory.notice", 1, message.StateQueued), mk("a", "advisory.notice", 2, message.StateScheduled), mk("a", "advisory.notice", 3, message.StateHeld)
	b1 := mk("b", "advisory.warning", 1, message.StateScheduled)
	a2.NotBefore, b1.NotBefore = T0.Add(time.Hour), T0.Add(time.Hour)
	other := Msg("v", "vehicle.inspection", 9)
	other.State = message.StateSuppressed
	e.insert(a1, a2, a3, b1, other)
	claimed := e.claim(10, "me") // a1 only: the others are held, suppressed or not due
	if len(claimed) != 1 || claimed[0].ID != a1.ID {
		t.Fatalf("claimed %d messages", len(claimed))
	}
	e.submit(claimed[0], "x1")

	cs, err := adv.AdvisoryCounts(e.ctx, T0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range cs {
		got[c.EventID+"/"+c.RuleID+"/"+c.State] += c.Messages
		if c.First.Before(T0) {
			t.Fatalf("older advisory counted: %+v", c)
		}
	}
	want := map[string]int{"a/advisory.notice/scheduled": 1, "a/advisory.notice/submitted": 1, "a/advisory.notice/held": 1, "b/advisory.warning/scheduled": 1}
	if len(got) != len(want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("counts = %v, want %v", got, want)
		}
	}
	before, err := e.s.PendingStatus(e.ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n, err := adv.CancelAdvisory(e.ctx, "a", "advisory.notice", "cancelled by li")
	if err != nil || n != 2 {
		t.Fatalf("cancel = %d %v, want 2 (scheduled and held; the submitted one stays)", n, err)
	}
	after, _ := e.s.PendingStatus(e.ctx, 1000)
	if len(after) != len(before)+2 {
		t.Fatalf("outbox rows %d → %d", len(before), len(after))
	}
	if n, err := adv.CancelAdvisory(e.ctx, "a", "advisory.notice", "again"); err != nil || n != 0 {
		t.Fatalf("second cancel = %d %v", n, err)
	}
	cs, _ = adv.AdvisoryCounts(e.ctx, T0.Add(-time.Hour))
	got = map[string]int{}
	for _, c := range cs {
		got[c.EventID+"/"+c.State] += c.Messages
	}
	if got["a/cancelled"] != 2 || got["a/submitted"] != 1 || got["b/scheduled"] != 1 {
		t.Fatalf("after cancel = %v", got)
	}
}
