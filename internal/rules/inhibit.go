package rules

import (
	"slices"

	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
)

// Inhibit is an inhibition rule, in the manner of Alertmanager's
// inhibit_rules: when a Sources rule fires, a Targets rule's reminder to
// the same person about the same cause (the labels in Equal) is not sent.
// In the same event the target's decision carries InhibitedBy (the
// gateway stores it suppressed with reason "inhibited_by:<source rule>");
// target reminders still pending from earlier events are cancelled with
// that reason when the source fires.
type Inhibit struct {
	Sources []string // rule ids whose firing inhibits
	Targets []string // rule ids inhibited
	Equal   []string // labels both must share: "recipient", "entity" (the licence or plate)
	File    string
	Line    int

	nodes map[string]*yaml.Node
}

// Labels an inhibition may require to be equal.
const (
	LabelRecipient = "recipient"
	LabelEntity    = "entity"
)

// InhibitTarget says which pending reminders a decision inhibits: those
// of Rules to Recipient about Entity (an empty field matches any).
type InhibitTarget struct {
	Rules     []string
	Recipient string
	Entity    string
}

// Inhibits returns the set's inhibition rules.
func (s *Set) Inhibits() []*Inhibit { return slices.Clone(s.inhibits) }

func (l *loader) readInhibits(f *yfile, n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		f.errAt(n, "inhibit must be a list")
		return
	}
	for _, in := range n.Content {
		m := f.fields(in, "inhibit rule", "source", "target", "equal")
		if m == nil {
			continue
		}
		ih := &Inhibit{File: f.name, Line: in.Line, Equal: []string{LabelRecipient, LabelEntity}, nodes: m}
		ok := true
		for _, k := range []string{"source", "target"} {
			if m[k] == nil {
				f.errAt(in, "inhibit rule: missing %s (rule ids)", k)
				ok = false
			}
		}
		if !ok {
			continue
		}
		ih.Sources, _ = f.strList(m["source"], "inhibit.source")
		ih.Targets, _ = f.strList(m["target"], "inhibit.target")
		if v := m["equal"]; v != nil {
			ih.Equal, _ = f.strList(v, "inhibit.equal")
			if len(ih.Equal) == 0 {
				f.errAt(v, "inhibit.equal: name recipient, entity or both (an empty list would inhibit everyone's reminders)")
			}
			for _, e := range ih.Equal {
				if e != LabelRecipient && e != LabelEntity {
					f.errAt(v, "inhibit.equal: unknown label %q (known: recipient, entity)", e)
				}
			}
		}
		for _, s := range ih.Sources {
			if slices.Contains(ih.Targets, s) {
				f.errAt(m["target"], "inhibit: rule %s is both source and target", s)
			}
		}
		l.set.inhibits = append(l.set.inhibits, ih)
	}
}

// checkInhibits runs once every rule is known: the ids must name rules
// with a single recipient (not audience rules).
func (l *loader) checkInhibits(files map[string]*yfile) {
	for _, ih := range l.set.inhibits {
		f := files[ih.File]
		for k, ids := range map[string][]string{"source": ih.Sources, "target": ih.Targets} {
			for _, id := range ids {
				r := l.set.Rule(id)
				switch {
				case r == nil:
					f.errAt(ih.nodes[k], "inhibit.%s: no rule %q", k, id)
				case r.Audience != "":
					f.errAt(ih.nodes[k], "inhibit.%s: rule %s has an audience, not one recipient", k, id)
				}
			}
		}
	}
}

// inhibit marks decisions of one event that a more severe one inhibits
// and lists, on every source decision, the pending reminders it inhibits.
func (s *Set) inhibit(ev *event.Event, ds []Decision) {
	if len(s.inhibits) == 0 || len(ds) == 0 {
		return
	}
	for _, ih := range s.inhibits {
		sameRcpt := slices.Contains(ih.Equal, LabelRecipient)
		for i := range ds {
			src := &ds[i]
			if !slices.Contains(ih.Sources, src.RuleID) || len(src.Regions) > 0 {
				continue
			}
			t := InhibitTarget{Rules: ih.Targets}
			if sameRcpt {
				t.Recipient = src.Recipient
			}
			if slices.Contains(ih.Equal, LabelEntity) {
				t.Entity = ev.Entity()
			}
			src.Inhibits = append(src.Inhibits, t)
			for j := range ds {
				d := &ds[j]
				if j == i || d.InhibitedBy != "" || !slices.Contains(ih.Targets, d.RuleID) {
					continue
				}
				if sameRcpt && d.Recipient != src.Recipient {
					continue
				}
				d.InhibitedBy = src.RuleID
			}
		}
	}
}
