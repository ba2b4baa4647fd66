// Package flow loads and validates IVR call flows written as YAML: menus
// with prompts, digit collection and options, and the actions a key runs
// (play, query, transfer, goto, hangup). It knows nothing of SIP or audio:
// pkg/ivr runs a Flow; operators check files offline with Check.
//
// A file is refused whole: every problem is reported with file:line:col,
// including unknown keys, unknown goto targets, menus that cannot be reached,
// missing prompt files and loops of menus that never wait for a key.
package flow

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid wraps every validation failure (errors.Is(err, ErrInvalid)).
var ErrInvalid = errors.New("invalid call flow")

// Query kinds a query action may name. The personal ones run verification
// first.
const (
	QueryLicence    = "licence"
	QueryVehicles   = "vehicles"
	QueryViolations = "violations"
	QueryAdvisories = "advisories"
)

// Personal reports whether a query reads personal data.
func Personal(q string) bool {
	return q == QueryLicence || q == QueryVehicles || q == QueryViolations
}

var queries = []string{QueryLicence, QueryVehicles, QueryViolations, QueryAdvisories}

// Collect describes how digits are read.
type Collect struct {
	Min          int           `yaml:"min"`
	Max          int           `yaml:"max"`
	Terminator   string        `yaml:"terminator"`
	FirstTimeout time.Duration `yaml:"first_timeout"`
	InterTimeout time.Duration `yaml:"inter_timeout"`
	Retries      int           `yaml:"retries"`
	Invalid      []string      `yaml:"invalid"`
	NoInput      []string      `yaml:"noinput"`
}

// Action is one step. Exactly one field is set.
type Action struct {
	Play     string `yaml:"play"`
	Query    string `yaml:"query"`
	Transfer string `yaml:"transfer"` // a key of Flow.Transfers
	Goto     string `yaml:"goto"`
	Hangup   string `yaml:"hangup"` // a cause recorded in the CDR
}

// Kind names the action's set field.
func (a Action) Kind() string {
	switch {
	case a.Play != "":
		return "play"
	case a.Query != "":
		return "query"
	case a.Transfer != "":
		return "transfer"
	case a.Goto != "":
		return "goto"
	case a.Hangup != "":
		return "hangup"
	}
	return ""
}

// Menu is either an input menu (Options, with Prompt and Collect) or an
// action menu (Actions run in order, ending in goto, transfer or hangup).
type Menu struct {
	Prompt  []string            `yaml:"prompt"`
	Collect *Collect            `yaml:"collect"`
	Options map[string][]Action `yaml:"options"`
	Actions []Action            `yaml:"actions"`
	OnFail  []Action            `yaml:"on_fail"` // retries exhausted
}

// Verification is the check that precedes personal data.
type Verification struct {
	Prompt        []string      `yaml:"prompt"`
	Digits        Collect       `yaml:"digits"`
	Success       []string      `yaml:"success"`
	Failed        []string      `yaml:"failed"`
	Locked        []string      `yaml:"locked"`
	NotRegistered []string      `yaml:"not_registered"`
	MaxFailures   int           `yaml:"max_failures"`
	LockFor       time.Duration `yaml:"lock_for"`
	OnRefused     string        `yaml:"on_refused"` // menu after a refusal
}

// Transfer is an agent queue.
type Transfer struct {
	URI         string        `yaml:"uri"`
	Method      string        `yaml:"method"` // "refer" (default) or "bridge"
	Timeout     time.Duration `yaml:"timeout"`
	Prompt      []string      `yaml:"prompt"`
	Unavailable []string      `yaml:"unavailable"`
}

// Flow is a loaded, validated call flow. Treat it as read-only.
type Flow struct {
	Start        string              `yaml:"start"`
	Defaults     Collect             `yaml:"defaults"`
	Verification Verification        `yaml:"verification"`
	Transfers    map[string]Transfer `yaml:"transfers"`
	Menus        map[string]*Menu    `yaml:"menus"`

	// File is where the flow came from.
	File string `yaml:"-"`
}

// Default values for fields left out.
const (
	DefaultFirstTimeout = 5 * time.Second
	DefaultInterTimeout = 3 * time.Second
	DefaultRetries      = 3
	DefaultMaxFailures  = 3
	DefaultLockFor      = 30 * time.Minute
	DefaultTransferWait = 30 * time.Second
)

// Load reads and validates a flow file. promptExists reports whether a
// prompt name has an audio file; nil skips that check.
func Load(path string, promptExists func(string) bool) (*Flow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read call flow: %w", err)
	}
	return Parse(path, b, promptExists)
}

// Parse decodes and validates a flow; file names the source in errors.
func Parse(file string, b []byte, promptExists func(string) bool) (*Flow, error) {
	var f Flow
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, &Errors{List: []Problem{yamlProblem(file, err)}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Errors{List: []Problem{yamlProblem(file, err)}}
	}
	f.File = file
	v := &validator{f: &f, file: file, root: &root, exists: promptExists}
	v.defaults()
	v.validate()
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool {
			a, b := v.problems[i], v.problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, &Errors{List: v.problems}
	}
	return &f, nil
}

// Problem is one validation failure with its position.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg) }

// Errors lists every problem of a refused file.
type Errors struct{ List []Problem }

func (e *Errors) Error() string {
	s := make([]string, len(e.List))
	for i, p := range e.List {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Errors) Unwrap() error { return ErrInvalid }

func yamlProblem(file string, err error) Problem {
	// yaml errors read "yaml: line 12: ..." or list several "line N: ...".
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return Problem{File: file, Line: line, Col: 1, Msg: msg}
}

// Prompts returns every prompt name the flow references.
func (f *Flow) Prompts() []string {
	set := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			set[n] = true
		}
	}
	addActions := func(as []Action) {
		for _, a := range as {
			if a.Play != "" {
				add(a.Play)
			}
		}
	}
	add(f.Defaults.Invalid...)
	add(f.Defaults.NoInput...)
	vf := f.Verification
	add(vf.Prompt...)
	add(vf.Success...)
	add(vf.Failed...)
	add(vf.Locked...)
	add(vf.NotRegistered...)
	add(vf.Digits.Invalid...)
	add(vf.Digits.NoInput...)
	for _, t := range f.Transfers {
		add(t.Prompt...)
		add(t.Unavailable...)
	}
	for _, m := range f.Menus {
		add(m.Prompt...)
		if m.Collect != nil {
			add(m.Collect.Invalid...)
			add(m.Collect.NoInput...)
		}
		for _, as := range m.Options {
			addActions(as)
		}
		addActions(m.Actions)
		addActions(m.OnFail)
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
