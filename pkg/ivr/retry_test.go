package ivr_test

import (
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

func TestRetryPolicy(t *testing.T) {
	p := ivr.RetryPolicy{MaxAttempts: 4, Backoff: 5 * time.Minute, MaxBackoff: 15 * time.Minute, RetryUnconfirmed: true}
	cases := []struct {
		attempt int
		r       ivr.Result
		delay   time.Duration
		again   bool
	}{
		{1, ivr.Result{Outcome: ivr.Confirmed}, 0, false},
		{1, ivr.Result{Outcome: ivr.Busy, SIPStatus: 486}, 5 * time.Minute, true},
		{2, ivr.Result{Outcome: ivr.NoAnswer}, 10 * time.Minute, true},
		{3, ivr.Result{Outcome: ivr.AnsweredUnconfirmed}, 15 * time.Minute, true}, // capped
		{4, ivr.Result{Outcome: ivr.Busy}, 0, false},                              // limit
		{1, ivr.Result{Outcome: ivr.Failed, SIPStatus: 404}, 0, false},            // wrong number
		{1, ivr.Result{Outcome: ivr.Failed, SIPStatus: 403}, 0, false},
		{1, ivr.Result{Outcome: ivr.Failed, SIPStatus: 503}, 5 * time.Minute, true},
		{1, ivr.Result{Outcome: ivr.Failed}, 5 * time.Minute, true}, // transport
		{1, ivr.Result{Outcome: "other"}, 0, false},
	}
	for _, c := range cases {
		d, again := p.Next(c.attempt, c.r)
		if d != c.delay || again != c.again {
			t.Errorf("attempt %d %+v: %v %v, want %v %v", c.attempt, c.r.Outcome, d, again, c.delay, c.again)
		}
	}
	p.RetryUnconfirmed = false
	if _, again := p.Next(1, ivr.Result{Outcome: ivr.AnsweredUnconfirmed}); again {
		t.Error("unconfirmed retried with RetryUnconfirmed false")
	}
	if _, again := (ivr.RetryPolicy{}).Next(1, ivr.Result{Outcome: ivr.Busy}); again {
		t.Error("zero policy retries (MaxAttempts 0 is one call)")
	}
}

func TestHours(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	h, err := ivr.ParseHours("08:00-21:00")
	if err != nil || h.String() != "08:00-21:00" {
		t.Fatalf("%v %v", h, err)
	}
	at := func(hh, mm int) time.Time { return time.Date(2026, 12, 2, hh, mm, 0, 0, loc) }
	for _, c := range []struct {
		t    time.Time
		ok   bool
		next time.Time
	}{
		{at(8, 0), true, at(8, 0)},
		{at(20, 59), true, at(20, 59)},
		{at(21, 0), false, at(8, 0).AddDate(0, 0, 1)},
		{at(7, 59), false, at(8, 0)},
		{at(0, 0), false, at(8, 0)},
	} {
		ok, next := h.Allowed(c.t)
		if ok != c.ok || !next.Equal(c.next) {
			t.Errorf("%v: %v %v, want %v %v", c.t, ok, next, c.ok, c.next)
		}
	}
	night, err := ivr.ParseHours("22:00-06:00")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := night.Allowed(at(23, 0)); !ok {
		t.Error("22-06 refuses 23:00")
	}
	if ok, next := night.Allowed(at(12, 0)); ok || !next.Equal(at(22, 0)) {
		t.Errorf("22-06 at noon: %v %v", ok, next)
	}
	if always, err := ivr.ParseHours(""); err != nil || always != (ivr.Hours{}) {
		t.Fatal("empty hours")
	}
	for _, bad := range []string{"8-21", "08:00", "08:00-08:00", "25:00-26:00", "08:60-21:00", "aa:bb-cc:dd"} {
		if _, err := ivr.ParseHours(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
