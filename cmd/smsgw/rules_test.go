package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const callRules = `rules:
  - id: t.full
    on: [violation.processed]
    when: event.points_before < 12 && event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分"}
    channels: [sms, voice]
    fallback_after: 30m
    say:
      - {kind: prompt, value: points_prefix}
      - {kind: number, value: event.licence.points}
`

const fullEvent = `{"specversion": "1.0", "id": "e1", "source": "/test", "type": "violation.processed",
 "time": "2026-11-27T10:00:00+08:00",
 "data": {"violation": {"id": "V1", "time": "2026-11-27T09:00:00+08:00", "code": "1352", "points": 3},
  "points_applied": 3, "points_before": 10,
  "licence": {"number": "110105199003071239", "holder": "李四", "phone": "13900139000", "region": "110105", "class": "C1",
   "status": "A", "points": 13, "cycle_end": "2027-03-01T00:00:00+08:00"}}}`

// TestRulesCommandsShowCalls: rules check lists the calling rules,
// preview shows a decision's channels and rendered say items, and a
// misplaced fallback_after is a file:line:column error with exit 1.
func TestRulesCommandsShowCalls(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("r.yaml", callRules)
	ev := write("ev.json", fullEvent)

	var out, errOut bytes.Buffer
	if err := cmdRules([]string{"check", dir}, &out, &errOut); err != nil {
		t.Fatalf("check: %v\n%s", err, errOut.String())
	}
	if s := out.String(); !strings.Contains(s, "1 rules (0 re-checked at send time, 1 calling)") ||
		!strings.Contains(s, "  t.full: channels [sms, voice], fallback_after 30m, says 2 items\n") {
		t.Errorf("check:\n%s", s)
	}

	out.Reset()
	if err := cmdRules([]string{"preview", "--event", ev, "--now", "2026-11-27T10:00", dir}, &out, &errOut); err != nil {
		t.Fatalf("preview: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"FIRES t.full → 139****9000", "channels:   sms, then voice", "not delivered 30m after it was submitted",
		"say:        after the intro, [prompt points_prefix] [number 13]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("preview lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "13900139000") || strings.Contains(out.String(), "110105199003071239") {
		t.Errorf("preview shows a phone or ID number in full:\n%s", out.String())
	}

	write("r.yaml", strings.Replace(callRules, "    channels: [sms, voice]\n", "", 1))
	out.Reset()
	errOut.Reset()
	var code exitCode
	if err := cmdRules([]string{"check", dir}, &out, &errOut); !errors.As(err, &code) || code != 1 {
		t.Fatalf("check of a broken set: %v", err)
	}
	if !strings.Contains(errOut.String(), "r.yaml:7:21: rule t.full: fallback_after needs channels: [sms, voice]") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}
