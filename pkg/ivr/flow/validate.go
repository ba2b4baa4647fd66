package flow

import (
	"fmt"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

type validator struct {
	f        *Flow
	file     string
	root     *yaml.Node
	exists   func(string) bool
	problems []Problem
}

// node walks the document by mapping keys and sequence indices ("3") and
// returns the deepest node found, so a problem points as close as it can.
func (v *validator) node(path ...string) *yaml.Node {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
					if p == path[len(path)-1] && next.Kind != yaml.ScalarNode {
						next = n.Content[i] // point at the key of a block
					}
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

func (v *validator) errorf(path []string, format string, args ...any) {
	n := v.node(path...)
	v.problems = append(v.problems, Problem{File: v.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func p(parts ...string) []string { return parts }

func (v *validator) defaults() {
	d := &v.f.Defaults
	if d.FirstTimeout == 0 {
		d.FirstTimeout = DefaultFirstTimeout
	}
	if d.InterTimeout == 0 {
		d.InterTimeout = DefaultInterTimeout
	}
	if d.Retries == 0 {
		d.Retries = DefaultRetries
	}
	if d.Min == 0 {
		d.Min = 1
	}
	if d.Max == 0 {
		d.Max = 1
	}
	fill := func(c *Collect) {
		if c.FirstTimeout == 0 {
			c.FirstTimeout = d.FirstTimeout
		}
		if c.InterTimeout == 0 {
			c.InterTimeout = d.InterTimeout
		}
		if c.Retries == 0 {
			c.Retries = d.Retries
		}
		if c.Invalid == nil {
			c.Invalid = d.Invalid
		}
		if c.NoInput == nil {
			c.NoInput = d.NoInput
		}
		if c.Min == 0 {
			c.Min = d.Min
		}
		if c.Max == 0 {
			c.Max = max(d.Max, c.Min)
		}
		if c.Terminator == "" {
			c.Terminator = d.Terminator
		}
	}
	for _, m := range v.f.Menus {
		if m == nil {
			continue
		}
		if m.Options != nil {
			if m.Collect == nil {
				m.Collect = &Collect{}
			}
			fill(m.Collect)
		}
	}
	vf := &v.f.Verification
	if vf.Digits.Min == 0 {
		vf.Digits.Min = 6
	}
	if vf.Digits.Max == 0 {
		vf.Digits.Max = 6
	}
	if vf.Digits.Terminator == "" {
		vf.Digits.Terminator = "#"
	}
	if vf.Digits.Retries == 0 {
		vf.Digits.Retries = 1
	}
	fill(&vf.Digits)
	if vf.MaxFailures == 0 {
		vf.MaxFailures = DefaultMaxFailures
	}
	if vf.LockFor == 0 {
		vf.LockFor = DefaultLockFor
	}
	for k, t := range v.f.Transfers {
		if t.Timeout == 0 {
			t.Timeout = DefaultTransferWait
		}
		if t.Method == "" {
			t.Method = "refer"
		}
		v.f.Transfers[k] = t
	}
}

func (v *validator) prompt(path []string, name string) {
	if v.exists == nil || v.exists(name) {
		return
	}
	v.errorf(path, "prompt %q has no audio file", name)
}

func (v *validator) prompts(path []string, names []string) {
	for i, n := range names {
		v.prompt(append(slices.Clone(path), strconv.Itoa(i)), n)
	}
}

func (v *validator) collect(path []string, c *Collect) {
	if c.Min < 1 || c.Max < c.Min || c.Max > 32 {
		v.errorf(path, "collect: need 1 <= min <= max <= 32, got min %d max %d", c.Min, c.Max)
	}
	if c.Terminator != "" && c.Terminator != "#" && c.Terminator != "*" {
		v.errorf(append(slices.Clone(path), "terminator"), "terminator must be \"#\" or \"*\"")
	}
	if c.FirstTimeout < 0 || c.InterTimeout < 0 || c.Retries < 0 {
		v.errorf(path, "collect: timeouts and retries must not be negative")
	}
	v.prompts(append(slices.Clone(path), "invalid"), c.Invalid)
	v.prompts(append(slices.Clone(path), "noinput"), c.NoInput)
}

// actions checks a list and returns the goto targets; terminal reports
// whether the list ends the menu (goto, transfer or hangup last).
func (v *validator) actions(path []string, as []Action) (targets []string, terminal bool) {
	for i, a := range as {
		ap := append(slices.Clone(path), strconv.Itoa(i))
		set := 0
		for _, s := range []string{a.Play, a.Query, a.Transfer, a.Goto, a.Hangup} {
			if s != "" {
				set++
			}
		}
		if set != 1 {
			v.errorf(ap, "an action sets exactly one of play, query, transfer, goto, hangup")
			continue
		}
		switch {
		case a.Play != "":
			v.prompt(append(ap, "play"), a.Play)
		case a.Query != "":
			if !slices.Contains(queries, a.Query) {
				v.errorf(append(ap, "query"), "unknown query %q (want one of %v)", a.Query, queries)
			}
		case a.Transfer != "":
			if _, ok := v.f.Transfers[a.Transfer]; !ok {
				v.errorf(append(ap, "transfer"), "unknown transfer %q", a.Transfer)
			}
		case a.Goto != "":
			if _, ok := v.f.Menus[a.Goto]; !ok {
				v.errorf(append(ap, "goto"), "goto unknown menu %q", a.Goto)
			} else {
				targets = append(targets, a.Goto)
			}
		}
		end := a.Goto != "" || a.Hangup != "" || a.Transfer != ""
		if end && i != len(as)-1 {
			v.errorf(ap, "%s must be the last action", a.Kind())
		}
		terminal = end
	}
	return targets, terminal
}

func (v *validator) validate() {
	f := v.f
	if len(f.Menus) == 0 {
		v.errorf(nil, "no menus")
		return
	}
	if _, ok := f.Menus[f.Start]; !ok {
		v.errorf(p("start"), "start menu %q does not exist", f.Start)
	}
	v.prompts(p("defaults", "invalid"), f.Defaults.Invalid)
	v.prompts(p("defaults", "noinput"), f.Defaults.NoInput)

	vf := &f.Verification
	vp := p("verification")
	if len(vf.Prompt) == 0 {
		v.errorf(vp, "verification needs a prompt")
	}
	v.prompts(p("verification", "prompt"), vf.Prompt)
	v.prompts(p("verification", "success"), vf.Success)
	v.prompts(p("verification", "failed"), vf.Failed)
	v.prompts(p("verification", "locked"), vf.Locked)
	v.prompts(p("verification", "not_registered"), vf.NotRegistered)
	v.collect(p("verification", "digits"), &vf.Digits)
	if vf.MaxFailures < 1 || vf.LockFor < 0 {
		v.errorf(vp, "verification: max_failures must be at least 1 and lock_for not negative")
	}
	if vf.OnRefused == "" {
		vf.OnRefused = f.Start
	}
	if _, ok := f.Menus[vf.OnRefused]; !ok {
		v.errorf(p("verification", "on_refused"), "on_refused names unknown menu %q", vf.OnRefused)
	}
	for name, t := range f.Transfers {
		tp := p("transfers", name)
		if t.URI == "" {
			v.errorf(tp, "transfer %q needs a uri", name)
		}
		if t.Method != "refer" && t.Method != "bridge" {
			v.errorf(append(tp, "method"), "method must be refer or bridge")
		}
		v.prompts(append(slices.Clone(tp), "prompt"), t.Prompt)
		v.prompts(append(slices.Clone(tp), "unavailable"), t.Unavailable)
	}

	// Graph: edges from each menu; input-free edges only from action menus.
	edges := map[string][]string{}
	inputFree := map[string]bool{}
	names := make([]string, 0, len(f.Menus))
	for name := range f.Menus {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m := f.Menus[name]
		mp := p("menus", name)
		if m == nil {
			v.errorf(mp, "menu %q is empty", name)
			continue
		}
		hasOptions, hasActions := len(m.Options) > 0, len(m.Actions) > 0
		switch {
		case hasOptions == hasActions:
			v.errorf(mp, "menu %q needs either options (an input menu) or actions (an action menu), not both or neither", name)
			continue
		case hasOptions:
			if len(m.Prompt) == 0 {
				v.errorf(mp, "input menu %q needs a prompt", name)
			}
			v.prompts(append(slices.Clone(mp), "prompt"), m.Prompt)
			v.collect(append(slices.Clone(mp), "collect"), m.Collect)
			keys := make([]string, 0, len(m.Options))
			for k := range m.Options {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				op := append(slices.Clone(mp), "options", k)
				if !validKeys(k) {
					v.errorf(op, "option %q is not a key sequence (0-9 * #)", k)
				} else if len(k) < m.Collect.Min || len(k) > m.Collect.Max {
					v.errorf(op, "option %q has %d keys but the menu collects %d to %d", k, len(k), m.Collect.Min, m.Collect.Max)
				}
				if len(m.Options[k]) == 0 {
					v.errorf(op, "option %q has no actions", k)
				}
				t, _ := v.actions(op, m.Options[k])
				edges[name] = append(edges[name], t...)
			}
			if len(m.OnFail) == 0 {
				v.errorf(mp, "input menu %q needs on_fail (what happens when retries run out)", name)
			}
			t, _ := v.actions(append(slices.Clone(mp), "on_fail"), m.OnFail)
			edges[name] = append(edges[name], t...)
		case hasActions:
			if len(m.Prompt) > 0 || m.Collect != nil || len(m.OnFail) > 0 {
				v.errorf(mp, "action menu %q takes no prompt, collect or on_fail: use play actions", name)
			}
			t, terminal := v.actions(append(slices.Clone(mp), "actions"), m.Actions)
			if !terminal {
				v.errorf(append(slices.Clone(mp), "actions"), "action menu %q must end with goto, transfer or hangup", name)
			}
			edges[name] = append(edges[name], t...)
			inputFree[name] = true
		}
	}
	if vf.OnRefused != "" {
		edges[""] = append(edges[""], vf.OnRefused)
	}

	// Reachability from start (and from the refusal menu).
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, t := range edges[n] {
			walk(t)
		}
	}
	walk(f.Start)
	walk(vf.OnRefused)
	for _, name := range names {
		if !seen[name] {
			v.errorf(p("menus", name), "menu %q is unreachable from start %q", name, f.Start)
		}
	}

	// Loops that never wait for a key: cycles among action menus.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	reported := map[string]bool{}
	var dfs func(n string, stack []string)
	dfs = func(n string, stack []string) {
		color[n] = grey
		stack = append(stack, n)
		for _, t := range edges[n] {
			if !inputFree[t] {
				continue
			}
			switch color[t] {
			case grey:
				i := slices.Index(stack, t)
				cycle := append(slices.Clone(stack[i:]), t)
				if !reported[t] {
					reported[t] = true
					v.errorf(p("menus", t), "loop without input: %v", cycle)
				}
			case white:
				dfs(t, stack)
			}
		}
		color[n] = black
	}
	for _, name := range names {
		if inputFree[name] && color[name] == white {
			dfs(name, nil)
		}
	}
}

func validKeys(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '*' && r != '#' {
			return false
		}
	}
	return true
}
