package rules

import (
	"testing"
	"time"
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
