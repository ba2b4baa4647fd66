package ledgertest

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

func stateStore(t *testing.T, e *env) ledger.StateStore {
	t.Helper()
	ss, ok := e.s.(ledger.StateStore)
	if !ok {
		t.Fatalf("%T does not implement ledger.StateStore", e.s)
	}
	return ss
}

// testStates: states are kept only for entities with a pending message,
// the newest event wins (also within one call), and pruning drops those
// whose entity has nothing pending any more.
func testStates(t *testing.T, e *env) {
	ss := stateStore(t, e)
	m := Msg("ev1", "r", 1) // entity 京A10001
	m.State, m.NotBefore = message.StateScheduled, T0.Add(time.Hour)
	m.CancelKey = "c1"
	e.insert(m)
	if p, err := ss.PendingEntities(e.ctx, []string{m.Entity, "京B00000"}); err != nil || len(p) != 1 || !p[m.Entity] {
		t.Fatalf("pending entities = %v %v", p, err)
	}
	st := func(entity, id string, at time.Time, data string) ledger.EntityState {
		return ledger.EntityState{Entity: entity, Kind: "vehicle", Data: []byte(data), EventID: id, EventType: "vehicle.snapshot", At: at}
	}
	put := func(sts ...ledger.EntityState) {
		t.Helper()
		if err := ss.PutStates(e.ctx, sts); err != nil {
			t.Fatal(err)
		}
	}
	put(st(m.Entity, "s1", T0, `{"a":1}`), st(m.Entity, "s2", T0.Add(2*time.Minute), `{"a":2}`), st(m.Entity, "s0", T0.Add(time.Minute), `{"a":0}`),
		st("京B00000", "x", T0, `{}`)) // nothing pending for 京B00000
	put(st(m.Entity, "old", T0.Add(-time.Hour), `{"a":-1}`)) // an older event later: ignored
	got, err := ss.LatestStates(e.ctx, []string{m.Entity, "京B00000", "京C00000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[m.Entity].EventID != "s2" || string(got[m.Entity].Data) != `{"a":2}` ||
		!got[m.Entity].At.Equal(T0.Add(2*time.Minute)) || got[m.Entity].Kind != "vehicle" {
		t.Fatalf("latest states = %+v", got)
	}
	// Keep: stored with nothing pending yet (its message comes next); a
	// newer state without Keep, with still nothing pending, is not.
	kept := st("京D00000", "k1", T0, `{"k":1}`)
	kept.Keep = true
	put(kept)
	put(st("京D00000", "k2", T0.Add(time.Minute), `{"k":2}`))
	if got, err := ss.LatestStates(e.ctx, []string{"京D00000"}); err != nil || got["京D00000"].EventID != "k1" {
		t.Fatalf("kept state = %+v %v (a later state without Keep is stored only while something is pending)", got, err)
	}
	later := st("京D00000", "k3", T0.Add(2*time.Minute), `{"k":3}`)
	later.Keep = true
	put(st("京D00000", "k2", T0.Add(time.Minute), `{"k":2}`), later)
	if got, err := ss.LatestStates(e.ctx, []string{"京D00000"}); err != nil || got["京D00000"].EventID != "k3" {
		t.Fatalf("kept state = %+v %v, want k3", got, err)
	}
	e.clock.Add(48 * time.Hour)
	if n, err := ss.PruneStates(e.ctx, e.clock.Now()); err != nil || n != 1 { // 京D00000: nothing pending
		t.Fatalf("prune with a pending message: %d %v", n, err)
	}
	if _, err := e.s.Cancel(e.ctx, []string{"c1"}, "moot"); err != nil {
		t.Fatal(err)
	}
	if n, err := ss.PruneStates(e.ctx, e.clock.Now()); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
}

// testCancelInhibited: pending messages of the target rules to the same
// recipient about the same entity are cancelled with the reason; others,
// and messages no longer pending, stay.
func testCancelInhibited(t *testing.T, e *env) {
	ss := stateStore(t, e)
	hit := Msg("ev1", "points_9", 1)
	hit.State, hit.NotBefore = message.StateScheduled, T0.Add(time.Hour)
	otherRule := Msg("ev1", "recorded", 1)
	otherPhone := Msg("ev1", "points_9", 2)
	otherPhone.Entity = hit.Entity
	sent := Msg("ev0", "points_9", 1)
	e.insert(sent)
	e.insert(hit, otherRule, otherPhone)
	if c := e.claim(10, "o"); len(c) != 2 || c[0].ID != sent.ID && c[1].ID != sent.ID { // one per recipient: sent, otherPhone
		t.Fatalf("claimed %v", ids(c))
	}
	if _, err := ss.CancelInhibited(e.ctx, []ledger.Inhibition{{Rules: []string{"x"}}}); err == nil {
		t.Fatal("an inhibition without recipient and entity was accepted")
	}
	n, err := ss.CancelInhibited(e.ctx, []ledger.Inhibition{{Rules: []string{"points_9", "other"}, Recipient: hit.Recipient, Entity: hit.Entity, Reason: "inhibited_by:points_12"}})
	if err != nil || n != 1 {
		t.Fatalf("cancel inhibited: %d %v", n, err)
	}
	if st := e.state(hit); st != message.StateCancelled {
		t.Fatalf("target: %s", st)
	}
	es, err := e.s.Trace(e.ctx, ledger.TraceQuery{EventID: "ev1", Phone: hit.Recipient})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range es {
		if x.MessageID == hit.ID && x.State == message.StateCancelled && x.Reason == "inhibited_by:points_12" {
			found = true
		}
	}
	if !found {
		t.Fatalf("trace has no cancellation with the reason: %+v", es)
	}
	for _, m := range []*message.Message{otherRule, otherPhone} {
		if st := e.state(m); st == message.StateCancelled {
			t.Fatalf("message %s/%s cancelled", m.RuleID, m.Recipient)
		}
	}
}
