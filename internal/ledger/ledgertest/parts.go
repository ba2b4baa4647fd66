package ledgertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// partTests are the conformance tests of the per-part model (issue 12):
// a long message's parts each have their outcome; a message with an
// accepted part is never failed nor resent whole; receipts settle by id.
var partTests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"PartsMissingResentUnderRef", testPartsResent},
	{"PartsPartialKeepsIDs", testPartsPartial},
	{"PartsUnknownKeepsIDs", testPartsUnknownKeepsIDs},
	{"PartsReusedCarrierIDs", testPartsReusedIDs},
	{"PartsNoReceipt", testPartsNoReceipt},
	{"PartsUnknownSettledByRecipient", testPartsSettledByRecipient},
	{"PartsLateRefusal", testPartsLateRefusal},
	{"PartsReusedIDInOneBatch", testPartsReusedIDInOneBatch},
	{"PartsTextReceiptTakesUnknownPart", testPartsTextReceiptUnknownPart},
	{"PartsReconciledAfterCrashNotResent", testPartsReconciledAfterCrash},
	{"PartsSettledByRecipientResendsNotSent", testPartsSettledByRecipientNotSent},
	{"PartsReusedIDSameStat", testPartsReusedIDSameStat},
	{"PendingDuplicateCountedOnce", testPendingDuplicateOnce},
}

// threeParts is a three-segment message to recipient i.
func threeParts(ev string, i int) *message.Message {
	m := longMsg(ev, "r", i)
	m.Segments = 3
	return m
}

func (e *env) send(sub ledger.Submission) {
	e.t.Helper()
	if sub.At.IsZero() {
		sub.At = e.clock.Now()
	}
	if err := e.s.Submitted(e.ctx, []ledger.Submission{sub}); err != nil {
		e.t.Fatalf("submitted: %v", err)
	}
}

func (e *env) claimOne(m *message.Message) *message.Message {
	e.t.Helper()
	got := e.claim(10, "a")
	for _, g := range got {
		if g.ID == m.ID {
			return g
		}
	}
	e.t.Fatalf("claim %v: message %d not among them", ids(got), m.ID)
	return nil
}

// testPartsResent: part 1 accepted, parts 2 and 3 throttled: the message
// waits in the queue with its accepted id and reference; its receipt
// settles by id meanwhile; the resend of the missing parts completes it.
func testPartsResent(t *testing.T, e *env) {
	m := threeParts("ev", 1)
	e.insert(m)
	e.claimOne(m)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"0A1", "", ""}, Ref: 42, HasRef: true,
		Outcomes: []string{"accepted", "refused 0x00000058", "not_sent"},
		State:    message.StateQueued, Reason: "parts 2, 3 not accepted", NotBefore: e.clock.Now().Add(time.Second)})
	if st := e.state(m); st != message.StateQueued {
		t.Fatalf("state %s, want queued", st)
	}
	// The accepted part's receipt (empty text) settles by id.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "a1", Stat: "DELIVRD"}); res[0].Outcome != ledger.OutcomeMatched || res[0].MessageID != m.ID || res[0].Changed {
		t.Fatalf("receipt of the accepted part: %+v", res[0])
	}
	// Another message to the phone waits until the missing parts went:
	// it could get the same 8-bit reference.
	other := Msg("ev2", "r", 1)
	e.insert(other)
	if got := e.claim(10, "a"); len(got) != 0 {
		t.Fatalf("claimed %v while a message to that phone waits to resend parts", ids(got))
	}
	e.clock.Add(2 * time.Second)
	g := e.claimOne(m)
	if got := e.claim(10, "a"); len(got) != 0 {
		t.Fatalf("claimed %v while the resend is in flight", ids(got))
	}
	if !slices.Equal(g.CarrierIDs, []string{"a1", "", ""}) || !g.HasConcatRef || g.ConcatRef != 42 {
		t.Fatalf("claimed again with ids %q ref %d/%v; want the accepted id and ref 42", g.CarrierIDs, g.ConcatRef, g.HasConcatRef)
	}
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"a1", "b2", "c3"}, Ref: 42, HasRef: true})
	if st := e.state(m); st != message.StateSubmitted {
		t.Fatalf("state %s after the missing parts, want submitted", st)
	}
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "b2", Stat: "DELIVRD"}, ledger.Receipt{Carrier: "cmcc", MessageID: "c3", Stat: "DELIVRD"})
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("state %s, want delivered", st)
	}
	if got := e.claim(10, "a"); len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("claim after the resend: %v, want %d", ids(got), other.ID)
	}
}

// testPartsPartial: a permanent refusal after a part went out ends the
// message partial (never failed, also through Transition), and the
// accepted part's receipt still finds it.
func testPartsPartial(t *testing.T, e *env) {
	m, n := threeParts("ev", 1), threeParts("ev", 2)
	e.insert(m, n)
	e.claim(10, "a")
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"x1", "", ""}, Ref: 1, HasRef: true,
		State: message.StateFailed, Reason: "part 2 refused"})
	if st := e.state(m); st != message.StatePartial {
		t.Fatalf("state %s, want partial", st)
	}
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "x1", Stat: "DELIVRD"})
	if res[0].Outcome != ledger.OutcomeMatched || res[0].MessageID != m.ID || res[0].Changed {
		t.Fatalf("receipt of a partial message's part: %+v", res[0])
	}
	// n: part 1 accepted, the rest to be resent; then the sender gives up.
	e.send(ledger.Submission{ID: n.ID, Carrier: "cmcc", CarrierIDs: []string{"y1", "", ""}, State: message.StateQueued, NotBefore: e.clock.Now()})
	if err := e.s.Transition(e.ctx, []ledger.Transition{{ID: n.ID, State: message.StateFailed, Reason: "attempts exhausted"}}); err != nil {
		t.Fatal(err)
	}
	if st := e.state(n); st != message.StatePartial {
		t.Fatalf("failed with a part on the handset: %s, want partial", st)
	}
	// The status topic and trace show partial, with the reason.
	changes, err := e.s.PendingStatus(e.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	published := map[int64]string{}
	for _, c := range changes {
		if c.State == message.StatePartial {
			published[c.MessageID] = c.Reason
		}
	}
	if published[m.ID] != "part 2 refused" || published[n.ID] != "attempts exhausted" {
		t.Fatalf("partial status changes %v, want both messages with their reasons", published)
	}
	traced := map[int64]string{}
	entries, err := e.s.Trace(e.ctx, ledger.TraceQuery{EventID: "ev"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range entries {
		if x.State == message.StatePartial {
			traced[x.MessageID] = x.Reason
		}
	}
	if traced[m.ID] != "part 2 refused" || traced[n.ID] != "attempts exhausted" {
		t.Fatalf("partial in trace %v, want both messages with their reasons", traced)
	}
}

// testPartsUnknownKeepsIDs: one part accepted, one unknown: the accepted
// id is kept and its receipt (empty text) settles it without declaring
// the message submitted; the late response of the other part, whose
// receipt came first, completes it.
func testPartsUnknownKeepsIDs(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.clock.Add(time.Second)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"k1", ""}, State: message.StateUnknown, Reason: "timeout"})
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "k1", Stat: "DELIVRD", Recipient: m.Recipient}); res[0].Outcome != ledger.OutcomeMatched || res[0].Changed {
		t.Fatalf("receipt of the accepted part: %+v", res[0])
	}
	if st := e.state(m); st != message.StateUnknown {
		t.Fatalf("state %s, want unknown (part 2 may not be on the handset)", st)
	}
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "k2", Stat: "DELIVRD", Recipient: m.Recipient}); res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("receipt of the unknown part: %+v", res[0])
	}
	if err := e.s.LateParts(e.ctx, []ledger.LatePart{{ID: m.ID, Carrier: "cmcc", Part: 2, Parts: 2, CarrierID: "0K2"}}); err != nil {
		t.Fatal(err)
	}
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("state %s after the late response, want delivered", st)
	}
}

// testPartsReusedIDs: the SMSC restarts and gives a new message the id an
// older, delivered one had. The new message's receipt, arriving before
// its submit result, never touches the old message; a duplicate of the
// old receipt from before the new message's claim is not applied to it.
func testPartsReusedIDs(t *testing.T, e *env) {
	old, fresh := Msg("ev", "r", 1), Msg("ev", "r", 2)
	e.insert(old)
	e.claimOne(old)
	e.send(ledger.Submission{ID: old.ID, Carrier: "cmcc", CarrierIDs: []string{"1008"}})
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "1008", Stat: "DELIVRD"})
	if st := e.state(old); st != message.StateDelivered {
		t.Fatalf("old %s", st)
	}
	// A duplicate of the old receipt, before the new message is claimed.
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "1008", Stat: "DELIVRD"}); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("duplicate: %+v", res[0])
	}
	e.clock.Add(time.Second)
	e.insert(fresh)
	e.claimOne(fresh)
	e.clock.Add(time.Second)
	// The new message's receipt comes before its submit result.
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "01008", Stat: "UNDELIV"})
	if res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("receipt for the reused id: %+v, want pending", res[0])
	}
	if st := e.state(old); st != message.StateDelivered {
		t.Fatalf("old message flipped to %s by a receipt for a reused id", st)
	}
	e.send(ledger.Submission{ID: fresh.ID, Carrier: "cmcc", CarrierIDs: []string{"1008"}})
	if st := e.state(fresh); st != message.StateFailed {
		t.Fatalf("new message %s, want failed by its UNDELIV receipt", st)
	}
	if st := e.state(old); st != message.StateDelivered {
		t.Fatalf("old message %s", st)
	}
}

// testPartsReusedIDSameStat: as testPartsReusedIDs, but the new
// message's receipt has the same stat as the old one's, and a duplicate
// of the old receipt is pending: it must not swallow the new receipt
// (duplicates are per part, not per id and stat). Once with bare
// receipts (nothing tells them apart but when they came), once with the
// handsets and done dates an SMSC writes.
func testPartsReusedIDSameStat(t *testing.T, e *env) {
	for i, full := range []bool{false, true} {
		old, fresh := Msg("ev-same", "r", 2*i+1), Msg("ev-same", "r", 2*i+2)
		id := fmt.Sprintf("%d008", i+1)
		rc := func(m *message.Message, done time.Time) ledger.Receipt {
			r := ledger.Receipt{Carrier: "cmcc", MessageID: id, Stat: "DELIVRD"}
			if full {
				r.Recipient, r.Done, r.Err = m.Recipient, done, "000"
			}
			return r
		}
		e.insert(old)
		e.claimOne(old)
		e.send(ledger.Submission{ID: old.ID, Carrier: "cmcc", CarrierIDs: []string{id}})
		oldReceipt := rc(old, e.clock.Now())
		e.receipts(oldReceipt)
		if st := e.state(old); st != message.StateDelivered {
			t.Fatalf("old %s", st)
		}
		if res := e.receipts(oldReceipt); res[0].Outcome != ledger.OutcomeDuplicate {
			t.Fatalf("duplicate of the old receipt: %+v", res[0])
		}
		e.clock.Add(time.Minute)
		e.insert(fresh)
		e.claimOne(fresh)
		e.clock.Add(time.Minute)
		// The new message's receipt, DELIVRD like the old one's, comes
		// before its submit result.
		res := e.receipts(rc(fresh, e.clock.Now()))
		if res[0].Outcome == ledger.OutcomeMatched {
			t.Fatalf("receipt for the reused id matched a part: %+v", res[0])
		}
		e.send(ledger.Submission{ID: fresh.ID, Carrier: "cmcc", CarrierIDs: []string{id}})
		if st := e.state(fresh); st != message.StateDelivered {
			t.Fatalf("receipts with recipients %v: new message %s, want delivered by its pending receipt", full, st)
		}
		if st := e.state(old); st != message.StateDelivered {
			t.Fatalf("old message %s", st)
		}
		e.clock.Add(time.Minute)
	}
}

// testPendingDuplicateOnce: a receipt that comes twice before its part is
// known is counted once: the copy is a duplicate, the part takes one
// receipt, and a third copy after it is a duplicate too.
func testPendingDuplicateOnce(t *testing.T, e *env) {
	m := Msg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.clock.Add(time.Second)
	r := ledger.Receipt{Carrier: "cmcc", MessageID: "d1", Stat: "UNDELIV", Err: "001", Recipient: m.Recipient, Done: e.clock.Now()}
	res := e.receipts(r, r)
	if res[0].Outcome != ledger.OutcomePending || res[1].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("before the part: %+v", res)
	}
	e.clock.Add(time.Second)
	if res := e.receipts(r); res[0].Outcome != ledger.OutcomeDuplicate {
		t.Fatalf("later copy before the part: %+v", res[0])
	}
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"d1"}})
	if st := e.state(m); st != message.StateFailed {
		t.Fatalf("state %s, want failed", st)
	}
	if res := e.receipts(r); res[0].Outcome != ledger.OutcomeDuplicate || res[0].Changed {
		t.Fatalf("copy after the part: %+v", res[0])
	}
	if n := e.receiptsTraced(m.Recipient); n != 1 {
		t.Fatalf("%d receipts recorded, want 1", n)
	}
}

// testPartsNoReceipt: a submitted message without a receipt after its
// validity plus grace ends no_receipt, visible in the status outbox.
func testPartsNoReceipt(t *testing.T, e *env) {
	m, n := Msg("ev", "r", 1), Msg("ev", "r", 2)
	e.insert(m, n)
	e.claim(10, "a")
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"m1"}})
	e.send(ledger.Submission{ID: n.ID, Carrier: "cmcc", CarrierIDs: []string{"n1"}})
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "n1", Stat: "DELIVRD"})
	if c, err := e.s.NoReceipt(e.ctx, e.clock.Now().Add(time.Hour), time.Hour, time.Minute, 100); err != nil || c != 0 {
		t.Fatalf("before the deadline: %d %v", c, err)
	}
	c, err := e.s.NoReceipt(e.ctx, e.clock.Now().Add(time.Hour+2*time.Minute), time.Hour, time.Minute, 100)
	if err != nil || c != 1 {
		t.Fatalf("after the deadline: %d %v", c, err)
	}
	if st := e.state(m); st != message.StateNoReceipt {
		t.Fatalf("state %s, want no_receipt", st)
	}
	if st := e.state(n); st != message.StateDelivered {
		t.Fatalf("delivered message %s", st)
	}
	sc, err := e.s.PendingStatus(e.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if last := sc[len(sc)-1]; last.MessageID != m.ID || last.State != message.StateNoReceipt || last.Reason != ledger.ReasonNoReceipt {
		t.Fatalf("last status change %+v", last)
	}
}

// testPartsSettledByRecipient: a part's response is lost (no late one)
// and its receipt has no text; before resending it, the reconciler finds
// the receipt the handset sent since the claim under an id no part has,
// and takes it for that part instead of resending (a duplicate).
func testPartsSettledByRecipient(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.clock.Add(time.Second)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"s1", ""}, State: message.StateUnknown, Reason: "timeout"})
	// Another phone's unmatched receipt and a stale one from before the
	// claim must not count.
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "other", Stat: "DELIVRD", Recipient: "13900000000"})
	if res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "s2", Stat: "DELIVRD", Recipient: m.Recipient}); res[0].Outcome != ledger.OutcomePending {
		t.Fatalf("receipt of the lost part: %+v", res[0])
	}
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "s1", Stat: "DELIVRD", Recipient: m.Recipient})
	e.clock.Add(time.Minute)
	res, err := e.s.Requeue(e.ctx, []int64{m.ID}, 1, e.clock.Now())
	if err != nil || res.Requeued != 0 || res.Failed != 0 {
		t.Fatalf("requeue = %+v %v; want it settled, not resent", res, err)
	}
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("state %s, want delivered", st)
	}
}

// testPartsLateRefusal: the part reported unknown was refused after all
// (a late 0x58): it is not on the handset, so the message goes back to
// the queue at once to resend it, keeping the accepted part's id.
func testPartsLateRefusal(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"r1", ""}, Ref: 9, HasRef: true,
		Outcomes: []string{"accepted", "unknown"}, State: message.StateUnknown, Reason: "timeout"})
	if err := e.s.LateParts(e.ctx, []ledger.LatePart{{ID: m.ID, Carrier: "cmcc", Part: 2, Parts: 2, Refused: true}}); err != nil {
		t.Fatal(err)
	}
	if st := e.state(m); st != message.StateQueued {
		t.Fatalf("state %s after a late refusal, want queued", st)
	}
	g := e.claimOne(m)
	if !slices.Equal(g.CarrierIDs, []string{"r1", ""}) || !g.HasConcatRef || g.ConcatRef != 9 {
		t.Fatalf("claimed with ids %q ref %d/%v", g.CarrierIDs, g.ConcatRef, g.HasConcatRef)
	}
}

// testPartsReusedIDInOneBatch: an SMSC that restarted gives two messages
// whose results are recorded together the same id; the batch is stored
// (the later one holds the id) instead of failing whole.
func testPartsReusedIDInOneBatch(t *testing.T, e *env) {
	a, b := Msg("ev", "r", 1), Msg("ev", "r", 2)
	e.insert(a, b)
	e.claim(10, "a")
	if err := e.s.Submitted(e.ctx, []ledger.Submission{
		{ID: a.ID, Carrier: "cmcc", CarrierIDs: []string{"77"}, At: e.clock.Now()},
		{ID: b.ID, Carrier: "cmcc", CarrierIDs: []string{"077"}, At: e.clock.Now()},
	}); err != nil {
		t.Fatalf("submitted: %v", err)
	}
	if sa, sb := e.state(a), e.state(b); sa != message.StateSubmitted || sb != message.StateSubmitted {
		t.Fatalf("states %s %s", sa, sb)
	}
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "77", Stat: "DELIVRD"})
	if res[0].MessageID != b.ID {
		t.Fatalf("receipt went to %d, want the later submission %d", res[0].MessageID, b.ID)
	}
}

// testPartsTextReceiptUnknownPart: part 1's outcome is unknown, part 2
// was never sent. A receipt matched by text is part 1's: it does not make
// the message submitted (part 2 is not on the handset), and the resend
// sends part 2 only.
func testPartsTextReceiptUnknownPart(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"", ""}, Ref: 5, HasRef: true,
		Outcomes: []string{"unknown", "not_sent"}, State: message.StateUnknown, Reason: "timeout"})
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "t1", Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????12345"})
	if res[0].Outcome != ledger.OutcomeMatched || !res[0].Reconciled || res[0].Changed {
		t.Fatalf("receipt by text: %+v; want it matched to part 1, the message still unknown", res[0])
	}
	if st := e.state(m); st != message.StateUnknown {
		t.Fatalf("state %s, want unknown (part 2 was never sent)", st)
	}
	e.clock.Add(time.Minute)
	if r, err := e.s.Requeue(e.ctx, []int64{m.ID}, 1, e.clock.Now()); err != nil || r.Requeued != 1 {
		t.Fatalf("requeue %+v %v", r, err)
	}
	g := e.claimOne(m)
	if !slices.Equal(g.CarrierIDs, []string{"t1", ""}) || g.ConcatRef != 5 {
		t.Fatalf("resend with ids %q ref %d; want part 2 only, ref 5", g.CarrierIDs, g.ConcatRef)
	}
}

// testPartsReconciledAfterCrash: the process died between the parts of a
// long message (no submit result); a receipt reconciles part 1 by text.
// The resend's claim names part 1's id, so only part 2 goes again.
func testPartsReconciledAfterCrash(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.unknownMsgs(m)
	res := e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "c1", Stat: "DELIVRD", Recipient: m.Recipient, Text: "??????????12345"})
	if !res[0].Reconciled {
		t.Fatalf("receipt: %+v", res[0])
	}
	e.clock.Add(time.Minute)
	if r, err := e.s.Requeue(e.ctx, []int64{m.ID}, 1, e.clock.Now()); err != nil || r.Requeued != 1 {
		t.Fatalf("requeue %+v %v", r, err)
	}
	g := e.claimOne(m)
	if !slices.Equal(g.CarrierIDs, []string{"c1", ""}) {
		t.Fatalf("resend claimed with ids %q; want part 1's id and part 2 to send", g.CarrierIDs)
	}
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"c1", "c2"}})
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "c2", Stat: "DELIVRD"})
	if st := e.state(m); st != message.StateDelivered {
		t.Fatalf("state %s, want delivered (part 1's receipt kept)", st)
	}
}

// testPartsSettledByRecipientNotSent: part 1 was not sent, part 2's
// outcome is unknown and its receipt (no text) came under an id no part
// has. Before resending, that receipt fills part 2; only part 1 goes.
func testPartsSettledByRecipientNotSent(t *testing.T, e *env) {
	m := longMsg("ev", "r", 1)
	e.insert(m)
	e.claimOne(m)
	e.clock.Add(time.Second)
	e.send(ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"", ""}, Ref: 3, HasRef: true,
		Outcomes: []string{"not_sent", "unknown"}, State: message.StateUnknown, Reason: "canceled"})
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "u2", Stat: "DELIVRD", Recipient: m.Recipient})
	e.clock.Add(time.Minute)
	if r, err := e.s.Requeue(e.ctx, []int64{m.ID}, 1, e.clock.Now()); err != nil || r.Requeued != 0 || r.Failed != 0 {
		t.Fatalf("requeue %+v %v", r, err)
	}
	g := e.claimOne(m)
	if !slices.Equal(g.CarrierIDs, []string{"", "u2"}) {
		t.Fatalf("claimed with ids %q; want part 2 settled, part 1 to send", g.CarrierIDs)
	}
}
