package rules

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/message"
)

// TestVoiceLoadErrors: channels, fallback_after and say are checked at
// load, with the position of the offending key.
func TestVoiceLoadErrors(t *testing.T) {
	voice := minimalRule + "    channels: [voice]\n"
	both := minimalRule + "    channels: [sms, voice]\n    fallback_after: 30m\n"
	many := voice + "    say:\n" + strings.Repeat("      - {kind: prompt, value: notice_see_sms}\n", MaxSayItems+1)
	tests := []struct {
		name, rules string
		want        string // "file:line:col: " prefix and a message fragment, separated by "|"
	}{
		{"fallback without voice", minimalRule + "    fallback_after: 30m\n",
			"r.yaml:7:21: |fallback_after needs channels: [sms, voice]"},
		{"fallback with voice only", voice + "    fallback_after: 30m\n",
			"r.yaml:8:21: |fallback_after needs channels: [sms, voice]"},
		{"voice after sms without fallback", minimalRule + "    channels: [sms, voice]\n",
			"r.yaml:7:15: |need fallback_after"},
		{"bad fallback duration", minimalRule + "    channels: [sms, voice]\n    fallback_after: half an hour\n",
			"r.yaml:8:21: |bad duration"},
		{"fallback too short", minimalRule + "    channels: [sms, voice]\n    fallback_after: 30s\n",
			"r.yaml:8:21: |fallback_after must be 1m..72h"},
		{"fallback too long", minimalRule + "    channels: [sms, voice]\n    fallback_after: 4d\n",
			"r.yaml:8:21: |fallback_after must be 1m..72h"},
		{"voice before sms", minimalRule + "    channels: [voice, sms]\n",
			"r.yaml:7:15: |want [sms], [sms, voice]"},
		{"unknown channel", minimalRule + "    channels: [fax]\n",
			"r.yaml:7:15: |want [sms], [sms, voice]"},
		{"channel and channels", minimalRule + "    channel: sms\n    channels: [sms]\n",
			"r.yaml:7:14: |channel and channels are exclusive"},
		{"old channel voice", minimalRule + "    channel: voice\n",
			`r.yaml:7:14: |channel "voice": only sms`},
		{"say without voice", minimalRule + "    say: [{kind: number, value: event.licence.points}]\n",
			"r.yaml:7:10: |say needs voice in channels"},
		{"unknown say kind", voice + "    say:\n      - {kind: speech, value: event.licence.holder}\n",
			`r.yaml:9:16: |say[1]: unknown kind "speech"`},
		{"say item without value", voice + "    say:\n      - {kind: number}\n",
			"r.yaml:9:9: |say[1] needs kind and value"},
		{"say is not a list", voice + "    say: event.licence.points\n",
			"r.yaml:8:10: |say must be a list"},
		{"say value of the wrong type", voice + "    say:\n      - {kind: plate, value: event.licence.points}\n",
			"r.yaml:9:30: |say[1] (plate): expression yields int, want string"},
		{"say value typo", both + "    say:\n      - kind: date\n        value: event.licence.cycle_ned\n",
			"r.yaml:11:29: |undefined field 'cycle_ned'"},
		{"prompt neither a name nor CEL", voice + "    say:\n      - {kind: prompt, value: Notice-Intro}\n",
			"r.yaml:9:31: |say[1] (prompt): undeclared reference to 'Notice'"},
		{"prompt expression not a string", voice + "    say:\n      - {kind: prompt, value: event.licence.points}\n",
			"r.yaml:9:31: |say[1] (prompt): expression yields int, want string"},
		{"too many say items", many, "r.yaml:9:7: |at most 64"},
		{"audience cannot call", `rules:
  - id: adv
    on: advisory.published
    when: "true"
    audience: regions
    channels: [voice]
    template: {text: "预警"}
`, "r.yaml:6:15: |audience rules cannot call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(map[string][]byte{"r.yaml": []byte(tt.rules), "templates/t.yaml": []byte(minimalTemplate)}, Options{})
			var les LoadErrors
			if !errors.As(err, &les) {
				t.Fatalf("err = %v, want LoadErrors", err)
			}
			prefix, frag, _ := strings.Cut(tt.want, "|")
			for _, e := range les {
				if s := e.Error(); strings.HasPrefix(s, prefix) && strings.Contains(s, frag) {
					return
				}
			}
			t.Errorf("no error %q…%q among:\n%v", prefix, frag, err)
		})
	}
}

// TestVoiceLoad: the old channel key, the default and the voice keys
// land in the Rule.
func TestVoiceLoad(t *testing.T) {
	files := map[string][]byte{"templates/t.yaml": []byte(minimalTemplate), "r.yaml": []byte(minimalRule +
		"    channel: sms\n" + strings.Replace(strings.TrimPrefix(minimalRule, "rules:\n"), "id: r1", "id: r2", 1) +
		"    channels: [sms, voice]\n    fallback_after: 1h30m\n    say:\n      - {kind: prompt, value: notice_intro}\n      - {kind: number, value: event.licence.points}\n")}
	set, err := Load(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := set.Rule("r1"), set.Rule("r2")
	if !reflect.DeepEqual(r1.Channels, []string{"sms"}) || r1.Voice() || r1.FallbackAfter != 0 || r1.Say != nil {
		t.Errorf("r1 %+v", r1)
	}
	if !reflect.DeepEqual(r2.Channels, []string{"sms", "voice"}) || !r2.Voice() || r2.VoiceOnly() || r2.FallbackAfter != 90*time.Minute ||
		len(r2.Say) != 2 || r2.Say[1] != (SaySpec{Kind: "number", Value: "event.licence.points", Line: 17}) {
		t.Errorf("r2 %+v", r2)
	}
}

const voiceRules = `rules:
  - id: full
    on: [violation.processed]
    when: event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分"}
    channels: [sms, voice]
    fallback_after: 30m
    say:
      - {kind: prompt, value: points_prefix}
      - {kind: number, value: event.licence.points}
      - {kind: date, value: event.licence.cycle_end}
      - {kind: time, value: event.violation.time}
      - {kind: money, value: "string(event.violation.fine)"}
      - {kind: text, value: "event.licence.holder != '' ? '请' + mask_name(event.licence.holder) + '注意' : ''"}
      - {kind: date, value: event.licence.probation_until}   # not given: left out
      - {kind: digits, value: last4(event.licence.number)}
      - {kind: prompt, value: "'status_licence_' + event.licence.status"}
  - id: call
    on: [violation.processed]
    when: event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分"}
    channels: [voice]
  - id: broken
    on: [violation.processed]
    when: event.licence.points >= 12
    recipient: event.licence.phone
    template: {text: "满分"}
    channels: [voice]
    say:
      - {kind: number, value: event.licence.holder}
`

// TestVoiceEvaluate: say items are rendered per event in the set's zone;
// empty values drop out; a value that cannot be spoken skips the decision
// as an eval_error; a voice-only rule's plan is Only.
func TestVoiceEvaluate(t *testing.T) {
	set, err := Load(map[string][]byte{"r.yaml": []byte(voiceRules)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := pointsEvent(10, 12)
	ev.ViolationProcessed.Violation.Time = at("2026-11-26T23:30:00Z") // 07:30 in Beijing
	ev.ViolationProcessed.Violation.Fine = 200
	ev.ViolationProcessed.Licence.Holder = "李四"
	res, err := set.Evaluate(ev, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*message.Voice{}
	for _, d := range res.Decisions {
		got[d.RuleID] = d.Voice
	}
	want := &message.Voice{FallbackAfter: 30 * time.Minute, Say: []message.SayItem{
		{Kind: "prompt", Value: "points_prefix"}, {Kind: "number", Value: "12"}, {Kind: "date", Value: "2027-03-01"},
		{Kind: "time", Value: "07:30"}, {Kind: "money", Value: "200"}, {Kind: "text", Value: "请李*注意"}, {Kind: "digits", Value: "4567"},
		{Kind: "prompt", Value: "status_licence_A"},
	}}
	if !reflect.DeepEqual(got["full"], want) {
		t.Errorf("full: %+v\nwant %+v", got["full"], want)
	}
	if v := got["call"]; v == nil || !v.Only || v.FallbackAfter != 0 || v.Say != nil {
		t.Errorf("call: %+v", v)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].RuleID != "broken" || res.Skipped[0].Reason != SkipError ||
		!strings.Contains(res.Skipped[0].Detail, "say[1] (number): not a number") || strings.Contains(res.Skipped[0].Detail, "李四") {
		t.Errorf("skipped %+v", res.Skipped)
	}

	ev.ViolationProcessed.Licence.Holder = ""
	res, _ = set.Evaluate(ev, testNow)
	for _, d := range res.Decisions {
		if d.RuleID == "full" && len(d.Voice.Say) != 7 {
			t.Errorf("an empty text item is left out: %+v", d.Voice.Say)
		}
	}

	plain, err := Load(map[string][]byte{"r.yaml": []byte(minimalRule), "templates/t.yaml": []byte(minimalTemplate)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap := &event.Event{ID: "s", Type: event.TypeLicenceSnapshot, LicenceSnapshot: &event.LicenceSnapshot{
		Licence: event.Licence{Number: "310115198808124567", Phone: "18912345678", Points: 9}}}
	if res, _ := plain.Evaluate(snap, testNow); len(res.Decisions) != 1 || res.Decisions[0].Voice != nil {
		t.Errorf("an sms rule's decision carries a voice plan: %+v", res.Decisions)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m", 72 * time.Hour: "72h", 90 * time.Second: "1m30s"} {
		if got := ShortDuration(d); got != want {
			t.Errorf("ShortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestVoicePreview: preview names the channels, the fallback window and
// the rendered say items, with phone and ID numbers masked.
func TestVoicePreview(t *testing.T) {
	set, err := Load(map[string][]byte{"r.yaml": []byte(voiceRules)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := pointsEvent(10, 12)
	ev.ViolationProcessed.Violation.Fine = 200
	ev.ViolationProcessed.Licence.Holder = "李四"
	out, err := Preview(set, ev, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FIRES full → 189****5678",
		"channels:   sms, then voice: a call when the SMS ends failed, expired, partial or no_receipt, or is not delivered 30m after it was submitted",
		"say:        after the intro, [prompt points_prefix] [number 12] [date 2027-03-01] [time 10:00] [money 200] [text 请李*注意] [digits 4567] [prompt status_licence_A]\n",
		"FIRES call → 189****5678",
		"channels:   voice only (the message is stored suppressed, reason voice_only; the call is queued for not before)",
		"say:        after the intro, the SMS text (synthesized)",
		"SKIPPED broken: eval_error (say[1] (number): not a number",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("preview lacks %q:\n%s", want, out)
		}
	}
	plain, _ := Preview(loadDefault(t), pointsEvent(8, 10), testNow)
	if !strings.Contains(plain, "  channels:   sms\n") {
		t.Errorf("preview of an sms rule:\n%s", plain)
	}
	if got := sayNote([]message.SayItem{{Kind: "text", Value: "请拨13800138000，证号310115198808124567"}}); strings.Contains(got, "13800138000") ||
		strings.Contains(got, "310115198808124567") {
		t.Errorf("say note does not mask: %s", got)
	}
}

// TestVoiceTestExpectations: a rules test can state channels,
// fallback_after and say; a mismatch shows in the diff.
func TestVoiceTestExpectations(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tests"), 0o755)
	os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(strings.Split(voiceRules, "  - id: broken")[0]), 0o644)
	const tests = `now: "2026-11-27T10:00:00+08:00"
x-event: &ev
  type: violation.processed
  data:
    violation: {id: V1, time: "2026-11-27T09:00:00+08:00", code: "1352", points: 2}
    points_applied: 2
    points_before: 10
    licence: {number: "310115198808124567", phone: "18912345678", region: "310115", class: C1, status: A, points: 12,
      cycle_end: "2027-03-01T00:00:00+08:00"}
tests:
  - name: both calls
    event: *ev
    expect:
      - rule: full
        recipient: "18912345678"
        text: 【交管12123】满分
        not_before: "2026-11-27T10:00:00+08:00"
        channels: [sms, voice]
        fallback_after: 30m
        say:
          - {kind: prompt, value: points_prefix}
          - {kind: number, value: 12}
          - {kind: date, value: "2027-03-01"}
          - {kind: time, value: "09:00"}
          - {kind: money, value: 0}
          - {kind: digits, value: "4567"}
          - {kind: prompt, value: status_licence_A}
      - rule: call
        recipient: "18912345678"
        text: 【交管12123】满分
        not_before: "2026-11-27T10:00:00+08:00"
        channels: voice
        say: []
  - name: wrong plan
    event: *ev
    expect:
      - {rule: full, recipient: "18912345678", text: 【交管12123】满分, not_before: "2026-11-27T10:00:00+08:00", channels: sms, fallback_after: 1h}
      - {rule: call, recipient: "18912345678", text: 【交管12123】满分, not_before: "2026-11-27T10:00:00+08:00"}
`
	os.WriteFile(filepath.Join(dir, "tests", "t.yaml"), []byte(tests), 0o644)
	rep, err := RunTests(dir, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 2 || !rep.Cases[0].Pass || rep.Cases[1].Pass {
		t.Fatalf("cases %+v", rep.Cases)
	}
	for _, want := range []string{"-  channels: sms\n", "+  channels: sms,voice\n", "-  fallback_after: 1h\n", "+  fallback_after: 30m\n"} {
		if !strings.Contains(rep.Cases[1].Diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, rep.Cases[1].Diff)
		}
	}
}
