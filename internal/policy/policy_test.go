package policy

import (
	"context"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// history is an in-memory History; the ledger's own implementation is
// tested against the same semantics in ledgertest.
type history struct {
	sent   map[string]time.Time // dedupe key -> created
	counts map[string]int
	out    map[string]bool
	since  time.Time
}

func (h *history) RecentDedupe(_ context.Context, keys []string, since time.Time) (map[string]bool, error) {
	r := map[string]bool{}
	for _, k := range keys {
		if t, ok := h.sent[k]; ok && !t.Before(since) {
			r[k] = true
		}
	}
	return r, nil
}

func (h *history) CountSince(_ context.Context, rs []string, since time.Time) (map[string]int, error) {
	h.since = since
	r := map[string]int{}
	for _, p := range rs {
		if n := h.counts[p]; n > 0 {
			r[p] = n
		}
	}
	return r, nil
}

func (h *history) OptedOut(_ context.Context, ps []string) (map[string]bool, error) {
	r := map[string]bool{}
	for _, p := range ps {
		if h.out[p] {
			r[p] = true
		}
	}
	return r, nil
}

func TestApply(t *testing.T) {
	loc := Shanghai()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, loc)
	h := &history{
		sent:   map[string]time.Time{"insp|京A1": now.Add(-48 * time.Hour), "insp|京A2": now.Add(-10 * 24 * time.Hour)},
		counts: map[string]int{"13900000003": 2},
		out:    map[string]bool{"13900000009": true},
	}
	p := New(Config{Caps: Caps{Day: 3}, Location: loc}, h)
	mk := func(phone, dk string, urgent bool) Candidate {
		return Candidate{Msg: &message.Message{Recipient: phone, DedupeKey: dk, Urgent: urgent, State: message.StateQueued}, DedupeWindow: 7 * 24 * time.Hour}
	}
	cs := []Candidate{
		0: mk("13900000009", "", false),         // opted out
		1: mk("13900000001", "insp|京A1", false), // sent 2 days ago, window 7 days
		2: mk("13900000001", "insp|京A2", false), // sent 10 days ago: outside the window
		3: mk("13900000002", "x|1", false),      // first in batch
		4: mk("13900000002", "x|1", false),      // same key later in the batch
		5: mk("13900000003", "", false),         // third today: allowed (cap 3)
		6: mk("13900000003", "", false),         // fourth: capped
		7: mk("13900000003", "", true),          // urgent: bypasses the cap
	}
	cs = append(cs, Candidate{Msg: &message.Message{Recipient: "13900000004", State: message.StateSuppressed, Reason: "expired"}})
	if err := p.Apply(context.Background(), cs, now); err != nil {
		t.Fatal(err)
	}
	want := []string{ReasonOptedOut, ReasonDuplicate, "", "", ReasonDuplicate, "", ReasonDailyCap, "", "expired"}
	for i, c := range cs {
		if c.Msg.Reason != want[i] {
			t.Errorf("candidate %d: reason %q, want %q", i, c.Msg.Reason, want[i])
		}
		if (want[i] != "") != (c.Msg.State == message.StateSuppressed) {
			t.Errorf("candidate %d: state %s", i, c.Msg.State)
		}
	}
	if wantDay := time.Date(2026, 11, 27, 0, 0, 0, 0, loc); !h.since.Equal(wantDay) {
		t.Errorf("cap day starts %v, want %v", h.since, wantDay)
	}
}

func TestNoCap(t *testing.T) {
	h := &history{counts: map[string]int{"13900000003": 100}}
	p := New(Config{}, h)
	c := Candidate{Msg: &message.Message{Recipient: "13900000003", State: message.StateQueued}}
	if err := p.Apply(context.Background(), []Candidate{c}, time.Now()); err != nil || c.Msg.State != message.StateQueued {
		t.Fatalf("state %s, err %v", c.Msg.State, err)
	}
}

// since records every CountSince window asked for.
type sinceHistory struct {
	history
	asked  []time.Time
	counts map[time.Time]map[string]int
}

func (h *sinceHistory) CountSince(_ context.Context, rs []string, since time.Time) (map[string]int, error) {
	h.asked = append(h.asked, since)
	r := map[string]int{}
	for _, p := range rs {
		if n := h.counts[since][p]; n > 0 {
			r[p] = n
		}
	}
	return r, nil
}

func TestWeeklyCap(t *testing.T) {
	loc := Shanghai()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, loc) // a Friday
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, loc)
	week := time.Date(2026, 11, 21, 0, 0, 0, 0, loc) // 7 calendar days, today included
	h := &sinceHistory{counts: map[time.Time]map[string]int{
		day:  {"13900000001": 1, "13900000002": 0},
		week: {"13900000001": 9, "13900000002": 10},
	}}
	p := New(Config{Location: loc}, h)
	mk := func(phone string, urgent bool) Candidate {
		return Candidate{Msg: &message.Message{Recipient: phone, Urgent: urgent, State: message.StateQueued}}
	}
	cs := []Candidate{
		0: mk("13900000001", false), // 10th this week: allowed
		1: mk("13900000001", false), // 11th: weekly cap
		2: mk("13900000002", false), // already 10 this week
		3: mk("13900000002", true),  // urgent bypasses
		4: mk("13900000003", false), // nothing before
	}
	if err := p.ApplyCaps(context.Background(), cs, now, Caps{Day: 3, Week: 10}); err != nil {
		t.Fatal(err)
	}
	want := []string{"", ReasonWeeklyCap, ReasonWeeklyCap, "", ""}
	for i, c := range cs {
		if c.Msg.Reason != want[i] {
			t.Errorf("candidate %d: reason %q, want %q", i, c.Msg.Reason, want[i])
		}
	}
	if len(h.asked) != 2 || !h.asked[0].Equal(day) || !h.asked[1].Equal(week) {
		t.Errorf("windows asked %v, want %v and %v", h.asked, day, week)
	}
	// The config's caps are the default when a batch brings none.
	h.asked = nil
	c := mk("13900000002", false)
	if err := New(Config{Location: loc}, h).Apply(context.Background(), []Candidate{c}, now); err != nil || c.Msg.State != message.StateQueued || len(h.asked) != 0 {
		t.Fatalf("no caps: state %s, asked %v, err %v", c.Msg.State, h.asked, err)
	}
}
