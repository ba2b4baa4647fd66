package dispatch_test

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/directory"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
)

// insertSpy records a copy of every message the pipeline inserts.
type insertSpy struct {
	ledger.Store
	ledger.StateStore
	mu   sync.Mutex
	msgs []message.Message
}

func (s *insertSpy) Insert(ctx context.Context, msgs []*message.Message) error {
	s.mu.Lock()
	for _, m := range msgs {
		s.msgs = append(s.msgs, *m)
	}
	s.mu.Unlock()
	return s.Store.Insert(ctx, msgs)
}

// byRule returns the inserted messages of event id, by rule.
func (s *insertSpy) byRule(eventID string) map[string]message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]message.Message{}
	for _, m := range s.msgs {
		if m.EventID == eventID {
			out[m.RuleID] = m
		}
	}
	return out
}

var voiceRules = map[string]string{"r.yaml": `rules:
  - id: t.full
    on: [violation.processed]
    when: event.points_before < 12 && event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分"}
    urgent: true
    channels: [sms, voice]
    fallback_after: 30m
    say:
      - {kind: prompt, value: points_prefix}
      - {kind: number, value: event.licence.points}
      - {kind: date, value: event.licence.cycle_end}
  - id: t.call
    on: [violation.processed]
    when: event.points_before < 12 && event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分通知"}
    channels: [voice]
  - id: t.sms
    on: [violation.processed]
    when: event.points_before < 12 && event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分提醒"}
`}

// TestVoicePlanReachesInsert: the decision's voice plan is on the message
// the ledger stores; a voice-only rule's message is stored suppressed
// voice_only with its plan (the call goes instead of the SMS), and one
// policy stops keeps policy's reason; an SMS rule's has no plan.
func TestVoicePlanReachesInsert(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		var spy *insertSpy
		r := newRig(t, func(c func() time.Time) ledger.Store {
			s := open(c)
			spy = &insertSpy{Store: s, StateStore: s.(ledger.StateStore)}
			return spy
		}, voiceRules, time.Date(2026, 11, 27, 10, 0, 0, 0, policy.Shanghai()))
		full := func() map[string]any {
			return map[string]any{"violation": map[string]any{"id": "V1", "time": "2026-11-27T09:00:00+08:00", "code": "1352", "points": 3},
				"points_applied": 3, "points_before": 10, "licence": licence("13900139000", 0, map[string]any{"points": 13})}
		}
		first := r.event("violation.processed", full())
		r.handle(first)
		got := spy.byRule(first.ID)

		want := &message.Voice{FallbackAfter: 30 * time.Minute, Say: []message.SayItem{
			{Kind: "prompt", Value: "points_prefix"}, {Kind: "number", Value: "13"}, {Kind: "date", Value: "2027-03-01"}}}
		if m := got["t.full"]; m.State != message.StateQueued || !reflect.DeepEqual(m.Voice, want) {
			t.Errorf("sms+voice message: state %s, voice %+v; want queued with %+v", m.State, m.Voice, want)
		}
		if m := got["t.call"]; m.State != message.StateSuppressed || m.Reason != message.ReasonVoiceOnly ||
			m.Voice == nil || !m.Voice.Only || m.Voice.Say != nil {
			t.Errorf("voice-only message: state %s reason %q voice %+v; want suppressed voice_only with Only", m.State, m.Reason, m.Voice)
		}
		if m := got["t.sms"]; m.State != message.StateQueued || m.Voice != nil {
			t.Errorf("sms message: state %s voice %+v", m.State, m.Voice)
		}

		// the person opted out: policy's reason wins over voice_only, and
		// the plan stays on the row
		if err := spy.OptOut(t.Context(), "13900139000", true); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(time.Hour)
		again := r.event("violation.processed", full())
		r.handle(again)
		if m := spy.byRule(again.ID)["t.call"]; m.State != message.StateSuppressed || m.Reason != policy.ReasonOptedOut || m.Voice == nil || !m.Voice.Only {
			t.Errorf("voice-only message to an opted-out phone: state %s reason %q voice %+v; want suppressed opted_out with its plan", m.State, m.Reason, m.Voice)
		}
	})
}

// TestVoiceWithoutSMSCarrier: with no SMS carrier for the number, an
// [sms, voice] message fails (the ledger falls back to the call at once)
// and keeps its plan; a voice-only message does not need a carrier and
// is stored voice_only.
func TestVoiceWithoutSMSCarrier(t *testing.T) { voiceWithoutSMSCarrier(t, false) }

// TestNoFallbackWithoutTrunk: a gateway that places no calls drops the
// fallback plans (nothing would settle their armed calls) and keeps the
// voice-only ones (their calls wait in the ledger).
func TestNoFallbackWithoutTrunk(t *testing.T) { voiceWithoutSMSCarrier(t, true) }

func voiceWithoutSMSCarrier(t *testing.T, noFallback bool) {
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		now := time.Date(2026, 11, 27, 10, 0, 0, 0, policy.Shanghai())
		set, err := rules.Load(map[string][]byte{"r.yaml": []byte(voiceRules["r.yaml"])}, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := open(func() time.Time { return now })
		spy := &insertSpy{Store: s, StateStore: s.(ledger.StateStore)}
		var ev dispatch.Evaluator = set
		cur := &atomic.Pointer[dispatch.Evaluator]{}
		cur.Store(&ev)
		router, err := route.New(route.Table{}, route.Carrier("china_mobile"))
		if err != nil {
			t.Fatal(err)
		}
		dir := directory.New(directory.Config{Store: s, Sync: true})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); dir.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		p := dispatch.NewPipeline(dispatch.PipelineConfig{
			Rules: cur, Policy: policy.New(policy.Config{}, s), Router: router, Ledger: spy, Directory: dir,
			Carriers: map[route.Carrier]bool{}, // no account: every SMS fails carrier_not_configured
			Now:      func() time.Time { return now }, Metrics: dispatch.NewMetrics(nil),
			NoFallbackCalls: noFallback,
		})
		r := &rig{t: t, store: spy, p: p, set: set, clock: &clock{}}
		r.clock.Set(now)
		e := r.event("violation.processed", map[string]any{
			"violation":      map[string]any{"id": "V1", "time": "2026-11-27T09:00:00+08:00", "code": "1352", "points": 3},
			"points_applied": 3, "points_before": 10, "licence": licence("13900139000", 0, map[string]any{"points": 12})})
		r.handle(e)
		got := spy.byRule(e.ID)
		if m := got["t.full"]; m.State != message.StateFailed || m.Reason != dispatch.ReasonNoCarrier ||
			(noFallback && m.Voice != nil) || (!noFallback && (m.Voice == nil || m.Voice.FallbackAfter != 30*time.Minute)) {
			t.Errorf("sms+voice message: state %s reason %q voice %+v; want failed carrier_not_configured, plan dropped: %v",
				m.State, m.Reason, m.Voice, noFallback)
		}
		if m := got["t.call"]; m.State != message.StateSuppressed || m.Reason != message.ReasonVoiceOnly || m.Voice == nil {
			t.Errorf("voice-only message: state %s reason %q voice %+v; want suppressed voice_only", m.State, m.Reason, m.Voice)
		}
		if m := got["t.sms"]; m.State != message.StateFailed || m.Voice != nil {
			t.Errorf("sms message: state %s voice %+v", m.State, m.Voice)
		}
	})
}
