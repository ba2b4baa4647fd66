package cnsms

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Throttle defaults.
const (
	DefaultThrottleBackoff  = 200 * time.Millisecond
	DefaultThrottleMaxPause = 5 * time.Second
	DefaultThrottleRecover  = 2 * time.Second
	throttleMinFactor       = 1.0 / 16
	throttleStep            = 0.1
)

// ThrottleConfig configures a Throttle.
type ThrottleConfig struct {
	TPS      float64 // submits per second over the account; 0: no limit
	Burst    int     // default TPS/10, at least 1
	Backoff  time.Duration
	MaxPause time.Duration
	Recover  time.Duration
}

// Throttle is the account-wide reaction to "traffic too high" answers
// (CMPP result 8, SMGP status 1 / 75), as pkg/smpp's: an answer to a
// submit written after the last pause began starts an episode — nothing
// is submitted for Backoff, doubling per consecutive episode up to
// MaxPause, and the effective TPS halves (floor TPS/16). Answers to
// submits already in flight are the same episode. A success written
// after the pause ends the streak; each Recover without an episode gives
// back a tenth of TPS.
type Throttle struct {
	base     float64
	limiter  *rate.Limiter
	backoff  time.Duration
	maxPause time.Duration
	recover  time.Duration
	metrics  *CarrierMetrics

	active atomic.Bool

	mu         sync.Mutex
	until      time.Time
	pausedAt   time.Time
	streak     int
	factor     float64
	lastChange time.Time
	episodes   int64
}

// NewThrottle returns a Throttle reporting to m.
func NewThrottle(cfg ThrottleConfig, m *CarrierMetrics) *Throttle {
	t := &Throttle{base: cfg.TPS, backoff: cfg.Backoff, maxPause: cfg.MaxPause, recover: cfg.Recover, metrics: m, factor: 1}
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
	m.EffectiveTPS(t.base)
	return t
}

// Wait blocks until a submit may be sent.
func (t *Throttle) Wait(ctx context.Context) error {
	if t.active.Load() {
		for {
			d := t.check(time.Now())
			if d <= 0 {
				break
			}
			if !Sleep(ctx, d) {
				return ctx.Err()
			}
		}
	}
	if t.limiter != nil {
		return t.limiter.Wait(ctx)
	}
	return ctx.Err()
}

func (t *Throttle) check(now time.Time) time.Duration {
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
	if t.factor >= 1 && t.streak == 0 {
		t.active.Store(false)
	}
	return 0
}

func (t *Throttle) setFactor(f float64, now time.Time) {
	t.factor = f
	t.lastChange = now
	if t.limiter != nil {
		t.limiter.SetLimitAt(now, rate.Limit(t.base*f))
	}
	t.metrics.EffectiveTPS(t.base * f)
}

// Throttled records a traffic-too-high answer to a submit written at
// sent; it reports whether it began a new episode.
func (t *Throttle) Throttled(sent time.Time) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.pausedAt.IsZero() && sent.Before(t.pausedAt) {
		return false
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
	t.metrics.ThrottlePause()
	return true
}

// Accepted records a successful submit written at sent.
func (t *Throttle) Accepted(sent time.Time) {
	if !t.active.Load() {
		return
	}
	t.mu.Lock()
	if t.streak > 0 && !sent.Before(t.pausedAt) {
		t.streak = 0
	}
	t.mu.Unlock()
}

// ThrottleState is the account's adaptive throttling state.
type ThrottleState struct {
	Paused       time.Duration
	EffectiveTPS float64
	Episodes     int64
	Streak       int
}

// State returns the current state.
func (t *Throttle) State() ThrottleState {
	now := time.Now()
	t.check(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	return ThrottleState{Paused: max(0, t.until.Sub(now)), EffectiveTPS: t.base * t.factor, Episodes: t.episodes, Streak: t.streak}
}
