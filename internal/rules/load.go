package rules

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/template"
)

// Options tune LoadDir.
type Options struct {
	// Now is the clock Set.Now reports (for tools that evaluate "now");
	// nil means time.Now. Evaluate itself always takes now as an argument.
	Now func() time.Time
}

// Rule is one rule as the operator wrote it. Expressions are kept as
// source; their compiled programs stay inside the Set.
type Rule struct {
	ID          string
	Description string
	On          []event.Type
	When        string
	Recipient   string // CEL string expression: the phone number
	Audience    string // "regions": no single recipient, the Decision carries Regions
	Regions     string // CEL list(string) expression for audience regions; default event.regions
	Template    string // template name; the rule id for an inline template
	// Channels are tried in order: [sms] (the default), [sms voice] (a
	// call when the SMS fails or is not delivered within FallbackAfter)
	// or [voice] (a call instead of the SMS).
	Channels    []string
	Priority    int
	Urgent      bool // bypasses per-recipient caps (policy)
	MaxSegments int
	Enabled     bool

	FallbackAfter time.Duration // [sms voice]: how long the SMS has to be delivered before the call
	Say           []SaySpec     // voice: what the call speaks after its intro; empty: the SMS text (TTS)

	DedupeKey    string // CEL string expression; empty: no dedupe
	DedupeWindow time.Duration

	At         string // CEL timestamp expression: not before; empty: now
	Expires    string // CEL timestamp expression: never after; empty: no expiry
	QuietHours bool   // defer out of quiet hours (default true)

	CancelOn *CancelOn

	// StillDue is a CEL bool over `state` (the latest known licence or
	// vehicle the reminder is about) and `now`, evaluated again just
	// before the message is sent; false: the reminder is cancelled with
	// reason "resolved" and the event that resolved it. Empty: no re-check.
	StillDue string

	File string
	Line int
}

// CancelOn names later events that make a pending reminder of the rule moot.
type CancelOn struct {
	Events []event.Type
	When   string // CEL bool over the cancelling event; default true
	Key    string // CEL string over both the firing and the cancelling event; default the entity (plate or licence number)
}

// TemplateDef is a named template of rules/templates.
type TemplateDef struct {
	Name        string
	Description string
	Text        string
	MaxSegments int
	File        string
	Line        int

	node *yaml.Node
	f    *yfile
}

// compiled is a rule's programs for one event type.
type compiled struct {
	rule                                         *Rule
	when, recipient, regions, dedupe, at, expiry cel.Program
	key                                          cel.Program // cancel key; nil: entity
	tmpl                                         *template.Template
	say                                          []sayProg // voice rules
}

// canceller is a rule's cancel_on programs for one event type.
type canceller struct {
	rule      *Rule
	when, key cel.Program
}

// Set is a loaded, immutable rule set. It is safe for concurrent use.
type Set struct {
	settings  Settings
	rules     []*Rule
	templates map[string]*TemplateDef
	byType    map[event.Type][]*compiled
	cancels   map[event.Type][]*canceller
	envs      map[event.Type]*cel.Env
	stateEnvs map[string]*cel.Env
	stillDue  map[string]*recheck // by rule id
	inhibits  []*Inhibit
	hash      string
	now       func() time.Time
}

// Settings returns the set-wide settings.
func (s *Set) Settings() Settings { return s.settings }

// Rules returns the rules in file order (disabled ones included).
func (s *Set) Rules() []*Rule { return slices.Clone(s.rules) }

// Rule returns the rule with id, or nil.
func (s *Set) Rule(id string) *Rule {
	for _, r := range s.rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Templates returns the named templates, sorted by name.
func (s *Set) Templates() []*TemplateDef {
	out := make([]*TemplateDef, 0, len(s.templates))
	for _, t := range s.templates {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *TemplateDef) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Hash is a content hash (sha256, hex) of every file the set was loaded
// from, with their names.
func (s *Set) Hash() string { return s.hash }

// Now is the set's clock (Options.Now).
func (s *Set) Now() time.Time { return s.now() }

const settingsFile = "settings.yaml"

// LoadDir loads dir/settings.yaml (optional), dir/templates/*.yaml and
// every other dir/*.yaml as rules. Any error refuses the whole set: the
// returned error is LoadErrors, sorted by file and position.
func LoadDir(dir string, opts Options) (*Set, error) {
	files := map[string][]byte{}
	var names []string
	read := func(pattern string) error {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return err
		}
		for _, p := range m {
			data, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("read rules: %w", err)
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			files[rel] = data
			names = append(names, rel)
		}
		return nil
	}
	for _, p := range []string{"*.yaml", "*.yml", "templates/*.yaml", "templates/*.yml"} {
		if err := read(p); err != nil {
			return nil, err
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("load rules from %s: no *.yaml files: %w", dir, ErrInvalid)
	}
	return Load(files, opts)
}

// Load builds a set from file contents keyed by path relative to the rules
// directory ("settings.yaml", "vehicle.yaml", "templates/vehicle.yaml").
func Load(files map[string][]byte, opts Options) (*Set, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)

	errs := &errList{}
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	set := &Set{
		settings:  defaultSettings(),
		templates: map[string]*TemplateDef{},
		byType:    map[event.Type][]*compiled{},
		cancels:   map[event.Type][]*canceller{},
		stillDue:  map[string]*recheck{},
		hash:      hex.EncodeToString(h.Sum(nil)),
		now:       opts.Now,
	}
	if set.now == nil {
		set.now = time.Now
	}

	if data, ok := files[settingsFile]; ok {
		f, root := parseYAML(settingsFile, data, errs)
		if root != nil {
			set.settings = f.settings(root)
		}
	}
	envs, err := newEnvs(set.settings.Location)
	if err != nil {
		return nil, err
	}
	set.envs = envs
	if set.stateEnvs, err = newStateEnvs(set.settings.Location); err != nil {
		return nil, err
	}

	// templates first: rules refer to them by name.
	for _, n := range names {
		if !isTemplateFile(n) {
			continue
		}
		f, root := parseYAML(n, files[n], errs)
		if root == nil {
			continue
		}
		set.readTemplates(f, root)
	}
	l := &loader{set: set, errs: errs, tcache: map[tkey]*template.Template{}}
	ruleFiles := map[string]*yfile{}
	for _, n := range names {
		if isTemplateFile(n) || n == settingsFile {
			continue
		}
		f, root := parseYAML(n, files[n], errs)
		ruleFiles[n] = f
		if root == nil {
			continue
		}
		l.readRules(f, root)
	}
	l.checkInhibits(ruleFiles)
	l.lintUnused()
	if len(set.rules) == 0 && len(errs.errs) == 0 {
		errs.add("", 1, 1, "no rules")
	}
	if len(errs.errs) > 0 {
		return nil, dedupeErrors(errs.errs)
	}
	return set, nil
}

func isTemplateFile(n string) bool { return strings.HasPrefix(n, "templates/") }

func dedupeErrors(es LoadErrors) LoadErrors {
	slices.SortStableFunc(es, func(a, b *LoadError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col), cmp.Compare(a.Msg, b.Msg))
	})
	return slices.CompactFunc(es, func(a, b *LoadError) bool { return *a == *b })
}

func (s *Set) readTemplates(f *yfile, root *yaml.Node) {
	m := f.fields(root, "templates file", "templates")
	list := m["templates"]
	if list == nil {
		if m != nil {
			f.errAt(root, "templates file: missing key \"templates\"")
		}
		return
	}
	if list.Kind != yaml.SequenceNode {
		f.errAt(list, "templates must be a list")
		return
	}
	for _, n := range list.Content {
		tm := f.fields(n, "template", "name", "description", "text", "max_segments")
		if tm == nil {
			continue
		}
		t := &TemplateDef{File: f.name, Line: n.Line, f: f}
		if v := tm["name"]; v == nil {
			f.errAt(n, "template: missing name")
			continue
		} else if t.Name, _ = f.str(v, "name"); !isIdent(t.Name) {
			f.errAt(v, "template name %q: use letters, digits, '.', '_' or '-'", t.Name)
			continue
		} else if old := s.templates[t.Name]; old != nil {
			f.errAt(v, "template %q already defined at %s:%d", t.Name, old.File, old.Line)
			continue
		}
		if v := tm["description"]; v != nil {
			t.Description, _ = f.str(v, "description")
		}
		v := tm["text"]
		if v == nil {
			f.errAt(n, "template %q: missing text", t.Name)
			continue
		}
		t.Text, _ = f.str(v, "text")
		t.node = v
		if v := tm["max_segments"]; v != nil {
			if x, ok := f.integer(v, "max_segments"); ok {
				if x < 1 || x > 10 {
					f.errAt(v, "max_segments must be 1..10")
				}
				t.MaxSegments = x
			}
		}
		s.templates[t.Name] = t
	}
}

type tkey struct {
	name string
	typ  event.Type
	max  int
}

type loader struct {
	set    *Set
	errs   *errList
	tcache map[tkey]*template.Template
}

var ruleKeys = []string{"id", "description", "on", "when", "recipient", "audience", "regions", "template",
	"channel", "channels", "fallback_after", "say", "priority", "urgent", "max_segments", "enabled", "dedupe", "timing", "cancel_on", "still_due"}

func (l *loader) readRules(f *yfile, root *yaml.Node) {
	m := f.fields(root, "rules file", "rules", "inhibit")
	if v := m["inhibit"]; v != nil {
		l.readInhibits(f, v)
	}
	list := m["rules"]
	if list == nil {
		if m != nil && m["inhibit"] == nil {
			f.errAt(root, "rules file: missing key \"rules\"")
		}
		return
	}
	if list.Kind != yaml.SequenceNode {
		f.errAt(list, "rules must be a list")
		return
	}
	for _, n := range list.Content {
		l.readRule(f, n)
	}
}

// ruleNodes are the YAML nodes of one rule that are compiled once the
// rule has been read without errors: CEL expressions and the template.
type ruleNodes struct {
	m                     map[string]*yaml.Node // the rule's keys
	dedupeKey             *yaml.Node
	at, expires           *yaml.Node
	cancelWhen, cancelKey *yaml.Node
	say                   []*yaml.Node // the say items' values
	tdef                  *TemplateDef // nil: missing or broken
}

// readRule reads one rule in named steps, each reporting its problems at
// their line: the id, what it listens to and when it fires, whom it goes
// to, how it is sent, dedupe, timing, cancel_on and the template. A rule
// read without problems is then compiled for each of its event types.
func (l *loader) readRule(f *yfile, n *yaml.Node) {
	m := f.fields(n, "rule", ruleKeys...)
	if m == nil {
		return
	}
	before := len(l.errs.errs)
	r := &Rule{File: f.name, Line: n.Line, Channels: []string{ChannelSMS}, Enabled: true, QuietHours: true,
		MaxSegments: l.set.settings.MaxSegments}
	if !l.readRuleID(f, n, m, r) {
		return
	}
	rn := ruleNodes{m: m}
	l.readRuleTrigger(f, n, m, r)
	readRuleAudience(f, n, m, r)
	readRuleSending(f, m, r)
	rn.say = readRuleChannels(f, m, r)
	rn.dedupeKey = readRuleDedupe(f, m, r)
	rn.at, rn.expires = readRuleTiming(f, m, r)
	rn.cancelWhen, rn.cancelKey = l.readRuleCancelOn(f, m, r)
	rn.tdef = l.readRuleTemplate(f, n, m, r)
	if v := m["still_due"]; v != nil {
		r.StillDue, _ = f.str(v, "still_due")
	}
	if len(l.errs.errs) > before {
		l.set.rules = append(l.set.rules, r) // keep ids for duplicate detection
		return
	}
	if v := m["still_due"]; v != nil {
		l.compileStillDue(f, r, v)
	}
	l.compileRule(f, r, &rn)
	l.compileCancelOn(f, r, &rn)
	l.set.rules = append(l.set.rules, r)
}

// readRuleID reads the id: present, an identifier, not taken. Without
// one the rule is not read further.
func (l *loader) readRuleID(f *yfile, n *yaml.Node, m map[string]*yaml.Node, r *Rule) bool {
	v := m["id"]
	if v == nil {
		f.errAt(n, "rule: missing id")
		return false
	}
	if r.ID, _ = f.str(v, "id"); !isIdent(r.ID) {
		f.errAt(v, "rule id %q: use letters, digits, '.', '_' or '-'", r.ID)
		return false
	}
	if old := l.set.Rule(r.ID); old != nil {
		f.errAt(v, "rule %q already defined at %s:%d", r.ID, old.File, old.Line)
		return false
	}
	return true
}

// readRuleTrigger reads the description, the event types (on) and the
// condition (when).
func (l *loader) readRuleTrigger(f *yfile, n *yaml.Node, m map[string]*yaml.Node, r *Rule) {
	if v := m["description"]; v != nil {
		r.Description, _ = f.str(v, "description")
	}
	onNode := m["on"]
	if onNode == nil {
		f.errAt(n, "rule %s: missing on (the event types it listens to)", r.ID)
	} else {
		r.On = l.eventTypes(f, onNode, "on")
	}
	if m["when"] == nil {
		f.errAt(n, "rule %s: missing when (a CEL condition; write `when: \"true\"` to always fire)", r.ID)
	} else {
		r.When, _ = f.str(m["when"], "when")
	}
}

// readRuleAudience reads whom the rule writes to: one recipient, or
// audience: regions with an optional regions expression.
func readRuleAudience(f *yfile, n *yaml.Node, m map[string]*yaml.Node, r *Rule) {
	switch rc, au := m["recipient"], m["audience"]; {
	case rc != nil && au != nil:
		f.errAt(au, "rule %s: recipient and audience are exclusive", r.ID)
	case rc != nil:
		r.Recipient, _ = f.str(rc, "recipient")
	case au != nil:
		if r.Audience, _ = f.str(au, "audience"); r.Audience != "regions" {
			f.errAt(au, "rule %s: audience must be \"regions\"", r.ID)
		}
		r.Regions = "event.regions"
	default:
		f.errAt(n, "rule %s: missing recipient (a CEL expression yielding the phone number) or audience: regions", r.ID)
	}
	if v := m["regions"]; v != nil {
		if r.Audience == "" {
			f.errAt(v, "rule %s: regions needs audience: regions", r.ID)
		}
		r.Regions, _ = f.str(v, "regions")
	}
}

// readRuleSending reads how the message is sent: priority, urgent,
// enabled and max_segments (channels: readRuleChannels).
func readRuleSending(f *yfile, m map[string]*yaml.Node, r *Rule) {
	if v := m["priority"]; v != nil {
		if r.Priority, _ = f.integer(v, "priority"); r.Priority < 0 || r.Priority > 9 {
			f.errAt(v, "rule %s: priority must be 0..9", r.ID)
		}
	}
	if v := m["urgent"]; v != nil {
		r.Urgent, _ = f.boolean(v, "urgent")
	}
	if v := m["enabled"]; v != nil {
		r.Enabled, _ = f.boolean(v, "enabled")
	}
	if v := m["max_segments"]; v != nil {
		if r.MaxSegments, _ = f.integer(v, "max_segments"); r.MaxSegments < 1 || r.MaxSegments > 10 {
			f.errAt(v, "rule %s: max_segments must be 1..10", r.ID)
		}
	}
}

// readRuleDedupe reads dedupe (key and window) and returns the key's
// node, compiled later.
func readRuleDedupe(f *yfile, m map[string]*yaml.Node, r *Rule) (key *yaml.Node) {
	v := m["dedupe"]
	if v == nil {
		return nil
	}
	dm := f.fields(v, "dedupe", "key", "window")
	if dm == nil {
		return nil
	}
	if key = dm["key"]; key == nil {
		f.errAt(v, "rule %s: dedupe needs a key", r.ID)
	} else {
		r.DedupeKey, _ = f.str(key, "dedupe.key")
	}
	if w := dm["window"]; w == nil {
		f.errAt(v, "rule %s: dedupe needs a window", r.ID)
	} else {
		r.DedupeWindow, _ = f.duration(w, "dedupe.window")
	}
	return key
}

// readRuleTiming reads timing (at, expires, quiet_hours) and returns the
// nodes of at and expires, compiled later.
func readRuleTiming(f *yfile, m map[string]*yaml.Node, r *Rule) (at, expires *yaml.Node) {
	v := m["timing"]
	if v == nil {
		return nil, nil
	}
	tm := f.fields(v, "timing", "at", "expires", "quiet_hours")
	if at = tm["at"]; at != nil {
		r.At, _ = f.str(at, "timing.at")
	}
	if expires = tm["expires"]; expires != nil {
		r.Expires, _ = f.str(expires, "timing.expires")
	}
	if q := tm["quiet_hours"]; q != nil {
		r.QuietHours, _ = f.boolean(q, "timing.quiet_hours")
	}
	return at, expires
}

// readRuleCancelOn reads cancel_on (events, when, key) and returns the
// nodes of when and key, compiled later.
func (l *loader) readRuleCancelOn(f *yfile, m map[string]*yaml.Node, r *Rule) (when, key *yaml.Node) {
	v := m["cancel_on"]
	if v == nil {
		return nil, nil
	}
	cm := f.fields(v, "cancel_on", "events", "when", "key")
	if cm == nil {
		return nil, nil
	}
	r.CancelOn = &CancelOn{When: "true"}
	if e := cm["events"]; e == nil {
		f.errAt(v, "rule %s: cancel_on needs events", r.ID)
	} else {
		r.CancelOn.Events = l.eventTypes(f, e, "cancel_on.events")
	}
	if when = cm["when"]; when != nil {
		r.CancelOn.When, _ = f.str(when, "cancel_on.when")
	}
	if key = cm["key"]; key != nil {
		r.CancelOn.Key, _ = f.str(key, "cancel_on.key")
	}
	return when, key
}

// readRuleTemplate reads the template, by name from templates/*.yaml or
// inline (text, max_segments), and returns its definition (nil when it is
// missing or broken). A template's max_segments applies unless the rule
// sets its own.
func (l *loader) readRuleTemplate(f *yfile, n *yaml.Node, m map[string]*yaml.Node, r *Rule) *TemplateDef {
	tnode := m["template"]
	var tdef *TemplateDef
	if tnode == nil {
		f.errAt(n, "rule %s: missing template", r.ID)
	} else if tnode.Kind == yaml.ScalarNode {
		r.Template, _ = f.str(tnode, "template")
		if tdef = l.set.templates[r.Template]; tdef == nil {
			f.errAt(tnode, "rule %s: no template named %q in templates/*.yaml", r.ID, r.Template)
		}
	} else {
		tm := f.fields(tnode, "inline template", "text", "max_segments")
		if tm != nil {
			tdef = &TemplateDef{Name: r.ID, File: f.name, Line: tnode.Line, f: f}
			r.Template = r.ID
			if v := tm["text"]; v == nil {
				f.errAt(tnode, "rule %s: inline template needs text", r.ID)
				tdef = nil
			} else {
				tdef.Text, _ = f.str(v, "template.text")
				tdef.node = v
			}
			if v := tm["max_segments"]; v != nil && tdef != nil {
				tdef.MaxSegments, _ = f.integer(v, "template.max_segments")
			}
		}
	}
	if tdef != nil && tdef.MaxSegments > 0 && m["max_segments"] == nil {
		r.MaxSegments = tdef.MaxSegments
	}
	return tdef
}

// compileRule compiles the rule's expressions and template for every
// event type it listens to; an enabled rule joins those types' lists.
func (l *loader) compileRule(f *yfile, r *Rule, rn *ruleNodes) {
	one := len(r.On) == 1
	for _, t := range r.On {
		env := l.set.envs[t]
		c := &compiled{rule: r}
		x := exprCtx{f: f, env: env, typ: t, one: one, rule: r.ID}
		c.when = l.compile(x, rn.m["when"], cel.BoolType, "when")
		if r.Audience != "" {
			node := rn.m["regions"]
			if node == nil {
				node = rn.m["audience"]
				c.regions = l.compileSrc(x, node, r.Regions, cel.ListType(cel.StringType), "regions", true)
			} else {
				c.regions = l.compile(x, node, cel.ListType(cel.StringType), "regions")
			}
		} else {
			c.recipient = l.compile(x, rn.m["recipient"], cel.StringType, "recipient")
		}
		if rn.dedupeKey != nil {
			c.dedupe = l.compile(x, rn.dedupeKey, cel.StringType, "dedupe.key")
		}
		if rn.at != nil {
			c.at = l.compile(x, rn.at, cel.TimestampType, "timing.at")
		}
		if rn.expires != nil {
			c.expiry = l.compile(x, rn.expires, cel.TimestampType, "timing.expires")
		}
		if rn.cancelKey != nil {
			c.key = l.compile(x, rn.cancelKey, cel.StringType, "cancel_on.key")
		}
		if rn.tdef != nil && rn.tdef.node != nil {
			c.tmpl = l.template(x, rn.tdef, r.MaxSegments)
		}
		if len(r.Say) > 0 {
			c.say = l.compileSay(x, r, rn.say)
		}
		if r.Enabled {
			l.set.byType[t] = append(l.set.byType[t], c)
		}
	}
}

// compileCancelOn compiles cancel_on's when and key for every event type
// that cancels the rule; an enabled rule joins those types' cancellers.
func (l *loader) compileCancelOn(f *yfile, r *Rule, rn *ruleNodes) {
	if r.CancelOn == nil {
		return
	}
	for _, t := range r.CancelOn.Events {
		env := l.set.envs[t]
		x := exprCtx{f: f, env: env, typ: t, one: len(r.CancelOn.Events) == 1, rule: r.ID}
		cc := &canceller{rule: r}
		if rn.cancelWhen != nil {
			cc.when = l.compile(x, rn.cancelWhen, cel.BoolType, "cancel_on.when")
		}
		if rn.cancelKey != nil {
			cc.key = l.compile(x, rn.cancelKey, cel.StringType, "cancel_on.key")
		}
		if r.Enabled {
			l.set.cancels[t] = append(l.set.cancels[t], cc)
		}
	}
}

func (l *loader) eventTypes(f *yfile, n *yaml.Node, what string) []event.Type {
	list, ok := f.strList(n, what)
	if !ok {
		return nil
	}
	var out []event.Type
	for i, s := range list {
		t := event.Type(s)
		node := n
		if n.Kind == yaml.SequenceNode {
			node = n.Content[i]
		}
		if _, known := payloadTypes[t]; !known {
			f.errAt(node, "%s: unknown event type %q (known: %s)", what, s, typeList())
			continue
		}
		if slices.Contains(out, t) {
			f.errAt(node, "%s: %s listed twice", what, s)
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 && len(list) == 0 {
		f.errAt(n, "%s: no event types", what)
	}
	return out
}

func typeList() string {
	s := make([]string, len(event.Types))
	for i, t := range event.Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

type exprCtx struct {
	f    *yfile
	env  *cel.Env
	typ  event.Type
	one  bool // the rule listens to one type: no need to name it in errors
	rule string
}

func (x exprCtx) where() string {
	if x.one {
		return ""
	}
	return " (for " + string(x.typ) + ")"
}

func (l *loader) compile(x exprCtx, n *yaml.Node, want *cel.Type, what string) cel.Program {
	return l.compileSrc(x, n, n.Value, want, what, false)
}

// compileSrc compiles src, found in node n (synthetic: not the node's own
// text, so positions point at the node), checks its type and cost.
func (l *loader) compileSrc(x exprCtx, n *yaml.Node, src string, want *cel.Type, what string, synthetic bool) cel.Program {
	return l.compileAny(x, n, src, []*cel.Type{want}, what, synthetic)
}

// compileAny is compileSrc for an expression that may yield any of wants.
func (l *loader) compileAny(x exprCtx, n *yaml.Node, src string, wants []*cel.Type, what string, synthetic bool) cel.Program {
	if strings.TrimSpace(src) == "" {
		x.f.errAt(n, "%s: empty expression", what)
		return nil
	}
	ast, iss := x.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, col := n.Line, n.Column
			if !synthetic {
				line, col = x.f.pos(n, template.ExprOffset(src, e.Location.Line(), e.Location.Column()))
			}
			l.errs.add(x.f.name, line, col, "%s%s: %s", what, x.where(), e.Message)
		}
		return nil
	}
	out := ast.OutputType()
	fits := out.IsExactType(types.DynType)
	names := make([]string, len(wants))
	for i, want := range wants {
		fits = fits || want.IsAssignableType(out)
		names[i] = cel.FormatCELType(want)
	}
	if !fits {
		x.f.errAt(n, "%s%s: expression yields %s, want %s", what, x.where(), cel.FormatCELType(out), strings.Join(names, " or "))
		return nil
	}
	if err := l.checkCost(x.env, ast); err != nil {
		x.f.errAt(n, "%s%s: %v", what, x.where(), err)
		return nil
	}
	p, err := x.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		x.f.errAt(n, "%s%s: %v", what, x.where(), err)
		return nil
	}
	return p
}

// lintUnused checks templates no rule uses: they must compile for at
// least one event type (an operator staging a template still learns about
// typos). Errors are reported for the type that fits best.
func (l *loader) lintUnused() {
	used := map[string]bool{}
	for _, r := range l.set.rules {
		used[r.Template] = true
	}
	for _, t := range l.set.Templates() {
		if used[t.Name] || t.node == nil {
			continue
		}
		maxSeg := t.MaxSegments
		if maxSeg == 0 {
			maxSeg = l.set.settings.MaxSegments
		}
		var best template.Errors
		for _, typ := range event.Types {
			_, err := template.Compile(l.set.envs[typ], t.Name, t.Text, template.Options{
				Signature: l.set.settings.Signature, MaxSegments: maxSeg, FieldLen: l.set.settings.FieldMaxLen,
			})
			if err == nil {
				best = nil
				break
			}
			var tes template.Errors
			if errors.As(err, &tes) && (best == nil || len(tes) < len(best)) {
				best = tes
			}
		}
		for _, te := range best {
			line, col := t.f.pos(t.node, te.Offset)
			l.errs.add(t.f.name, line, col, "template %s (used by no rule): %s", t.Name, te.Msg)
		}
	}
}

// checkCost bounds the checker's estimate of an expression's cost; runtime
// cost tracking stays off on the hot path.
func (l *loader) checkCost(env *cel.Env, ast *cel.Ast) error {
	est, err := env.EstimateCost(ast, estimator{})
	if err != nil {
		return fmt.Errorf("cost: %w", err)
	}
	if est.Max > l.set.settings.MaxCost {
		return fmt.Errorf("estimated cost %d exceeds max_cost %d: simplify the expression", est.Max, l.set.settings.MaxCost)
	}
	return nil
}

func (l *loader) template(x exprCtx, t *TemplateDef, maxSeg int) *template.Template {
	k := tkey{t.Name, x.typ, maxSeg}
	if c, ok := l.tcache[k]; ok && t.Name != x.rule {
		return c
	}
	c, err := template.Compile(x.env, t.Name, t.Text, template.Options{
		Signature:      l.set.settings.Signature,
		MaxSegments:    maxSeg,
		FieldLen:       l.set.settings.FieldMaxLen,
		ProgramOptions: []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)},
		Check:          func(a *cel.Ast) error { return l.checkCost(x.env, a) },
	})
	if err != nil {
		var tes template.Errors
		if errors.As(err, &tes) {
			for _, te := range tes {
				line, col := t.f.pos(t.node, te.Offset)
				l.errs.add(t.f.name, line, col, "template %s%s (rule %s): %s", t.Name, x.where(), x.rule, te.Msg)
			}
		} else {
			t.f.errAt(t.node, "template %s: %v", t.Name, err)
		}
		return nil
	}
	l.tcache[k] = c
	return c
}
