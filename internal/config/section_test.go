package config

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A carrier entry holds the common keys and the section of its protocol;
// any other key is an error with its line.
func TestCarrierKeys(t *testing.T) {
	const head = "carriers:\n  - name: china_mobile\n    addr: x:1\n"
	for _, tc := range []struct{ yaml, want string }{
		{head + "    smpp:\n      system_id: a\n", ""},
		{head + "    protocol: cmpp\n    cmpp:\n      sp_id: \"901234\"\n", ""}, // config does not know the protocols: app checks the name and the section
		{head + "    adr: y\n", `line 4: carriers[0]: unknown key "adr"`},
		{head + "    cmpp:\n      sp_id: x\n", `line 4: carriers[0]: unknown key "cmpp": a carrier has the common keys and the section of its protocol (smpp:)`},
		{head + "    protocol: sgip\n    smpp:\n      system_id: a\n", `line 5: carriers[0]: unknown key "smpp"`},
	} {
		c, err := Load([]byte(tc.yaml))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.yaml, err)
			} else if c.Carriers[0].Section() == nil {
				t.Errorf("%q: no section", tc.yaml)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	k := Carrier{}
	if k.ProtocolName() != DefaultProtocol || k.Section() != nil {
		t.Errorf("a carrier without protocol: %q, section %v", k.ProtocolName(), k.Section())
	}
}

type inner struct {
	Port int `yaml:"port"`
}

type section struct {
	Name    string           `yaml:"name"`
	Timeout Duration         `yaml:"timeout"`
	Inner   inner            `yaml:"inner"`
	List    []inner          `yaml:"list"`
	ByName  map[string]inner `yaml:"by_name"`
	Ptr     *inner           `yaml:"ptr"`
	Skip    string           `yaml:"-"`
	Plain   string
	inner   `yaml:",inline"`
}

// DecodeSection is as strict as the file: unknown keys at any depth and
// values of the wrong kind are errors with their line.
func TestDecodeSection(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: a\ntimeout: 5s\ninner: {port: 1}\nlist: [{port: 2}]\nby_name: {x: {port: 3}}\nptr: {port: 4}\nplain: p\nport: 5\n", ""},
		{"nme: a\n", `line 1: s: unknown key "nme" (known: by_name, inner, list, name, plain, port, ptr, timeout)`},
		{"inner:\n  prt: 1\n", `line 2: s.inner: unknown key "prt"`},
		{"list:\n  - port: 1\n  - prt: 2\n", `line 3: s.list[1]: unknown key "prt"`},
		{"by_name:\n  x:\n    prt: 1\n", `line 3: s.by_name.x: unknown key "prt"`},
		{"ptr:\n  prt: 1\n", `line 2: s.ptr: unknown key "prt"`},
		{"skip: x\n", `unknown key "skip"`},
		{"inner:\n  port: many\n", "line 2: cannot unmarshal !!str `many` into int"},
		{"timeout: soon\n", `"soon" is not a duration`},
		{"[1, 2]\n", "s: want a mapping"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		var s section
		err := DecodeSection(doc.Content[0], &s, "s")
		if tc.want == "" {
			if err != nil || s.Name != "a" || s.Timeout.D().String() != "5s" || s.List[0].Port != 2 || s.ByName["x"].Port != 3 || s.Ptr.Port != 4 || s.Plain != "p" || s.Port != 5 {
				t.Errorf("%q: %+v, %v", tc.yaml, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	if err := DecodeSection(nil, &section{}, "s"); err != nil {
		t.Errorf("no section: %v", err)
	}
	var null yaml.Node
	_ = yaml.Unmarshal([]byte("s:\n"), &null)
	if err := DecodeSection(null.Content[0].Content[1], &section{}, "s"); err != nil {
		t.Errorf("an empty section: %v", err)
	}
}

func TestCheckBounds(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("n: 5\nd: 2m\ninner:\n  port: 70000\n"), &doc); err != nil {
		t.Fatal(err)
	}
	errs := CheckBounds(doc.Content[0], "s", []Bound{{Key: "n", Min: 1, Max: 4}, {Key: "d", Max: int64(60e9), Dur: true}, {Key: "inner.port", Max: 65535}, {Key: "absent", Max: 1}})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	want := []string{"line 1: s.n: 5 is outside 1..4", "line 2: s.d: 2m is outside 0s..1m0s", "line 4: s.inner.port: 70000 is outside 0..65535"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if CheckBounds(nil, "s", []Bound{{Key: "n"}}) != nil {
		t.Error("no section, no errors")
	}
}
