package voice_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/voice"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// The stage against the real parts: an SQLite ledger, pkg/ivr's dialler
// with the project's prompts, and the trunk simulator as the callee.

type env struct {
	t       *testing.T
	store   *sqlite.Store
	trunk   *trunksim.Sim
	journal *voice.Journal
	dir     string
	now     time.Time
}

func newEnv(t *testing.T, mix map[string]int) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "ledger.db"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sim, err := trunksim.Start(trunksim.Config{Listen: "127.0.0.1:0", Mix: mix, KeyDelay: 300 * time.Millisecond,
		RingFor: 50 * time.Millisecond, HangUpAfter: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	j, err := voice.OpenJournal(filepath.Join(dir, "calls.cdr.jsonl"), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return &env{t: t, store: st, trunk: sim, journal: j, dir: dir, now: time.Now()}
}

// insert stores one message with a voice plan and returns it.
func (e *env) insert(phone string, v *message.Voice, state message.State, reason string) *message.Message {
	e.t.Helper()
	m := &message.Message{Key: message.Key("ev-"+phone, "licence.cancelled", phone), EventID: "ev-" + phone,
		EventType: "licence.status_changed", RuleID: "licence.cancelled", Recipient: phone, Carrier: "china_mobile",
		Source: "12123", Text: "【交管12123】您的驾驶证已被注销。", Encoding: "ucs2", Segments: 1, Urgent: true,
		State: state, Reason: reason, CancelKey: "licence.cancelled|" + phone, Voice: v}
	if err := e.store.Insert(context.Background(), []*message.Message{m}); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) stage(owner string, retry ivr.RetryPolicy, hours string) (*voice.Stage, *ivr.Dialler, *prometheus.Registry) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	s, err := voice.New(voice.Config{Owner: owner, Ledger: e.store, Records: e.journal, Retry: retry,
		Poll: 50 * time.Millisecond, Metrics: voice.NewMetrics(reg)})
	if err != nil {
		e.t.Fatal(err)
	}
	lib, err := ivr.LoadLibrary("../../prompts")
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := ivr.ParseHours(hours)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := ivr.NewDialler(ivr.DiallerOptions{
		DiallerConfig: ivr.DiallerConfig{Trunk: e.trunk.Addr(), Bind: "127.0.0.1:0", CallsPerSecond: 50,
			RingTimeout: time.Second, KeyTimeout: time.Second, MaxPlays: 1, Hours: h, Location: time.Local},
		Library: lib, Guard: s.Guard(), OnState: s.OnState, CDR: e.journal, Metrics: ivr.NewOutboundMetrics(nil),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	s.SetDialler(d)
	return s, d, reg
}

func (e *env) calls(ids ...int64) []*ledger.Call {
	e.t.Helper()
	cs, err := e.store.Calls(context.Background(), ids)
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// waitFinal waits until every call of the messages has one of the states.
func (e *env) waitFinal(ids []int64, within time.Duration) []*ledger.Call {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		cs := e.calls(ids...)
		done := len(cs) > 0
		for _, c := range cs {
			switch c.State {
			case ledger.CallConfirmed, ledger.CallBusy, ledger.CallNoAnswer, ledger.CallFailed, ledger.CallUnconfirmed,
				ledger.CallCancelled, ledger.CallExpired:
			default:
				done = false
			}
		}
		if done {
			return cs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("calls not final after %v: %+v", within, deref(cs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func deref(cs []*ledger.Call) []ledger.Call {
	out := make([]ledger.Call, len(cs))
	for i, c := range cs {
		out[i] = *c
	}
	return out
}

func startStage(e *env, owner string, retry ivr.RetryPolicy) func() {
	s, d, _ := e.stage(owner, retry, "")
	return runWithDialler(e, s, d)
}

// runWithDialler starts the stage's dialler (through Run's contract: the
// app starts it first) and the stage.
func runWithDialler(e *env, s *voice.Stage, d *ivr.Dialler) func() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("stage: %v", err)
		}
		_ = d.Close()
	}
}

var once = ivr.RetryPolicy{MaxAttempts: 1}

// A voice-only notice is called at once and confirmed; the ledger, the
// journal and the trunk agree.
func TestVoiceOnlyConfirmed(t *testing.T) {
	e := newEnv(t, nil)
	m := e.insert("13900139001", &message.Voice{Only: true, Say: []message.SayItem{{Kind: "plate", Value: "京A12345"}}},
		message.StateSuppressed, message.ReasonVoiceOnly)
	stop := startStage(e, "gw", once)
	cs := e.waitFinal([]int64{m.ID}, 20*time.Second)
	// The ledger says confirmed at the key's first packet: let the call
	// run its course (the confirmation, our hang-up) before stopping.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if tc := e.trunk.Calls(); len(tc) == 1 && !tc[0].Ended.IsZero() {
			break
		}
	}
	stop()
	c := cs[0]
	if c.State != ledger.CallConfirmed || c.Attempts != 1 || c.SIPCallID == "" {
		t.Fatalf("call %+v, want confirmed after 1 attempt", *c)
	}
	recs, err := e.journal.Lookup([]string{c.SIPCallID})
	if err != nil {
		t.Fatal(err)
	}
	if r := recs[c.SIPCallID]; r.Outcome != "confirmed" || r.NoticeID != voice.NoticeID(c.ID) {
		t.Fatalf("journal %+v", r)
	}
	if st := e.trunk.Stats(); st.Invites != 1 {
		t.Fatalf("trunk saw %d INVITEs, want 1", st.Invites)
	}
	if tc := e.trunk.Calls(); len(tc) != 1 || tc[0].CallID != c.SIPCallID || tc[0].KeysSent != "1" || tc[0].Callee != "13900139001" {
		t.Fatalf("trunk's calls %+v, want one to 13900139001 under %s with key 1", tc, c.SIPCallID)
	}
}

// A fallback call waits for its SMS: a failed SMS queues it (reason
// sms_failed), a cancelled one cancels it; nothing is dialled for the
// cancelled one.
func TestFallbackFollowsTheSMS(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	failed := e.insert("13900139002", &message.Voice{FallbackAfter: time.Hour}, message.StateQueued, "")
	cancelled := e.insert("13900139003", &message.Voice{FallbackAfter: time.Hour}, message.StateQueued, "")
	if err := e.store.Transition(ctx, []ledger.Transition{{ID: failed.ID, State: message.StateFailed, Reason: "UNDELIV"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cancel(ctx, []string{cancelled.CancelKey}, "test"); err != nil {
		t.Fatal(err)
	}
	stop := startStage(e, "gw", once)
	cs := e.waitFinal([]int64{failed.ID, cancelled.ID}, 20*time.Second)
	stop()
	got := map[int64]ledger.CallState{}
	for _, c := range cs {
		got[c.MessageID] = c.State
	}
	if got[failed.ID] != ledger.CallConfirmed || got[cancelled.ID] != ledger.CallCancelled {
		t.Fatalf("calls %+v", deref(cs))
	}
	if st := e.trunk.Stats(); st.Invites != 1 {
		t.Fatalf("trunk saw %d INVITEs, want 1", st.Invites)
	}
}

// Busy callees are called again after the backoff, up to the policy's
// limit; then the call ends busy.
func TestBusyRetriedThenFinal(t *testing.T) {
	e := newEnv(t, map[string]int{trunksim.Busy: 1})
	m := e.insert("13900139004", &message.Voice{Only: true}, message.StateSuppressed, message.ReasonVoiceOnly)
	stop := startStage(e, "gw", ivr.RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	cs := e.waitFinal([]int64{m.ID}, 30*time.Second)
	stop()
	if c := cs[0]; c.State != ledger.CallBusy || c.Attempts != 3 || c.SIPStatus != 486 {
		t.Fatalf("call %+v, want busy after 3 attempts", *c)
	}
	if st := e.trunk.Stats(); st.Invites != 3 {
		t.Fatalf("trunk saw %d INVITEs, want 3", st.Invites)
	}
}

// A call in progress when its owner died is settled from its record
// before any retry: confirmed in the record means never called again.
// Without a record it is retried by the policy.
func TestRecoverFromTheJournal(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	withRec := e.insert("13900139005", &message.Voice{Only: true}, message.StateSuppressed, message.ReasonVoiceOnly)
	without := e.insert("13900139006", &message.Voice{Only: true}, message.StateSuppressed, message.ReasonVoiceOnly)
	claimed, err := e.store.ClaimCalls(ctx, time.Now(), 10, "gw")
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %d %v", len(claimed), err)
	}
	for _, c := range claimed {
		sip := "crashed-" + voice.NoticeID(c.ID) + "@12123-ivr"
		if err := e.store.BeforeDial(ctx, c.ID, "gw", sip, time.Now()); err != nil {
			t.Fatal(err)
		}
		if c.MessageID == withRec.ID {
			if err := e.journal.Record(ctx, ivr.CDR{CallID: sip, Direction: "outbound", NoticeID: voice.NoticeID(c.ID),
				Outcome: "confirmed", Cause: "confirmed", SIPStatus: 200, End: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same owner restarts.
	stop := startStage(e, "gw", ivr.RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	cs := e.waitFinal([]int64{withRec.ID, without.ID}, 20*time.Second)
	stop()
	for _, c := range cs {
		switch c.MessageID {
		case withRec.ID:
			if c.State != ledger.CallConfirmed || c.Attempts != 1 {
				t.Errorf("call with a confirmed record: %+v, want confirmed, 1 attempt", *c)
			}
		case without.ID:
			if c.State != ledger.CallConfirmed || c.Attempts != 2 {
				t.Errorf("call cut by the crash: %+v, want confirmed on the 2nd attempt", *c)
			}
		}
	}
	if st := e.trunk.Stats(); st.Invites != 1 {
		t.Fatalf("trunk saw %d INVITEs, want 1 (only the call without a record)", st.Invites)
	}
}

// Outside the calling hours nothing is dialled; the call waits queued.
func TestOutsideHoursWaits(t *testing.T) {
	e := newEnv(t, nil)
	m := e.insert("13900139007", &message.Voice{Only: true}, message.StateSuppressed, message.ReasonVoiceOnly)
	now := time.Now()
	from := now.Add(2 * time.Hour)
	to := now.Add(3 * time.Hour)
	if from.Day() != now.Day() || to.Day() != now.Day() {
		t.Skip("too close to midnight for a same-day window")
	}
	s, d, reg := e.stage("gw", once, from.Format("15:04")+"-"+to.Format("15:04"))
	stop := runWithDialler(e, s, d)
	time.Sleep(500 * time.Millisecond)
	stop()
	if c := e.calls(m.ID)[0]; c.State != ledger.CallQueued || c.Attempts != 0 {
		t.Fatalf("call %+v, want queued, never dialled", *c)
	}
	if st := e.trunk.Stats(); st.Invites != 0 {
		t.Fatalf("trunk saw %d INVITEs outside the hours", st.Invites)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "smsgw_voice_outside_hours" && mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Fatalf("smsgw_voice_outside_hours not 1")
		}
	}
}

// A dialler that fails before any INVITE (here: never started, so every
// Call says ErrClosed) does not get the same call for ever: it is tried
// again after LocalRetry, and ends failed "local_error" after 3 failures
// in a row, with no attempt counted and nothing dialled.
func TestLocalFailuresAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	m := e.insert("13900139008", &message.Voice{Only: true}, message.StateSuppressed, message.ReasonVoiceOnly)
	reg := prometheus.NewRegistry()
	s, err := voice.New(voice.Config{Owner: "gw", Ledger: e.store, Records: e.journal, Retry: once,
		Poll: 20 * time.Millisecond, LocalRetry: 50 * time.Millisecond, Metrics: voice.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	lib, err := ivr.LoadLibrary("../../prompts")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ivr.NewDialler(ivr.DiallerOptions{DiallerConfig: ivr.DiallerConfig{Trunk: e.trunk.Addr(), Bind: "127.0.0.1:0"},
		Library: lib, Guard: s.Guard(), OnState: s.OnState, Metrics: ivr.NewOutboundMetrics(nil)})
	if err != nil {
		t.Fatal(err)
	}
	s.SetDialler(d) // not started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cs := e.waitFinal([]int64{m.ID}, 10*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := cs[0]; c.State != ledger.CallFailed || c.Reason != "local_error" || c.Attempts != 0 {
		t.Fatalf("call %+v, want failed local_error without an attempt", *c)
	}
	if st := e.trunk.Stats(); st.Invites != 0 {
		t.Fatalf("trunk saw %d INVITEs", st.Invites)
	}
	mfs, _ := reg.Gather()
	released := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "smsgw_voice_released_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "local_error" {
					released = m.GetCounter().GetValue()
				}
			}
		}
	}
	if released != 2 {
		t.Fatalf("released after a local error %v times, want 2 (then failed)", released)
	}
}
