package ledgertest

import (
	"fmt"
	"testing"

	"github.com/traffic12123/gateway/internal/message"
)

// testWeeklyCount: the weekly cap counts a recipient's messages of the
// last 7 days (created at or after the start of the day 6 days ago), urgent
// and delivered ones included, suppressed and cancelled ones not.
func testWeeklyCount(t *testing.T, e *env) {
	var ms []*message.Message
	for day := range 9 {
		e.clock.Set(T0.AddDate(0, 0, day))
		m := Msg(fmt.Sprintf("w%d", day), "r", 1)
		switch day {
		case 7:
			m.State, m.Reason = message.StateSuppressed, "daily_cap"
		case 8:
			m.Urgent = true
		}
		m.CancelKey = fmt.Sprintf("c%d", day)
		e.insert(m)
		ms = append(ms, m)
	}
	if _, err := e.s.Cancel(e.ctx, []string{"c6"}, "moot"); err != nil {
		t.Fatal(err)
	}
	weekStart := T0.AddDate(0, 0, 2) // seen from day 8
	counts, err := e.s.CountSince(e.ctx, []string{ms[0].Recipient}, weekStart)
	if err != nil {
		t.Fatal(err)
	}
	// days 2..8 = 7 messages, minus day 6 (cancelled) and day 7 (suppressed)
	if n := counts[ms[0].Recipient]; n != 5 {
		t.Fatalf("weekly count = %d, want 5", n)
	}
}

// testSummaryCancelled: a message cancelled before it was sent is not
// part of its carrier's figures (it never reached the carrier).
func testSummaryCancelled(t *testing.T, e *env) {
	a, b := Msg("ev1", "r", 1), Msg("ev1", "r", 2)
	b.CancelKey = "c"
	e.insert(a, b)
	if _, err := e.s.Cancel(e.ctx, []string{"c"}, "moot"); err != nil {
		t.Fatal(err)
	}
	s, err := e.s.Summary(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Carriers[a.Carrier]; c.Messages != 1 || c.Segments != 1 || s.States[message.StateCancelled] != 1 {
		t.Fatalf("summary %+v", s)
	}
}
