package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// callTests are the conformance tests of ledger.CallStore.
var callTests = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"CallsInsert", testCallsInsert},
	{"CallsArm", testCallsArm},
	{"CallsCancel", testCallsCancel},
	{"CallsHeldVoiceOnly", testCallsHeldVoiceOnly},
	{"CallsClaim", testCallsClaim},
	{"CallsClaimConcurrent", testCallsClaimConcurrent},
	{"CallsDial", testCallsDial},
	{"CallsRetry", testCallsRetry},
	{"CallsReleaseAndStale", testCallsStale},
	{"CallsTrace", testCallsTrace},
	{"CallsSummaryAndPrune", testCallsPrune},
}

func callStore(t *testing.T, e *env) ledger.CallStore {
	t.Helper()
	cs, ok := e.s.(ledger.CallStore)
	if !ok {
		t.Fatalf("%T does not implement ledger.CallStore", e.s)
	}
	return cs
}

// VoiceMsg is Msg with a voice fallback after fallback.
func VoiceMsg(ev, rule string, i int, fallback time.Duration) *message.Message {
	m := Msg(ev, rule, i)
	m.Voice = &message.Voice{FallbackAfter: fallback}
	return m
}

// VoiceOnlyMsg is Msg of a voice-only rule: suppressed with
// message.ReasonVoiceOnly, its call due at the message's NotBefore.
func VoiceOnlyMsg(ev, rule string, i int) *message.Message {
	m := Msg(ev, rule, i)
	m.State, m.Reason = message.StateSuppressed, message.ReasonVoiceOnly
	m.Voice = &message.Voice{Only: true}
	return m
}

// callsOf returns the calls of ms.
func (e *env) callsOf(cs ledger.CallStore, ms ...*message.Message) []*ledger.Call {
	e.t.Helper()
	got, err := cs.Calls(e.ctx, ids(ms))
	if err != nil {
		e.t.Fatalf("calls: %v", err)
	}
	return got
}

// call returns the call of m, nil when it has none (and fails with more).
func (e *env) call(cs ledger.CallStore, m *message.Message) *ledger.Call {
	e.t.Helper()
	got := e.callsOf(cs, m)
	switch len(got) {
	case 0:
		return nil
	case 1:
		return got[0]
	}
	e.t.Fatalf("message %d has %d calls", m.ID, len(got))
	return nil
}

// callState returns the state and reason of m's call ("" for none).
func (e *env) callState(cs ledger.CallStore, m *message.Message) string {
	e.t.Helper()
	c := e.call(cs, m)
	if c == nil {
		return ""
	}
	if c.Reason == "" {
		return string(c.State)
	}
	return string(c.State) + "(" + c.Reason + ")"
}

func (e *env) claimCalls(cs ledger.CallStore, limit int, owner string) []*ledger.Call {
	e.t.Helper()
	got, err := cs.ClaimCalls(e.ctx, e.clock.Now(), limit, owner)
	if err != nil {
		e.t.Fatalf("claim calls: %v", err)
	}
	return got
}

func (e *env) armCalls(cs ledger.CallStore) ledger.ArmResult {
	e.t.Helper()
	res, err := cs.ArmCalls(e.ctx, e.clock.Now())
	if err != nil {
		e.t.Fatalf("arm calls: %v", err)
	}
	return res
}

func callIDs(cs []*ledger.Call) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// voiceChanges returns the pending status changes of the voice channel
// as "call:state(reason)", checking that each names its message.
func (e *env) voiceChanges(ms ...*message.Message) []string {
	e.t.Helper()
	byID := map[int64]*message.Message{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	cs, err := e.s.PendingStatus(e.ctx, 1000)
	if err != nil {
		e.t.Fatalf("pending status: %v", err)
	}
	var out []string
	for _, c := range cs {
		switch c.Channel {
		case ledger.ChannelSMS:
			if c.CallID != 0 {
				e.t.Fatalf("sms change with a call id: %+v", c)
			}
			continue
		case ledger.ChannelVoice:
		default:
			e.t.Fatalf("change with channel %q: %+v", c.Channel, c)
		}
		m := byID[c.MessageID]
		if m == nil || c.CallID == 0 || c.Key != m.Key || c.EventID != m.EventID || c.RuleID != m.RuleID ||
			c.Recipient != m.Recipient || c.Carrier != "" {
			e.t.Fatalf("voice change %+v does not name its message and call", c)
		}
		s := fmt.Sprintf("%d:%s", c.CallID, c.State)
		if c.Reason != "" {
			s += "(" + c.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

// testCallsInsert: a fallback plan makes an armed call, a voice-only one a
// call queued for the message's NotBefore, both with the message's
// identity and the plan; a plan on a message policy suppressed makes
// none, and a duplicate message nothing.
func testCallsInsert(t *testing.T, e *env) {
	cs := callStore(t, e)
	fb := VoiceMsg("ev", "r", 1, 10*time.Minute)
	fb.Urgent, fb.Priority, fb.ExpiresAt = true, 5, T0.Add(24*time.Hour)
	fb.Voice.Say = []message.SayItem{{Kind: "text", Value: "您的车辆"}, {Kind: "plate", Value: "京A12345"}}
	only := VoiceOnlyMsg("ev", "v", 2)
	only.NotBefore = T0.Add(time.Hour)
	optedOut := VoiceMsg("ev", "r", 3, time.Minute)
	optedOut.State, optedOut.Reason = message.StateSuppressed, "opted out"
	onlyCapped := VoiceOnlyMsg("ev", "v", 4)
	onlyCapped.Reason = "weekly cap"
	plain := Msg("ev", "r", 5)
	e.insert(fb, only, optedOut, onlyCapped, plain)

	got := e.callsOf(cs, fb, only, optedOut, onlyCapped, plain)
	if len(got) != 2 {
		t.Fatalf("%d calls, want 2 (fallback, voice only): %+v", len(got), got)
	}
	c := got[0]
	if c.ID == 0 || c.MessageID != fb.ID || c.Key != fb.Key || c.EventID != "ev" || c.RuleID != "r" || c.Entity != fb.Entity ||
		c.Recipient != fb.Recipient || c.Text != fb.Text || !slices.Equal(c.Say, fb.Voice.Say) || !c.Urgent || c.Priority != 5 ||
		c.State != ledger.CallArmed || c.Reason != "" || c.Attempts != 0 || c.FallbackAfter != 10*time.Minute ||
		!c.ExpiresAt.Equal(fb.ExpiresAt) || !c.CreatedAt.Equal(T0) || !c.UpdatedAt.Equal(T0) || c.Owner != "" || c.SIPCallID != "" {
		t.Errorf("fallback call %+v", c)
	}
	c = got[1]
	if c.MessageID != only.ID || c.State != ledger.CallQueued || c.Reason != message.ReasonVoiceOnly ||
		!c.NotBefore.Equal(T0.Add(time.Hour)) || c.Say != nil || c.Text != only.Text || c.ExpiresAt != (time.Time{}) {
		t.Errorf("voice-only call %+v", c)
	}
	if want := []string{fmt.Sprintf("%d:armed", got[0].ID), fmt.Sprintf("%d:queued(voice_only)", got[1].ID)}; !slices.Equal(e.voiceChanges(fb, only), want) {
		t.Errorf("voice status changes %q, want %q", e.voiceChanges(fb, only), want)
	}

	// Redelivered: nothing new. A new message twice in one batch: one call.
	e.clock.Add(time.Minute)
	again, again2 := VoiceMsg("ev", "r", 1, time.Minute), VoiceOnlyMsg("ev", "v", 2)
	twice1, twice2 := VoiceMsg("ev2", "r", 6, time.Minute), VoiceMsg("ev2", "r", 6, time.Minute)
	e.insert(again, again2, twice1, twice2)
	if again.ID != fb.ID || again2.ID != only.ID || twice1.ID != twice2.ID {
		t.Fatalf("duplicates got ids %d %d %d %d", again.ID, again2.ID, twice1.ID, twice2.ID)
	}
	got = e.callsOf(cs, fb, only, twice1)
	if len(got) != 3 || got[0].State != ledger.CallArmed || !got[0].UpdatedAt.Equal(T0) || got[1].State != ledger.CallQueued ||
		got[2].MessageID != twice1.ID {
		t.Fatalf("calls after duplicates: %+v", got)
	}
	if n := len(e.voiceChanges(fb, only, twice1)); n != 3 {
		t.Fatalf("%d voice status changes, want 3", n)
	}
}

// testCallsArm: armed calls are queued when their SMS ends badly (at
// once) or is not delivered within FallbackAfter of its submission (not
// before), and cancelled when it is delivered or cancelled; a held SMS
// keeps its call armed.
func testCallsArm(t *testing.T, e *env) {
	cs := callStore(t, e)
	fb := 10 * time.Minute
	failed, partial, noRcpt, delivered, late := VoiceMsg("ev", "r", 1, fb), VoiceMsg("ev", "r", 2, fb),
		VoiceMsg("ev", "r", 3, fb), VoiceMsg("ev", "r", 4, fb), VoiceMsg("ev", "r", 5, fb)
	partial.Segments = 2
	expiring := VoiceMsg("ev", "r", 6, fb)
	expiring.State, expiring.NotBefore, expiring.ExpiresAt = message.StateScheduled, T0.Add(time.Hour), T0.Add(30*time.Minute)
	cancelled := VoiceMsg("ev", "r", 7, fb)
	cancelled.State, cancelled.NotBefore, cancelled.CancelKey = message.StateScheduled, T0.Add(time.Hour), "ck"
	held := VoiceMsg("ev", "r", 8, fb)
	held.State, held.Reason = message.StateHeld, "audience too large"
	all := []*message.Message{failed, partial, noRcpt, delivered, late, expiring, cancelled, held}
	e.insert(all...)
	if c := e.claim(10, "a"); len(c) != 5 {
		t.Fatalf("claimed %v, want the 5 due", ids(c))
	}
	err := e.s.Submitted(e.ctx, []ledger.Submission{
		{ID: failed.ID, Carrier: "cmcc", CarrierIDs: []string{""}, State: message.StateFailed, Reason: "refused 0x00000058", At: T0},
		{ID: partial.ID, Carrier: "cmcc", CarrierIDs: []string{"p1", ""}, State: message.StateFailed, Reason: "refused", At: T0},
		{ID: noRcpt.ID, Carrier: "cmcc", CarrierIDs: []string{"n1"}, At: T0},
		{ID: delivered.ID, Carrier: "cmcc", CarrierIDs: []string{"d1"}, At: T0},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "d1", Stat: "DELIVRD"})
	if n, err := e.s.Cancel(e.ctx, []string{"ck"}, "moot"); err != nil || n != 1 {
		t.Fatalf("cancel: %d %v", n, err)
	}

	// Cancel took the cancelled message's call with it (reason moot).
	if res := e.armCalls(cs); res != (ledger.ArmResult{Queued: 2, Cancelled: 1}) {
		t.Errorf("arm at once: %+v, want 2 queued, 1 cancelled", res)
	}
	states := func() []string {
		var out []string
		for _, m := range all {
			out = append(out, e.callState(cs, m))
		}
		return out
	}
	want := []string{"queued(sms_failed)", "queued(sms_partial)", "armed", "cancelled(sms_delivered)", "armed", "armed",
		"cancelled(moot)", "armed"}
	if got := states(); !slices.Equal(got, want) {
		t.Fatalf("calls after the first arm: %q, want %q", got, want)
	}
	if c := e.call(cs, failed); !c.NotBefore.Equal(T0) || !c.UpdatedAt.Equal(T0) {
		t.Errorf("queued call due %v, updated %v; want now", c.NotBefore, c.UpdatedAt)
	}
	if res := e.armCalls(cs); res != (ledger.ArmResult{}) {
		t.Errorf("arm again: %+v, want nothing", res)
	}

	e.clock.Add(2 * time.Minute)
	if n, err := e.s.NoReceipt(e.ctx, e.clock.Now(), time.Minute, 0, 10); err != nil || n != 1 {
		t.Fatalf("no receipt: %d %v", n, err)
	}
	e.submit(late, "l1") // submitted at T0+2m: its call is due at T0+12m
	if res := e.armCalls(cs); res != (ledger.ArmResult{Queued: 1}) {
		t.Errorf("arm after no receipt: %+v", res)
	}
	want[2] = "queued(sms_no_receipt)"
	if got := states(); !slices.Equal(got, want) {
		t.Fatalf("calls: %q, want %q", got, want)
	}

	e.clock.Set(T0.Add(12*time.Minute - time.Nanosecond))
	if res := e.armCalls(cs); res != (ledger.ArmResult{}) {
		t.Errorf("arm before the fallback time: %+v", res)
	}
	e.clock.Set(T0.Add(12 * time.Minute))
	if res := e.armCalls(cs); res != (ledger.ArmResult{Queued: 1}) {
		t.Errorf("arm at the fallback time: %+v", res)
	}
	want[4] = "queued(" + ledger.ReasonNoDelivery + ")"
	if got := states(); !slices.Equal(got, want) {
		t.Fatalf("calls: %q, want %q", got, want)
	}

	// The scheduled SMS expires before it went (Claim): its call is
	// queued, and expires in turn (it has the message's expiry).
	e.clock.Set(T0.Add(31 * time.Minute))
	e.claim(10, "a")
	if st := e.state(expiring); st != message.StateExpired {
		t.Fatalf("scheduled message %s, want expired", st)
	}
	if res := e.armCalls(cs); res != (ledger.ArmResult{Queued: 1}) {
		t.Errorf("arm after expiry: %+v", res)
	}
	want[5] = "queued(sms_expired)"
	if got := states(); !slices.Equal(got, want) {
		t.Fatalf("calls: %q, want %q", got, want)
	}
	claimed := e.claimCalls(cs, 10, "v")
	if slices.Contains(callIDs(claimed), e.call(cs, expiring).ID) || e.call(cs, expiring).State != ledger.CallExpired {
		t.Errorf("the call past its expiry: %q, claimed %v", e.callState(cs, expiring), callIDs(claimed))
	}
	if len(claimed) != 4 {
		t.Errorf("claimed %d calls, want the 4 queued", len(claimed))
	}
	// Held: the operator decides; the clock does not call round the hold.
	e.clock.Add(24 * time.Hour)
	e.armCalls(cs)
	if st := e.callState(cs, held); st != "armed" {
		t.Errorf("call of a held SMS: %s, want armed", st)
	}
}

// testCallsCancel: a later event's cancel key cancels the calls of its
// messages that are not dialled yet, whatever the message's state (a
// fallback queued after its SMS failed, a voice-only call); a dialled
// call is left to end.
func testCallsCancel(t *testing.T, e *env) {
	cs := callStore(t, e)
	fb, only, dialled := VoiceMsg("ev", "c", 1, time.Minute), VoiceOnlyMsg("ev", "c", 2), VoiceOnlyMsg("ev", "c", 3)
	other := VoiceOnlyMsg("ev", "c", 4)
	fb.CancelKey, only.CancelKey, dialled.CancelKey, other.CancelKey = "k", "k", "k", "other"
	e.insert(fb, only, dialled, other)
	if c := e.claim(10, "a"); len(c) != 1 {
		t.Fatalf("claimed %v, want the fallback's SMS", ids(c))
	}
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: fb.ID, Carrier: "cmcc", CarrierIDs: []string{""},
		State: message.StateFailed, Reason: "refused", At: T0}}); err != nil {
		t.Fatal(err)
	}
	e.armCalls(cs)
	var dialledCall int64
	for _, c := range e.claimCalls(cs, 10, "v") {
		if c.MessageID == dialled.ID {
			dialledCall = c.ID
		} else if err := cs.ReleaseCalls(e.ctx, []int64{c.ID}, T0); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.BeforeDial(e.ctx, dialledCall, "v", "sip-d", T0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Cancel(e.ctx, []string{"k"}, "moot"); err != nil {
		t.Fatal(err)
	}
	got := []string{e.callState(cs, fb), e.callState(cs, only), e.callState(cs, dialled), e.callState(cs, other)}
	want := []string{"cancelled(moot)", "cancelled(moot)", "dialling", "queued(released)"}
	if !slices.Equal(got, want) {
		t.Fatalf("calls after cancel: %q, want %q", got, want)
	}
	// An inhibition reaches a queued voice-only call by rule and person.
	inh := VoiceOnlyMsg("ev", "lesser", 5)
	e.insert(inh)
	st, ok := e.s.(ledger.StateStore)
	if !ok {
		t.Fatalf("%T keeps no states", e.s)
	}
	if _, err := st.CancelInhibited(e.ctx, []ledger.Inhibition{{Rules: []string{"lesser"}, Recipient: inh.Recipient,
		Reason: "inhibited_by:severe"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.callState(cs, inh); got != "cancelled(inhibited_by:severe)" {
		t.Errorf("inhibited voice-only call: %s", got)
	}
	ch := e.voiceChanges(fb, only, dialled, other, inh)
	for _, m := range []*message.Message{fb, only} {
		if w := fmt.Sprintf("%d:cancelled(moot)", e.call(cs, m).ID); !slices.Contains(ch, w) {
			t.Errorf("status outbox %q has no %s", ch, w)
		}
	}
}

// testCallsHeldVoiceOnly: a voice-only message the content check held
// keeps its call armed; released, the call is queued and the message
// suppressed voice_only (no SMS ever goes); dropped, the call is
// cancelled. A voice-only message counts for dedupe.
func testCallsHeldVoiceOnly(t *testing.T, e *env) {
	cs := callStore(t, e)
	rel, drop := VoiceOnlyMsg("ev", "h", 1), VoiceOnlyMsg("ev", "h", 2)
	for _, m := range []*message.Message{rel, drop} {
		m.State, m.Reason = message.StateHeld, "content_link"
	}
	sent := VoiceOnlyMsg("ev", "h", 3)
	sent.DedupeKey = "h|dedupe"
	e.insert(rel, drop, sent)
	if got := []string{e.callState(cs, rel), e.callState(cs, drop)}; !slices.Equal(got, []string{"armed(voice_only)", "armed(voice_only)"}) {
		t.Fatalf("calls of held voice-only messages: %q", got)
	}
	e.clock.Add(time.Hour)
	if res := e.armCalls(cs); res != (ledger.ArmResult{}) {
		t.Fatalf("arm while held: %+v", res)
	}
	if _, err := e.s.DecideHeld(e.ctx, []int64{rel.ID}, ledger.HeldDecision{Release: true, Who: "op"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.DecideHeld(e.ctx, []int64{drop.ID}, ledger.HeldDecision{Who: "op"}); err != nil {
		t.Fatal(err)
	}
	e.armCalls(cs)
	if st := e.state(rel); st != message.StateSuppressed {
		t.Errorf("released voice-only message %s, want suppressed (voice_only): the SMS must not go", st)
	}
	if c := e.call(cs, rel); c.State != ledger.CallQueued || !c.NotBefore.Equal(e.clock.Now()) {
		t.Errorf("call of the released message %+v, want queued now", c)
	}
	if st := e.callState(cs, drop); !strings.HasPrefix(st, "cancelled") {
		t.Errorf("call of the dropped message %s, want cancelled", st)
	}
	if got := e.claim(10, "a"); len(got) != 0 {
		t.Errorf("SMS claimed for voice-only messages: %v", ids(got))
	}
	seen, err := e.s.RecentDedupe(e.ctx, []string{"h|dedupe"}, T0)
	if err != nil {
		t.Fatal(err)
	}
	if !seen["h|dedupe"] {
		t.Errorf("a voice-only notice does not count for dedupe: the daily sweep would call again")
	}
}

// testCallsClaim: due calls are claimed urgent first, then by priority,
// then by NotBefore, one per recipient and none to a recipient with a
// call claimed or in progress; future calls wait and expired ones end.
func testCallsClaim(t *testing.T, e *env) {
	cs := callStore(t, e)
	urgent, prio, early, future, second, expired := VoiceOnlyMsg("ev", "a", 1), VoiceOnlyMsg("ev", "a", 2),
		VoiceOnlyMsg("ev", "a", 3), VoiceOnlyMsg("ev", "a", 4), VoiceOnlyMsg("ev", "b", 2), VoiceOnlyMsg("ev", "a", 5)
	urgent.Urgent = true
	urgent.NotBefore = T0.Add(time.Minute)
	prio.Priority = 5
	early.NotBefore = T0.Add(-time.Minute)
	future.NotBefore = T0.Add(time.Hour)
	second.Priority, second.NotBefore = 5, T0.Add(time.Second) // same recipient as prio
	expired.ExpiresAt = T0.Add(time.Minute)
	e.insert(urgent, prio, early, future, second, expired)
	if c := e.call(cs, early); c.State != ledger.CallQueued || !c.NotBefore.Equal(T0.Add(-time.Minute)) {
		t.Fatalf("early call %+v, want queued for %v", c, T0.Add(-time.Minute))
	}
	e.clock.Add(2 * time.Minute)
	if got := e.claimCalls(cs, 0, "v1"); len(got) != 0 {
		t.Fatalf("limit 0 claimed %d", len(got))
	}
	got := e.claimCalls(cs, 1, "v1") // the urgent one, though it is due later and of a lower priority
	got = append(got, e.claimCalls(cs, 10, "v1")...)
	want := []int64{e.call(cs, urgent).ID, e.call(cs, prio).ID, e.call(cs, early).ID}
	if !slices.Equal(callIDs(got), want) {
		t.Fatalf("claimed %v, want %v (urgent, priority, earlier)", callIDs(got), want)
	}
	for _, c := range got {
		if c.State != ledger.CallClaimed || c.Owner != "v1" || !c.ClaimedAt.Equal(e.clock.Now()) {
			t.Errorf("claimed call %+v", c)
		}
	}
	if c := e.call(cs, expired); c.State != ledger.CallExpired || c.Reason == "" {
		t.Errorf("call past its expiry: %+v", c)
	}
	if st := e.callState(cs, future); st != "queued(voice_only)" {
		t.Errorf("future call %s", st)
	}
	// prio's recipient has a claimed call: second waits for it.
	if got := e.claimCalls(cs, 10, "v2"); len(got) != 0 {
		t.Fatalf("claimed %v while the recipient's call is claimed", callIDs(got))
	}
	if c := e.call(cs, second); c.State != ledger.CallQueued || !c.NotBefore.Equal(T0.Add(time.Second)) {
		t.Fatalf("waiting call %+v, want queued for %v", c, T0.Add(time.Second))
	}
	// Limit 1 of two due calls to different recipients.
	other := VoiceOnlyMsg("ev", "a", 6)
	e.insert(other)
	if got := e.claimCalls(cs, 1, "v2"); len(got) != 1 || got[0].MessageID != other.ID {
		t.Fatalf("limit 1: claimed %+v", got)
	}
}

// testCallsDial: BeforeDial takes only a call claimed by the caller, once;
// progress and the end apply to the current Call-ID of a call in
// progress only.
func testCallsDial(t *testing.T, e *env) {
	cs := callStore(t, e)
	m := VoiceOnlyMsg("ev", "v", 1)
	e.insert(m)
	id := e.claimCalls(cs, 1, "v1")[0].ID
	at := T0.Add(time.Second)
	if err := cs.BeforeDial(e.ctx, id, "v2", "sip-1", at); !errors.Is(err, ledger.ErrCallNotClaimed) {
		t.Fatalf("before dial by another owner: %v, want ErrCallNotClaimed", err)
	}
	if err := cs.BeforeDial(e.ctx, id, "v1", "sip-1", at); err != nil {
		t.Fatal(err)
	}
	c := e.call(cs, m)
	if c.State != ledger.CallDialling || c.Attempts != 1 || c.SIPCallID != "sip-1" || !c.UpdatedAt.Equal(at) {
		t.Fatalf("dialled call %+v", c)
	}
	if err := cs.BeforeDial(e.ctx, id, "v1", "sip-2", at); !errors.Is(err, ledger.ErrCallNotClaimed) {
		t.Fatalf("second before dial: %v, want ErrCallNotClaimed", err)
	}
	if err := cs.BeforeDial(e.ctx, id+1000, "v1", "sip-2", at); !errors.Is(err, ledger.ErrCallNotClaimed) {
		t.Fatalf("before dial of no call: %v, want ErrCallNotClaimed", err)
	}
	progress := func(sip string, st ledger.CallState) {
		t.Helper()
		if err := cs.CallProgress(e.ctx, id, sip, st, at); err != nil {
			t.Fatalf("progress %s %s: %v", sip, st, err)
		}
	}
	progress("sip-other", ledger.CallRinging)
	if st := e.callState(cs, m); st != "dialling" {
		t.Fatalf("progress of another Call-ID changed the call: %s", st)
	}
	progress("sip-1", ledger.CallRinging)
	if st := e.callState(cs, m); st != "ringing" {
		t.Fatalf("after ringing: %s", st)
	}
	progress("sip-1", ledger.CallAnswered)
	progress("sip-1", ledger.CallRinging) // late: never back
	if st := e.callState(cs, m); st != "answered" {
		t.Fatalf("after answered: %s", st)
	}
	if err := cs.CallProgress(e.ctx, id, "sip-1", ledger.CallConfirmed, at); !errors.Is(err, ledger.ErrBadTransition) {
		t.Fatalf("progress to confirmed: %v, want ErrBadTransition", err)
	}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-1", Outcome: ledger.CallRinging}}); !errors.Is(err, ledger.ErrBadTransition) {
		t.Fatalf("end as ringing: %v, want ErrBadTransition", err)
	}
	end := ledger.CallEnd{ID: id, SIPCallID: "sip-other", Outcome: ledger.CallConfirmed, Reason: "dtmf 1", SIPStatus: 200, At: at.Add(time.Minute)}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{end}); err != nil {
		t.Fatal(err)
	}
	if st := e.callState(cs, m); st != "answered" {
		t.Fatalf("end of another Call-ID changed the call: %s", st)
	}
	end.SIPCallID = "sip-1"
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{end}); err != nil {
		t.Fatal(err)
	}
	c = e.call(cs, m)
	if c.State != ledger.CallConfirmed || c.Reason != "dtmf 1" || c.SIPStatus != 200 || c.Attempts != 1 || !c.UpdatedAt.Equal(end.At) {
		t.Fatalf("confirmed call %+v", c)
	}
	end.Outcome, end.Reason = ledger.CallFailed, "again"
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{end}); err != nil {
		t.Fatal(err)
	}
	if st := e.callState(cs, m); st != "confirmed(dtmf 1)" {
		t.Fatalf("a second end changed the final call: %s", st)
	}
	if got := e.claimCalls(cs, 10, "v1"); len(got) != 0 {
		t.Fatalf("claimed a final call: %+v", got)
	}

	// A claimed call that cannot be spoken ends without a Call-ID; an
	// empty Call-ID never ends a dialled one.
	bad := VoiceOnlyMsg("ev", "v", 2)
	e.insert(bad)
	badID := e.claimCalls(cs, 1, "v1")[0].ID
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, Outcome: ledger.CallFailed, Reason: "bad_notice", At: at}}); err != nil {
		t.Fatal(err)
	}
	if st := e.callState(cs, m); st != "confirmed(dtmf 1)" {
		t.Fatalf("an end without Call-ID changed a dialled call: %s", st)
	}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: badID, Outcome: ledger.CallFailed, Reason: "bad_notice", At: at}}); err != nil {
		t.Fatal(err)
	}
	if c := e.call(cs, bad); c.State != ledger.CallFailed || c.Reason != "bad_notice" || c.Attempts != 0 {
		t.Fatalf("claimed call ended without dialling: %+v", c)
	}
}

// testCallsRetry: an attempt that ends with a retry records its outcome,
// then the call is queued for RetryAt (not claimable before); the old
// attempt's Call-ID no longer changes it; the status outbox has every
// change on the voice channel, in order.
func testCallsRetry(t *testing.T, e *env) {
	cs := callStore(t, e)
	m := VoiceOnlyMsg("ev", "v", 1)
	e.insert(m)
	id := e.claimCalls(cs, 1, "v1")[0].ID
	if err := cs.BeforeDial(e.ctx, id, "v1", "sip-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	retryAt := T0.Add(5 * time.Minute)
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-1", Outcome: ledger.CallBusy, Reason: "486 busy here",
		SIPStatus: 486, At: e.clock.Now(), RetryAt: retryAt}}); err != nil {
		t.Fatal(err)
	}
	c := e.call(cs, m)
	if c.State != ledger.CallQueued || c.Reason != "retry after busy" || !c.NotBefore.Equal(retryAt) || c.Attempts != 1 ||
		c.SIPStatus != 486 || c.Owner != "" {
		t.Fatalf("call after a busy attempt with a retry: %+v", c)
	}
	if got := e.claimCalls(cs, 10, "v1"); len(got) != 0 {
		t.Fatalf("claimed before the retry time: %+v", got)
	}
	if c := e.call(cs, m); !c.NotBefore.Equal(retryAt) {
		t.Fatalf("call due %v, want the retry time %v", c.NotBefore, retryAt)
	}
	// The ended attempt's Call-ID changes nothing any more.
	if err := cs.CallProgress(e.ctx, id, "sip-1", ledger.CallRinging, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(retryAt)
	if got := e.claimCalls(cs, 10, "v2"); len(got) != 1 || got[0].ID != id || got[0].Owner != "v2" {
		t.Fatalf("claim at the retry time: %+v", got)
	}
	if err := cs.BeforeDial(e.ctx, id, "v2", "sip-2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-1", Outcome: ledger.CallFailed, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if c := e.call(cs, m); c.State != ledger.CallDialling || c.Attempts != 2 || c.SIPCallID != "sip-2" {
		t.Fatalf("call after a stale end: %+v", c)
	}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-2", Outcome: ledger.CallNoAnswer, Reason: "timeout",
		SIPStatus: 487, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if st := e.callState(cs, m); st != "no_answer(timeout)" {
		t.Fatalf("after the last attempt: %s", st)
	}
	p := func(s string) string { return fmt.Sprintf("%d:%s", id, s) }
	want := []string{p("queued(voice_only)"), p("claimed"), p("dialling(call_id sip-1)"), p("busy(486 busy here)"), p("queued(retry after busy)"),
		p("claimed"), p("dialling(call_id sip-2)"), p("no_answer(timeout)")}
	if got := e.voiceChanges(m); !slices.Equal(got, want) {
		t.Fatalf("voice status changes\n%q, want\n%q", got, want)
	}
	// The message's own change comes first, on the sms channel.
	all, err := e.s.PendingStatus(e.ctx, 100)
	if err != nil || len(all) != len(want)+1 || all[0].Channel != ledger.ChannelSMS || all[0].State != message.StateSuppressed ||
		all[0].CallID != 0 || all[1].Channel != ledger.ChannelVoice {
		t.Fatalf("pending status %+v %v", all, err)
	}
}

// testCallsStale: StaleCalls lists the owner's claimed and in-progress
// calls, and others' claimed before staleBefore; ReleaseCalls puts only
// claimed calls back in the queue.
func testCallsStale(t *testing.T, e *env) {
	cs := callStore(t, e)
	ms := []*message.Message{VoiceOnlyMsg("ev", "v", 1), VoiceOnlyMsg("ev", "v", 2), VoiceOnlyMsg("ev", "v", 3), VoiceOnlyMsg("ev", "v", 4)}
	e.insert(ms...)
	var id [4]int64
	for i, owner := range []string{"v1", "v2", "v3"} {
		got := e.claimCalls(cs, 1, owner)
		if len(got) != 1 {
			t.Fatalf("claim by %s: %+v", owner, got)
		}
		id[i] = got[0].ID
		e.clock.Add(time.Minute)
	}
	id[3] = e.call(cs, ms[3]).ID // queued
	if err := cs.BeforeDial(e.ctx, id[0], "v1", "sip-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	stale := func(owner string, before time.Time) []int64 {
		t.Helper()
		got, err := cs.StaleCalls(e.ctx, owner, before)
		if err != nil {
			t.Fatal(err)
		}
		return callIDs(got)
	}
	for _, c := range []struct {
		owner  string
		before time.Time
		want   []int64
	}{
		{"v1", time.Time{}, []int64{id[0]}},
		{"v9", time.Time{}, nil},
		{"v9", T0.Add(30 * time.Second), []int64{id[0]}},
		{"v9", T0.Add(90 * time.Second), []int64{id[0], id[1]}},
		{"v3", T0.Add(30 * time.Second), []int64{id[0], id[2]}},
	} {
		if got := stale(c.owner, c.before); !slices.Equal(got, c.want) {
			t.Errorf("stale calls of %s before %v: %v, want %v", c.owner, c.before.Sub(T0), got, c.want)
		}
	}
	due := T0.Add(time.Hour)
	if err := cs.ReleaseCalls(e.ctx, []int64{id[1], id[0], id[3]}, due); err != nil {
		t.Fatal(err)
	}
	got := e.callsOf(cs, ms...)
	if c := got[1]; c.State != ledger.CallQueued || !c.NotBefore.Equal(due) || c.Owner != "" || c.Reason == "" {
		t.Errorf("released call %+v", c)
	}
	if got[0].State != ledger.CallDialling || got[2].State != ledger.CallClaimed || got[3].State != ledger.CallQueued || !got[3].NotBefore.Equal(T0) {
		t.Errorf("release changed a call not claimed: %v %v %v %v", got[0].State, got[2].State, got[3].State, got[3].NotBefore)
	}
	if got := stale("v2", time.Time{}); len(got) != 0 {
		t.Errorf("stale calls of v2 after the release: %v", got)
	}
}

// testCallsTrace: Trace shows a message's call changes after its own, as
// TraceCall entries with the call's id, the attempt and its Call-ID,
// also once the status changes are acknowledged.
func testCallsTrace(t *testing.T, e *env) {
	cs := callStore(t, e)
	m := VoiceMsg("ev", "r", 1, 10*time.Minute)
	e.insert(m)
	e.clock.Add(time.Second)
	e.claim(1, "a")
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{""},
		State: message.StateFailed, Reason: "refused", At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	e.armCalls(cs)
	e.clock.Add(time.Second)
	id := e.claimCalls(cs, 1, "v")[0].ID
	if err := cs.BeforeDial(e.ctx, id, "v", "sip-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-1", Outcome: ledger.CallBusy, At: e.clock.Now(),
		RetryAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	e.claimCalls(cs, 1, "v")
	if err := cs.BeforeDial(e.ctx, id, "v", "sip-2", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := cs.CallProgress(e.ctx, id, "sip-2", ledger.CallAnswered, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-2", Outcome: ledger.CallConfirmed, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"state:queued", "call:armed", "state:failed(refused)", "call:queued(sms_failed)", "call:claimed",
		"call:dialling#1 sip-1", "call:busy#1 sip-1", "call:queued(retry after busy)#1 sip-1", "call:claimed#1 sip-1",
		"call:dialling#2 sip-2", "call:answered#2 sip-2", "call:confirmed#2 sip-2"}
	check := func() {
		t.Helper()
		es, err := e.s.Trace(e.ctx, ledger.TraceQuery{Phone: m.Recipient})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, x := range es {
			if i > 0 && x.At.Before(es[i-1].At) {
				t.Fatalf("not in time order: %+v", es)
			}
			s := string(x.Kind) + ":" + string(x.State)
			if x.Reason != "" {
				s += "(" + x.Reason + ")"
			}
			if x.Attempt > 0 {
				s += fmt.Sprintf("#%d", x.Attempt)
			}
			if x.SIPCallID != "" {
				s += " " + x.SIPCallID
			}
			got = append(got, s)
			if (x.Kind == ledger.TraceCall) != (x.CallID == id) || x.MessageID != m.ID || x.Recipient != m.Recipient {
				t.Errorf("entry %+v: call id %d, want %d for call entries only", x, x.CallID, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trace\n%q, want\n%q", got, want)
		}
	}
	check()
	all, err := e.s.PendingStatus(e.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.AckStatus(e.ctx, all[len(all)-1].ID); err != nil {
		t.Fatal(err)
	}
	check() // the acknowledged changes stay as the history
}

// testCallsPrune: Summary and CallSummary count calls by state; Prune
// keeps a final message whose call is not final (or changed since
// before), and deletes a pruned message's calls with it.
func testCallsPrune(t *testing.T, e *env) {
	cs := callStore(t, e)
	done, calling := VoiceMsg("ev", "r", 1, time.Minute), VoiceMsg("ev", "r", 2, time.Minute)
	e.insert(done, calling)
	e.claim(10, "a")
	e.submit(done, "d1")
	e.receipts(ledger.Receipt{Carrier: "cmcc", MessageID: "d1", Stat: "DELIVRD"})
	if err := e.s.Submitted(e.ctx, []ledger.Submission{{ID: calling.ID, Carrier: "cmcc", CarrierIDs: []string{""},
		State: message.StateFailed, Reason: "refused", At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	e.armCalls(cs)
	summary := func(want map[ledger.CallState]int) {
		t.Helper()
		s, err := e.s.Summary(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cs.CallSummary(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(s.Calls) != fmt.Sprint(want) || fmt.Sprint(c) != fmt.Sprint(want) {
			t.Fatalf("summary calls %v, call summary %v; want %v", s.Calls, c, want)
		}
	}
	summary(map[ledger.CallState]int{ledger.CallCancelled: 1, ledger.CallQueued: 1})
	ack := func() {
		t.Helper()
		all, err := e.s.PendingStatus(e.ctx, 1000)
		if err != nil || len(all) == 0 {
			t.Fatalf("pending status: %d %v", len(all), err)
		}
		if err := e.s.AckStatus(e.ctx, all[len(all)-1].ID); err != nil {
			t.Fatal(err)
		}
	}
	ack()
	e.clock.Add(24 * time.Hour)
	if n, err := e.s.Prune(e.ctx, e.clock.Now()); err != nil || n != 1 {
		t.Fatalf("prune: %d %v, want 1 (the message whose call is queued stays)", n, err)
	}
	if got := e.callsOf(cs, done, calling); len(got) != 1 || got[0].MessageID != calling.ID {
		t.Fatalf("calls after prune: %+v", got)
	}
	summary(map[ledger.CallState]int{ledger.CallQueued: 1})

	id := e.claimCalls(cs, 1, "v")[0].ID
	if err := cs.BeforeDial(e.ctx, id, "v", "sip-1", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ack()
	if n, err := e.s.Prune(e.ctx, e.clock.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune with the call on the line: %d %v", n, err)
	}
	if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: id, SIPCallID: "sip-1", Outcome: ledger.CallConfirmed, At: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	ack()
	if n, err := e.s.Prune(e.ctx, e.clock.Now()); err != nil || n != 0 {
		t.Fatalf("prune of a message whose call changed at the horizon: %d %v", n, err)
	}
	e.clock.Add(time.Hour)
	if n, err := e.s.Prune(e.ctx, e.clock.Now()); err != nil || n != 1 {
		t.Fatalf("prune after the call: %d %v", n, err)
	}
	if got := e.callsOf(cs, calling); len(got) != 0 {
		t.Fatalf("calls of a pruned message: %+v", got)
	}
	summary(map[ledger.CallState]int{})
	if es, _ := e.s.Trace(e.ctx, ledger.TraceQuery{EventID: "ev"}); len(es) != 0 {
		t.Fatalf("trace after prune: %d entries", len(es))
	}
}

// testCallsClaimConcurrent: voice stages claiming and ending calls
// concurrently claim every call once, and never hold two calls to one
// recipient at a time.
func testCallsClaimConcurrent(t *testing.T, e *env) {
	cs := callStore(t, e)
	var ms []*message.Message
	for i := range 20 { // three calls to each recipient, next to each other
		for _, rule := range []string{"a", "b", "c"} {
			ms = append(ms, VoiceOnlyMsg("ev", rule, i))
		}
	}
	e.insert(ms...)
	var (
		mu     sync.Mutex
		seen   = map[int64]string{}
		active = map[string]string{} // recipient -> owner holding a call to it
		ended  atomic.Int64
		wg     sync.WaitGroup
	)
	errs := make(chan error, 100)
	deadline := time.Now().Add(30 * time.Second)
	for w := range 4 {
		owner := fmt.Sprintf("v%d", w)
		wg.Go(func() {
			for ended.Load() < int64(len(ms)) && time.Now().Before(deadline) {
				got, err := cs.ClaimCalls(e.ctx, e.clock.Now(), 5, owner)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range got {
					if prev, dup := seen[c.ID]; dup {
						errs <- fmt.Errorf("call %d claimed by %s and %s", c.ID, prev, owner)
					}
					if other, busy := active[c.Recipient]; busy {
						errs <- fmt.Errorf("call %d claimed by %s while %s holds a call to its recipient", c.ID, owner, other)
					}
					seen[c.ID], active[c.Recipient] = owner, owner
				}
				mu.Unlock()
				for _, c := range got {
					sip := fmt.Sprintf("sip-%d", c.ID)
					if err := cs.BeforeDial(e.ctx, c.ID, owner, sip, e.clock.Now()); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					delete(active, c.Recipient) // before the end commits: then another may claim
					mu.Unlock()
					if err := cs.CallEnded(e.ctx, []ledger.CallEnd{{ID: c.ID, SIPCallID: sip, Outcome: ledger.CallConfirmed}}); err != nil {
						errs <- err
						return
					}
					ended.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != len(ms) {
		t.Fatalf("claimed %d of %d calls", len(seen), len(ms))
	}
	if sum, err := cs.CallSummary(e.ctx); err != nil || sum[ledger.CallConfirmed] != len(ms) || len(sum) != 1 {
		t.Fatalf("call summary %v %v, want %d confirmed", sum, err, len(ms))
	}
}
