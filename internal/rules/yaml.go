package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	yaml "go.yaml.in/yaml/v3"
)

// errList collects load errors of every file.
type errList struct{ errs LoadErrors }

func (l *errList) add(file string, line, col int, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	l.errs = append(l.errs, &LoadError{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
}

// yfile is one parsed YAML file and the helpers to read its nodes strictly.
type yfile struct {
	name  string
	lines []string
	errs  *errList
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parseYAML parses data into a document node; nil on a syntax error (which
// is recorded).
func parseYAML(name string, data []byte, errs *errList) (*yfile, *yaml.Node) {
	f := &yfile{name: name, lines: strings.Split(string(data), "\n"), errs: errs}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			if m[1] != "" {
				line, _ = strconv.Atoi(m[1])
			}
			msg = m[2]
		}
		errs.add(name, line, 1, "yaml: %s", msg)
		return f, nil
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return f, nil // empty file
	}
	return f, doc.Content[0]
}

func (f *yfile) errAt(n *yaml.Node, format string, args ...any) {
	f.errs.add(f.name, n.Line, n.Column, format, args...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// fields reads a mapping, refusing unknown and duplicate keys.
func (f *yfile) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		f.errAt(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			f.errAt(k, "%s: keys must be scalars", what)
			continue
		}
		known := false
		for _, a := range allowed {
			if a == k.Value || strings.HasSuffix(a, "*") && strings.HasPrefix(k.Value, a[:len(a)-1]) {
				known = true
				break
			}
		}
		if !known {
			f.errAt(k, "%s: unknown key %q (known: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			f.errAt(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (f *yfile) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		f.errAt(n, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (f *yfile) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		f.errAt(n, "%s must be an integer", what)
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		f.errAt(n, "%s: %v", what, err)
		return 0, false
	}
	return v, true
}

func (f *yfile) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		f.errAt(n, "%s must be true or false", what)
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		f.errAt(n, "%s: %v", what, err)
		return false, false
	}
	return b, true
}

// strList accepts a list of strings or a single string.
func (f *yfile) strList(n *yaml.Node, what string) ([]string, bool) {
	if n.Kind == yaml.ScalarNode {
		s, ok := f.str(n, what)
		return []string{s}, ok
	}
	if n.Kind != yaml.SequenceNode {
		f.errAt(n, "%s must be a list of strings", what)
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := f.str(c, what)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// duration parses "30d", "12h", "1d12h", "90m".
func (f *yfile) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := f.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		f.errAt(n, "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

// ParseDuration parses a Go duration with an optional leading number of
// days: "30d", "1d12h", "90m".
func ParseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 3660 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30d, 12h, 1d12h)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return days + d, nil
}

// pos maps a rune offset inside scalar n's value to its 1-based file line
// and column, for errors found inside expressions and templates. Escapes in
// double-quoted scalars are not accounted for.
func (f *yfile) pos(n *yaml.Node, off int) (int, int) {
	line := func(l int) []rune {
		if l < 1 || l > len(f.lines) {
			return nil
		}
		return []rune(strings.TrimRight(f.lines[l-1], "\r"))
	}
	lead := func(r []rune) int {
		i := 0
		for i < len(r) && (r[i] == ' ' || r[i] == '\t') {
			i++
		}
		return i
	}
	rem := off
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		indent := -1
		for l := n.Line + 1; l <= len(f.lines); l++ {
			r := line(l)
			if strings.TrimSpace(string(r)) == "" {
				if indent >= 0 {
					if rem == 0 {
						return l, indent + 1
					}
					rem--
				}
				continue
			}
			if indent < 0 {
				indent = lead(r)
			}
			content := len(r) - min(indent, len(r))
			if rem <= content {
				return l, indent + rem + 1
			}
			rem -= content + 1
		}
		return n.Line, n.Column
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		return f.quotedPos(n, off)
	default:
		start := n.Column
		for l := n.Line; l <= len(f.lines); l++ {
			r := line(l)
			col := start
			if l != n.Line {
				col = lead(r) + 1
			}
			content := len(r) - (col - 1)
			if rem <= content || l == len(f.lines) {
				return l, col + rem
			}
			rem -= content + 1
		}
		return n.Line, n.Column
	}
}

// quotedPos walks a quoted scalar's source, decoding escapes (double
// quotes: \x, \u, \U and one-character escapes; single quotes: ”) and line
// folding, until off value characters have passed.
func (f *yfile) quotedPos(n *yaml.Node, off int) (int, int) {
	double := n.Style == yaml.DoubleQuotedStyle
	l, c := n.Line, n.Column+1 // after the opening quote
	var r []rune
	if l <= len(f.lines) {
		r = []rune(strings.TrimRight(f.lines[l-1], "\r"))
	}
	i := c - 1
	for rem := off; ; rem-- {
		if i >= len(r) { // line break: folded to one value character
			if l >= len(f.lines) {
				return l, i + 1
			}
			l++
			r = []rune(strings.TrimRight(f.lines[l-1], "\r"))
			i = 0
			for i < len(r) && (r[i] == ' ' || r[i] == '\t') {
				i++
			}
			if rem == 0 {
				return l, i + 1
			}
			continue
		}
		if rem == 0 {
			return l, i + 1
		}
		switch {
		case double && r[i] == '\\' && i+1 < len(r):
			switch r[i+1] {
			case 'x':
				i += 4
			case 'u':
				i += 6
			case 'U':
				i += 10
			default:
				i += 2
			}
		case !double && r[i] == '\'' && i+1 < len(r) && r[i+1] == '\'':
			i += 2
		default:
			i++
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '.' && r != '-' {
			return false
		}
	}
	return true
}
