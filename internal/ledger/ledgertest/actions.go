package ledgertest

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
)

// actionTests are the conformance tests of ledger.ActionLog.
var actionTests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"OperatorActions", testActions},
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
