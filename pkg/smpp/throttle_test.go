package smpp

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestThrottleEpisodes(t *testing.T) {
	cfg := Config{TPS: 160, ThrottleBackoff: 100 * time.Millisecond, ThrottleMaxPause: time.Second, ThrottleRecover: time.Second}
	th := newThrottle(&cfg, nil)
	before := time.Now().Add(-time.Millisecond)

	// A few throttle answers among successes: no episode (random
	// refusals, issue 12).
	for i := range throttleShare - 1 {
		if th.throttled(time.Now()) {
			t.Fatalf("throttle %d of the last %d answers began an episode", i+1, throttleWindow)
		}
	}
	if st := th.state(); st.Episodes != 0 || st.EffectiveTPS != 160 || st.Paused != 0 {
		t.Fatalf("scattered throttles slowed the account: %+v", st)
	}
	if !th.throttled(time.Now()) {
		t.Fatal("a quarter of the answers throttled began no episode")
	}
	st := th.state()
	if st.Episodes != 1 || st.Streak != 1 || st.EffectiveTPS != 80 || st.Paused <= 0 || st.Paused > 100*time.Millisecond {
		t.Fatalf("after one episode: %+v", st)
	}
	// Answers to submits written before the pause: the same episode.
	for range 50 {
		if th.throttled(before) {
			t.Fatal("an in-flight submit's throttle began a new episode")
		}
	}
	if st := th.state(); st.Episodes != 1 || st.EffectiveTPS != 80 {
		t.Fatalf("in-flight throttles changed the state: %+v", st)
	}
	// Consecutive episodes double the pause up to the cap and halve the
	// rate down to the floor.
	tests := []struct {
		pause time.Duration
		tps   float64
	}{
		{200 * time.Millisecond, 40},
		{400 * time.Millisecond, 20},
		{800 * time.Millisecond, 10},
		{time.Second, 160 * throttleMinFactor},
		{time.Second, 160 * throttleMinFactor},
	}
	for i, tt := range tests {
		th.throttled(time.Now())
		th.mu.Lock()
		pause, tps := th.until.Sub(th.pausedAt), th.base*th.factor
		th.mu.Unlock()
		if pause != tt.pause || tps != tt.tps {
			t.Fatalf("episode %d: pause %v tps %v, want %v %v", i+2, pause, tps, tt.pause, tt.tps)
		}
	}
	// A success written after the pause began ends the streak; one
	// written before does not.
	th.accepted(before)
	if th.state().Streak == 0 {
		t.Fatal("an in-flight success reset the streak")
	}
	th.accepted(time.Now())
	if th.state().Streak != 0 {
		t.Fatal("a success did not reset the streak")
	}
	// Quiet periods give the rate back a tenth at a time, then the fast
	// path is taken again.
	th.mu.Lock()
	th.until = time.Time{}
	last := th.lastChange
	th.mu.Unlock()
	th.check(last.Add(3 * time.Second))
	if got := th.state().EffectiveTPS; math.Abs(got-160*(throttleMinFactor+3*throttleStep)) > 1e-9 {
		t.Fatalf("after 3 quiet periods: %v TPS", got)
	}
	for range throttleWindow {
		th.accepted(time.Now())
	}
	th.check(last.Add(time.Hour))
	if st := th.state(); st.EffectiveTPS != 160 || th.active.Load() {
		t.Fatalf("after an hour: %+v active %v", st, th.active.Load())
	}
}

// TestThrottlePauseWithoutTPS: with no TPS limit the pause still holds
// every submit, and waiting honours ctx (no busy loop: one sleep).
func TestThrottlePauseWithoutTPS(t *testing.T) {
	cfg := Config{ThrottleBackoff: time.Hour, ThrottleMaxPause: time.Hour}
	th := newThrottle(&cfg, nil)
	if err := th.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range throttleShare {
		th.throttled(time.Now())
	}
	if st := th.state(); st.EffectiveTPS != 0 || st.Paused <= 0 {
		t.Fatalf("%+v", st)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- th.wait(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("wait during a pause: %v", err)
	}
}
