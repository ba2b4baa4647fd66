package rules

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/template"
)

// Result is what one event does under a set.
type Result struct {
	Decisions []Decision
	Cancels   []Cancel
	Skipped   []Skip
}

// Decision is one message a rule wants sent. Policy (dedupe, caps, opt-out)
// still has its say.
type Decision struct {
	RuleID    string
	Template  string
	Priority  int
	Urgent    bool
	Recipient string   // 11-digit mobile number; empty when Regions is set
	Regions   []string // audience regions (advisories): the gateway fans out
	Text      string   // with the signature
	Encoding  string   // "gsm7" or "ucs2"
	Chars     int      // septets or UTF-16 units, as billed
	Segments  int
	NotBefore time.Time // scheduled time, out of quiet hours; never before now
	ExpiresAt time.Time // zero: no expiry

	DedupeKey    string // rule id + "|" + the rule's dedupe key; empty: none
	DedupeWindow time.Duration
	CancelKey    string // rule id + "|" + key, when the rule has cancel_on

	// DeferredBy says why NotBefore is later than now: DeferredByTiming
	// (the rule's timing.at), DeferredByQuietHours, or both joined by
	// "+" (timing.at fell into quiet hours). Empty: not deferred.
	DeferredBy string
	// InhibitedBy is the rule id of a more severe reminder that fired for
	// the same person and cause in the same event (inhibit rules): this
	// one is not to be sent. Empty: not inhibited.
	InhibitedBy string
	// Inhibits lists the pending reminders this decision makes moot
	// (inhibit rules with this rule as source).
	Inhibits []InhibitTarget
	// Voice is the call of a rule whose channels name voice: instead of
	// the SMS (Only) or after it (FallbackAfter), speaking Say (rendered
	// for this event; empty: the SMS text). Nil: SMS only.
	Voice *message.Voice
}

// Deferral causes (Decision.DeferredBy).
const (
	DeferredByTiming     = "timing.at"
	DeferredByQuietHours = "quiet_hours"
)

// Cancel says that pending messages carrying CancelKey are moot.
type Cancel struct {
	CancelKey string
	Reason    string
}

// Skip reasons (bounded: they are metric labels).
const (
	SkipExpired     = "expired"      // the expiry is not after the earliest send time
	SkipNoRecipient = "no_recipient" // the recipient expression yielded "" (or no regions)
	SkipError       = "eval_error"   // an expression failed on this event
	SkipRender      = "render_error" // the template failed on this event
	SkipTooLong     = "too_long"     // the rendered text exceeds the rule's max_segments
)

// Skip is a rule that matched (or failed) without producing a decision.
type Skip struct {
	RuleID string
	Reason string // one of the Skip* constants
	Detail string
}

// Evaluate runs every enabled rule listening to ev's type, in file order,
// and every cancel_on condition for it. now is the evaluation time (the
// `now` variable, the earliest send time). Evaluate is safe for concurrent
// use; an error means the event itself cannot be evaluated.
func (s *Set) Evaluate(ev *event.Event, now time.Time) (Result, error) {
	var res Result
	p := payload(ev)
	if p == nil {
		return res, fmt.Errorf("evaluate event %q of type %q: %w", ev.ID, ev.Type, ErrEvent)
	}
	rules, cancels := s.byType[ev.Type], s.cancels[ev.Type]
	if len(rules) == 0 && len(cancels) == 0 {
		return res, nil
	}
	act := &activation{
		event: s.envs[ev.Type].CELTypeAdapter().NativeToValue(p),
		typ:   string(ev.Type),
		id:    ev.ID,
		now:   types.Timestamp{Time: now},
	}
	for _, c := range rules {
		v, _, err := c.when.Eval(act)
		if err != nil {
			res.Skipped = append(res.Skipped, Skip{RuleID: c.rule.ID, Reason: SkipError, Detail: "when: " + err.Error()})
			continue
		}
		if v != types.True {
			continue
		}
		d, skip := s.decide(c, ev, act, now)
		if skip != nil {
			res.Skipped = append(res.Skipped, *skip)
			continue
		}
		res.Decisions = append(res.Decisions, d)
	}
	for _, c := range cancels {
		if c.when != nil {
			v, _, err := c.when.Eval(act)
			if err != nil {
				res.Skipped = append(res.Skipped, Skip{RuleID: c.rule.ID, Reason: SkipError, Detail: "cancel_on.when: " + err.Error()})
				continue
			}
			if v != types.True {
				continue
			}
		}
		key, err := cancelKey(c.rule, c.key, ev, act)
		if err != nil {
			res.Skipped = append(res.Skipped, Skip{RuleID: c.rule.ID, Reason: SkipError, Detail: "cancel_on.key: " + err.Error()})
			continue
		}
		res.Cancels = append(res.Cancels, Cancel{CancelKey: key, Reason: string(ev.Type) + " (" + c.rule.ID + " cancel_on)"})
	}
	s.inhibit(ev, res.Decisions)
	return res, nil
}

func cancelKey(r *Rule, p cel.Program, ev *event.Event, act *activation) (string, error) {
	if p == nil {
		return r.ID + "|" + ev.Entity(), nil
	}
	k, err := evalString(p, act)
	if err != nil {
		return "", err
	}
	return r.ID + "|" + k, nil
}

func (s *Set) decide(c *compiled, ev *event.Event, act *activation, now time.Time) (Decision, *Skip) {
	r := c.rule
	skip := func(reason, format string, args ...any) (Decision, *Skip) {
		return Decision{}, &Skip{RuleID: r.ID, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	d := Decision{RuleID: r.ID, Template: r.Template, Priority: r.Priority, Urgent: r.Urgent, DedupeWindow: r.DedupeWindow}
	var err error
	if c.regions != nil {
		v, _, err := c.regions.Eval(act)
		if err != nil {
			return skip(SkipError, "regions: %v", err)
		}
		rv, err := v.ConvertToNative(reflect.TypeFor[[]string]())
		if err != nil {
			return skip(SkipError, "regions: %v", err)
		}
		d.Regions = rv.([]string)
		if len(d.Regions) == 0 {
			return skip(SkipNoRecipient, "no regions")
		}
	} else {
		if d.Recipient, err = evalString(c.recipient, act); err != nil {
			return skip(SkipError, "recipient: %v", err)
		}
		if d.Recipient == "" {
			return skip(SkipNoRecipient, "recipient is empty")
		}
	}
	at := now
	var why []string
	if c.at != nil {
		t, err := evalTime(c.at, act)
		if err != nil {
			return skip(SkipError, "timing.at: %v", err)
		}
		if t.After(at) {
			at = t
			why = append(why, DeferredByTiming)
		}
	}
	if r.QuietHours {
		if q := s.settings.deferQuiet(at); !q.Equal(at) {
			at = q
			why = append(why, DeferredByQuietHours)
		}
	}
	d.DeferredBy = strings.Join(why, "+")
	d.NotBefore = at.In(s.settings.Location)
	if c.expiry != nil {
		t, err := evalTime(c.expiry, act)
		if err != nil {
			return skip(SkipError, "timing.expires: %v", err)
		}
		if !t.IsZero() {
			d.ExpiresAt = t.In(s.settings.Location)
			if !d.NotBefore.Before(t) {
				return skip(SkipExpired, "expires %s, not before %s", fmtTime(t, s.settings.Location), fmtTime(d.NotBefore, s.settings.Location))
			}
		}
	}
	body, err := c.tmpl.Render(act)
	if err != nil {
		return skip(SkipRender, "%v", err)
	}
	m := template.Measure(s.settings.Signature + body)
	d.Text, d.Encoding, d.Chars, d.Segments = m.Text, m.Encoding, m.Chars, m.Segments
	if d.Segments > r.MaxSegments {
		return skip(SkipTooLong, "%d characters need %d segments, max_segments %d", d.Chars, d.Segments, r.MaxSegments)
	}
	if c.dedupe != nil {
		k, err := evalString(c.dedupe, act)
		if err != nil {
			return skip(SkipError, "dedupe.key: %v", err)
		}
		d.DedupeKey = r.ID + "|" + k
	}
	if r.CancelOn != nil {
		if d.CancelKey, err = cancelKey(r, c.key, ev, act); err != nil {
			return skip(SkipError, "cancel_on.key: %v", err)
		}
	}
	if r.Voice() {
		if d.Voice, err = s.voicePlan(r, c.say, act); err != nil {
			return skip(SkipError, "%v", err)
		}
	}
	return d, nil
}

func evalString(p cel.Program, act *activation) (string, error) {
	v, _, err := p.Eval(act)
	if err != nil {
		return "", err
	}
	s, ok := v.(types.String)
	if !ok {
		return "", fmt.Errorf("yielded %s, want string", typeName(v))
	}
	return string(s), nil
}

func evalTime(p cel.Program, act *activation) (time.Time, error) {
	v, _, err := p.Eval(act)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := v.(types.Timestamp)
	if !ok {
		return time.Time{}, fmt.Errorf("yielded %s, want timestamp", typeName(v))
	}
	return t.Time, nil
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}

func fmtTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(time.RFC3339)
}
