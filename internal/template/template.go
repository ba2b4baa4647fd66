package template

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
)

// DefaultFieldLen is the assumed longest value, in characters, of a string
// field the field table does not know, and of any other unknown string.
const DefaultFieldLen = 40

// FieldLen holds the longest value, in characters, expected for event
// fields, by CEL field name. The worst-case length lint uses it; operators
// override entries in settings.yaml (field_max_len).
var FieldLen = map[string]int{
	// strings
	"plate": 8, "plate_type": 2, "owner": 20, "phone": 11, "region": 6, "use": 16,
	"status": 2, "old_status": 2, "new_status": 2, "reason": 30, "name": 30,
	"contact_phone": 11, "id": 32, "number": 18, "holder": 20, "class": 8,
	"place": 40, "code": 5, "description": 40, "kind": 16, "text": 160,
	// integers (digits)
	"fine": 4, "points": 2, "points_applied": 2, "points_before": 2,
	"missed_inspections": 2, "unprocessed_violations": 3,
}

// Options tune Compile.
type Options struct {
	// Signature is added in front of every message by the rule set; it counts
	// towards the worst-case length.
	Signature string
	// MaxSegments bounds the worst-case rendering; 0 means no bound.
	MaxSegments int
	// FieldLen overrides entries of the package FieldLen table.
	FieldLen map[string]int
	// ProgramOptions are passed to cel.Env.Program for every placeholder.
	ProgramOptions []cel.ProgramOption
	// Check, if set, vets every type-checked placeholder (the rule set bounds
	// its estimated cost there); an error refuses the template.
	Check func(*cel.Ast) error
}

// Template is a compiled template, safe for concurrent use.
type Template struct {
	Name   string
	Source string
	parts  []part
	size   int // bytes of the literal parts, a hint for the builder

	// WorstChars and WorstSegments are the longest rendering (with the
	// signature) assuming every field at its longest.
	WorstChars, WorstSegments int
	WorstEncoding             string
}

type part struct {
	lit  string
	expr string
	prog cel.Program
	off  int // rune offset of the expression in Source
}

var (
	linkRE = regexp.MustCompile(`(?i)(https?://|www\.|\.(cn|com|net|org)\b)`)
)

// Compile parses text, type-checks every {{ placeholder }} in env and lints
// the result. A placeholder must yield a string or a number; timestamps go
// through date() or datetime(). Errors are of type Errors.
func Compile(env *cel.Env, name, text string, opts Options) (*Template, error) {
	t := &Template{Name: name, Source: text}
	var errs Errors
	fail := func(off int, sentinel error, format string, args ...any) {
		line, col := lineCol(text, off)
		errs = append(errs, &Error{Offset: off, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), Err: sentinel})
	}
	var worst strings.Builder
	worst.WriteString(opts.Signature)

	rest := text
	pos := 0 // rune offset of rest in text
	lintLit := func(lit string, off int) {
		if i := strings.IndexAny(lit, "【】"); i >= 0 {
			fail(off+utf8.RuneCountInString(lit[:i]), ErrLint, "【】 not allowed in a template: the rule set adds the signature %s", opts.Signature)
		}
		if loc := linkRE.FindStringIndex(lit); loc != nil {
			fail(off+utf8.RuneCountInString(lit[:loc[0]]), ErrLint, "links are not allowed in SMS text (%q)", lit[loc[0]:loc[1]])
		}
		if i := strings.Index(lit, "}}"); i >= 0 {
			fail(off+utf8.RuneCountInString(lit[:i]), ErrSyntax, `"}}" without "{{"`)
		}
	}
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			lintLit(rest, pos)
			t.addLit(rest)
			worst.WriteString(rest)
			break
		}
		lit := rest[:i]
		lintLit(lit, pos)
		t.addLit(lit)
		worst.WriteString(lit)
		pos += utf8.RuneCountInString(lit)
		exprStart := pos + 2
		body := rest[i+2:]
		j := strings.Index(body, "}}")
		if j < 0 {
			fail(pos, ErrSyntax, `"{{" is not closed by "}}"`)
			break
		}
		expr := body[:j]
		if strings.TrimSpace(expr) == "" {
			fail(pos, ErrSyntax, "empty placeholder")
		} else if p, n, err := compileExpr(env, expr, opts); err != nil {
			var ee *exprError
			if errors.As(err, &ee) {
				fail(exprStart+ee.off, ErrType, "%s", ee.msg)
			} else {
				fail(exprStart, ErrType, "%v", err)
			}
		} else {
			t.parts = append(t.parts, part{expr: expr, prog: p, off: exprStart})
			worst.WriteString(n)
		}
		pos = exprStart + utf8.RuneCountInString(expr) + 2
		rest = body[j+2:]
	}
	if len(errs) > 0 {
		return nil, errs
	}
	r := Measure(worst.String())
	t.WorstChars, t.WorstSegments, t.WorstEncoding = r.Chars, r.Segments, r.Encoding
	if opts.MaxSegments > 0 && r.Segments > opts.MaxSegments {
		fail(0, ErrLint, "worst case %d characters with the signature (fields at their longest) need %d segments, more than max_segments %d",
			r.Chars, r.Segments, opts.MaxSegments)
		return nil, errs
	}
	return t, nil
}

func (t *Template) addLit(s string) {
	if s == "" {
		return
	}
	t.parts = append(t.parts, part{lit: s})
	t.size += len(s)
}

type exprError struct {
	off int
	msg string
}

func (e *exprError) Error() string { return e.msg }

// compileExpr compiles one placeholder and returns its program and a
// worst-case filler string.
func compileExpr(env *cel.Env, expr string, opts Options) (cel.Program, string, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		e := iss.Errors()[0]
		return nil, "", &exprError{off: exprOffset(expr, e.Location.Line(), e.Location.Column()), msg: e.Message}
	}
	if opts.Check != nil {
		if err := opts.Check(ast); err != nil {
			return nil, "", &exprError{msg: err.Error()}
		}
	}
	out := ast.OutputType()
	var filler string
	switch {
	case out.IsExactType(cel.StringType):
		filler = strings.Repeat("中", maxLen(ast.NativeRep(), ast.NativeRep().Expr(), opts.FieldLen))
	case out.IsExactType(cel.IntType), out.IsExactType(cel.UintType):
		filler = strings.Repeat("9", maxLen(ast.NativeRep(), ast.NativeRep().Expr(), opts.FieldLen))
	case out.IsExactType(cel.DoubleType):
		filler = strings.Repeat("9", 12)
	default:
		hint := ""
		if out.IsExactType(cel.TimestampType) {
			hint = " (use date() or datetime())"
		}
		return nil, "", &exprError{msg: fmt.Sprintf("placeholder yields %s, want string or number%s", cel.FormatCELType(out), hint)}
	}
	p, err := env.Program(ast, opts.ProgramOptions...)
	if err != nil {
		return nil, "", &exprError{msg: err.Error()}
	}
	return p, filler, nil
}

// maxLen estimates the longest value of a string or integer expression in
// characters.
func maxLen(a *celast.AST, e celast.Expr, over map[string]int) int {
	field := func(name string) int {
		if n, ok := over[name]; ok {
			return n
		}
		if n, ok := FieldLen[name]; ok {
			return n
		}
		if t := a.GetType(e.ID()); t != nil && (t.IsExactType(types.IntType) || t.IsExactType(types.UintType)) {
			return 10
		}
		return DefaultFieldLen
	}
	switch e.Kind() {
	case celast.LiteralKind:
		switch v := e.AsLiteral().(type) {
		case types.String:
			return utf8.RuneCountInString(string(v))
		case types.Int:
			return len(strconv.FormatInt(int64(v), 10))
		case types.Uint:
			return len(strconv.FormatUint(uint64(v), 10))
		}
		return DefaultFieldLen
	case celast.SelectKind:
		return field(e.AsSelect().FieldName())
	case celast.IdentKind:
		return field(e.AsIdent())
	case celast.CallKind:
		c := e.AsCall()
		args := c.Args()
		switch fn := c.FunctionName(); fn {
		case "_+_":
			if t := a.GetType(e.ID()); t != nil && t.IsExactType(types.StringType) {
				return maxLen(a, args[0], over) + maxLen(a, args[1], over)
			}
			return 20
		case "_?_:_":
			return max(maxLen(a, args[1], over), maxLen(a, args[2], over))
		case "string":
			if len(args) == 1 {
				return maxLen(a, args[0], over)
			}
		case "_-_", "_*_", "_/_", "_%_", "int", "size":
			return 10
		default:
			if r, ok := resultLen[fn]; ok {
				if r.arg >= 0 && r.arg < len(args) {
					return maxLen(a, args[r.arg], over)
				}
				return r.fixed
			}
		}
	}
	return DefaultFieldLen
}

// Render evaluates every placeholder with vars (a cel activation or a
// map[string]any) and returns the text without the signature.
func (t *Template) Render(vars any) (string, error) {
	var b strings.Builder
	b.Grow(t.size + 16*len(t.parts))
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, _, err := p.prog.Eval(vars)
		if err != nil {
			line, col := lineCol(t.Source, p.off)
			return "", &Error{Offset: p.off, Line: line, Col: col, Msg: err.Error(), Err: ErrRender}
		}
		switch x := v.(type) {
		case types.String:
			b.WriteString(string(x))
		case types.Int:
			b.WriteString(strconv.FormatInt(int64(x), 10))
		case types.Uint:
			b.WriteString(strconv.FormatUint(uint64(x), 10))
		case types.Double:
			b.WriteString(strconv.FormatFloat(float64(x), 'f', -1, 64))
		default:
			line, col := lineCol(t.Source, p.off)
			return "", &Error{Offset: p.off, Line: line, Col: col, Msg: fmt.Sprintf("placeholder yielded %v", v.Type()), Err: ErrRender}
		}
	}
	return b.String(), nil
}

// Placeholders returns the source of every placeholder expression.
func (t *Template) Placeholders() []string {
	var out []string
	for _, p := range t.parts {
		if p.prog != nil {
			out = append(out, strings.TrimSpace(p.expr))
		}
	}
	return out
}

// lineCol turns a rune offset into a 1-based line and column.
func lineCol(text string, off int) (line, col int) {
	line, col = 1, 1
	i := 0
	for _, r := range text {
		if i == off {
			break
		}
		i++
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// exprOffset turns a CEL location (1-based line, 0-based column in runes)
// into a rune offset in expr.
func exprOffset(expr string, line, col int) int {
	off := 0
	l := 1
	for _, r := range expr {
		if l == line {
			break
		}
		off++
		if r == '\n' {
			l++
		}
	}
	return off + max(col, 0)
}

// ExprOffset is exprOffset for callers mapping CEL errors of other
// expressions (rule conditions) to their source.
func ExprOffset(expr string, line, col int) int { return exprOffset(expr, line, col) }
