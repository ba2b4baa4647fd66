// Package voice is the gateway's voice stage: it places the outbound
// notice calls the ledger holds (rules `channels: [sms, voice]` or
// `[voice]`) through pkg/ivr's Dialler, and records every step in the
// ledger before it can matter.
//
// The guarantees, and where each is kept:
//
//   - A call is armed with its SMS and queued only when the SMS ends
//     failed, expired, partial or no_receipt, or has no delivered receipt
//     within the rule's fallback_after (Ledger.ArmCalls, every Poll).
//   - A call is claimed before it is dialled, and BeforeDial (the
//     dialler's DialGuard) records the SIP Call-ID durably before the
//     INVITE goes out: a crash and a restart never dial a call twice
//     without knowing about the first attempt.
//   - A key 1 is written to the ledger (confirmed, final) before the
//     callee hears "confirmed", so a confirmed notice is never called
//     again, whatever happens next.
//   - After a crash, calls the dead owner had claimed but not dialled go
//     back to the queue; calls in progress are reconciled from the call
//     records (Journal) before any retry: the record's outcome when there
//     is one, otherwise failed "crash during call", retried by the policy.
//   - Busy, no answer, unconfirmed and temporary failures are retried
//     with backoff up to RetryPolicy.MaxAttempts calls in all.
//
// Routing, rules and SIP are left to their packages: this one decides
// when to dial and what to record.
package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// Ledger is what the stage needs from the ledger (ledger.CallStore).
type Ledger interface {
	ArmCalls(ctx context.Context, now time.Time) (ledger.ArmResult, error)
	ClaimCalls(ctx context.Context, now time.Time, limit int, owner string) ([]*ledger.Call, error)
	BeforeDial(ctx context.Context, id int64, owner, sipCallID string, at time.Time) error
	CallProgress(ctx context.Context, id int64, sipCallID string, state ledger.CallState, at time.Time) error
	CallEnded(ctx context.Context, ends []ledger.CallEnd) error
	ReleaseCalls(ctx context.Context, ids []int64, notBefore time.Time) error
	StaleCalls(ctx context.Context, owner string, staleBefore time.Time) ([]*ledger.Call, error)
}

var _ Ledger = (ledger.CallStore)(nil)

// Dialler places calls (pkg/ivr.Dialler).
type Dialler interface {
	Call(ctx context.Context, n ivr.Notice) (ivr.Result, error)
	Allowed(t time.Time) (bool, time.Time)
}

var _ Dialler = (*ivr.Dialler)(nil)

// Records finds the call records of calls by SIP Call-ID (Journal).
type Records interface {
	Lookup(callIDs []string) (map[string]ivr.CDR, error)
}

// Config wires a Stage.
type Config struct {
	Owner   string // this instance (the ledger's claim owner)
	Ledger  Ledger
	Dialler Dialler // set before Run; Guard and OnState are handed to it
	Records Records // nil: in-progress calls found after a crash are failed "crash during call"
	Retry   ivr.RetryPolicy
	// MaxConcurrent bounds calls claimed at once (the dialler's own
	// bound; default ivr.DefaultMaxConcurrent).
	MaxConcurrent int
	// Poll is how often armed calls are checked and due calls claimed
	// (default 1 s).
	Poll time.Duration
	// StaleAfter: another instance's claim older than this is recovered
	// (default 15 min: longer than ring timeout plus the longest call).
	StaleAfter time.Duration
	// LocalRetry is how long a call that failed here before its INVITE
	// waits before it is tried again (default 1 min).
	LocalRetry time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Defaults.
const (
	DefaultPoll       = time.Second
	DefaultStaleAfter = 15 * time.Minute
)

// Stage places due calls until its context ends.
type Stage struct {
	cfg  Config
	log  *slog.Logger
	m    *Metrics
	wake chan struct{}

	mu     sync.Mutex
	active map[int64]*ledger.Call // claimed by this stage, by call id
	local  map[int64]int          // failures before dialling in a row, by call id
	wg     sync.WaitGroup
}

// New checks cfg and builds a stage.
func New(cfg Config) (*Stage, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("voice: no ledger")
	}
	if cfg.Owner == "" {
		return nil, errors.New("voice: no owner")
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = ivr.DefaultMaxConcurrent
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.LocalRetry <= 0 {
		cfg.LocalRetry = time.Minute
	}
	if cfg.Retry.MaxAttempts <= 0 {
		cfg.Retry = ivr.DefaultRetryPolicy
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Stage{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, wake: make(chan struct{}, 1),
		active: map[int64]*ledger.Call{}, local: map[int64]int{}}, nil
}

// SetDialler sets the dialler (it is built with the stage's Guard and
// OnState, so after New).
func (s *Stage) SetDialler(d Dialler) { s.cfg.Dialler = d }

// NoticeID is the dialler's notice id for a call: its ledger id.
func NoticeID(callID int64) string { return strconv.FormatInt(callID, 10) }

func callIDOf(noticeID string) (int64, error) {
	id, err := strconv.ParseInt(noticeID, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("voice: notice id %q is not a call", noticeID)
	}
	return id, nil
}

// Guard is the dialler's DialGuard: the ledger's BeforeDial under this
// stage's owner.
func (s *Stage) Guard() ivr.DialGuard { return guard{s} }

type guard struct{ s *Stage }

func (g guard) BeforeDial(ctx context.Context, noticeID, sipCallID string) error {
	id, err := callIDOf(noticeID)
	if err != nil {
		return err
	}
	return g.s.cfg.Ledger.BeforeDial(ctx, id, g.s.cfg.Owner, sipCallID, g.s.cfg.Now())
}

// OnState is the dialler's state callback: ringing and answered are
// recorded as progress; confirmed is recorded as the call's final outcome
// at once (the dialler reports it when the key is pressed, before the
// callee hears the confirmation), so that nothing after it can lead to a
// second call. The other outcomes are recorded when Call returns, with
// the retry decision.
func (s *Stage) OnState(t ivr.Transition) {
	id, err := callIDOf(t.NoticeID)
	if err != nil || t.CallID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch t.State {
	case ivr.StateRinging, ivr.StateAnswered:
		if err := s.cfg.Ledger.CallProgress(ctx, id, t.CallID, ledger.CallState(t.State), t.At); err != nil {
			s.m.ledgerErrors.Inc()
			s.log.Warn("call progress not recorded", "call", id, "state", t.State, "err", err)
		}
	case ivr.StateConfirmed:
		s.end(ctx, ledger.CallEnd{ID: id, SIPCallID: t.CallID, Outcome: ledger.CallConfirmed,
			Reason: "confirmed", SIPStatus: 200, At: t.At})
	}
}

// end records an attempt's end, retrying a failing ledger a few times;
// what still fails is reconciled at the next start (StaleCalls).
func (s *Stage) end(ctx context.Context, e ledger.CallEnd) {
	var err error
	for i := range 5 {
		if err = s.cfg.Ledger.CallEnded(ctx, []ledger.CallEnd{e}); err == nil {
			return
		}
		s.m.ledgerErrors.Inc()
		if i == 4 || !sleep(ctx, time.Duration(100<<i)*time.Millisecond) {
			break
		}
	}
	s.log.Error("call outcome not recorded; reconciled at the next start", "call", e.ID, "outcome", e.Outcome, "err", err)
}

// Wake makes the stage look for due calls now.
func (s *Stage) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run recovers this owner's calls, then arms, claims and places calls
// until ctx ends; it waits for the calls in progress to end (the dialler
// hangs them up when it is closed).
func (s *Stage) Run(ctx context.Context) error {
	if s.cfg.Dialler == nil {
		return errors.New("voice: no dialler")
	}
	if err := s.recover(ctx, time.Time{}); err != nil {
		return fmt.Errorf("voice: recover: %w", err)
	}
	defer s.wg.Wait()
	lastStale := s.cfg.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		now := s.cfg.Now()
		if now.Sub(lastStale) >= s.cfg.StaleAfter/2 {
			lastStale = now
			if err := s.recover(ctx, now.Add(-s.cfg.StaleAfter)); err != nil && ctx.Err() == nil {
				s.m.ledgerErrors.Inc()
				s.log.Warn("recovering stale calls failed", "err", err)
			}
		}
		if err := s.round(ctx, now); err != nil && ctx.Err() == nil {
			s.m.ledgerErrors.Inc()
			s.log.Warn("voice round failed", "err", err)
		}
		t.Reset(s.cfg.Poll)
	}
}

// round arms calls whose SMS failed or is late, then claims and places
// as many due calls as there are free slots.
func (s *Stage) round(ctx context.Context, now time.Time) error {
	ar, err := s.cfg.Ledger.ArmCalls(ctx, now)
	if err != nil {
		return fmt.Errorf("arm: %w", err)
	}
	s.m.armed.WithLabelValues("queued").Add(float64(ar.Queued))
	s.m.armed.WithLabelValues("cancelled").Add(float64(ar.Cancelled))
	if ok, _ := s.cfg.Dialler.Allowed(now); !ok {
		s.m.outsideHours.Set(1) // queued calls wait in the ledger; nothing is claimed
		return nil
	}
	s.m.outsideHours.Set(0)
	s.mu.Lock()
	free := s.cfg.MaxConcurrent - len(s.active)
	s.mu.Unlock()
	if free <= 0 {
		return nil
	}
	calls, err := s.cfg.Ledger.ClaimCalls(ctx, now, free, s.cfg.Owner)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	for _, c := range calls {
		s.mu.Lock()
		s.active[c.ID] = c
		s.mu.Unlock()
		s.wg.Go(func() { s.place(ctx, c) })
	}
	return nil
}

// place dials one claimed call and records how it ended.
func (s *Stage) place(ctx context.Context, c *ledger.Call) {
	defer func() {
		s.mu.Lock()
		delete(s.active, c.ID)
		s.mu.Unlock()
		s.Wake()
	}()
	n := ivr.Notice{ID: NoticeID(c.ID), Phone: c.Recipient, Text: c.Text}
	for _, it := range c.Say {
		n.Say = append(n.Say, ivr.SayItem{Kind: it.Kind, Value: it.Value})
	}
	res, err := s.cfg.Dialler.Call(ctx, n)
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var hours *ivr.OutsideHoursError
	switch {
	case err == nil:
	case errors.As(err, &hours):
		s.release(bg, c, hours.Next, "hours")
		return
	case errors.Is(err, ivr.ErrBadNotice):
		// It can never be spoken: fail it without dialling.
		s.m.outcomes.WithLabelValues(string(ledger.CallFailed), "final").Inc()
		s.log.Warn("notice cannot be called", "call", c.ID, "err", err)
		s.end(bg, ledger.CallEnd{ID: c.ID, Outcome: ledger.CallFailed, Reason: "bad_notice", At: s.cfg.Now()})
		return
	case errors.Is(err, ivr.ErrGuardRefused):
		// The ledger no longer gives this call to us (recovered by
		// another instance): nothing was dialled, nothing to record.
		s.m.refused.Inc()
		return
	case ctx.Err() != nil:
		// Shutdown before the INVITE: not dialled, due again at once.
		s.release(bg, c, s.cfg.Now(), "not_dialled")
		return
	default:
		// A local failure before the INVITE (no attempt is counted):
		// again after LocalRetry, and failed after maxLocalFailures of them
		// in a row, so that a broken dialler cannot claim the same
		// call for ever.
		if s.localFailure(c.ID) >= maxLocalFailures {
			s.m.outcomes.WithLabelValues(string(ledger.CallFailed), "final").Inc()
			s.log.Error("call failed before dialling, again and again", "call", c.ID, "err", err)
			s.end(bg, ledger.CallEnd{ID: c.ID, Outcome: ledger.CallFailed, Reason: "local_error", At: s.cfg.Now()})
			return
		}
		s.log.Warn("call failed before dialling; retried later", "call", c.ID, "after", s.cfg.LocalRetry, "err", err)
		s.release(bg, c, s.cfg.Now().Add(s.cfg.LocalRetry), "local_error")
		return
	}
	s.dialled(c.ID)
	attempt := c.Attempts + 1 // BeforeDial counted this one
	e := ledger.CallEnd{ID: c.ID, SIPCallID: res.CallID, Outcome: ledger.CallState(res.Outcome),
		Reason: res.Reason, SIPStatus: res.SIPStatus, At: res.Ended}
	if d, again := s.cfg.Retry.Next(attempt, res); again {
		e.RetryAt = res.Ended.Add(d)
	}
	s.m.outcomes.WithLabelValues(string(res.Outcome), retryLabel(e.RetryAt)).Inc()
	s.end(bg, e)
}

// maxLocalFailures: a call that fails this many times in a row before
// its INVITE (not an outcome of the call) ends failed "local_error".
const maxLocalFailures = 3

// localFailure counts a failure before dialling of call id and returns
// how many in a row.
func (s *Stage) localFailure(id int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local[id]++
	n := s.local[id]
	if n >= maxLocalFailures {
		delete(s.local, id)
	}
	return n
}

// dialled forgets the failures before dialling of call id.
func (s *Stage) dialled(id int64) {
	s.mu.Lock()
	delete(s.local, id)
	s.mu.Unlock()
}

// sleep waits d, or less when ctx ends (then false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func retryLabel(t time.Time) string {
	if t.IsZero() {
		return "final"
	}
	return "retry"
}

func (s *Stage) release(ctx context.Context, c *ledger.Call, at time.Time, why string) {
	s.m.released.WithLabelValues(why).Inc()
	if err := s.cfg.Ledger.ReleaseCalls(ctx, []int64{c.ID}, at); err != nil {
		s.m.ledgerErrors.Inc()
		s.log.Warn("call not released; recovered later", "call", c.ID, "err", err)
	}
}

// recover releases claimed calls nobody dialled and reconciles calls in
// progress from their records: this owner's (staleBefore zero, at start)
// or anyone's claimed before staleBefore. Calls this stage is placing
// now are left alone.
func (s *Stage) recover(ctx context.Context, staleBefore time.Time) error {
	calls, err := s.cfg.Ledger.StaleCalls(ctx, s.cfg.Owner, staleBefore)
	if err != nil {
		return err
	}
	var release []int64
	var dialled []*ledger.Call
	s.mu.Lock()
	for _, c := range calls {
		if _, mine := s.active[c.ID]; mine {
			continue
		}
		if c.State == ledger.CallClaimed {
			release = append(release, c.ID)
		} else if c.State.InProgress() {
			dialled = append(dialled, c)
		}
	}
	s.mu.Unlock()
	now := s.cfg.Now()
	if len(release) > 0 {
		if err := s.cfg.Ledger.ReleaseCalls(ctx, release, now); err != nil {
			return err
		}
		s.m.released.WithLabelValues("recovered").Add(float64(len(release)))
	}
	if len(dialled) == 0 {
		return nil
	}
	recs := map[string]ivr.CDR{}
	if s.cfg.Records != nil {
		ids := make([]string, 0, len(dialled))
		for _, c := range dialled {
			ids = append(ids, c.SIPCallID)
		}
		if recs, err = s.cfg.Records.Lookup(ids); err != nil {
			// Without the records no call is retried: a retry could
			// call a person who already confirmed.
			return fmt.Errorf("call records: %w", err)
		}
	}
	var ends []ledger.CallEnd
	for _, c := range dialled {
		res := ivr.Result{NoticeID: NoticeID(c.ID), CallID: c.SIPCallID, Outcome: ivr.Failed, Reason: ledger.ReasonCallCrash}
		from := "crash"
		if r, ok := recs[c.SIPCallID]; ok && r.Outcome != "" {
			res.Outcome, res.Reason, res.SIPStatus, from = ivr.Outcome(r.Outcome), r.Cause, r.SIPStatus, "record"
		}
		e := ledger.CallEnd{ID: c.ID, SIPCallID: c.SIPCallID, Outcome: ledger.CallState(res.Outcome),
			Reason: res.Reason, SIPStatus: res.SIPStatus, At: now}
		if d, again := s.retryAfter(c.Attempts, res); again {
			e.RetryAt = now.Add(d)
		}
		ends = append(ends, e)
		s.m.reconciled.WithLabelValues(from).Inc()
		s.log.Info("call reconciled after a crash", "call", c.ID, "from", from, "outcome", res.Outcome, "retry", !e.RetryAt.IsZero())
	}
	return s.cfg.Ledger.CallEnded(ctx, ends)
}

// retryAfter is the policy for a reconciled attempt. A call cut by a
// crash has no SIP status: it is retried like a temporary failure.
func (s *Stage) retryAfter(attempt int, r ivr.Result) (time.Duration, bool) {
	if r.Reason == ledger.ReasonCallCrash {
		r.SIPStatus = 503
	}
	return s.cfg.Retry.Next(attempt, r)
}
