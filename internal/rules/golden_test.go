package rules

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/traffic12123/gateway/internal/event"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current templates")

// optionalFields are the event fields (paths under data) the contract
// lets be absent and that a text may show.
var optionalFields = []string{
	"violation.place", "violation.description", "violation.fine", "violation.points",
	"vehicle.plate_type", "vehicle.owner", "vehicle.enterprise", "vehicle.enterprise.name",
	"licence.holder", "licence.cycle_end", "reason",
}

// TestTemplatesGolden renders every default rule's template from its
// first firing example in rules/tests, once whole and once with each
// optional field the example has taken away, and compares with
// testdata/golden/<rule>.txt (go test -run TestTemplatesGolden -update
// rewrites them). Every text is also checked for the defects a missing
// field used to leave: "原因：。", a "贵单位" nobody is named before, an
// empty quotation, a zero-padded date.
func TestTemplatesGolden(t *testing.T) {
	set := loadDefault(t)
	errs := &errList{}
	var cases []*testCase
	paths, _ := filepath.Glob("../../rules/tests/*.yaml")
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		cases = append(cases, readTests(p, data, testNow, set.settings.Location, errs)...)
	}
	if len(errs.errs) > 0 {
		t.Fatal(errs.errs)
	}
	first := map[string]*testCase{}
	for _, tc := range cases {
		for _, e := range tc.expect {
			if r := e.fields["rule"]; first[r] == nil {
				first[r] = tc
			}
		}
	}
	for _, r := range set.Rules() {
		if !r.Enabled {
			continue
		}
		t.Run(r.ID, func(t *testing.T) {
			tc := first[r.ID]
			if tc == nil {
				t.Fatalf("no firing example of %s in rules/tests", r.ID)
			}
			raw, err := event.Encode(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			out = append(out, "example: "+filepath.Base(tc.file)+": "+tc.name)
			out = append(out, "whole: "+renderVariant(t, set, r.ID, raw, "", tc))
			for _, f := range optionalFields {
				if !hasPath(raw, f) {
					continue
				}
				out = append(out, "without "+f+": "+renderVariant(t, set, r.ID, raw, f, tc))
			}
			got := strings.Join(out, "\n") + "\n"
			for _, l := range out[1:] {
				checkText(t, l)
			}
			golden := filepath.Join("testdata", "golden", r.ID+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != got {
				t.Errorf("%s differs (run with -update after checking):\n%s", golden, unifiedDiff(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
			}
		})
	}
}

var (
	zeroPadded = regexp.MustCompile(`\d年0\d月|月0\d日`)
	badClauses = []string{"原因：。", "：。", "】：", "】贵单位", "“”", "在有", "于有", "，，", "。。", "1年1月1日"}
)

func checkText(t *testing.T, line string) {
	t.Helper()
	text := line[strings.Index(line, ": ")+2:]
	if zeroPadded.MatchString(text) {
		t.Errorf("zero-padded date: %s", line)
	}
	for _, b := range badClauses {
		if strings.Contains(text, b) {
			t.Errorf("%q in %s", b, line)
		}
	}
}

// renderVariant evaluates the example with the field at path removed and
// returns the rule's text, or what happened instead.
func renderVariant(t *testing.T, set *Set, rule string, raw []byte, path string, tc *testCase) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if path != "" {
		parts := strings.Split(path, ".")
		cur := m["data"].(map[string]any)
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				return "(absent already)"
			}
			cur = next
		}
		delete(cur, parts[len(parts)-1])
	}
	b, _ := json.Marshal(m)
	ev, err := event.Decode(b)
	if err != nil {
		return "(invalid event: " + err.Error() + ")"
	}
	res, err := set.Evaluate(ev, tc.now)
	if err != nil {
		return "(error: " + err.Error() + ")"
	}
	for _, d := range res.Decisions {
		if d.RuleID == rule {
			if d.InhibitedBy != "" {
				return "(inhibited by " + d.InhibitedBy + ") " + d.Text
			}
			return d.Text
		}
	}
	for _, s := range res.Skipped {
		if s.RuleID == rule {
			return fmt.Sprintf("(skipped: %s)", s.Reason)
		}
	}
	return "(does not fire)"
}

func hasPath(raw []byte, path string) bool {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	cur, _ := m["data"].(map[string]any)
	parts := strings.Split(path, ".")
	for i, p := range parts {
		v, ok := cur[p]
		if !ok {
			return false
		}
		if i == len(parts)-1 {
			return true
		}
		if cur, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}
