package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
)

// Outcome states of a sequence's messages.
const (
	OutcomeSent       = "sent"       // reached its send time and passed the re-check
	OutcomeCancelled  = "cancelled"  // cancel_on, resolved (still_due false) or inhibited while pending
	OutcomeSuppressed = "suppressed" // inhibited in its own event
)

// ReasonCancelOn is the reason of a message a later event's cancel_on made
// moot (the pipeline's wording).
const ReasonCancelOn = "made moot by a later event"

// ResolvedReason is the cancellation reason of a message whose still_due
// no longer holds: "resolved: <type> <id>" of the event that resolved it.
func ResolvedReason(eventType, eventID string) string {
	return "resolved: " + eventType + " " + eventID
}

// InhibitedReason is the reason of a message a more severe one inhibits.
func InhibitedReason(source string) string { return "inhibited_by:" + source }

// readSequence reads a test with steps: and outcome:.
func (f *yfile) readSequence(tc *testCase, n *yaml.Node, cm map[string]*yaml.Node, loc *time.Location) bool {
	for _, k := range []string{"now", "event", "expect", "skipped", "inhibited", "cancels"} {
		if cm[k] != nil {
			f.errAt(cm[k], "test %q: with steps, %s belongs to a step", tc.name, k)
			return false
		}
	}
	v := cm["steps"]
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		f.errAt(v, "steps must be a list of events with their times")
		return false
	}
	tc.steps = []*testCase{}
	ok := true
	for _, sn := range v.Content {
		sm := f.fields(sn, "step", "now", "event", "expect", "skipped", "inhibited", "cancels")
		if sm == nil {
			ok = false
			continue
		}
		if sm["now"] == nil {
			f.errAt(sn, "step: missing now (the time of the event)")
			ok = false
			continue
		}
		st := &testCase{file: tc.file, line: sn.Line, name: tc.name, now: tc.now, optional: map[string]bool{}, loc: loc}
		if !f.readCase(st, sn, sm, loc) {
			ok = false
			continue
		}
		if len(tc.steps) > 0 && st.now.Before(tc.steps[len(tc.steps)-1].now) {
			f.errAt(sm["now"], "step: now goes back in time")
			ok = false
		}
		tc.steps = append(tc.steps, st)
	}
	o := cm["outcome"]
	if o == nil {
		f.errAt(n, "test %q: steps need an outcome (what became of every message)", tc.name)
		return false
	}
	if o.Kind != yaml.SequenceNode {
		f.errAt(o, "outcome must be a list")
		return false
	}
	for _, on := range o.Content {
		om := f.fields(on, "outcome", "rule", "recipient", "state", "reason")
		if om == nil || om["rule"] == nil || om["state"] == nil {
			f.errAt(on, "outcome needs rule and state (and recipient, reason)")
			ok = false
			continue
		}
		var parts []string
		for _, k := range []string{"rule", "recipient", "state", "reason"} {
			if om[k] != nil {
				s, _ := f.str(om[k], k)
				parts = append(parts, s)
			}
		}
		st, _ := f.str(om["state"], "state")
		if st != OutcomeSent && st != OutcomeCancelled && st != OutcomeSuppressed {
			f.errAt(om["state"], "outcome state %q: sent, cancelled or suppressed", st)
			ok = false
		}
		tc.outcome = append(tc.outcome, "outcome: "+strings.Join(parts, " "))
	}
	return ok
}

// pending is a message of a sequence waiting for its send time.
type pending struct {
	d      Decision
	entity string
	kind   string
}

// sim plays a sequence: the gateway's pending messages, the latest state
// of each licence and vehicle, and what became of each message.
type sim struct {
	set     *Set
	pending []*pending
	latest  map[string]latestState
	out     []string
}

type latestState struct {
	obs Observation
	ev  *event.Event
}

func (m *sim) outcome(d Decision, state, reason string) {
	line := "outcome: " + d.RuleID + " " + d.Recipient + " " + state
	if len(d.Regions) > 0 {
		line = "outcome: " + d.RuleID + " regions:" + strings.Join(d.Regions, ",") + " " + state
	}
	if reason != "" {
		line += " " + reason
	}
	m.out = append(m.out, line)
}

// advance sends the messages due by t, each re-checked at its send time
// against the latest state known then.
func (m *sim) advance(t time.Time, all bool) {
	slices.SortStableFunc(m.pending, func(a, b *pending) int { return a.d.NotBefore.Compare(b.d.NotBefore) })
	keep := m.pending[:0]
	for _, p := range m.pending {
		if !all && p.d.NotBefore.After(t) {
			keep = append(keep, p)
			continue
		}
		st, ok := m.latest[p.entity]
		if ok {
			due, checked, err := m.set.StillDue(p.d.RuleID, st.obs.Kind, st.obs.Data, p.d.NotBefore)
			if err == nil && checked && !due {
				m.outcome(p.d, OutcomeCancelled, ResolvedReason(string(st.ev.Type), st.ev.ID))
				continue
			}
		}
		m.outcome(p.d, OutcomeSent, "")
	}
	m.pending = keep
}

// observe applies one step's event and result.
func (m *sim) observe(ev *event.Event, res Result) {
	if o, ok := Observe(ev); ok {
		m.latest[o.Entity] = latestState{obs: o, ev: ev}
	}
	drop := func(match func(*pending) bool, reason string) {
		keep := m.pending[:0]
		for _, p := range m.pending {
			if match(p) {
				m.outcome(p.d, OutcomeCancelled, reason)
				continue
			}
			keep = append(keep, p)
		}
		m.pending = keep
	}
	for _, c := range res.Cancels {
		drop(func(p *pending) bool { return p.d.CancelKey != "" && p.d.CancelKey == c.CancelKey }, ReasonCancelOn)
	}
	for _, d := range res.Decisions {
		for _, t := range d.Inhibits {
			drop(func(p *pending) bool {
				return slices.Contains(t.Rules, p.d.RuleID) && (t.Recipient == "" || t.Recipient == p.d.Recipient) &&
					(t.Entity == "" || t.Entity == p.entity)
			}, InhibitedReason(d.RuleID))
		}
	}
	for _, d := range res.Decisions {
		if d.InhibitedBy != "" {
			m.outcome(d, OutcomeSuppressed, InhibitedReason(d.InhibitedBy))
			continue
		}
		m.pending = append(m.pending, &pending{d: d, entity: ev.Entity(), kind: kindOf(ev.Type)})
	}
}

// runSequence runs a test with steps and compares every checked step and
// the outcome.
func runSequence(set *Set, tc *testCase, fires, quiet map[string]bool) CaseResult {
	m := &sim{set: set, latest: map[string]latestState{}}
	var want, got []string
	for i, st := range tc.steps {
		m.advance(st.now, false)
		res, err := set.Evaluate(st.ev, st.now)
		if err != nil {
			got = append(got, fmt.Sprintf("step %d: error: %v", i+1, err))
			continue
		}
		m.observe(st.ev, res)
		if st.checked {
			for _, l := range st.expectLines() {
				want = append(want, fmt.Sprintf("step %d: %s", i+1, l))
			}
			for _, l := range actualLines(res, st) {
				got = append(got, fmt.Sprintf("step %d: %s", i+1, l))
			}
			fired := map[string]bool{}
			for _, e := range st.expect {
				fired[e.fields["rule"]] = true
			}
			for _, r := range set.rules {
				if slices.Contains(r.On, st.ev.Type) && !fired[r.ID] {
					quiet[r.ID] = true
				}
			}
		}
	}
	m.advance(time.Time{}, true)
	want = append(want, tc.outcome...)
	got = append(got, m.out...)
	for _, l := range tc.outcome {
		if f := strings.Fields(l); len(f) > 1 {
			fires[f[1]] = true
		}
	}
	cr := CaseResult{File: tc.file, Line: tc.line, Name: tc.name, Pass: slices.Equal(want, got)}
	if !cr.Pass {
		cr.Diff = unifiedDiff(want, got)
	}
	return cr
}
