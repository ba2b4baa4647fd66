package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
)

// minimal is a valid one-rule set the error cases below break.
const minimalRule = `rules:
  - id: r1
    on: [licence.snapshot]
    when: event.licence.points >= 9
    recipient: event.licence.phone
    template: t1
`

const minimalTemplate = `templates:
  - name: t1
    text: "您的驾驶证(证号末4位{{ last4(event.licence.number) }})已记{{ event.licence.points }}分。"
`

func TestLoadMinimal(t *testing.T) {
	set, err := Load(map[string][]byte{"r.yaml": []byte(minimalRule), "templates/t.yaml": []byte(minimalTemplate)}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(set.Rules()); n != 1 {
		t.Fatalf("%d rules", n)
	}
	s := set.Settings()
	if s.Signature != DefaultSignature || s.Timezone != DefaultTimezone || s.QuietStart != "21:00" {
		t.Errorf("default settings not applied: %+v", s)
	}
}

func TestLoadErrorPositions(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // "file:line:col: " prefix and a message fragment, separated by "|"
	}{
		{"yaml syntax", map[string]string{"r.yaml": "rules:\n  - id: r1\n    on: [licence.snapshot\n"},
			"r.yaml:2:1: |yaml: did not find expected ',' or ']'"},
		{"unknown rule key", map[string]string{"r.yaml": strings.Replace(minimalRule, "    template: t1", "    template: t1\n    tempalte: t1", 1)},
			`r.yaml:7:5: |unknown key "tempalte"`},
		{"unknown top-level key", map[string]string{"r.yaml": "rule:\n  - id: x\n"},
			`r.yaml:1:1: |unknown key "rule"`},
		{"unknown event type", map[string]string{"r.yaml": strings.Replace(minimalRule, "[licence.snapshot]", "[licence.snapshots]", 1)},
			`r.yaml:3:10: |unknown event type "licence.snapshots"`},
		{"misspelt field in plain scalar", map[string]string{"r.yaml": strings.Replace(minimalRule, "event.licence.points >= 9", "event.licence.pionts >= 9", 1)},
			"r.yaml:4:24: |undefined field 'pionts'"},
		{"misspelt field in folded scalar, second line", map[string]string{"r.yaml": strings.Replace(minimalRule,
			"    when: event.licence.points >= 9\n", "    when: >\n      event.licence.points >= 9 &&\n        event.licence.clas == \"A2\"\n", 1)},
			"r.yaml:6:22: |undefined field 'clas'"},
		{"misspelt field in a plain scalar continued on the next line", map[string]string{"r.yaml": strings.Replace(minimalRule,
			"    when: event.licence.points >= 9\n", "    when: event.licence.points >= 9 &&\n      event.licence.clas == \"A2\"\n", 1)},
			"r.yaml:5:20: |undefined field 'clas'"},
		{"misspelt field in double-quoted scalar", map[string]string{"r.yaml": strings.Replace(minimalRule,
			"    recipient: event.licence.phone", `    recipient: "event.licence.phon"`, 1)},
			"r.yaml:5:30: |undefined field 'phon'"},
		{"when is not bool", map[string]string{"r.yaml": strings.Replace(minimalRule, "event.licence.points >= 9", "event.licence.points", 1)},
			"r.yaml:4:11: |yields int, want bool"},
		{"recipient is not a string", map[string]string{"r.yaml": strings.Replace(minimalRule, "recipient: event.licence.phone", "recipient: event.licence.points", 1)},
			"r.yaml:5:16: |yields int, want string"},
		{"field of another event type", map[string]string{"r.yaml": strings.Replace(minimalRule, "event.licence.points >= 9", "event.vehicle.plate != ''", 1)},
			"r.yaml:4:16: |undefined field 'vehicle'"},
		{"missing template", map[string]string{"r.yaml": strings.Replace(minimalRule, "template: t1", "template: t9", 1)},
			`r.yaml:6:15: |no template named "t9"`},
		{"duplicate id", map[string]string{"r.yaml": minimalRule + strings.TrimPrefix(minimalRule, "rules:\n")},
			`r.yaml:7:9: |rule "r1" already defined at r.yaml:2`},
		{"missing recipient", map[string]string{"r.yaml": strings.Replace(minimalRule, "    recipient: event.licence.phone\n", "", 1)},
			"r.yaml:2:5: |missing recipient"},
		{"bad dedupe window", map[string]string{"r.yaml": minimalRule + "    dedupe: {key: event.licence.number, window: 3 days}\n"},
			"r.yaml:7:49: |bad duration"},
		{"timing.at not a timestamp", map[string]string{"r.yaml": minimalRule + "    timing:\n      at: event.licence.cycle_end + 1\n"},
			"r.yaml:8:35: |no matching overload"},
		{"expensive condition", map[string]string{"r.yaml": strings.Replace(strings.Replace(minimalRule, "licence.snapshot", "advisory.published", 1),
			"when: event.licence.points >= 9", `when: event.regions.all(a, event.regions.all(b, event.regions.all(c, a + b + c != "")))`, 1)},
			"r.yaml:4:11: |exceeds max_cost"},
		{"expensive placeholder", map[string]string{"r.yaml": `rules:
  - id: adv
    on: advisory.published
    when: "true"
    audience: regions
    template: {text: "{{ string(event.regions.map(a, event.regions.map(b, a + b)).size()) }}"}
`}, "r.yaml:6:" + "|exceeds max_cost"},
		{"template field typo, mapped into the template text", map[string]string{"r.yaml": minimalRule,
			"templates/t.yaml": strings.Replace(minimalTemplate, "event.licence.points", "event.licence.point", 1)},
			"templates/t.yaml:3:75: |undefined field 'point'"},
		{"escapes before the error in a double-quoted template", map[string]string{"r.yaml": minimalRule,
			"templates/t.yaml": "templates:\n  - name: t1\n    text: \"\\\"注意\\\"\\u0020{{ event.licence.pionts }}\"\n"},
			"templates/t.yaml:3:40: |undefined field 'pionts'"},
		{"single-quoted rule condition with a doubled quote", map[string]string{"r.yaml": strings.Replace(minimalRule,
			"    when: event.licence.points >= 9\n", "    when: 'event.licence.class == ''A2'' && event.licence.pionts > 1'\n", 1)},
			"r.yaml:4:58: |undefined field 'pionts'"},
		{"signature inside a template", map[string]string{"r.yaml": minimalRule,
			"templates/t.yaml": strings.Replace(minimalTemplate, `"您的`, `"【交管12123】您的`, 1)},
			"templates/t.yaml:3:12: |【】"},
		{"link inside a template", map[string]string{"r.yaml": minimalRule,
			"templates/t.yaml": strings.Replace(minimalTemplate, "分。", "分，详见 https://122.gov.cn", 1)},
			"templates/t.yaml:3:|links are not allowed"},
		{"template too long for max_segments", map[string]string{"r.yaml": minimalRule + "    max_segments: 1\n",
			"templates/t.yaml": strings.Replace(minimalTemplate, "分。", "分，"+strings.Repeat("请注意安全驾驶", 8)+"。", 1)},
			"templates/t.yaml:3:12: |need 2 segments, more than max_segments 1"},
		{"unused template with a typo", map[string]string{"r.yaml": minimalRule,
			"templates/u.yaml": "templates:\n  - name: spare\n    text: |\n      第一行\n      您的{{ event.vehicle.plat }}\n"},
			"templates/u.yaml:5:25: |undefined field 'plat'"},
		{"literal block template, second line", map[string]string{"r.yaml": minimalRule,
			"templates/t.yaml": "templates:\n  - name: t1\n    text: |-\n      您好，\n        记{{ event.licence.pionts }}分。\n"},
			"templates/t.yaml:5:26: |undefined field 'pionts'"},
		{"settings unknown key", map[string]string{"r.yaml": minimalRule, "templates/t.yaml": minimalTemplate, "settings.yaml": "signature: 【交管12123】\nquiet: 1\n"},
			`settings.yaml:2:1: |unknown key "quiet"`},
		{"settings bad zone", map[string]string{"r.yaml": minimalRule, "templates/t.yaml": minimalTemplate, "settings.yaml": "timezone: Mars/Olympus\n"},
			`settings.yaml:1:11: |not an IANA zone`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string][]byte{"templates/t.yaml": []byte(minimalTemplate)}
			for k, v := range tt.files {
				files[k] = []byte(v)
			}
			set, err := Load(files, Options{})
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if set != nil {
				t.Error("a set with errors was returned")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
			var les LoadErrors
			if !errors.As(err, &les) {
				t.Fatalf("%T is not LoadErrors", err)
			}
			prefix, frag, _ := strings.Cut(tt.want, "|")
			for _, e := range les {
				s := e.Error()
				if strings.HasPrefix(s, prefix) && strings.Contains(s, frag) {
					return
				}
			}
			t.Errorf("no error %q…%q among:\n%v", prefix, frag, err)
		})
	}
}

// TestLoadDirRefusesWhole: one broken file refuses the whole directory.
func TestLoadDirRefusesWhole(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../rules", dir)
	if _, err := LoadDir(dir, Options{}); err != nil {
		t.Fatalf("copy of the default rules does not load: %v", err)
	}
	bad := filepath.Join(dir, "violation.yaml")
	data, _ := os.ReadFile(bad)
	os.WriteFile(bad, []byte(strings.Replace(string(data), "event.violation.monitoring", "event.violation.monitored", 1)), 0o644)
	set, err := LoadDir(dir, Options{})
	if set != nil || err == nil {
		t.Fatal("a set with a broken file loaded")
	}
	if !strings.Contains(err.Error(), "violation.yaml:") || !strings.Contains(err.Error(), "monitored") {
		t.Errorf("error does not point at the file: %v", err)
	}
}

func TestHashChangesWithContent(t *testing.T) {
	files := map[string][]byte{"r.yaml": []byte(minimalRule), "templates/t.yaml": []byte(minimalTemplate)}
	a, err := Load(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Load(files, Options{})
	files["r.yaml"] = []byte(strings.Replace(minimalRule, ">= 9", ">= 10", 1))
	c, err := Load(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() || a.Hash() == c.Hash() || len(a.Hash()) != 64 {
		t.Errorf("hashes %s %s %s", a.Hash(), b.Hash(), c.Hash())
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"", 0, false},
		{"d", 0, false},
		{"3 days", 0, false},
		{"-1h", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	// small seeds: every exec builds the CEL environments, and large inputs
	// make the engine's minimisation crawl
	for _, name := range []string{"advisory.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../rules", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), minimalTemplate, "")
	}
	f.Add(minimalRule, minimalTemplate, "signature: x\n")
	f.Add("rules: [{id: a, on: x, when: '(', recipient: 1, template: {text: '{{'}}]", "templates: 1", "quiet_hours: {start: 25:00}")
	f.Add("rules:\n  - id: r\n    on: [advisory.published]\n    when: 'true'\n    audience: regions\n    template: {text: \"{{ event.text }}\"}\n", "", "")
	ev := &event.Event{ID: "e", Type: event.TypeLicenceSnapshot, Time: testNow,
		LicenceSnapshot: &event.LicenceSnapshot{Licence: event.Licence{Number: "110105199003071239", Phone: "13900139000", Points: 10}}}
	f.Fuzz(func(t *testing.T, rules, templates, settings string) {
		files := map[string][]byte{"r.yaml": []byte(rules), "templates/t.yaml": []byte(templates)}
		if settings != "" {
			files["settings.yaml"] = []byte(settings)
		}
		set, err := Load(files, Options{})
		if err != nil {
			var les LoadErrors
			if !errors.As(err, &les) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T %v is neither LoadErrors nor ErrInvalid", err, err)
			}
			for _, e := range les {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		// whatever loaded must evaluate without panicking
		if _, err := set.Evaluate(ev, testNow); err != nil {
			t.Fatal(err)
		}
	})
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzExprPosition feeds arbitrary condition text in each YAML scalar style:
// loading must not panic and every error must point inside the file.
func FuzzExprPosition(f *testing.F) {
	for _, s := range []string{"event.licence.pionts > 1", "'a' == \"b\" && event.x", "\\u0041 +", "1 +\n  event.y", "(", "''"} {
		for style := range 4 {
			f.Add(s, style)
		}
	}
	f.Fuzz(func(t *testing.T, expr string, style int) {
		var when string
		switch style % 4 {
		case 0:
			when = "    when: " + expr + "\n"
		case 1:
			when = "    when: \"" + expr + "\"\n"
		case 2:
			when = "    when: '" + expr + "'\n"
		default:
			when = "    when: |\n      " + strings.ReplaceAll(expr, "\n", "\n      ") + "\n"
		}
		src := strings.Replace(minimalRule, "    when: event.licence.points >= 9\n", when, 1)
		_, err := Load(map[string][]byte{"r.yaml": []byte(src), "templates/t.yaml": []byte(minimalTemplate)}, Options{})
		var les LoadErrors
		if !errors.As(err, &les) {
			return
		}
		lines := strings.Count(src, "\n") + 1
		for _, e := range les {
			if e.File == "r.yaml" && (e.Line < 1 || e.Line > lines || e.Col < 1) {
				t.Fatalf("error outside the file (%d lines): %v", lines, e)
			}
		}
	})
}
