package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// The retry policy: what a send's outcome means for the message
// (Sender.onError, Sender.send's part branches) and when it goes again
// (Sender.backoff). Every branch is a row below.

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// policySender has MaxAttempts 3 and a backoff of 1s doubling to 10s, on
// a clock stopped at t0.
func policySender(l Outbox, carriers map[string]Submitter) *Sender {
	return NewSender(SenderConfig{
		Ledger: l, Carriers: carriers, Owner: "t", ClaimBatch: 10, InFlight: 2,
		MaxAttempts: 3, RetryBackoff: time.Second, RetryBackoffMax: 10 * time.Second,
		Poll: time.Minute, DrainTimeout: 5 * time.Second, SendTimeout: time.Minute,
		Now: func() time.Time { return t0 }, Metrics: NewMetrics(prometheus.NewRegistry()),
	})
}

// refusal is a connector's classified error.
func refusal(r Reason, retry bool) error {
	return &CarrierError{Reason: r, Retry: retry, Err: errors.New("carrier said " + string(r))}
}

func submits(s *Sender, label string) float64 {
	return testutil.ToFloat64(s.cfg.Metrics.submits.WithLabelValues("c", label))
}

func TestOnError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		attempts int
		state    message.State
		reason   string        // exact
		delay    time.Duration // NotBefore - now; 0: none
		label    string        // smsgw_submits_total result
	}{
		{"timeout: unknown, never resent here", refusal(ReasonTimeout, true), 1, message.StateUnknown, "timeout", 0, "unknown"},
		{"timeout after the last attempt: still unknown", refusal(ReasonTimeout, true), 3, message.StateUnknown, "timeout", 0, "unknown"},
		{"link lost after the write: unknown", refusal(ReasonUnknown, true), 2, message.StateUnknown, "unknown", 0, "unknown"},
		{"not sent in time: requeued after the first backoff", refusal(ReasonCanceled, true), 1, message.StateQueued, "not sent in time; requeued", time.Second, "retry"},
		{"not sent in time does not use up attempts", refusal(ReasonCanceled, true), 5, message.StateQueued, "not sent in time; requeued", time.Second, "retry"},
		{"a bare context error is not sent in time", context.DeadlineExceeded, 2, message.StateQueued, "not sent in time; requeued", time.Second, "retry"},
		{"throttled, attempt 1", refusal(ReasonThrottled, true), 1, message.StateQueued, "throttled", time.Second, "retry"},
		{"queue full, attempt 2: backoff doubles", refusal(ReasonQueueFull, true), 2, message.StateQueued, "queue_full", 2 * time.Second, "retry"},
		{"SMSC error, attempt 2", refusal(ReasonSMSC, true), 2, message.StateQueued, "smsc_error", 2 * time.Second, "retry"},
		{"no bind, attempt 1", refusal(ReasonNoBind, true), 1, message.StateQueued, "no_bind", time.Second, "retry"},
		{"an unclassified error is a temporary carrier error", errors.New("boom"), 1, message.StateQueued, "smsc_error", time.Second, "retry"},
		{"a wrapped refusal keeps its reason", fmt.Errorf("send: %w", refusal(ReasonThrottled, true)), 2, message.StateQueued, "throttled", 2 * time.Second, "retry"},
		{"throttled at MaxAttempts: failed", refusal(ReasonThrottled, true), 3, message.StateFailed, "attempts exhausted: throttled", 0, "failed"},
		{"no bind past MaxAttempts: failed", refusal(ReasonNoBind, true), 4, message.StateFailed, "attempts exhausted: no_bind", 0, "failed"},
		{"rejected: failed at once with the carrier's words", refusal(ReasonRejected, false), 1, message.StateFailed, "rejected: carrier said rejected", 0, "failed"},
		{"invalid: failed at once", refusal(ReasonInvalid, false), 1, message.StateFailed, "invalid: carrier said invalid", 0, "failed"},
		{"a permanent refusal of a retryable reason is still retried", refusal(ReasonSMSC, false), 1, message.StateFailed, "smsc_error: carrier said smsc_error", 0, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := policySender(newFakeLedger(), nil)
			before := submits(s, tc.label)
			tr := s.onError("c", &message.Message{ID: 7, Recipient: "13800138000", Attempts: tc.attempts}, tc.err)
			if tr.ID != 7 || tr.State != tc.state || tr.Reason != tc.reason {
				t.Errorf("transition %+v, want state %s reason %q", tr, tc.state, tc.reason)
			}
			var delay time.Duration
			if !tr.NotBefore.IsZero() {
				delay = tr.NotBefore.Sub(t0)
			}
			if delay != tc.delay {
				t.Errorf("due again after %v, want %v", delay, tc.delay)
			}
			if got := submits(s, tc.label) - before; got != 1 {
				t.Errorf("smsgw_submits_total{result=%q} rose by %v, want 1", tc.label, got)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		base, ceiling time.Duration
		attempts      int
		want          time.Duration
	}{
		{2 * time.Second, 5 * time.Minute, 0, 2 * time.Second},
		{2 * time.Second, 5 * time.Minute, 1, 2 * time.Second},
		{2 * time.Second, 5 * time.Minute, 2, 4 * time.Second},
		{2 * time.Second, 5 * time.Minute, 3, 8 * time.Second},
		{2 * time.Second, 5 * time.Minute, 8, 256 * time.Second},
		{2 * time.Second, 5 * time.Minute, 9, 5 * time.Minute}, // 512s capped
		{2 * time.Second, 5 * time.Minute, 1000, 5 * time.Minute},
		{10 * time.Minute, 5 * time.Minute, 1, 5 * time.Minute}, // a base above the ceiling is capped too
		{time.Second, time.Second, 4, time.Second},
	} {
		s := &Sender{cfg: SenderConfig{RetryBackoff: tc.base, RetryBackoffMax: tc.ceiling}}
		if got := s.backoff(tc.attempts); got != tc.want {
			t.Errorf("backoff(%d) from %v to %v = %v, want %v", tc.attempts, tc.base, tc.ceiling, got, tc.want)
		}
	}
}

// sendOnce runs one send of m over a carrier answering with res, err and
// returns what reached the ledger.
func sendOnce(t *testing.T, m *message.Message, res SendResult, err error) (*Sender, *FakeCarrier, *fakeLedger) {
	t.Helper()
	l := newFakeLedger(m)
	carrier := &FakeCarrier{Answer: func(context.Context, SMS) (SendResult, error) { return res, err }}
	s := policySender(l, map[string]Submitter{"c": carrier})
	ctx := t.Context()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.result.Run(rctx, ctx) }()
	s.slots <- struct{}{} // the claim's slot; finish frees it
	s.send(ctx, "c", carrier, m)
	stop()
	<-done
	if len(s.slots) != 0 {
		t.Error("the message's slot was not freed")
	}
	return s, carrier, l
}

func TestSendPartOutcomes(t *testing.T) {
	ok := func(id string) PartOutcome { return PartOutcome{State: PartAccepted, ID: id} }
	refused := func(r Reason, retry bool, code string) PartOutcome {
		return PartOutcome{State: PartRefused, Code: code, Reason: r, Retry: retry, Err: refusal(r, retry)}
	}
	unknown := PartOutcome{State: PartUnknown, Reason: ReasonTimeout, Retry: true, Err: refusal(ReasonTimeout, true)}
	late := PartOutcome{State: PartNotSent, Reason: ReasonCanceled, Retry: true, Err: refusal(ReasonCanceled, true)}
	noBind := PartOutcome{State: PartNotSent, Reason: ReasonNoBind, Retry: true, Err: refusal(ReasonNoBind, true)}
	throttled := refused(ReasonThrottled, true, "ESME_RTHROTTLED")
	badDest := refused(ReasonRejected, false, "ESME_RINVDSTADR")
	errOf := func(os ...PartOutcome) error { // what a connector returns with them
		for _, o := range os {
			if o.State != PartAccepted && o.State != PartSkipped {
				return o.Err
			}
		}
		return nil
	}
	type want struct {
		tr       bool          // a Transition (else a Submission)
		state    message.State // "" with a Submission: submitted
		reason   string        // prefix
		delay    time.Duration
		ids      []string
		outcomes []string
		label    string
	}
	for _, tc := range []struct {
		name     string
		attempts int
		known    []string // CarrierIDs from an earlier send
		outcomes []PartOutcome
		err      error // nil: errOf(outcomes)
		want     want
	}{
		{name: "every part accepted", attempts: 1, outcomes: []PartOutcome{ok("a"), ok("b")},
			want: want{ids: []string{"a", "b"}, outcomes: []string{"accepted", "accepted"}, label: "ok"}},
		{name: "nothing split or sent: the error alone decides", attempts: 1, err: refusal(ReasonInvalid, false),
			want: want{tr: true, state: message.StateFailed, reason: "invalid: ", label: "failed"}},
		{name: "nothing sent, timeout: unknown", attempts: 1, err: refusal(ReasonTimeout, true),
			want: want{tr: true, state: message.StateUnknown, reason: "timeout", label: "unknown"}},
		{name: "one part refused temporarily: queued, no reference to keep", attempts: 2, outcomes: []PartOutcome{throttled},
			want: want{tr: true, state: message.StateQueued, reason: "throttled", delay: 2 * time.Second, label: "retry"}},
		{name: "all parts refused temporarily: queued, the reference kept", attempts: 1, outcomes: []PartOutcome{throttled, late},
			want: want{state: message.StateQueued, reason: "throttled", delay: time.Second, ids: []string{"", ""},
				outcomes: []string{"refused ESME_RTHROTTLED", "not_sent"}, label: "retry"}},
		{name: "all parts refused permanently: failed, the reference kept", attempts: 1, outcomes: []PartOutcome{badDest, late},
			want: want{state: message.StateFailed, reason: "rejected: carrier said rejected", ids: []string{"", ""},
				outcomes: []string{"refused ESME_RINVDSTADR", "not_sent"}, label: "failed"}},
		{name: "all parts refused, attempts exhausted: failed", attempts: 3, outcomes: []PartOutcome{noBind, late},
			want: want{state: message.StateFailed, reason: "attempts exhausted: no_bind", ids: []string{"", ""}, label: "failed"}},
		{name: "a part accepted, one unknown: unknown, never resent here", attempts: 1, outcomes: []PartOutcome{ok("a"), unknown},
			want: want{state: message.StateUnknown, reason: "parts 2 of 2 unknown (timeout)", ids: []string{"a", ""},
				outcomes: []string{"accepted", "unknown"}, label: "unknown"}},
		{name: "unknown wins over a permanent refusal", attempts: 1, outcomes: []PartOutcome{ok("a"), unknown, badDest},
			want: want{state: message.StateUnknown, reason: "parts 2, 3 of 3 unknown (timeout)", ids: []string{"a", "", ""}, label: "unknown"}},
		{name: "a part accepted, one refused permanently: partial", attempts: 1, outcomes: []PartOutcome{ok("a"), badDest},
			want: want{state: message.StatePartial, reason: "parts 2 of 2 refused (rejected): carrier said rejected", ids: []string{"a", ""},
				outcomes: []string{"accepted", "refused ESME_RINVDSTADR"}, label: "partial"}},
		{name: "permanent wins over not sent in time", attempts: 1, outcomes: []PartOutcome{ok("a"), badDest, late},
			want: want{state: message.StatePartial, reason: "parts 2, 3 of 3 refused (rejected)", label: "partial"}},
		{name: "a part accepted, the rest not sent in time: resent after the first backoff", attempts: 3, outcomes: []PartOutcome{ok("a"), late, late},
			want: want{state: message.StateQueued, reason: "parts 2, 3 of 3 not sent in time; resending them", delay: time.Second,
				ids: []string{"a", "", ""}, outcomes: []string{"accepted", "not_sent", "not_sent"}, label: "retry"}},
		{name: "a part accepted, one refused temporarily: the missing part resent", attempts: 2, outcomes: []PartOutcome{ok("a"), throttled},
			want: want{state: message.StateQueued, reason: "parts 2 of 2 not accepted (throttled); resending them", delay: 2 * time.Second,
				ids: []string{"a", ""}, label: "retry"}},
		{name: "a part accepted, one still refused at MaxAttempts: partial", attempts: 3, outcomes: []PartOutcome{ok("a"), throttled},
			want: want{state: message.StatePartial, reason: "attempts exhausted: parts 2 of 2 not accepted (throttled)", ids: []string{"a", ""}, label: "partial"}},
		{name: "resumed: skipped parts keep the earlier ids", attempts: 2, known: []string{"a", "", ""},
			outcomes: []PartOutcome{{State: PartSkipped}, ok("b"), ok("c")},
			want:     want{ids: []string{"a", "b", "c"}, outcomes: []string{"skipped", "accepted", "accepted"}, label: "ok"}},
		{name: "resumed, split differently now: skipped parts have no id", attempts: 2, known: []string{"a", ""},
			outcomes: []PartOutcome{{State: PartSkipped}, ok("b"), ok("c")},
			want:     want{ids: []string{"", "b", "c"}, label: "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &message.Message{ID: 7, Recipient: "13800138000", Carrier: "c", Source: "12123", Text: "x",
				Attempts: tc.attempts, CarrierIDs: tc.known, ConcatRef: 77, HasConcatRef: tc.known != nil, CreatedAt: t0.Add(-time.Minute)}
			err := tc.err
			if err == nil {
				err = errOf(tc.outcomes...)
			}
			s, _, l := sendOnce(t, m, SendResult{ConcatRef: 77, Outcomes: tc.outcomes}, err)
			w := tc.want
			if got := submits(s, w.label); got != 1 {
				t.Errorf("smsgw_submits_total{result=%q} = %v, want 1", w.label, got)
			}
			var state message.State
			var reason string
			var notBefore time.Time
			if w.tr {
				if len(l.snap().trs) != 1 || len(l.snap().subs) != 0 {
					t.Fatalf("transitions %+v, submissions %+v; want one transition", l.snap().trs, l.snap().subs)
				}
				state, reason, notBefore = l.snap().trs[0].State, l.snap().trs[0].Reason, l.snap().trs[0].NotBefore
			} else {
				if len(l.snap().subs) != 1 || len(l.snap().trs) != 0 {
					t.Fatalf("transitions %+v, submissions %+v; want one submission", l.snap().trs, l.snap().subs)
				}
				sub := l.snap().subs[0]
				state, reason, notBefore = sub.State, sub.Reason, sub.NotBefore
				if sub.Ref != 77 || sub.HasRef != (len(tc.outcomes) > 1) || sub.Carrier != "c" || !sub.At.Equal(t0) {
					t.Errorf("submission ref %d (has %v), carrier %q at %v", sub.Ref, sub.HasRef, sub.Carrier, sub.At)
				}
				if w.ids != nil && strings.Join(sub.CarrierIDs, ",") != strings.Join(w.ids, ",") {
					t.Errorf("ids %q, want %q", sub.CarrierIDs, w.ids)
				}
				if w.outcomes != nil && strings.Join(sub.Outcomes, ",") != strings.Join(w.outcomes, ",") {
					t.Errorf("outcomes %q, want %q", sub.Outcomes, w.outcomes)
				}
			}
			if state != w.state || !strings.HasPrefix(reason, w.reason) {
				t.Errorf("state %q reason %q, want %q, %q…", state, reason, w.state, w.reason)
			}
			var delay time.Duration
			if !notBefore.IsZero() {
				delay = notBefore.Sub(t0)
			}
			if delay != w.delay {
				t.Errorf("due again after %v, want %v", delay, w.delay)
			}
		})
	}
}

// The SMS a message becomes: the ledger id as reference, priority
// clamped, validity until expiry (at least a minute), and the parts to
// resend under the message's reference (the low 16 bits of the id
// unless one was recorded).
func TestSendBuildsSMS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         message.Message
		ref       uint16
		parts     []int
		priority  int
		validity  time.Duration
		reference string
	}{
		{name: "first send: every part, reference from the id", m: message.Message{ID: 70001, Priority: 9, ExpiresAt: t0.Add(time.Hour)},
			ref: 70001 % 65536, priority: 3, validity: time.Hour, reference: "70001"},
		{name: "resend: the missing parts under the recorded reference", m: message.Message{ID: 5, Priority: -2, CarrierIDs: []string{"a", "", "c", ""},
			ConcatRef: 300, HasConcatRef: true, ExpiresAt: t0.Add(time.Second)}, ref: 300, parts: []int{2, 4}, priority: 0, validity: time.Minute, reference: "5"},
		{name: "no part known: all again, under the recorded reference", m: message.Message{ID: 6, Priority: 1, CarrierIDs: []string{"", ""},
			ConcatRef: 12, HasConcatRef: true}, ref: 12, priority: 1, reference: "6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Recipient, m.Source, m.Text, m.Carrier = "13800138000", "1212311", "text", "c"
			_, carrier, _ := sendOnce(t, &m, SendResult{Outcomes: []PartOutcome{{State: PartAccepted, ID: "x"}}}, nil)
			sent := carrier.Sent()
			if len(sent) != 1 {
				t.Fatalf("sent %d", len(sent))
			}
			got := sent[0]
			if got.Ref != tc.reference || got.ConcatRef != tc.ref || fmt.Sprint(got.Parts) != fmt.Sprint(tc.parts) ||
				got.Priority != tc.priority || got.Validity != tc.validity || got.Dest != m.Recipient || got.Source != m.Source || got.Text != m.Text {
				t.Errorf("sent %+v", got)
			}
		})
	}
}

// A late answer settles its part: an accepted one records its id, a
// refusal marks it refused; an accepted answer without an id, or one
// for a reference that is not a ledger id, is left to receipts.
func TestOnLate(t *testing.T) {
	l := newFakeLedger()
	s := policySender(l, map[string]Submitter{"c": &FakeCarrier{}})
	ctx := t.Context()
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.result.Run(rctx, ctx) }()
	on := s.OnLate("c")
	on(ctx, Late{Ref: "7", Part: 2, Parts: 3, Accepted: true, ID: "m2"})
	on(ctx, Late{Ref: "8", Part: 1, Parts: 1})
	on(ctx, Late{Ref: "9", Part: 1, Parts: 2, Accepted: true})
	on(ctx, Late{Ref: "not-an-id", Part: 1, Parts: 1, Accepted: true, ID: "m"})
	stop()
	<-done
	want := []ledger.LatePart{
		{ID: 7, Carrier: "c", Part: 2, Parts: 3, CarrierID: "m2", At: t0},
		{ID: 8, Carrier: "c", Part: 1, Parts: 1, Refused: true, At: t0},
	}
	if fmt.Sprint(l.snap().lates) != fmt.Sprint(want) {
		t.Errorf("late parts %+v, want %+v", l.snap().lates, want)
	}
	m := s.cfg.Metrics.lateResponses
	if r, left := testutil.ToFloat64(m.WithLabelValues("c", "recorded")), testutil.ToFloat64(m.WithLabelValues("c", "left_to_receipts")); r != 2 || left != 2 {
		t.Errorf("late responses recorded %v, left to receipts %v; want 2, 2", r, left)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		retry  bool
		reason Reason
	}{
		{nil, false, ReasonOK},
		{refusal(ReasonRejected, false), false, ReasonRejected},
		{fmt.Errorf("x: %w", refusal(ReasonQueueFull, true)), true, ReasonQueueFull},
		{context.Canceled, true, ReasonCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true, ReasonCanceled},
		{errors.New("other"), true, ReasonSMSC},
	} {
		if retry, reason := Classify(tc.err); retry != tc.retry || reason != tc.reason {
			t.Errorf("Classify(%v) = %v, %s; want %v, %s", tc.err, retry, reason, tc.retry, tc.reason)
		}
	}
	ce := &CarrierError{Reason: ReasonTimeout}
	if ce.Error() != "carrier: timeout" || ce.Unwrap() != nil {
		t.Errorf("a CarrierError without a cause: %q", ce.Error())
	}
}
