package smpp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Adaptive throttling defaults.
const (
	DefaultThrottleMaxPause = 5 * time.Second
	DefaultThrottleRecover  = 2 * time.Second
	// throttleMinFactor is the floor of the effective TPS as a fraction
	// of Config.TPS.
	throttleMinFactor = 1.0 / 16
	// throttleStep is what a quiet period adds back to the factor
	// (additive increase; a throttle halves it: multiplicative decrease).
	throttleStep = 0.1
	// throttleWindow answers are remembered; an episode begins only when
	// at least throttleShare of them were throttle answers. An SMSC that
	// refuses a few submits at random (5 %) is not saying "too fast":
	// slowing the account for each refusal would hold it at the floor
	// (issue 12); one that limits the rate refuses most of the excess.
	throttleWindow = 32
	throttleShare  = 8
)

// throttle is the account-wide reaction to ESME_RTHROTTLED and
// ESME_RMSGQFUL: every bind of a Client waits on it before a submit_sm.
//
// A throttle answer to a submit_sm sent after the last pause began, when
// a quarter or more of the last 32 answers were throttle answers, is a
// new episode (fewer: the SMSC refuses at random, and the part's own
// retry backs off): the whole account pauses (no submit before until, the
// pause doubling per consecutive episode from ThrottleBackoff up to
// ThrottleMaxPause) and, with a TPS limit, the effective rate is halved
// (down to TPS/16). Answers to submits already in flight when the pause
// began belong to the same episode and change nothing: a window of 64
// throttled parts is one signal, not 64. A success of a submit sent after
// the pause resets the episode count; each ThrottleRecover without a new
// episode gives back a tenth of TPS, so the rate climbs back to the
// limit the SMSC tolerates (AIMD, as TCP does). With TPS 0 (no limit)
// only the pause applies.
type throttle struct {
	base     float64 // Config.TPS; 0: no limiter
	limiter  *rate.Limiter
	backoff  time.Duration // first pause
	maxPause time.Duration
	recover  time.Duration
	metrics  *carrierMetrics

	active atomic.Bool // fast path: false while nothing needs doing

	mu         sync.Mutex
	until      time.Time // no submit before
	pausedAt   time.Time // start of the last episode
	streak     int       // consecutive episodes
	factor     float64   // effective TPS = base × factor
	lastChange time.Time // of factor
	episodes   int64
	recent     [throttleWindow]bool // the last answers, true: throttled
	next       int                  // index in recent of the oldest
	nThrottled int                  // true entries in recent
}

// record remembers one answer and reports how many of the last
// throttleWindow were throttle answers. Caller holds mu.
func (t *throttle) record(throttled bool) int {
	if t.recent[t.next] {
		t.nThrottled--
	}
	t.recent[t.next] = throttled
	if throttled {
		t.nThrottled++
	}
	t.next = (t.next + 1) % throttleWindow
	return t.nThrottled
}

func newThrottle(cfg *Config, m *carrierMetrics) *throttle {
	t := &throttle{
		base:     cfg.TPS,
		backoff:  cfg.ThrottleBackoff,
		maxPause: cfg.ThrottleMaxPause,
		recover:  cfg.ThrottleRecover,
		metrics:  m,
		factor:   1,
	}
	if t.backoff <= 0 {
		t.backoff = DefaultThrottleBackoff
	}
	if t.maxPause <= 0 {
		t.maxPause = DefaultThrottleMaxPause
	}
	t.maxPause = max(t.maxPause, t.backoff)
	if t.recover <= 0 {
		t.recover = DefaultThrottleRecover
	}
	if t.base > 0 {
		burst := cfg.Burst
		if burst <= 0 {
			burst = max(1, int(t.base/10))
		}
		t.limiter = rate.NewLimiter(rate.Limit(t.base), burst)
	}
	m.effectiveTPS(t.base)
	return t
}

// wait blocks until a submit_sm may be sent: after the shared pause and
// with a token of the (possibly reduced) rate.
func (t *throttle) wait(ctx context.Context) error {
	if t.active.Load() {
		for {
			d := t.check(time.Now())
			if d <= 0 {
				break
			}
			if !sleep(ctx, d) {
				return ctx.Err()
			}
		}
	}
	if t.limiter != nil {
		return t.limiter.Wait(ctx)
	}
	return nil
}

// check returns how long the pause still lasts, and restores the rate
// step by step after quiet periods.
func (t *throttle) check(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d := t.until.Sub(now); d > 0 {
		return d
	}
	if t.factor < 1 {
		if n := now.Sub(t.lastChange) / t.recover; n > 0 {
			t.setFactor(min(1, t.factor+float64(n)*throttleStep), now)
		}
	}
	if t.factor >= 1 && t.streak == 0 && t.nThrottled == 0 {
		t.active.Store(false)
	}
	return 0
}

func (t *throttle) setFactor(f float64, now time.Time) {
	t.factor = f
	t.lastChange = now
	if t.limiter != nil {
		t.limiter.SetLimitAt(now, rate.Limit(t.base*f))
	}
	t.metrics.effectiveTPS(t.base * f)
}

// throttled records an ESME_RTHROTTLED or ESME_RMSGQFUL answer to a
// submit_sm written at sent. It reports whether it began a new episode.
func (t *throttle) throttled(sent time.Time) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.record(true) < throttleShare {
		t.active.Store(true) // so that accepted answers are counted
		return false         // a refusal here and there: the part's own retry waits
	}
	if !t.pausedAt.IsZero() && sent.Before(t.pausedAt) {
		return false // in flight when the pause began: same episode
	}
	t.streak++
	t.episodes++
	pause := t.backoff << min(t.streak-1, 20)
	if pause <= 0 || pause > t.maxPause {
		pause = t.maxPause
	}
	t.pausedAt = now
	t.until = now.Add(pause)
	if t.base > 0 {
		t.setFactor(max(throttleMinFactor, t.factor/2), now)
	}
	t.active.Store(true)
	t.metrics.throttlePause()
	return true
}

// accepted records a successful submit_sm written at sent.
func (t *throttle) accepted(sent time.Time) {
	if !t.active.Load() {
		return
	}
	t.mu.Lock()
	t.record(false)
	if t.streak > 0 && !sent.Before(t.pausedAt) {
		t.streak = 0
	}
	t.mu.Unlock()
}

// ThrottleState is the account's adaptive throttling state.
type ThrottleState struct {
	Paused       time.Duration // left of the current pause; 0 if none
	EffectiveTPS float64       // current rate limit; 0: no limit configured
	Episodes     int64         // pauses begun since NewClient
	Streak       int           // consecutive episodes without a success in between
}

func (t *throttle) state() ThrottleState {
	now := time.Now()
	t.check(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	return ThrottleState{
		Paused:       max(0, t.until.Sub(now)),
		EffectiveTPS: t.base * t.factor,
		Episodes:     t.episodes,
		Streak:       t.streak,
	}
}

// Throttle reports the adaptive throttling state shared by the binds.
func (c *Client) Throttle() ThrottleState { return c.throttle.state() }

func (c *carrierMetrics) throttlePause() {
	if c != nil {
		c.m.ThrottlePauses.WithLabelValues(c.carrier, Protocol).Inc()
	}
}

func (c *carrierMetrics) effectiveTPS(v float64) {
	if c != nil {
		c.m.EffectiveTPS.WithLabelValues(c.carrier, Protocol).Set(v)
	}
}
