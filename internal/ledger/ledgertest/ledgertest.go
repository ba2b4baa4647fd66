// Package ledgertest is the conformance suite every ledger.Store
// implementation must pass, and the benchmarks that measure one. The
// implementations' tests call Run and Bench with a constructor for a fresh,
// empty store.
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// Factory returns a fresh, empty store using clock for its own times. The
// store is closed by the suite.
type Factory func(t testing.TB, clock func() time.Time) ledger.Store

// Clock is a settable clock for tests.
type Clock struct{ n atomic.Int64 }

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.n.Load()) }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.n.Store(t.UnixNano()) }

// Add advances the clock.
func (c *Clock) Add(d time.Duration) { c.n.Add(int64(d)) }

// T0 is the suite's start time: 10:00 Beijing time.
var T0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	ctx   context.Context
	clock *Clock
	s     ledger.Store
}

func newEnv(t *testing.T, f Factory) *env {
	t.Helper()
	c := NewClock(T0)
	s := f(t, c.Now)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &env{t: t, ctx: t.Context(), clock: c, s: s}
}

// Msg builds a test message for recipient number i of event ev.
func Msg(ev, rule string, i int) *message.Message {
	rcpt := fmt.Sprintf("138%08d", i)
	return &message.Message{
		Key: message.Key(ev, rule, rcpt), EventID: ev, EventType: "vehicle.snapshot", Entity: "京A" + fmt.Sprint(10000+i),
		RuleID: rule, Template: rule, Recipient: rcpt, Carrier: "cmcc", Source: "12123",
		Text: "【交管12123】您的车辆检验有效期将于2026年04月30日届满，请及时检验。", Encoding: "ucs2", Segments: 1,
		State: message.StateQueued,
	}
}

func (e *env) insert(ms ...*message.Message) {
	e.t.Helper()
	if err := e.s.Insert(e.ctx, ms); err != nil {
		e.t.Fatalf("insert: %v", err)
	}
}

func (e *env) claim(limit int, owner string) []*message.Message {
	e.t.Helper()
	ms, err := e.s.Claim(e.ctx, e.clock.Now(), limit, owner)
	if err != nil {
		e.t.Fatalf("claim: %v", err)
	}
	return ms
}

func (e *env) submit(m *message.Message, ids ...string) {
	e.t.Helper()
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: m.ID, Carrier: m.Carrier, CarrierIDs: ids, At: e.clock.Now()}}); err != nil {
		e.t.Fatalf("submitted: %v", err)
	}
}

func (e *env) receipts(rs ...ledger.Receipt) []ledger.ReceiptResult {
	e.t.Helper()
	res, err := e.s.Receipts(e.ctx, rs)
	if err != nil {
		e.t.Fatalf("receipts: %v", err)
	}
	if len(res) != len(rs) {
		e.t.Fatalf("receipts: %d results for %d receipts", len(res), len(rs))
	}
	return res
}

// state reads a message's state through Trace (the only by-id read path).
func (e *env) state(m *message.Message) message.State {
	e.t.Helper()
	es, err := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: m.Recipient, EventID: m.EventID})
	if err != nil {
		e.t.Fatalf("trace: %v", err)
	}
	var st message.State
	for _, x := range es {
		if x.MessageID == m.ID && x.Kind == ledger.TraceState {
			st = x.State
		}
	}
	return st
}

func ids(ms []*message.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// Run runs the conformance suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"InsertIdempotent", testInsertIdempotent},
		{"ClaimOrderAndExpiry", testClaimOrder},
		{"ClaimConcurrent", testClaimConcurrent},
		{"NextDue", testNextDue},
		{"ReceiptLifecycle", testReceiptLifecycle},
		{"ReceiptBeforeSubmit", testReceiptBeforeSubmit},
		{"ReceiptsBeforeSubmitOneBatch", testPendingBatch},
		{"DuplicateReceipts", testDuplicateReceipts},
		{"MultipartDerivedState", testMultipart},
		{"MultipartOnePayload", testPayload},
		{"Transition", testTransition},
		{"Cancel", testCancel},
		{"RecoverAndRequeue", testRecover},
		{"ClaimWaitsForReconcileCandidate", testClaimWaitsForCandidate},
		{"ReconcileUnknownByText", testReconcile},
		{"ReconcileSameTextTwice", testReconcileSameText},
		{"ReconcileMultipartUnknown", testReconcileMultipart},
		{"ReconcilePartlyAccepted", testReconcilePartial},
		{"ReconcilePartFailedOthersMissing", testReconcilePartFailed},
		{"ReconcilePendingWhileSending", testReconcilePending},
		{"DedupeAndCaps", testDedupe},
		{"WeeklyCount", testWeeklyCount},
		{"States", testStates}, {"CancelInhibited", testCancelInhibited}, {"SummaryCancelled", testSummaryCancelled},
		{"OptOut", testOptOut},
		{"ContactsByRegion", testContacts},
		{"Outbox", testOutbox},
		{"OutboxConcurrentWriters", testOutboxConcurrent},
		{"Trace", testTrace},
		{"Summary", testSummary},
		{"Prune", testPrune},
	}
	tests = append(tests, safetyTests...)
	tests = append(tests, actionTests...)
	tests = append(tests, partTests...)
	tests = append(tests, callTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newEnv(t, f)) })
	}
}

func testInsertIdempotent(t *testing.T, e *env) {
	a, b := Msg("ev1", "r1", 1), Msg("ev1", "r1", 2)
	e.insert(a, b)
	if a.ID == 0 || b.ID == 0 || a.ID == b.ID {
		t.Fatalf("ids not set: %d %d", a.ID, b.ID)
	}
	if !a.CreatedAt.Equal(T0) {
		t.Fatalf("CreatedAt = %v, want %v", a.CreatedAt, T0)
	}
	// Redelivery of the same event, with a new message in the same batch.
	e.clock.Add(time.Minute)
	a2, c := Msg("ev1", "r1", 1), Msg("ev1", "r1", 3)
	a2.State, a2.CreatedAt = message.StateScheduled, e.clock.Now()
	e.insert(a2, c)
	if a2.ID != a.ID || a2.State != message.StateQueued || !a2.CreatedAt.Equal(T0) {
		t.Fatalf("duplicate got id %d state %s created %v; want %d queued %v", a2.ID, a2.State, a2.CreatedAt, a.ID, T0)
	}
	if c.ID == 0 || c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("new message id %d", c.ID)
	}
	// A big batch crosses the statement chunking.
	var many []*message.Message
	for i := range 1000 {
		many = append(many, Msg("ev2", "r1", i))
	}
	many = append(many, Msg("ev1", "r1", 2), Msg("ev2", "r1", 7)) // an old key, and a repeat within the batch
	e.insert(many...)
	if many[1000].ID != b.ID {
		t.Fatalf("duplicate at the end of a big batch: id %d want %d", many[1000].ID, b.ID)
	}
	if many[1001].ID != many[7].ID {
		t.Fatalf("repeat within a batch: id %d want %d", many[1001].ID, many[7].ID)
	}
	seen := map[int64]bool{}
	for _, m := range many[:1000] {
		if m.ID == 0 || seen[m.ID] {
			t.Fatalf("bad or repeated id %d", m.ID)
		}
		seen[m.ID] = true
	}
	sum, err := e.s.Summary(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.States[message.StateQueued]; got != 1003 {
		t.Fatalf("queued = %d, want 1003", got)
	}
}

func testClaimOrder(t *testing.T, e *env) {
	now := e.clock.Now()
	low := Msg("ev", "low", 1)
	high := Msg("ev", "high", 2)
	high.Priority = 5
	later := Msg("ev", "later", 3)
	later.State, later.NotBefore, later.Priority = message.StateScheduled, now.Add(time.Hour), 9
	early := Msg("ev", "early", 4)
	early.State, early.NotBefore = message.StateScheduled, now.Add(-time.Hour)
	gone := Msg("ev", "gone", 5)
	gone.ExpiresAt = now.Add(-time.Second)
	e.insert(low, high, later, early, gone)

	got := e.claim(10, "a")
	if want := []int64{high.ID, early.ID, low.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("claimed %v, want %v (priority, then NotBefore)", ids(got), want)
	}
	for _, m := range got {
		if m.State != message.StateSending || m.Attempts != 1 {
			t.Fatalf("claimed message %d state %s attempts %d", m.ID, m.State, m.Attempts)
		}
	}
	if st := e.state(gone); st != message.StateExpired {
		t.Fatalf("expired message state %s", st)
	}
	if got := e.claim(10, "a"); len(got) != 0 {
		t.Fatalf("second claim got %v", ids(got))
	}
	e.clock.Add(2 * time.Hour)
	if got := e.claim(10, "a"); !slices.Equal(ids(got), []int64{later.ID}) {
		t.Fatalf("claim after NotBefore got %v want %d", ids(got), later.ID)
	}
	// limit
	var ms []*message.Message
	for i := range 7 {
		ms = append(ms, Msg("ev-lim", "r", 100+i)) // recipients with nothing in flight
	}
	e.insert(ms...)
	if got := e.claim(5, "a"); len(got) != 5 {
		t.Fatalf("limit 5 claimed %d", len(got))
	}
}

func testClaimConcurrent(t *testing.T, e *env) {
	var ms []*message.Message
	for i := range 600 {
		ms = append(ms, Msg("ev", "r", i))
	}
	e.insert(ms...)
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				got, err := e.s.Claim(e.ctx, e.clock.Now(), 25, owner)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					if prev, dup := seen[m.ID]; dup {
						errs <- fmt.Errorf("message %d claimed by %s and %s", m.ID, prev, owner)
					}
					seen[m.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != len(ms) {
		t.Fatalf("claimed %d of %d", len(seen), len(ms))
	}
}

func testNextDue(t *testing.T, e *env) {
	if _, ok, err := e.s.NextDue(e.ctx); err != nil || ok {
		t.Fatalf("empty ledger: ok %v err %v", ok, err)
	}
	a, b := Msg("ev", "a", 1), Msg("ev", "b", 2)
	a.State, a.NotBefore = message.StateScheduled, T0.Add(3*time.Hour)
	b.State, b.NotBefore = message.StateScheduled, T0.Add(2*time.Hour)
	e.insert(a, b)
	at, ok, err := e.s.NextDue(e.ctx)
	if err != nil || !ok || !at.Equal(b.NotBefore) {
		t.Fatalf("NextDue = %v %v %v, want %v", at, ok, err, b.NotBefore)
	}
	// Across priority levels; claimed and final rows do not count.
	c := Msg("ev", "c", 3)
	c.State, c.NotBefore, c.Priority = message.StateScheduled, T0.Add(time.Hour), 7
	d := Msg("ev", "d", 4)
	d.State, d.NotBefore, d.Priority = message.StateScheduled, T0.Add(30*time.Minute), 3
	e.insert(c, d)
	if n, err := e.s.Cancel(e.ctx, nil, ""); err != nil || n != 0 {
		t.Fatalf("empty cancel: %d %v", n, err)
	}
	e.clock.Add(45 * time.Minute)
	if got := e.claim(1, "a"); len(got) != 1 || got[0].ID != d.ID {
		t.Fatalf("claimed %v, want d", ids(got))
	}
	at, ok, err = e.s.NextDue(e.ctx)
	if err != nil || !ok || !at.Equal(c.NotBefore) {
		t.Fatalf("NextDue = %v %v %v, want %v (priority 7)", at, ok, err, c.NotBefore)
	}
}

func testReceiptLifecycle(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	submittedAt := e.clock.Now()
	e.submit(m, "00A1B2")
	if st := e.state(m); st != message.StateSubmitted {
		t.Fatalf("after submit: %s", st)
	}
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "a1b2", Stat: "DELIVRD", Err: "000", Done: e.clock.Now()})
	// The final receipt names when its part was accepted (receipt latency).
	if !res[0].PartSubmitted.Equal(submittedAt) {
		t.Fatalf("receipt's part submitted at %v, want %v", res[0].PartSubmitted, submittedAt)
	}
	res[0].PartSubmitted = time.Time{}
	want := ledger.ReceiptResult{Outcome: ledger.OutcomeMatched, MessageID: m.ID, Changed: true, State: message.StateDelivered}
	if res[0] != want {
		t.Fatalf("receipt result %+v, want %+v", res[0], want)
	}
	// A repeated Submitted (a late response reported twice) changes nothing.
	e.submit(m, "a1b2")
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("after repeated submit: %s", st)
	}
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "a1b2", Stat: "DELIVRD"}); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("receipt after repeated submit: %+v", res[0])
	}
	// Another carrier's id space does not match.
	res = e.receipts(ledger.Receipt{Carrier: "unicom", MessageID: "a1b2", Stat: "DELIVRD"})
	if res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("other carrier: %+v", res[0])
	}
}

func testReceiptBeforeSubmit(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	early := ledger.Receipt{Carrier: "cmcc", MessageID: "77", Stat: "DELIVRD", Done: e.clock.Now()}
	res := e.receipts(early)
	if res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("early receipt: %+v", res[0])
	}
	// The same early receipt again is a duplicate.
	if res := e.receipts(early); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("repeated early receipt: %+v", res[0])
	}
	sum, err := e.s.Summary(e.ctx)
	if err != nil || sum.Pending != 1 {
		t.Fatalf("pending = %d (%v), want 1", sum.Pending, err)
	}
	e.submit(m, "0077")
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("after submit with pending receipt: %s", st)
	}
	sum, err = e.s.Summary(e.ctx)
	if err != nil || sum.Pending != 0 {
		t.Fatalf("pending after match = %d (%v)", sum.Pending, err)
	}
	// Once applied, the receipt is a duplicate.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "77", Stat: "DELIVRD"}); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("receipt after match: %+v", res[0])
	}
}

// testPendingBatch: early receipts of one batch are all kept pending (the
// same one twice is a duplicate), and each applies when its part is
// stored.
func testPendingBatch(t *testing.T, e *env) {
	a, b := Msg("ev", "r", 1), Msg("ev", "r", 2)
	e.insert(a, b)
	e.claim(2, "a")
	ra := ledger.Receipt{Carrier: "cmcc", MessageID: "a1", Stat: "DELIVRD", Done: e.clock.Now()}
	rb := ledger.Receipt{Carrier: "cmcc", MessageID: "b1", Stat: "UNDELIV", Err: "006", Done: e.clock.Now()}
	res := e.receipts(ra, rb, ra)
	if res[0].Outcome != ledger.OutcomePending || res[1].Outcome != ledger.OutcomePending || res[2].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("early receipts in one batch: %+v", res)
	}
	sum, err := e.s.Summary(e.ctx)
	if err != nil || sum.Pending != 2 {
		t.Fatalf("pending = %d (%v), want 2", sum.Pending, err)
	}
	e.submit(a, "a1")
	e.submit(b, "b1")
	if st := e.state(a); st != message.StateDelivered {
		t.Fatalf("a after submit: %s", st)
	}
	if st := e.state(b); st != message.StateFailed {
		t.Fatalf("b after submit: %s", st)
	}
}

func testDuplicateReceipts(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	e.submit(m, "abc")
	r := ledger.Receipt{Carrier: "cmcc", MessageID: "ABC", Stat: "UNDELIV", Err: "006"}
	res := e.receipts(r, r)
	if res[0].Outcome != ledger.OutcomeMatched || !res[0].Changed || res[0].State != message.StateFailed {
		t.Fatalf("first: %+v", res[0])
	}
	if res[1].Outcome != ledger.OutcomeDuplicate || res[1].Changed {
		t.Fatalf("second in batch: %+v", res[1])
	}
	if res := e.receipts(r); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("later batch: %+v", res[0])
	}
	// An intermediate stat after the final one changes nothing.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "abc", Stat: "ACCEPTD"}); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("intermediate after final: %+v", res[0])
	}
	if n := e.receiptsTraced(m.Recipient); n != 1 {
		t.Fatalf("%d receipts recorded, want 1", n)
	}
}

func testMultipart(t *testing.T, e *env) {
	tests := []struct {
		name  string
		stats []string
		want  message.State
	}{
		{"all delivered", []string{"DELIVRD", "DELIVRD", "DELIVRD"}, message.StateDelivered},
		{"one missing", []string{"DELIVRD", "DELIVRD"}, message.StateSubmitted},
		{"one failed", []string{"DELIVRD", "UNDELIV"}, message.StateFailed},
		{"one expired", []string{"EXPIRED", "DELIVRD", "UNDELIV"}, message.StateExpired},
		{"intermediate", []string{"ACCEPTD", "DELIVRD", "DELIVRD"}, message.StateSubmitted},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Msg("ev-mp", "r", i)
			m.Segments = 3
			e.insert(m)
			e.claim(1, "a")
			pid := func(j int) string { return fmt.Sprintf("%d%02d", i+1, j) }
			e.submit(m, pid(0), pid(1), pid(2))
			var changed []message.State
			for j, st := range tc.stats {
				res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: pid(j), Stat: st})[0]
				if res.Outcome != ledger.OutcomeMatched {
					t.Fatalf("part %d: %+v", j, res)
				}
				if res.Changed {
					changed = append(changed, res.State)
				}
			}
			if st := e.state(m); st != tc.want {
				t.Fatalf("state %s, want %s", st, tc.want)
			}
			want := []message.State{tc.want}
			if tc.want == message.StateSubmitted {
				want = nil
			}
			if !slices.Equal(changed, want) {
				t.Fatalf("changes reported %v, want %v", changed, want)
			}
		})
	}
}

func testTransition(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	retry := e.clock.Now().Add(time.Minute)
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateQueued, Reason: "throttled", NotBefore: retry}}); err != nil {
		t.Fatal(err)
	}
	if got := e.claim(1, "a"); len(got) != 0 {
		t.Fatal("retry claimed before NotBefore")
	}
	e.clock.Add(2 * time.Minute)
	got := e.claim(1, "a")
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("retry claim: %+v", got)
	}
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateFailed, Reason: "invalid dest"}}); err != nil {
		t.Fatal(err)
	}
	// A final message stays final.
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateQueued}}); err != nil {
		t.Fatal(err)
	}
	if st := e.state(m); st != message.StateFailed {
		t.Fatalf("state %s", st)
	}
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateDelivered}}); err == nil {
		t.Fatal("transition to delivered accepted")
	}
}

func testCancel(t *testing.T, e *env) {
	a, b, c := Msg("ev", "r", 1), Msg("ev", "r", 2), Msg("ev", "r", 3)
	a.CancelKey, b.CancelKey, c.CancelKey = "insp|京A1", "insp|京A1", "insp|京A2"
	b.State, b.NotBefore = message.StateScheduled, T0.Add(time.Hour)
	e.insert(a, b, c)
	e.claim(1, "a") // a is sending now: not cancellable
	n, err := e.s.Cancel(e.ctx, []string{"insp|京A1", "nothing"}, "inspected")
	if err != nil || n != 1 {
		t.Fatalf("cancel = %d %v, want 1", n, err)
	}
	if st := e.state(b); st != message.StateCancelled {
		t.Fatalf("b %s", st)
	}
	if st := e.state(c); st != message.StateQueued {
		t.Fatalf("c %s", st)
	}
}

func testRecover(t *testing.T, e *env) {
	var ms []*message.Message
	for i := range 3 {
		ms = append(ms, Msg("ev", "r", i))
	}
	e.insert(ms...)
	e.claim(1, "a")
	e.clock.Add(time.Minute)
	e.claim(1, "b")
	e.clock.Add(time.Minute)
	e.claim(1, "c")
	// a's own rows, and b's whose claim is older than the lease.
	n, err := e.s.Recover(e.ctx, "a", T0.Add(90*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("recover = %d %v, want 2", n, err)
	}
	unk, err := e.s.Unknown(e.ctx, e.clock.Now().Add(time.Second), 10)
	if err != nil || len(unk) != 2 || unk[0].Reason != ledger.ReasonCrash {
		t.Fatalf("unknown = %+v %v", unk, err)
	}
	if got := ids(unk); !slices.Equal(got, ids(ms[:2])) {
		t.Fatalf("unknown %v, want a's and b's %v", got, ids(ms[:2]))
	}
	if unk, _ := e.s.Unknown(e.ctx, e.clock.Now().Add(-time.Second), 10); len(unk) != 0 {
		t.Fatalf("grace period ignored: %d", len(unk))
	}
	res, err := e.s.Requeue(e.ctx, []int64{unk[0].ID}, 1, e.clock.Now())
	if err != nil || res.Requeued != 1 {
		t.Fatalf("requeue = %+v %v", res, err)
	}
	got := e.claim(5, "a")
	if len(got) != 1 || got[0].ID != unk[0].ID {
		t.Fatalf("requeued claim %v", ids(got))
	}
	if _, err := e.s.Recover(e.ctx, "a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	res, err = e.s.Requeue(e.ctx, []int64{unk[0].ID}, 1, e.clock.Now())
	if err != nil || res.Failed != 1 || res.Requeued != 0 {
		t.Fatalf("second requeue = %+v %v", res, err)
	}
	if st := e.state(unk[0]); st != message.StateFailed {
		t.Fatalf("after limit %s", st)
	}
}

func testReconcile(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	other := Msg("ev", "r2", 1) // same recipient, other text
	other.Text = "【交管12123】您有一条交通违法记录。"
	e.insert(m, other)
	e.claim(2, "a")
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateUnknown, Reason: "no response"},
		{ID: other.ID, State: message.StateUnknown, Reason: "no response"}}); err != nil {
		t.Fatal(err)
	}
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "f00d", Stat: "DELIVRD", Recipient: m.Recipient, Text: "【交管12123】您的车辆检验"})
	if res[0].Outcome != ledger.OutcomeMatched || !res[0].Reconciled || res[0].MessageID != m.ID || res[0].State != message.StateDelivered {
		t.Fatalf("reconcile: %+v", res[0])
	}
	if st := e.state(other); st != message.StateUnknown {
		t.Fatalf("other %s", st)
	}
	// A late receipt for a message requeued after an unknown outcome, before
	// the resend: delivered, and the resend does not happen.
	late := Msg("ev", "r3", 5)
	late.Text = "【交管12123】您的驾驶证记分已达9分。"
	acc := Msg("ev", "r4", 6)
	acc.Text = "【交管12123】您的机动车已逾期未检验。"
	e.insert(late, acc)
	e.claim(2, "a")
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: late.ID, State: message.StateUnknown}, {ID: acc.ID, State: message.StateUnknown}}); err != nil {
		t.Fatal(err)
	}
	if res, err := e.s.Requeue(e.ctx, []int64{late.ID}, 3, e.clock.Now().Add(time.Minute)); err != nil || res.Requeued != 1 {
		t.Fatalf("requeue %+v %v", res, err)
	}
	res = e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "beef", Stat: "DELIVRD", Recipient: late.Recipient, Text: "【交管12123】您的驾驶证"},
		ledger.Receipt{Carrier: "cmcc", MessageID: "bee0", Stat: "ACCEPTD", Recipient: acc.Recipient, Text: "【交管12123】您的机动车"})
	if res[0].MessageID != late.ID || res[0].State != message.StateDelivered {
		t.Fatalf("late receipt of a requeued message: %+v", res[0])
	}
	if res[1].MessageID != acc.ID || res[1].State != message.StateSubmitted {
		t.Fatalf("intermediate receipt of an unknown message: %+v", res[1])
	}
	e.clock.Add(time.Hour)
	if got := e.claim(10, "a"); len(got) != 0 {
		t.Fatalf("resent after reconciliation: %v", ids(got))
	}
	// The final receipt of that part completes it.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "bee0", Stat: "DELIVRD"}); res[0].State != message.StateDelivered {
		t.Fatalf("final receipt after reconciliation: %+v", res[0])
	}
	// Wrong text stays pending.
	res = e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "f00e", Stat: "DELIVRD", Recipient: m.Recipient, Text: "其他"})
	if res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("unrelated text: %+v", res[0])
	}
}

func testDedupe(t *testing.T, e *env) {
	a, b, sup, canc := Msg("ev1", "r", 1), Msg("ev2", "r", 1), Msg("ev3", "r", 1), Msg("ev4", "r", 1)
	a.DedupeKey, b.DedupeKey = "insp|京A1", "insp|京A1"
	sup.DedupeKey, sup.State, sup.Reason = "insp|京A9", message.StateSuppressed, "opted out"
	canc.CancelKey = "c"
	e.insert(a, sup, canc)
	e.clock.Add(time.Hour)
	b.Recipient = "13900000000"
	b.Key = message.Key("ev2", "r", b.Recipient)
	e.insert(b)
	if _, err := e.s.Cancel(e.ctx, []string{"c"}, "moot"); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.RecentDedupe(e.ctx, []string{"insp|京A1", "insp|京A9", "none"}, T0)
	if err != nil || !got["insp|京A1"] || got["insp|京A9"] || got["none"] {
		t.Fatalf("dedupe = %v %v", got, err)
	}
	got, _ = e.s.RecentDedupe(e.ctx, []string{"insp|京A1"}, T0.Add(2*time.Hour))
	if got["insp|京A1"] {
		t.Fatal("dedupe outside window")
	}
	counts, err := e.s.CountSince(e.ctx, []string{a.Recipient, b.Recipient, "13700000000"}, T0)
	if err != nil || counts[a.Recipient] != 1 || counts[b.Recipient] != 1 || len(counts) != 2 {
		t.Fatalf("counts = %v %v", counts, err)
	}
	counts, _ = e.s.CountSince(e.ctx, []string{a.Recipient, b.Recipient}, T0.Add(time.Minute))
	if counts[a.Recipient] != 0 || counts[b.Recipient] != 1 {
		t.Fatalf("counts since later = %v", counts)
	}
}

func testOptOut(t *testing.T, e *env) {
	for _, p := range []string{"13800000001", "13800000002"} {
		if err := e.s.OptOut(e.ctx, p, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.OptOut(e.ctx, "13800000001", true); err != nil {
		t.Fatal(err)
	}
	if err := e.s.OptOut(e.ctx, "13800000002", false); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.OptedOut(e.ctx, []string{"13800000001", "13800000002", "13800000003"})
	if err != nil || !got["13800000001"] || len(got) != 1 {
		t.Fatalf("opted out = %v %v", got, err)
	}
}

func testContacts(t *testing.T, e *env) {
	cs := []ledger.Contact{
		{Phone: "13800000001", Region: "110105", Entity: "京A1"}, // Beijing Chaoyang
		{Phone: "13800000002", Region: "110108", Entity: "京A2"}, // Beijing Haidian
		{Phone: "13800000003", Region: "440305", Entity: "粤B3"}, // Shenzhen Nanshan
		{Phone: "13800000004", Region: "440106", Entity: "粤A4"}, // Guangzhou Tianhe
		{Phone: "13800000001", Region: "110108", Entity: "京A5"}, // same phone twice
	}
	if err := e.s.UpsertContacts(e.ctx, cs); err != nil {
		t.Fatal(err)
	}
	if err := e.s.UpsertContacts(e.ctx, cs[:2]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		regions []string
		want    []string
	}{
		{[]string{"110105"}, []string{"13800000001"}},
		{[]string{"110100"}, []string{"13800000001", "13800000002"}},
		{[]string{"110000"}, []string{"13800000001", "13800000002"}},
		{[]string{"440300"}, []string{"13800000003"}},
		{[]string{"440000", "110108"}, []string{"13800000001", "13800000002", "13800000003", "13800000004"}},
		{[]string{"120000"}, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.regions), func(t *testing.T) {
			var got []string
			err := e.s.ContactsInRegions(e.ctx, tc.regions, func(p string) error { got = append(got, p); return nil })
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
	// fn may use the store while the walk is on (an advisory inserts its
	// messages as the directory streams).
	i := 0
	err := e.s.ContactsInRegions(e.ctx, []string{"440000"}, func(p string) error {
		i++
		m := Msg("adv1", "advisory", i)
		m.Recipient, m.Key = p, message.Key("adv1", "advisory", p)
		return e.s.Insert(e.ctx, []*message.Message{m})
	})
	if err != nil || i != 2 {
		t.Fatalf("walk inserting messages: %v after %d", err, i)
	}
	if n, _ := e.s.CountSince(e.ctx, []string{"13800000003", "13800000004"}, T0); len(n) != 2 {
		t.Fatalf("advisory messages %v", n)
	}
	stop := fmt.Errorf("stop")
	n := 0
	err = e.s.ContactsInRegions(e.ctx, []string{"110000"}, func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error: %v after %d", err, n)
	}
}

func testOutbox(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	e.submit(m, "1")
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "1", Stat: "DELIVRD"})
	got, err := e.s.PendingStatus(e.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var states []message.State
	for _, c := range got {
		if c.MessageID != m.ID || c.Key != m.Key || c.Recipient != m.Recipient || c.EventID != "ev" {
			t.Fatalf("change %+v", c)
		}
		states = append(states, c.State)
	}
	want := []message.State{message.StateQueued, message.StateSubmitted, message.StateDelivered}
	if !slices.Equal(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if err := e.s.AckStatus(e.ctx, got[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AckStatus(e.ctx, got[0].ID); err != nil { // never goes back
		t.Fatal(err)
	}
	rest, err := e.s.PendingStatus(e.ctx, 10)
	if err != nil || len(rest) != 1 || rest[0].ID != got[2].ID {
		t.Fatalf("after ack: %+v %v", rest, err)
	}
	if lim, _ := e.s.PendingStatus(e.ctx, 0); len(lim) != 0 {
		t.Fatalf("limit 0 returned %d", len(lim))
	}
}

func testTrace(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	sup := Msg("ev", "quiet", 1)
	sup.State, sup.Reason = message.StateSuppressed, "dedupe window"
	e.insert(m, sup)
	e.clock.Add(time.Second)
	e.claim(1, "a")
	e.clock.Add(time.Second)
	e.submit(m, "9")
	e.clock.Add(time.Second)
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "9", Stat: "DELIVRD"})
	if _, err := e.s.Trace(e.ctx, ledger.TraceQuery{}); err == nil {
		t.Fatal("empty query accepted")
	}
	for _, q := range []ledger.TraceQuery{{Phone: m.Recipient}, {EventID: "ev"}, {Entity: m.Entity}} {
		es, err := e.s.Trace(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for i, x := range es {
			if i > 0 && x.At.Before(es[i-1].At) {
				t.Fatalf("not in time order: %+v", es)
			}
			s := string(x.Kind) + ":" + string(x.State) + x.Stat
			if x.Reason != "" {
				s += "(" + x.Reason + ")"
			}
			kinds = append(kinds, s)
		}
		want := []string{"state:queued", "state:suppressed(dedupe window)", "part:", "state:submitted", "receipt:DELIVRD", "state:delivered"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("trace %+v: %v, want %v", q, kinds, want)
		}
	}
	if es, _ := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: "13999999999"}); len(es) != 0 {
		t.Fatalf("other phone: %d entries", len(es))
	}
}

func testSummary(t *testing.T, e *env) {
	var ms []*message.Message
	for i := range 6 {
		m := Msg("ev", "r", i)
		if i%2 == 1 {
			m.Carrier = "unicom"
			m.Segments = 2
		}
		ms = append(ms, m)
	}
	sup := Msg("ev", "sup", 9)
	sup.State, sup.Reason, sup.Carrier = message.StateSuppressed, "quiet cap", ""
	e.insert(append(ms, sup)...)
	got := e.claim(4, "a")
	for i, m := range got {
		e.submit(m, fmt.Sprint(100+i))
	}
	e.receipts(ledger.Receipt{Carrier: got[0].Carrier, MessageID: "100", Stat: "DELIVRD"},
		ledger.Receipt{Carrier: got[1].Carrier, MessageID: "101", Stat: "REJECTD"})
	s, err := e.s.Summary(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStates := map[message.State]int{message.StateQueued: 2, message.StateSubmitted: 2, message.StateDelivered: 1,
		message.StateFailed: 1, message.StateSuppressed: 1}
	if fmt.Sprint(s.States) != fmt.Sprint(wantStates) {
		t.Fatalf("states %v, want %v", s.States, wantStates)
	}
	if s.Suppressed["quiet cap"] != 1 || len(s.Suppressed) != 1 {
		t.Fatalf("suppressed %v", s.Suppressed)
	}
	var all ledger.CarrierSummary
	for _, c := range s.Carriers {
		all.Messages += c.Messages
		all.Segments += c.Segments
		all.Submitted += c.Submitted
		all.Delivered += c.Delivered
		all.Failed += c.Failed
	}
	if want := (ledger.CarrierSummary{Messages: 6, Segments: 9, Submitted: 4, Delivered: 1, Failed: 1}); all != want {
		t.Fatalf("carrier totals %+v, want %+v", all, want)
	}
	if c := s.Carriers["unicom"]; c.Messages != 3 || c.Segments != 6 {
		t.Fatalf("unicom %+v", c)
	}
	// Counters follow every kind of change.
	got = e.claim(1, "b")
	if _, err := e.s.Recover(e.ctx, "b", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: got[0].ID, State: message.StateFailed, Reason: "gave up"}}); err != nil {
		t.Fatal(err)
	}
	if s, err = e.s.Summary(e.ctx); err != nil {
		t.Fatal(err)
	}
	wantStates = map[message.State]int{message.StateQueued: 1, message.StateSubmitted: 2, message.StateDelivered: 1,
		message.StateFailed: 2, message.StateSuppressed: 1}
	if fmt.Sprint(s.States) != fmt.Sprint(wantStates) {
		t.Fatalf("states after recover and transition %v, want %v", s.States, wantStates)
	}
}

func testPrune(t *testing.T, e *env) {
	old := Msg("ev", "r", 1)
	oldSup := Msg("ev", "r", 2)
	oldSup.State, oldSup.Reason = message.StateSuppressed, "opted out"
	live := Msg("ev", "r", 3)
	e.insert(old, oldSup, live)
	e.claim(1, "a")
	e.submit(old, "5")
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "5", Stat: "DELIVRD"},
		ledger.Receipt{Carrier: "cmcc", MessageID: "orphan", Stat: "DELIVRD"})
	e.clock.Add(24 * time.Hour)
	// Unpublished status changes keep their messages.
	n, err := e.s.Prune(e.ctx, e.clock.Now())
	if err != nil || n != 0 {
		t.Fatalf("prune before ack = %d %v", n, err)
	}
	pend, _ := e.s.PendingStatus(e.ctx, 100)
	if err := e.s.AckStatus(e.ctx, pend[len(pend)-1].ID); err != nil {
		t.Fatal(err)
	}
	n, err = e.s.Prune(e.ctx, e.clock.Now())
	if err != nil || n != 2 {
		t.Fatalf("prune = %d %v, want 2", n, err)
	}
	s, _ := e.s.Summary(e.ctx)
	if s.States[message.StateQueued] != 1 || len(s.States) != 1 {
		t.Fatalf("after prune %v", s.States)
	}
	if s.Pending != 1 {
		t.Fatalf("pending receipt younger than retention dropped: %d", s.Pending)
	}
	// The pruned message is gone; a redelivered event would be new again,
	// which is why Prune's horizon must exceed Kafka's retention.
	if es, _ := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: old.Recipient}); len(es) != 0 {
		t.Fatalf("trace after prune: %+v", es)
	}
	audit, err := e.s.Audit(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.AuditRow{
		{Day: "2026-03-02", RuleID: "r", Carrier: "cmcc", State: message.StateDelivered, Messages: 1, Segments: 1},
		{Day: "2026-03-02", RuleID: "r", Carrier: "cmcc", State: message.StateSuppressed, Messages: 1, Segments: 1},
	}
	if !slices.Equal(audit, want) {
		t.Fatalf("audit %+v, want %+v", audit, want)
	}
	e.clock.Add(72 * time.Hour)
	if _, err := e.s.Prune(e.ctx, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.s.Summary(e.ctx); s.Pending != 0 {
		t.Fatalf("old pending receipt kept: %d", s.Pending)
	}
}

// testOutboxConcurrent publishes (read, acknowledge up to the last id)
// while writers commit concurrently: no status change may be skipped.
func testOutboxConcurrent(t *testing.T, e *env) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted = map[int64]bool{}
	)
	for w := range 4 {
		wg.Go(func() {
			for b := range 30 {
				var ms []*message.Message
				for i := range 4 {
					ms = append(ms, Msg(fmt.Sprintf("w%d-b%d", w, b), "r", i))
				}
				if err := e.s.Insert(e.ctx, ms); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range ms {
					inserted[m.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	published := map[int64]bool{}
	var pub sync.WaitGroup
	pub.Go(func() {
		for {
			stopping := false
			select {
			case <-done:
				stopping = true
			default:
			}
			cs, err := e.s.PendingStatus(e.ctx, 5)
			if err != nil {
				t.Error(err)
				return
			}
			for _, c := range cs {
				published[c.MessageID] = true
			}
			if len(cs) == 0 {
				if stopping {
					return
				}
				continue
			}
			if err := e.s.AckStatus(e.ctx, cs[len(cs)-1].ID); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	pub.Wait()
	if len(inserted) != 4*30*4 {
		t.Fatalf("inserted %d", len(inserted))
	}
	for id := range inserted {
		if !published[id] {
			t.Fatalf("status change of message %d never published", id)
		}
	}
}

// unknownMsgs inserts ms, claims them as owner "a" and makes them unknown.
func (e *env) unknownMsgs(ms ...*message.Message) {
	e.t.Helper()
	e.insert(ms...)
	// Claim takes one message per recipient; the others (several unknowns
	// to one phone, as a race between two instances can still leave) are
	// made unknown directly.
	got := e.claim(len(ms), "a")
	claimed := map[int64]bool{}
	for _, m := range got {
		claimed[m.ID] = true
	}
	var rest []ledger.Transition
	for _, m := range ms {
		if !claimed[m.ID] {
			rest = append(rest, ledger.Transition{ID: m.ID, State: message.StateUnknown, Reason: ledger.ReasonCrash})
		}
	}
	if n, err := e.s.Recover(e.ctx, "a", time.Time{}); err != nil || n != len(got) {
		e.t.Fatalf("recover = %d %v", n, err)
	}
	if len(rest) > 0 {
		if err := e.s.Transition(e.ctx, rest); err != nil {
			e.t.Fatalf("transition to unknown: %v", err)
		}
	}
}

func (e *env) unknownIDs(olderThan time.Time) []int64 {
	e.t.Helper()
	unk, err := e.s.Unknown(e.ctx, olderThan, 100)
	if err != nil {
		e.t.Fatalf("unknown: %v", err)
	}
	return ids(unk)
}

// longMsg is a two-segment UCS2 message (89 characters).
func longMsg(ev, rule string, i int) *message.Message {
	m := Msg(ev, rule, i)
	m.Text = "【交管12123】您的机动车（京A12345）于2026年03月01日在长安街与王府井大街交叉口有闯红灯的交通违法行为，" +
		"请于15日内到当地交通管理部门接受处理。逾期未处理的，将依法处理。详情可登录交管12123查询。"
	m.Segments = 2
	return m
}

// testReconcileSameText: two unknown messages with one text to one phone;
// each receipt reconciles one of them (oldest first), never both to one.
func testReconcileSameText(t *testing.T, e *env) {
	a, b := Msg("ev1", "r", 1), Msg("ev2", "r", 1)
	e.unknownMsgs(a, b)
	excerpt := "???12123??????????" // as an SMSC writes a UCS2 excerpt
	res := e.receipts(
		ledger.Receipt{Carrier: "cmcc", MessageID: "a1", Stat: "ACCEPTD", Recipient: a.Recipient, Text: excerpt},
		ledger.Receipt{Carrier: "cmcc", MessageID: "b1", Stat: "DELIVRD", Recipient: a.Recipient, Text: excerpt})
	if !res[0].Reconciled || res[0].MessageID != a.ID || !res[1].Reconciled || res[1].MessageID != b.ID {
		t.Fatalf("receipts went to %d and %d, want %d and %d: %+v", res[0].MessageID, res[1].MessageID, a.ID, b.ID, res)
	}
	if sa, sb := e.state(a), e.state(b); sa != message.StateSubmitted || sb != message.StateDelivered {
		t.Fatalf("states %s %s", sa, sb)
	}
	if got := e.unknownIDs(e.clock.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("still to reconcile: %v", got)
	}
	// A third receipt with that text has no message left: pending.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "c1", Stat: "DELIVRD", Recipient: a.Recipient, Text: excerpt}); res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("third receipt: %+v", res[0])
	}
	// a's final receipt completes it.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "a1", Stat: "DELIVRD"}); res[0].MessageID != a.ID || res[0].State != message.StateDelivered {
		t.Fatalf("a's final receipt: %+v", res[0])
	}
}

// testReconcileMultipart: the receipts of every part of an unknown
// multi-part message reconcile it, though the first already made it
// submitted.
func testReconcileMultipart(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.unknownMsgs(m)
	tests := []struct {
		id, stat, text string
		want           message.State
		changed        bool
	}{
		{"p1", "ACCEPTD", "??????????12345", message.StateSubmitted, true},
		{"p2", "ACCEPTD", "??????????????????", message.StateSubmitted, false},
		{"p1", "DELIVRD", "??????????12345", message.StateSubmitted, false},
		{"p2", "DELIVRD", "??????????????????", message.StateDelivered, true},
	}
	for _, tc := range tests {
		res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: tc.id, Stat: tc.stat, Recipient: m.Recipient, Text: tc.text})[0]
		if res.Outcome != ledger.OutcomeMatched || res.MessageID != m.ID || res.Changed != tc.changed || (tc.changed && res.State != tc.want) {
			t.Fatalf("%s %s: %+v", tc.id, tc.stat, res)
		}
		if st := e.state(m); st != tc.want {
			t.Fatalf("%s %s: state %s, want %s", tc.id, tc.stat, st, tc.want)
		}
	}
	// A third part's receipt finds no room.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "p3", Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????12345"}); res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("extra part: %+v", res[0])
	}
}

// testReconcilePartial: a message of which only some parts reached the
// SMSC is resent after the grace period (new ids for every part; the old
// parts' receipts change nothing), or ends partial at the requeue limit.
func testReconcilePartial(t *testing.T, e *env) {
	m, n := longMsg("ev", "r", 1), longMsg("ev", "r2", 2)
	e.unknownMsgs(m, n)
	for _, x := range []*message.Message{m, n} {
		res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: fmt.Sprint("old", x.ID), Stat: "ACCEPTD", Recipient: x.Recipient, Text: "??????????12345"})
		if res[0].MessageID != x.ID || res[0].State != message.StateSubmitted {
			t.Fatalf("first part: %+v", res[0])
		}
	}
	if got := e.unknownIDs(e.clock.Now()); len(got) != 0 {
		t.Fatalf("partly accepted before the grace period: %v", got)
	}
	e.clock.Add(time.Minute)
	if got := e.unknownIDs(e.clock.Now()); !slices.Equal(got, []int64{m.ID, n.ID}) {
		t.Fatalf("partly accepted after the grace period: %v, want %v", got, []int64{m.ID, n.ID})
	}
	// m is resent, n has reached the limit.
	if res, err := e.s.Requeue(e.ctx, []int64{m.ID}, 1, e.clock.Now()); err != nil || res.Requeued != 1 {
		t.Fatalf("requeue = %+v %v", res, err)
	}
	// n has a part on the handset: PartsResendExtra more tries for its
	// missing part; past them it ends partial.
	if res, err := e.s.Requeue(e.ctx, []int64{n.ID}, -ledger.PartsResendExtra, e.clock.Now()); err != nil || res.Failed != 1 {
		t.Fatalf("requeue at limit = %+v %v", res, err)
	}
	if st := e.state(n); st != message.StatePartial {
		t.Fatalf("n %s, want partial (a part reached the SMSC: never failed)", st)
	}
	got := e.claim(5, "a")
	if len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("resend claim %v", ids(got))
	}
	e.submit(m, "new1", "new2")
	if st := e.state(m); st != message.StateSubmitted {
		t.Fatalf("after resend %s", st)
	}
	tests := []struct {
		id, stat string
		want     message.State
	}{
		{fmt.Sprint("old", m.ID), "DELIVRD", message.StateSubmitted}, // the old part: logged, no effect
		{"new1", "DELIVRD", message.StateSubmitted},
		{"new2", "DELIVRD", message.StateDelivered},
	}
	for _, tc := range tests {
		res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: tc.id, Stat: tc.stat})[0]
		if res.Outcome != ledger.OutcomeMatched || res.MessageID != m.ID {
			t.Fatalf("%s: %+v", tc.id, res)
		}
		if st := e.state(m); st != tc.want {
			t.Fatalf("%s: state %s, want %s", tc.id, st, tc.want)
		}
	}
	if got := e.unknownIDs(e.clock.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("left to reconcile: %v", got)
	}
	// The trace keeps the old part (negative seq) and both new ones.
	es, err := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: m.Recipient, EventID: m.EventID})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, x := range es {
		if x.Kind == ledger.TracePart && x.MessageID == m.ID {
			seqs = append(seqs, x.Seq)
		}
	}
	slices.Sort(seqs)
	if !slices.Equal(seqs, []int{-1, 0, 1}) {
		t.Fatalf("part seqs %v", seqs)
	}
}

// testReconcilePending: a receipt that came while its message was still
// sending (kept as pending: the id was not recorded yet) settles the
// message once it becomes unknown, so it is not resent.
func testReconcilePending(t *testing.T, e *env) {
	tests := []struct {
		name    string
		unknown func(m *message.Message)
	}{
		{"recover", func(*message.Message) {
			if _, err := e.s.Recover(e.ctx, "a", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"transition", func(m *message.Message) {
			if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: m.ID, State: message.StateUnknown, Reason: "no response"}}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := longMsg("ev-pend", "r", i)
			e.insert(m)
			e.claim(1, "a")
			res := e.receipts(
				ledger.Receipt{Carrier: "cmcc", MessageID: fmt.Sprint("x", i), Stat: "ACCEPTD", Recipient: m.Recipient, Text: "??????????12345"},
				ledger.Receipt{Carrier: "cmcc", MessageID: fmt.Sprint("x", i), Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????12345"},
				ledger.Receipt{Carrier: "cmcc", MessageID: fmt.Sprint("y", i), Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????????????"})
			for _, r := range res {
				if r.Outcome != ledger.OutcomePending {
					t.Fatalf("receipt while sending: %+v", r)
				}
			}
			tc.unknown(m)
			if st := e.state(m); st != message.StateDelivered {
				t.Fatalf("state %s, want delivered", st)
			}
			sum, err := e.s.Summary(e.ctx)
			if err != nil || sum.Pending != 0 {
				t.Fatalf("pending receipts left %d %v", sum.Pending, err)
			}
		})
	}
	// Two messages with one text to one phone: while a is sending, b is
	// not claimed (one per recipient in flight), so the receipt that comes
	// (pending) can only be a's, and settles a when it becomes unknown.
	a, b := Msg("ev-pend2", "r", 1), Msg("ev-pend3", "r", 1)
	e.insert(a)
	e.claim(1, "a")
	e.insert(b)
	if got := e.claim(1, "b"); len(got) != 0 {
		t.Fatalf("b claimed while a message to the same phone is sending: %v", ids(got))
	}
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "z1", Stat: "DELIVRD", Recipient: a.Recipient, Text: "???12123"})
	if _, err := e.s.Recover(e.ctx, "a", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if st := e.state(a); st != message.StateDelivered {
		t.Fatalf("a %s", st)
	}
	// a settled: b goes out now.
	if got := e.claim(1, "b"); !slices.Equal(ids(got), []int64{b.ID}) {
		t.Fatalf("b not claimed after a settled: %v", ids(got))
	}
}

// testPayload: a long message sent in one message_payload has one carrier
// id; its one receipt settles it.
func testPayload(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claim(1, "a")
	e.submit(m, "pl1")
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "pl1", Stat: "DELIVRD"}); res[0].State != message.StateDelivered {
		t.Fatalf("receipt of a payload message: %+v", res[0])
	}
	if got := e.unknownIDs(e.clock.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("left to reconcile: %v", got)
	}
}

// testReconcilePartFailed: the failure receipt of one part of an unknown
// long message does not settle it while other parts are missing (they may
// never have been submitted): the other part's receipt does, or, when none
// comes, it is resent whole after the grace period.
func testReconcilePartFailed(t *testing.T, e *env) {
	m, n := longMsg("ev", "r", 1), longMsg("ev", "r2", 2)
	e.unknownMsgs(m, n)
	for _, x := range []*message.Message{m, n} {
		res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: fmt.Sprint("f", x.ID), Stat: "UNDELIV", Recipient: x.Recipient, Text: "??????????12345"})[0]
		if res.MessageID != x.ID || res.State != message.StateSubmitted {
			t.Fatalf("failed part of a partly known message: %+v", res)
		}
	}
	// m's other part was accepted: its receipt settles m as failed.
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "m2", Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????????????"})[0]
	if res.MessageID != m.ID || res.State != message.StateFailed {
		t.Fatalf("last part: %+v", res)
	}
	// n's never was: resent after the grace period.
	e.clock.Add(time.Minute)
	if got := e.unknownIDs(e.clock.Now()); !slices.Equal(got, []int64{n.ID}) {
		t.Fatalf("to reconcile %v, want %v", got, []int64{n.ID})
	}
	if r, err := e.s.Requeue(e.ctx, []int64{n.ID}, 1, e.clock.Now()); err != nil || r.Requeued != 1 {
		t.Fatalf("requeue = %+v %v", r, err)
	}
	if got := e.claim(5, "a"); len(got) != 1 || got[0].ID != n.ID {
		t.Fatalf("resend claim %v", ids(got))
	}
	e.submit(n, "n1", "n2")
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "n1", Stat: "DELIVRD"}, ledger.Receipt{Carrier: "cmcc", MessageID: "n2", Stat: "DELIVRD"})
	if st := e.state(n); st != message.StateDelivered {
		t.Fatalf("resent n %s", st)
	}
}

// testClaimWaitsForCandidate: while a message to a phone may still take a
// receipt by reconciliation (here: requeued after an unknown outcome, the
// receipt of its first send may yet come), no other message to that phone
// is claimed — a receipt of the other, were it interrupted too, could not
// be told from the first's. The oldest requeued one goes first.
func testClaimWaitsForCandidate(t *testing.T, e *env) {
	a := Msg("ev-a", "r", 1)
	c := Msg("ev-c", "r2", 1) // same phone, other text
	e.unknownMsgs(a, c)
	res, err := e.s.Requeue(e.ctx, []int64{a.ID, c.ID}, 3, e.clock.Now().Add(time.Minute))
	if err != nil || res.Requeued != 2 {
		t.Fatalf("requeue = %+v, %v", res, err)
	}
	b := Msg("ev-b", "r", 1) // a fresh message to the same phone, due now
	other := Msg("ev-b", "r", 2)
	e.insert(b, other)
	if got := e.claim(10, "a"); !slices.Equal(ids(got), []int64{other.ID}) {
		t.Fatalf("claimed %v, want only %d: the phone's requeued messages are not due yet", ids(got), other.ID)
	}
	e.clock.Add(2 * time.Minute)
	if got := e.claim(10, "a"); !slices.Equal(ids(got), []int64{a.ID}) {
		t.Fatalf("claimed %v, want the oldest requeued %d alone", ids(got), a.ID)
	}
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: a.ID, Carrier: a.Carrier, CarrierIDs: []string{"cand-a"}, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := e.claim(10, "a"); !slices.Equal(ids(got), []int64{c.ID}) {
		t.Fatalf("claimed %v, want the other requeued %d", ids(got), c.ID)
	}
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: c.ID, Carrier: c.Carrier, CarrierIDs: []string{"cand-c"}, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if got := e.claim(10, "a"); !slices.Equal(ids(got), []int64{b.ID}) {
		t.Fatalf("claimed %v, want the fresh %d once no candidate is left", ids(got), b.ID)
	}
}

// receiptsTraced counts the receipts trace shows for phone.
func (e *env) receiptsTraced(phone string) int {
	e.t.Helper()
	es, err := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: phone})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, x := range es {
		if x.Kind == ledger.TraceReceipt {
			n++
		}
	}
	return n
}
