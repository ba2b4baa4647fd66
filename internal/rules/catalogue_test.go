package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// testNow is the default evaluation time of the examples: a Friday morning
// in Beijing, outside quiet hours.
var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// TestCatalogue runs the examples of rules/tests against the default rules:
// golden tests of every rule's text, recipient and timing, with coverage.
// The examples carry their own clock, so the runner's (`smsgw rules test`
// runs with the real one) must not matter: a night years away is used.
func TestCatalogue(t *testing.T) {
	rep, err := RunTests("../../rules", time.Date(2031, 6, 1, 3, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("rules do not load:\n%v", err)
	}
	for _, c := range rep.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if !c.Pass {
				t.Errorf("%s:%d:\n%s", c.File, c.Line, c.Diff)
			}
		})
	}
	for _, u := range rep.Uncovered {
		t.Errorf("uncovered: %s", u)
	}
	if rep.Passed == 0 {
		t.Fatal("no examples ran")
	}
}

// TestCatalogueSay: every call of the default rules' examples speaks
// prompts that are recorded (prompts/prompts.tsv) and text items the
// synthesizer takes whole (at most 200 characters), and every calling
// rule has an example that renders its say list.
func TestCatalogueSay(t *testing.T) {
	data, err := os.ReadFile("../../prompts/prompts.tsv")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if name, _, ok := strings.Cut(l, "\t"); ok && !strings.HasPrefix(name, "#") {
			recorded[name] = true
		}
	}
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
	for _, tc := range cases {
		for _, st := range append([]*testCase{tc}, tc.steps...) {
			if st.ev == nil {
				continue
			}
			res, err := set.Evaluate(st.ev, st.now)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range res.Decisions {
				if d.Voice == nil {
					continue
				}
				if len(d.Voice.Say) == 0 {
					t.Errorf("%s (%s): a call with nothing to say", d.RuleID, tc.name)
				}
				for _, it := range d.Voice.Say {
					switch {
					case it.Kind == SayPrompt && !recorded[it.Value]:
						t.Errorf("%s (%s): prompt %q is not in prompts/prompts.tsv", d.RuleID, tc.name, it.Value)
					case it.Kind == SayText && utf8.RuneCountInString(it.Value) > 200:
						t.Errorf("%s (%s): text item of %d characters, the synthesizer reads 200", d.RuleID, tc.name, utf8.RuneCountInString(it.Value))
					}
				}
			}
		}
	}
}
