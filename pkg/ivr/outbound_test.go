package ivr_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// ledgerGuard is what the ledger will be: one call per notice, ever.
type ledgerGuard struct {
	mu    sync.Mutex
	calls map[string]string // notice → call id
}

func (g *ledgerGuard) BeforeDial(_ context.Context, notice, callID string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.calls == nil {
		g.calls = map[string]string{}
	}
	if prev, ok := g.calls[notice]; ok {
		return errors.New("notice already called as " + prev)
	}
	g.calls[notice] = callID
	return nil
}

type outEnv struct {
	d      *ivr.Dialler
	cdrs   *cdrs
	reg    *prometheus.Registry
	guard  *ledgerGuard
	mu     sync.Mutex
	states []ivr.Transition
}

func (e *outEnv) statesOf(callID string) []ivr.CallState {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []ivr.CallState
	for _, s := range e.states {
		if s.CallID == callID || (s.CallID == "" && s.State == ivr.StateQueued) {
			out = append(out, s.State)
		}
	}
	return out
}

func startDialler(t *testing.T, trunk string, mutate func(*ivr.DiallerOptions)) *outEnv {
	t.Helper()
	lib, err := ivr.LoadLibrary(testPrompts(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := &outEnv{cdrs: &cdrs{ch: make(chan ivr.CDR, 64)}, reg: reg, guard: &ledgerGuard{}}
	o := ivr.DiallerOptions{
		DiallerConfig: ivr.DiallerConfig{Trunk: trunk, Bind: "127.0.0.1:0", CallsPerSecond: 50,
			RingTimeout: 2 * time.Second, KeyTimeout: 2 * time.Second, MaxPlays: 2},
		Library: lib, CDR: e.cdrs, Guard: e.guard, Metrics: ivr.NewOutboundMetrics(reg),
		OnState: func(tr ivr.Transition) {
			e.mu.Lock()
			e.states = append(e.states, tr)
			e.mu.Unlock()
		},
	}
	if mutate != nil {
		mutate(&o)
	}
	d, err := ivr.NewDialler(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e.d = d
	return e
}

func startSim(t *testing.T, cfg trunksim.Config) *trunksim.Sim {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	s, err := trunksim.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func notice(id string) ivr.Notice {
	return ivr.Notice{ID: id, Phone: "13800138000", Say: []ivr.SayItem{
		{Kind: ivr.SayPlate, Value: "京A12345"}, {Kind: ivr.SayNumber, Value: "12"},
		{Kind: ivr.SayDate, Value: "2026-12-02"}}}
}

func callOut(t *testing.T, e *outEnv, n ivr.Notice) ivr.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := e.d.Call(ctx, n)
	if err != nil {
		t.Fatalf("call %s: %v", n.ID, err)
	}
	return r
}

// TestOutboundTrunksim: each behaviour of the trunk simulator gives its
// outcome, state transitions, CDR and metrics; digest auth is answered.
func TestOutboundTrunksim(t *testing.T) {
	t.Parallel()
	cases := []struct {
		behaviour string
		keys      string
		outcome   ivr.Outcome
		status    int
		reason    string
		states    []ivr.CallState
	}{
		{trunksim.Confirm, "1", ivr.Confirmed, 200, "confirmed",
			[]ivr.CallState{"queued", "dialling", "ringing", "answered", "confirmed"}},
		{trunksim.Confirm, "21", ivr.Confirmed, 200, "confirmed",
			[]ivr.CallState{"queued", "dialling", "ringing", "answered", "confirmed"}},
		{trunksim.Silent, "", ivr.AnsweredUnconfirmed, 200, "no_key",
			[]ivr.CallState{"queued", "dialling", "ringing", "answered", "answered_unconfirmed"}},
		{trunksim.HangUp, "", ivr.AnsweredUnconfirmed, 200, "remote_hangup",
			[]ivr.CallState{"queued", "dialling", "ringing", "answered", "answered_unconfirmed"}},
		{trunksim.Busy, "", ivr.Busy, 486, "sip_486", []ivr.CallState{"queued", "dialling", "busy"}},
		{trunksim.NoAnswer, "", ivr.NoAnswer, 0, "ring_timeout", []ivr.CallState{"queued", "dialling", "ringing", "no_answer"}},
	}
	for _, c := range cases {
		t.Run(c.behaviour+c.keys, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, trunksim.Config{Mix: map[string]int{c.behaviour: 1}, Keys: c.keys,
				KeyDelay: 200 * time.Millisecond, KeyGap: 500 * time.Millisecond, HangUpAfter: 300 * time.Millisecond,
				Username: "gw", Password: "s3cret-pass", Seed: 1})
			e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) {
				o.Username, o.Password = "gw", "s3cret-pass"
			})
			r := callOut(t, e, notice("n-"+c.behaviour+c.keys))
			if r.Outcome != c.outcome || r.SIPStatus != c.status || r.Reason != c.reason {
				t.Fatalf("result %+v, want %s %d %s", r, c.outcome, c.status, c.reason)
			}
			if got := e.statesOf(r.CallID); !slices.Equal(got, c.states) {
				t.Fatalf("states %v, want %v", got, c.states)
			}
			if c.keys != "" && r.Keys != c.keys {
				t.Fatalf("keys %q, want %q", r.Keys, c.keys)
			}
			if c.keys == "21" && r.Plays != 2 {
				t.Fatalf("plays %d after 2 then 1", r.Plays)
			}
			cdr := waitOutCDR(t, e)
			if cdr.CallID != r.CallID || cdr.Direction != "outbound" || cdr.Outcome != string(c.outcome) ||
				cdr.Called != "138****8000" || cdr.Caller != "12123" || cdr.NoticeID != r.NoticeID || cdr.SIPStatus != c.status {
				t.Fatalf("cdr %+v for %+v", cdr, r)
			}
			if (c.status == 200) == cdr.Answer.IsZero() {
				t.Fatalf("cdr answer time %v for status %d", cdr.Answer, c.status)
			}
			if got := counter(t, e.reg, "ivr_outbound_outcomes_total", string(c.outcome)); got != 1 {
				t.Fatalf("outcome counter %v", got)
			}
			st := sim.Stats()
			if st.Challenged != 1 || st.AuthFailed != 0 || st.Invites != 2 {
				t.Fatalf("trunk saw %+v: want one challenge answered", st)
			}
			// The guard keeps the notice from being called twice.
			if _, err := e.d.Call(context.Background(), notice("n-"+c.behaviour+c.keys)); !errors.Is(err, ivr.ErrGuardRefused) {
				t.Fatalf("second call: %v", err)
			}
			if st := sim.Stats(); st.Invites != 2 {
				t.Fatalf("a refused call reached the trunk: %+v", st)
			}
		})
	}
}

func waitOutCDR(t *testing.T, e *outEnv) ivr.CDR {
	t.Helper()
	select {
	case c := <-e.cdrs.ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no CDR")
	}
	return ivr.CDR{}
}

// TestOutboundInfoKeys: keys by SIP INFO on an outbound call.
func TestOutboundInfoKeys(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Keys: "21", KeyMethod: "info", KeyDelay: 200 * time.Millisecond,
		KeyGap: 500 * time.Millisecond})
	e := startDialler(t, sim.Addr(), nil)
	r := callOut(t, e, notice("n-info"))
	if r.Outcome != ivr.Confirmed || r.Keys != "21" || r.Plays != 2 {
		t.Fatalf("result %+v", r)
	}
	if st := sim.Stats(); st.KeysSent != 2 {
		t.Fatalf("trunk %+v", st)
	}
}

// TestOutboundWrongPassword: a trunk refusing the credentials is a failed
// call with the trunk's status, retried by no policy.
func TestOutboundWrongPassword(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Username: "gw", Password: "right-password"})
	e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) { o.Username, o.Password = "gw", "wrong-password" })
	r := callOut(t, e, notice("n-auth"))
	if r.Outcome != ivr.Failed || r.SIPStatus != 401 {
		t.Fatalf("result %+v", r)
	}
	if st := sim.Stats(); st.AuthFailed == 0 || st.Answered != 0 {
		t.Fatalf("trunk %+v", st)
	}
	if _, again := ivr.DefaultRetryPolicy.Next(1, r); again {
		t.Fatal("401 retried")
	}
}

func TestOutboundRefusals(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{})
	now := time.Date(2026, 12, 2, 22, 30, 0, 0, shanghai)
	e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) {
		o.Hours = ivr.Hours{From: 8 * time.Hour, To: 21 * time.Hour}
		o.Location = shanghai
		o.Now = func() time.Time { return now }
	})
	var oh *ivr.OutsideHoursError
	if _, err := e.d.Call(context.Background(), notice("late")); !errors.As(err, &oh) ||
		!oh.Next.Equal(time.Date(2026, 12, 3, 8, 0, 0, 0, shanghai)) {
		t.Fatalf("outside hours: %v", err)
	}
	for _, n := range []ivr.Notice{
		{ID: "", Phone: "13800138000", Text: "x"},
		{ID: "a", Phone: "1380013800x", Text: "x"},
		{ID: "a", Phone: "13800138000"},
		{ID: "a", Phone: "13800138000", Say: []ivr.SayItem{{Kind: "number", Value: "12a"}}},
		{ID: "a", Phone: "13800138000", Say: []ivr.SayItem{{Kind: "prompt", Value: "no_such_prompt"}}},
		{ID: "a", Phone: "13800138000", Say: []ivr.SayItem{{Kind: "date", Value: "2026-13-01"}}},
		{ID: "a", Phone: "13800138000", Say: []ivr.SayItem{{Kind: "shout", Value: "x"}}},
	} {
		if _, err := e.d.Call(context.Background(), n); !errors.Is(err, ivr.ErrBadNotice) {
			t.Errorf("notice %+v: %v", n, err)
		}
	}
	if st := sim.Stats(); st.Invites != 0 {
		t.Fatalf("refused calls dialled: %+v", st)
	}
}

// TestOutboundConcurrency: MaxConcurrent bounds calls in progress; the
// rest wait queued and are all placed.
func TestOutboundConcurrency(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Keys: "1", KeyDelay: 300 * time.Millisecond})
	e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) { o.MaxConcurrent = 2 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	results := make([]ivr.Result, 6)
	for i := range results {
		wg.Go(func() {
			n := notice("c" + string(rune('a'+i)))
			r, err := e.d.Call(context.Background(), n)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			peak = max(peak, e.d.Active())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-done
	for _, r := range results {
		if r.Outcome != ivr.Confirmed {
			t.Fatalf("result %+v", r)
		}
	}
	if peak > 2 || peak == 0 {
		t.Fatalf("peak concurrent %d, max 2", peak)
	}
}

// TestOutboundCloseWhileRinging: Close cancels a ringing call (CANCEL)
// instead of waiting for the ring timeout.
func TestOutboundCloseWhileRinging(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Mix: map[string]int{trunksim.NoAnswer: 1}})
	e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) { o.RingTimeout = time.Minute })
	type out struct {
		r   ivr.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := e.d.Call(context.Background(), notice("n-close"))
		done <- out{r, err}
	}()
	for {
		e.mu.Lock()
		ringing := len(e.states) > 0 && e.states[len(e.states)-1].State == ivr.StateRinging
		e.mu.Unlock()
		if ringing {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.d.Close(); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.r.Outcome != ivr.Failed || o.r.Reason != "shutdown" {
		t.Fatalf("result %+v %v", o.r, o.err)
	}
	if e.d.Ready() {
		t.Fatal("closed dialler ready")
	}
	if _, err := e.d.Call(context.Background(), notice("n-after")); !errors.Is(err, ivr.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
}

// TestOutboundTextWithoutSynth: free text without a synthesizer plays
// notice_see_sms instead and counts the TTS failure; the call goes on.
func TestOutboundTextWithoutSynth(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Keys: "1", KeyDelay: 200 * time.Millisecond})
	e := startDialler(t, sim.Addr(), nil)
	r := callOut(t, e, ivr.Notice{ID: "n-text", Phone: "13800138000", Text: "您的驾驶证记分已满十二分"})
	if r.Outcome != ivr.Confirmed {
		t.Fatalf("result %+v", r)
	}
	if got := counter(t, e.reg, "ivr_outbound_media_errors_total", "tts"); got != 1 {
		t.Fatalf("tts errors %v, want 1", got)
	}
}

// TestOutboundMaxDuration: a call still up after max_call_duration is hung
// up as unconfirmed.
func TestOutboundMaxDuration(t *testing.T) {
	t.Parallel()
	sim := startSim(t, trunksim.Config{Mix: map[string]int{trunksim.Silent: 1}})
	e := startDialler(t, sim.Addr(), func(o *ivr.DiallerOptions) {
		o.MaxCallDuration = 300 * time.Millisecond
		o.KeyTimeout = time.Minute
	})
	r := callOut(t, e, notice("n-long"))
	if r.Outcome != ivr.AnsweredUnconfirmed || r.Reason != "max_duration" {
		t.Fatalf("result %+v", r)
	}
}
