package rules

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/message"
)

// TestReport is the outcome of RunTests.
type TestReport struct {
	Hash      string // of the rule set under test
	Cases     []CaseResult
	Passed    int
	Failed    int
	Uncovered []string // rules lacking a firing or a non-firing example
}

// CaseResult is one example.
type CaseResult struct {
	File string
	Line int
	Name string
	Pass bool
	Diff string // unified-style diff expected → actual when it fails
}

// OK reports whether every case passed and every rule is covered.
func (r *TestReport) OK() bool { return r.Failed == 0 && len(r.Uncovered) == 0 }

// String is the report as `smsgw rules test` prints it.
func (r *TestReport) String() string {
	var b strings.Builder
	for _, c := range r.Cases {
		if c.Pass {
			continue
		}
		fmt.Fprintf(&b, "FAIL %s:%d: %s\n%s\n", c.File, c.Line, c.Name, c.Diff)
	}
	for _, u := range r.Uncovered {
		fmt.Fprintf(&b, "UNCOVERED %s\n", u)
	}
	status := "ok"
	if !r.OK() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s: %d passed, %d failed, %d coverage gaps (rule set %.12s)\n", status, r.Passed, r.Failed, len(r.Uncovered), r.Hash)
	return b.String()
}

// testCase is one example of rules/tests/*.yaml.
type testCase struct {
	file, name string
	line       int
	now        time.Time
	ev         *event.Event
	expect     []expectDecision
	skipped    []Skip
	inhibited  []string // "rule by source"
	cancels    []string
	optional   map[string]bool // optional decision fields stated for any message of the case
	loc        *time.Location  // the set's zone, for printing times

	// A sequence (steps:): events at their times, then what became of
	// every message by the end (outcome:), with the re-check at send
	// time, cancellations and inhibitions played out.
	steps   []*testCase
	outcome []string
	checked bool // a step whose expect/skipped/cancels were given
}

type expectDecision struct {
	fields map[string]string
}

// decision fields a test may state; the first four are always compared.
var decisionFields = []string{"rule", "recipient", "text", "not_before",
	"regions", "expires_at", "urgent", "priority", "encoding", "chars", "segments", "dedupe_key", "dedupe_window", "cancel_key", "template",
	"deferred_by", "channels", "fallback_after", "say"}

// RunTests loads the rule set in dir and runs every example in
// dir/tests/*.yaml against it. now is the evaluation time of examples that
// do not give their own. A set or test file that does not load is an error.
func RunTests(dir string, now time.Time) (*TestReport, error) {
	set, err := LoadDir(dir, Options{})
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "tests", "*.yaml"))
	if err != nil {
		return nil, err
	}
	errs := &errList{}
	var cases []*testCase
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read tests: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		cases = append(cases, readTests(filepath.ToSlash(rel), data, now, set.settings.Location, errs)...)
	}
	if len(errs.errs) > 0 {
		return nil, dedupeErrors(errs.errs)
	}
	return runCases(set, cases), nil
}

func runCases(set *Set, cases []*testCase) *TestReport {
	rep := &TestReport{Hash: set.Hash()}
	fires := map[string]bool{}
	quiet := map[string]bool{}
	for _, tc := range cases {
		if tc.steps != nil {
			rep.Cases = append(rep.Cases, runSequence(set, tc, fires, quiet))
			if c := rep.Cases[len(rep.Cases)-1]; c.Pass {
				rep.Passed++
			} else {
				rep.Failed++
			}
			continue
		}
		res, err := set.Evaluate(tc.ev, tc.now)
		want := tc.expectLines()
		var got []string
		if err != nil {
			got = []string{"error: " + err.Error()}
		} else {
			got = actualLines(res, tc)
		}
		cr := CaseResult{File: tc.file, Line: tc.line, Name: tc.name, Pass: slices.Equal(want, got)}
		if !cr.Pass {
			cr.Diff = unifiedDiff(want, got)
			rep.Failed++
		} else {
			rep.Passed++
		}
		rep.Cases = append(rep.Cases, cr)
		fired := map[string]bool{}
		for _, e := range tc.expect {
			fired[e.fields["rule"]] = true
			fires[e.fields["rule"]] = true
		}
		for _, r := range set.rules {
			if slices.Contains(r.On, tc.ev.Type) && !fired[r.ID] {
				quiet[r.ID] = true
			}
		}
	}
	for _, r := range set.rules {
		if !r.Enabled {
			continue
		}
		if !fires[r.ID] {
			rep.Uncovered = append(rep.Uncovered, r.ID+": no example that fires it")
		}
		if !quiet[r.ID] {
			rep.Uncovered = append(rep.Uncovered, r.ID+": no example of its event types that must not fire it")
		}
	}
	return rep
}

// expectLines renders the expectations in the canonical form.
func (tc *testCase) expectLines() []string {
	var out []string
	ds := slices.Clone(tc.expect)
	sort.SliceStable(ds, func(i, j int) bool { return decisionLess(ds[i].fields, ds[j].fields) })
	for _, d := range ds {
		out = append(out, tc.decisionLines(d.fields, d.fields)...)
	}
	out = append(out, skipLines(tc.skipped)...)
	out = append(out, inhibitLines(tc.inhibited)...)
	for _, c := range sorted(tc.cancels) {
		out = append(out, "cancel: "+c)
	}
	return out
}

func actualLines(res Result, tc *testCase) []string {
	var ds []map[string]string
	var inh []string
	for _, d := range res.Decisions {
		if d.InhibitedBy != "" {
			inh = append(inh, d.RuleID+" by "+d.InhibitedBy)
			continue
		}
		ds = append(ds, decisionMap(d, tc.loc))
	}
	sort.SliceStable(ds, func(i, j int) bool { return decisionLess(ds[i], ds[j]) })
	var out []string
	for _, d := range ds {
		out = append(out, tc.decisionLines(d, tc.expectationFor(d))...)
	}
	out = append(out, skipLines(res.Skipped)...)
	out = append(out, inhibitLines(inh)...)
	var cs []string
	for _, c := range res.Cancels {
		cs = append(cs, c.CancelKey)
	}
	for _, c := range sorted(cs) {
		out = append(out, "cancel: "+c)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func decisionLess(a, b map[string]string) bool {
	if a["rule"] != b["rule"] {
		return a["rule"] < b["rule"]
	}
	return a["recipient"] < b["recipient"]
}

func inhibitLines(ss []string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, "inhibited: "+s)
	}
	sort.Strings(out)
	return out
}

func skipLines(ss []Skip) []string {
	var out []string
	for _, s := range ss {
		out = append(out, "skipped: "+s.RuleID+" "+s.Reason)
	}
	sort.Strings(out)
	return out
}

// expectationFor returns the expectation an actual decision is compared
// with (same rule and recipient), nil if none.
func (tc *testCase) expectationFor(d map[string]string) map[string]string {
	for _, e := range tc.expect {
		if e.fields["rule"] == d["rule"] && e.fields["recipient"] == d["recipient"] {
			return e.fields
		}
	}
	return nil
}

// decisionLines prints the always-compared fields of f and the optional
// fields stated in the expectation exp (for an unexpected decision, every
// optional field stated anywhere in the case).
func (tc *testCase) decisionLines(f, exp map[string]string) []string {
	out := []string{"- rule: " + f["rule"]}
	for _, k := range decisionFields[1:] {
		_, stated := exp[k]
		if exp == nil {
			stated = tc.optional[k]
		}
		if k == "recipient" || k == "text" || k == "not_before" || stated {
			out = append(out, "  "+k+": "+f[k])
		}
	}
	return out
}

func decisionMap(d Decision, loc *time.Location) map[string]string {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format(time.RFC3339)
	}
	return map[string]string{
		"rule": d.RuleID, "recipient": d.Recipient, "text": d.Text, "not_before": ts(d.NotBefore),
		"regions": strings.Join(d.Regions, ","), "expires_at": ts(d.ExpiresAt),
		"urgent": strconv.FormatBool(d.Urgent), "priority": strconv.Itoa(d.Priority),
		"encoding": d.Encoding, "chars": strconv.Itoa(d.Chars), "segments": strconv.Itoa(d.Segments),
		"dedupe_key": d.DedupeKey, "dedupe_window": fmtDuration(d.DedupeWindow), "cancel_key": d.CancelKey,
		"template": d.Template, "deferred_by": d.DeferredBy,
		"channels": channelsField(d.Voice), "fallback_after": fallbackField(d.Voice), "say": sayField(d.Voice),
	}
}

// channelsField, fallbackField and sayField are the voice plan in a
// test's terms: "sms", "sms,voice" or "voice"; "30m"; "kind value" items
// joined by " | ".
func channelsField(v *message.Voice) string {
	switch {
	case v == nil:
		return ChannelSMS
	case v.Only:
		return ChannelVoice
	}
	return ChannelSMS + "," + ChannelVoice
}

func fallbackField(v *message.Voice) string {
	if v == nil || v.FallbackAfter == 0 {
		return ""
	}
	return ShortDuration(v.FallbackAfter)
}

func sayField(v *message.Voice) string {
	if v == nil {
		return ""
	}
	parts := make([]string, len(v.Say))
	for i, it := range v.Say {
		parts[i] = it.Kind + " " + it.Value
	}
	return strings.Join(parts, " | ")
}

// expectedField reads an optional field of an expected message in the
// form decisionMap prints it.
func (f *yfile) expectedField(k string, node *yaml.Node, loc *time.Location) string {
	switch k {
	case "regions", "channels":
		l, _ := f.strList(node, k)
		return strings.Join(l, ",")
	case "not_before", "expires_at":
		s, _ := f.str(node, k)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			f.errAt(node, "%s: %v", k, err)
		}
		return t.In(loc).Format(time.RFC3339)
	case "fallback_after":
		d, _ := f.duration(node, k)
		if d == 0 {
			return ""
		}
		return ShortDuration(d)
	case "say":
		if node.Kind != yaml.SequenceNode {
			f.errAt(node, "say must be a list of {kind, value}")
			return ""
		}
		parts := make([]string, 0, len(node.Content))
		for _, it := range node.Content {
			im := f.fields(it, "say item", "kind", "value")
			if im == nil || im["kind"] == nil || im["value"] == nil {
				f.errAt(it, "say item needs kind and value")
				continue
			}
			kind, _ := f.str(im["kind"], "kind")
			val, _ := f.str(im["value"], "value")
			parts = append(parts, kind+" "+val)
		}
		return strings.Join(parts, " | ")
	}
	s, _ := f.str(node, k)
	return s
}

func fmtDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// readTests parses one tests file.
func readTests(name string, data []byte, now time.Time, loc *time.Location, errs *errList) []*testCase {
	f, root := parseYAML(name, data, errs)
	if root == nil {
		return nil
	}
	// now: the file's default evaluation time; x-…: anchors for shared data
	m := f.fields(root, "tests file", "now", "tests", "x-*")
	if v := m["now"]; v != nil {
		if s, ok := f.str(v, "now"); ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				f.errAt(v, "now: %v", err)
			}
			now = t
		}
	}
	list := m["tests"]
	if list == nil {
		if m != nil {
			f.errAt(root, "tests file: missing key \"tests\"")
		}
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		f.errAt(list, "tests must be a list")
		return nil
	}
	var out []*testCase
	for i, n := range list.Content {
		cm := f.fields(n, "test", "name", "now", "event", "expect", "skipped", "inhibited", "cancels", "steps", "outcome")
		if cm == nil {
			continue
		}
		tc := &testCase{file: name, line: n.Line, now: now, optional: map[string]bool{}, loc: loc}
		tc.name = fmt.Sprintf("test %d", i+1)
		if v := cm["name"]; v != nil {
			tc.name, _ = f.str(v, "name")
		}
		if v := cm["steps"]; v != nil {
			if f.readSequence(tc, n, cm, loc) {
				out = append(out, tc)
			}
			continue
		}
		if cm["outcome"] != nil {
			f.errAt(cm["outcome"], "test %q: outcome needs steps", tc.name)
		}
		if f.readCase(tc, n, cm, loc) {
			out = append(out, tc)
		}
	}
	return out
}

// readCase reads the now, event and expectations of a case or a step;
// false when it cannot run.
func (f *yfile) readCase(tc *testCase, n *yaml.Node, cm map[string]*yaml.Node, loc *time.Location) bool {
	{
		if v := cm["now"]; v != nil {
			if s, ok := f.str(v, "now"); ok {
				t, err := time.Parse(time.RFC3339, s)
				if err != nil {
					f.errAt(v, "now: %v", err)
				}
				tc.now = t
			}
		}
		tc.checked = cm["expect"] != nil || cm["skipped"] != nil || cm["cancels"] != nil || cm["inhibited"] != nil
		if v := cm["inhibited"]; v != nil {
			if v.Kind != yaml.SequenceNode {
				f.errAt(v, "inhibited must be a list")
			} else {
				for _, x := range v.Content {
					xm := f.fields(x, "inhibited", "rule", "by")
					if xm == nil || xm["rule"] == nil || xm["by"] == nil {
						f.errAt(x, "inhibited needs rule and by (the rule that inhibits it)")
						continue
					}
					r, _ := f.str(xm["rule"], "rule")
					by, _ := f.str(xm["by"], "by")
					tc.inhibited = append(tc.inhibited, r+" by "+by)
				}
			}
		}
		if v := cm["event"]; v == nil {
			f.errAt(n, "test %q: missing event", tc.name)
			return false
		} else if tc.ev = f.testEvent(v, tc, loc); tc.ev == nil {
			return false
		}
		if v := cm["expect"]; v != nil {
			if v.Kind != yaml.SequenceNode {
				f.errAt(v, "expect must be a list of messages")
				return false
			}
			for _, d := range v.Content {
				dm := f.fields(d, "expected message", decisionFields...)
				if dm == nil {
					continue
				}
				e := expectDecision{fields: map[string]string{}}
				for k, node := range dm {
					e.fields[k] = f.expectedField(k, node, loc)
					tc.optional[k] = true
				}
				for _, k := range []string{"rule", "text", "not_before"} {
					if _, ok := dm[k]; !ok {
						f.errAt(d, "expected message: missing %s", k)
					}
				}
				tc.expect = append(tc.expect, e)
			}
		}
		if v := cm["skipped"]; v != nil {
			if v.Kind != yaml.SequenceNode {
				f.errAt(v, "skipped must be a list")
			} else {
				for _, s := range v.Content {
					sm := f.fields(s, "skipped", "rule", "reason")
					if sm == nil || sm["rule"] == nil || sm["reason"] == nil {
						f.errAt(s, "skipped needs rule and reason")
						continue
					}
					r, _ := f.str(sm["rule"], "rule")
					why, _ := f.str(sm["reason"], "reason")
					tc.skipped = append(tc.skipped, Skip{RuleID: r, Reason: why})
				}
			}
		}
		if v := cm["cancels"]; v != nil {
			tc.cancels, _ = f.strList(v, "cancels")
		}
	}
	return true
}

// testEvent builds an event from its YAML form: the CloudEvents attributes
// with data, defaults for specversion, id, source and time, decoded and
// validated by event.Decode exactly as ingest does.
func (f *yfile) testEvent(n *yaml.Node, tc *testCase, loc *time.Location) *event.Event {
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		f.errAt(n, "event: %v", err)
		return nil
	}
	def := func(k string, v any) {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	def("specversion", event.SpecVersion)
	def("id", fmt.Sprintf("%s:%d", f.name, n.Line))
	def("source", "/rules/tests")
	def("time", tc.now.In(loc).Format(time.RFC3339))
	data, err := json.Marshal(jsonable(m))
	if err != nil {
		f.errAt(n, "event: %v", err)
		return nil
	}
	ev, err := event.Decode(data)
	if err != nil {
		f.errAt(n, "event: %v", err)
		return nil
	}
	return ev
}

// jsonable turns YAML-decoded values into what encoding/json accepts
// (yaml.v3 already uses map[string]any for string keys; times pass as is).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// unifiedDiff is a line diff of a and b in the style of diff -u (one hunk,
// full context): "-" lines are expected only, "+" lines actual only.
func unifiedDiff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("--- expected\n+++ actual\n")
	fmt.Fprintf(&sb, "@@ -1,%d +1,%d @@\n", n, m)
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			sb.WriteString(" " + a[i] + "\n")
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("-" + a[i] + "\n")
			i++
		default:
			sb.WriteString("+" + b[j] + "\n")
			j++
		}
	}
	return sb.String()
}
