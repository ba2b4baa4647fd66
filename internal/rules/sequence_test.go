package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSequenceReportsOutcomeMismatch: a sequence whose outcome is wrong
// fails with a diff of the outcome lines; one with a bad step is a load
// error with its position.
func TestSequenceReportsOutcomeMismatch(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../rules", dir)
	p := filepath.Join(dir, "tests", "vehicle.yaml")
	data, _ := os.ReadFile(p)
	want := `      - {rule: vehicle.inspection_due, recipient: "13800138000", state: cancelled, reason: "resolved: vehicle.snapshot inspected-0830"}`
	broken := strings.Replace(string(data), want, `      - {rule: vehicle.inspection_due, recipient: "13800138000", state: sent}`, 1)
	if broken == string(data) {
		t.Fatal("test file changed; update this test")
	}
	os.WriteFile(p, []byte(broken), 0o644)
	rep, err := RunTests(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Failed != 1 {
		t.Fatalf("report OK=%v failed=%d\n%s", rep.OK(), rep.Failed, rep)
	}
	out := rep.String()
	for _, w := range []string{"-outcome: vehicle.inspection_due 13800138000 sent",
		"+outcome: vehicle.inspection_due 13800138000 cancelled resolved: vehicle.snapshot inspected-0830"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}

	// a step without its time, a step going back in time, an outcome state that does not exist
	os.WriteFile(p, []byte(strings.Replace(broken, `state: sent}`, `state: delivered}`, 1)+`
  - name: bad
    steps:
      - event: {type: vehicle.snapshot, data: {vehicle: *car}}
      - now: "2026-11-27T10:00:00+08:00"
        event: {type: vehicle.snapshot, data: {vehicle: *car}}
      - now: "2026-11-27T09:00:00+08:00"
        event: {type: vehicle.snapshot, data: {vehicle: *car}}
    outcome: []
`), 0o644)
	_, err = RunTests(dir, testNow)
	if err == nil {
		t.Fatal("bad sequences loaded")
	}
	for _, w := range []string{"outcome state \"delivered\"", "step: missing now", "step: now goes back in time", "tests/vehicle.yaml:"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
