// Package policy decides, after the rules fired, whether each message may
// be sent to its recipient: opt-out list, dedupe windows (the daily snapshot
// sweep must not remind a driver every day) and per-recipient daily and
// weekly caps that urgent rules bypass. The caps are the rule set's
// (rules/settings.yaml caps), handed in with each batch. It works on whole
// batches so that the history it needs costs a few queries per batch, not
// a few per message. Quiet hours and timing belong to the rules; routing to
// route.
package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// Reasons a message is suppressed; a bounded set, used as metric labels.
const (
	ReasonOptedOut  = "opted_out"
	ReasonDuplicate = "duplicate"
	ReasonDailyCap  = "daily_cap"
	ReasonWeeklyCap = "weekly_cap"
)

// Reasons lists every reason Apply may give.
var Reasons = []string{ReasonOptedOut, ReasonDuplicate, ReasonDailyCap, ReasonWeeklyCap}

// History is what the policy needs to know about messages already
// decided. The ledger implements it.
type History interface {
	RecentDedupe(ctx context.Context, keys []string, since time.Time) (map[string]bool, error)
	CountSince(ctx context.Context, recipients []string, since time.Time) (map[string]int, error)
	OptedOut(ctx context.Context, phones []string) (map[string]bool, error)
}

// Candidate is a message the rules produced, with the dedupe window of
// the rule that produced it.
type Candidate struct {
	Msg          *message.Message
	DedupeWindow time.Duration
}

// Caps are per-recipient limits on non-urgent messages; 0 means no cap.
// A day is the local calendar day; a week is the last 7 local calendar
// days, today included (a rolling week: no burst at a week boundary).
// Every message not suppressed or cancelled counts, urgent ones included;
// urgent messages are never held back by a cap.
type Caps struct {
	Day  int
	Week int
}

// Config tunes the policy.
type Config struct {
	// Caps apply when a batch brings none (ApplyCaps); the gateway always
	// hands in the rule set's caps, so this is for tools and tests.
	Caps     Caps
	Location *time.Location // defines "a day"; default Asia/Shanghai (UTC+8 when tzdata is missing)
}

// Policy applies Config against a History. It is safe for concurrent use
// as long as History is; two batches decided concurrently for the same
// recipient may both pass a cap by one (the ingest keeps one entity's
// events in one partition, so this needs two entities sharing a phone).
type Policy struct {
	cfg  Config
	hist History
}

// New returns a policy.
func New(cfg Config, h History) *Policy {
	if cfg.Location == nil {
		cfg.Location = Shanghai()
	}
	return &Policy{cfg: cfg, hist: h}
}

// Shanghai returns Asia/Shanghai, or a fixed UTC+8 zone when the system has
// no time zone database (a minimal container).
func Shanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*3600)
}

// Apply marks the candidates that must not be sent as suppressed with a
// reason, in place. Candidates already suppressed are left alone and do not
// count towards caps. The order of cs matters within a batch: earlier
// candidates win a dedupe key or the last place under a cap.
func (p *Policy) Apply(ctx context.Context, cs []Candidate, now time.Time) error {
	return p.ApplyCaps(ctx, cs, now, p.cfg.Caps)
}

// ApplyCaps is Apply with the caps of the batch's rule set.
func (p *Policy) ApplyCaps(ctx context.Context, cs []Candidate, now time.Time, caps Caps) error {
	live := make([]Candidate, 0, len(cs))
	for _, c := range cs {
		if c.Msg.State != message.StateSuppressed {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return nil
	}
	phones := make([]string, 0, len(live))
	seenPhone := make(map[string]bool, len(live))
	for _, c := range live {
		if !seenPhone[c.Msg.Recipient] {
			seenPhone[c.Msg.Recipient] = true
			phones = append(phones, c.Msg.Recipient)
		}
	}
	out, err := p.hist.OptedOut(ctx, phones)
	if err != nil {
		return fmt.Errorf("policy: opt-out lookup: %w", err)
	}
	recent, err := p.recentDedupe(ctx, live, now)
	if err != nil {
		return err
	}
	var counts, weekly map[string]int
	y, mo, d := now.In(p.cfg.Location).Date()
	if caps.Day > 0 {
		day := time.Date(y, mo, d, 0, 0, 0, 0, p.cfg.Location)
		if counts, err = p.hist.CountSince(ctx, phones, day); err != nil {
			return fmt.Errorf("policy: cap lookup: %w", err)
		}
	}
	if caps.Week > 0 {
		week := time.Date(y, mo, d-6, 0, 0, 0, 0, p.cfg.Location)
		if weekly, err = p.hist.CountSince(ctx, phones, week); err != nil {
			return fmt.Errorf("policy: weekly cap lookup: %w", err)
		}
	}
	batchKeys := make(map[string]bool)
	for _, c := range live {
		m := c.Msg
		switch {
		case out[m.Recipient]:
			suppress(m, ReasonOptedOut)
			continue
		case m.DedupeKey != "" && (recent[m.DedupeKey] || batchKeys[m.DedupeKey]):
			suppress(m, ReasonDuplicate)
			continue
		case caps.Day > 0 && !m.Urgent && counts[m.Recipient] >= caps.Day:
			suppress(m, ReasonDailyCap)
			continue
		case caps.Week > 0 && !m.Urgent && weekly[m.Recipient] >= caps.Week:
			suppress(m, ReasonWeeklyCap)
			continue
		}
		if m.DedupeKey != "" {
			batchKeys[m.DedupeKey] = true
		}
		if counts != nil {
			counts[m.Recipient]++
		}
		if weekly != nil {
			weekly[m.Recipient]++
		}
	}
	return nil
}

// recentDedupe asks the history once per distinct window.
func (p *Policy) recentDedupe(ctx context.Context, cs []Candidate, now time.Time) (map[string]bool, error) {
	byWindow := make(map[time.Duration][]string)
	for _, c := range cs {
		if c.Msg.DedupeKey != "" && c.DedupeWindow > 0 {
			byWindow[c.DedupeWindow] = append(byWindow[c.DedupeWindow], c.Msg.DedupeKey)
		}
	}
	recent := make(map[string]bool)
	for w, keys := range byWindow {
		r, err := p.hist.RecentDedupe(ctx, keys, now.Add(-w))
		if err != nil {
			return nil, fmt.Errorf("policy: dedupe lookup: %w", err)
		}
		for k, v := range r {
			if v {
				recent[k] = true
			}
		}
	}
	return recent, nil
}

func suppress(m *message.Message, reason string) {
	m.State = message.StateSuppressed
	m.Reason = reason
}
