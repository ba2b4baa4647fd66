package flow

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func promptDir(t *testing.T) func(string) bool {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "prompts")
	return func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name+".wav"))
		return err == nil
	}
}

func TestShippedFlow(t *testing.T) {
	f, err := Load(filepath.Join("..", "..", "..", "config", "ivr-flows.yaml"), promptDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Start != "welcome" || f.Menus["main"].Collect.FirstTimeout != 6*time.Second {
		t.Fatalf("unexpected flow: start %q", f.Start)
	}
	if got := f.Verification.Digits; got.Min != 6 || got.Terminator != "#" {
		t.Fatalf("verification digits %+v", got)
	}
	if len(f.Prompts()) < 10 {
		t.Fatalf("prompts: %v", f.Prompts())
	}
}

const base = `start: main
verification:
  prompt: [enter_id]
menus:
  main:
    prompt: [main_menu]
    options:
      "1": [{goto: info}]
    on_fail: [{hangup: no_input}]
  info:
    actions: [{play: goodbye}, {goto: main}]
`

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each with its "line:col"
	}{
		{"ok", base, nil},
		{"unknown key", strings.Replace(base, "start: main", "start: main\nfoo: 1", 1), []string{"2:1: field foo not found"}},
		{"goto unknown", strings.Replace(base, "{goto: info}", "{goto: nowhere}", 1), []string{`8:20: goto unknown menu "nowhere"`, `menu "info" is unreachable`}},
		{"unreachable", base + "  orphan:\n    actions: [{hangup: x}]\n", []string{`12:3: menu "orphan" is unreachable`}},
		{"missing prompt", strings.Replace(base, "[main_menu]", "[no_such_prompt]", 1), []string{`6:14: prompt "no_such_prompt" has no audio file`}},
		{"loop without input", base + "  a:\n    actions: [{goto: b}]\n  b:\n    actions: [{goto: a}]\n",
			[]string{"loop without input: [a b a]"}},
		{"goto not last", strings.Replace(base, "[{play: goodbye}, {goto: main}]", "[{goto: main}, {play: goodbye}]", 1), []string{"goto must be the last action"}},
		{"two kinds in one action", strings.Replace(base, "{hangup: no_input}", "{hangup: x, play: goodbye}", 1), []string{"exactly one of"}},
		{"option longer than collect", strings.Replace(base, `"1": [{goto: info}]`, `"12": [{goto: info}]`, 1), []string{`option "12" has 2 keys`}},
		{"unknown query", strings.Replace(base, "{play: goodbye}", "{query: weather}", 1), []string{`unknown query "weather"`}},
		{"unknown transfer", strings.Replace(base, "{play: goodbye}, {goto: main}", "{transfer: agent}", 1), []string{`unknown transfer "agent"`}},
		{"action menu without end", strings.Replace(base, "[{play: goodbye}, {goto: main}]", "[{play: goodbye}]", 1), []string{"must end with goto"}},
		{"bad yaml", "start: [", []string{"1:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("flows.yaml", []byte(tt.yaml), promptDir(t))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte("start: a\nmenus:\n  a:\n    actions: [{goto: a}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := Parse("f.yaml", b, nil)
		if err == nil && fl.Menus[fl.Start] == nil {
			t.Fatal("accepted a flow without its start menu")
		}
	})
}
