package template

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
)

var cst = time.FixedZone("CST", 8*3600)

func testEnv(t testing.TB) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(Library(cst),
		cel.Variable("plate", cel.StringType),
		cel.Variable("place", cel.StringType),
		cel.Variable("points", cel.IntType),
		cel.Variable("when", cel.TimestampType))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestCompileErrors(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name, text string
		maxSeg     int
		sentinel   error
		line, col  int
		msg        string
	}{
		{"unclosed", "您的{{ plate 于", 0, ErrSyntax, 1, 3, "not closed"},
		{"empty", "a{{  }}b", 0, ErrSyntax, 1, 2, "empty placeholder"},
		{"stray close", "a}}b", 0, ErrSyntax, 1, 2, `"}}" without`},
		{"signature inside", "【交管12123】您的{{ plate }}", 0, ErrLint, 1, 1, "【】"},
		{"closing bracket later", "您好】", 0, ErrLint, 1, 3, "【】"},
		{"link http", "详见 http://x.y", 0, ErrLint, 1, 4, "links"},
		{"link www", "详见www.122.gov", 0, ErrLint, 1, 3, "links"},
		{"link .cn", "详见122.gov.cn查询", 0, ErrLint, 1, 10, "links"},
		{"undefined variable", "您的{{ plat }}车", 0, ErrType, 1, 6, "undeclared reference"},
		{"second line column", "第一行\n第二行{{ points + plate }}", 0, ErrType, 2, 14, "no matching overload"},
		{"timestamp placeholder", "{{ when }}", 0, ErrType, 1, 3, "use date()"},
		{"too long", strings.Repeat("长", 60) + "{{ place }}", 1, ErrLint, 1, 1, "segments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(env, tt.name, tt.text, Options{Signature: "【交管12123】", MaxSegments: tt.maxSeg})
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors", err)
			}
			e := es[0]
			if e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got %d:%d %q; want %d:%d containing %q", e.Line, e.Col, e.Msg, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestRender(t *testing.T) {
	env := testEnv(t)
	tm, err := Compile(env, "t", "您的{{ plate }}于{{ datetime(when) }}在{{ place }}记{{ points }}分{{ points >= 12 ? '，已满分' : '' }}。", Options{Signature: "【交管12123】", MaxSegments: 3})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"plate": "京A12345", "place": "长安街", "points": 12,
		"when": time.Date(2026, 11, 26, 10, 42, 0, 0, time.UTC)}
	got, err := tm.Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	want := "您的京A12345于2026年11月26日18时42分在长安街记12分，已满分。"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// worst case: plate 8 + datetime 17 + place 40 + 2 digits + literals + conditional 4 + signature 9
	if tm.WorstChars < 80 || tm.WorstSegments != 2 || tm.WorstEncoding != "ucs2" {
		t.Errorf("worst case %d chars %d segments %s", tm.WorstChars, tm.WorstSegments, tm.WorstEncoding)
	}
	if _, err := tm.Render(map[string]any{"plate": "x"}); !errors.Is(err, ErrRender) {
		t.Errorf("render with missing variables: %v, want ErrRender", err)
	}
}

func TestMeasure(t *testing.T) {
	tests := []struct {
		text     string
		enc      string
		chars    int
		segments int
	}{
		{strings.Repeat("中", 70), "ucs2", 70, 1},
		{strings.Repeat("中", 71), "ucs2", 71, 2},
		{strings.Repeat("中", 134), "ucs2", 134, 2},
		{strings.Repeat("中", 135), "ucs2", 135, 3},
		{strings.Repeat("a", 160), "gsm7", 160, 1},
		{strings.Repeat("a", 161), "gsm7", 161, 2},
	}
	for _, tt := range tests {
		r := Measure(tt.text)
		if r.Encoding != tt.enc || r.Chars != tt.chars || r.Segments != tt.segments {
			t.Errorf("Measure(%d×%q) = %s %d %d; want %s %d %d", len([]rune(tt.text)), tt.text[:1], r.Encoding, r.Chars, r.Segments, tt.enc, tt.chars, tt.segments)
		}
	}
}

func TestHelpers(t *testing.T) {
	env := testEnv(t)
	eval := func(expr string, vars map[string]any) any {
		t.Helper()
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		p, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := p.Eval(vars)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v.Value()
	}
	// 23:30 UTC on the 26th is 07:30 on the 27th in Beijing.
	late := map[string]any{"when": time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC)}
	tests := []struct {
		expr string
		vars map[string]any
		want any
	}{
		{`date(when)`, late, "2026年11月27日"},
		{`days_between(when, timestamp("2026-12-27T00:00:00+08:00"))`, late, int64(30)},
		{`days_between(timestamp("2026-12-28T00:00:00+08:00"), when)`, late, int64(-31)},
		{`string(at_local(add_days(when, -30), "09:00"))`, late, "2026-10-28T09:00:00+08:00"},
		{`mask_plate("京A12345")`, nil, "京A***45"},
		{`mask_plate("粤BD12345")`, nil, "粤B****45"},
		{`mask_name("欧阳娜娜")`, nil, "欧***"},
		{`mask_phone("13800138000")`, nil, "138****8000"},
		{`last4("110105199003071239")`, nil, "1239"},
		{`plate_type_name("52")`, nil, "小型新能源汽车"},
		{`plate_type_name("zz")`, nil, "机动车"},
		{`ab_class("C1")`, nil, false},
		{`ab_class("A2D")`, nil, true},
		{`ab_class("b2")`, nil, true},
		{`licence_status_name("F")`, nil, "吊销"},
	}
	for _, tt := range tests {
		if got := eval(tt.expr, tt.vars); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.expr, got, tt.want)
		}
	}
	ast, _ := env.Compile(`at_local(when, "9am")`)
	p, _ := env.Program(ast)
	if _, _, err := p.Eval(late); err == nil {
		t.Error(`at_local(when, "9am") evaluated; want an error`)
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"您的{{ plate }}", "{{", "}}", "{{ points + 1 }}分", "【", "a{{'}}'}}b", "{{ date(when) }}{{ mask_name(place) }}"} {
		f.Add(s, 2)
	}
	env := testEnv(f)
	f.Fuzz(func(t *testing.T, text string, maxSeg int) {
		tm, err := Compile(env, "fuzz", text, Options{Signature: "【交管12123】", MaxSegments: maxSeg % 8})
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %v is not Errors", err)
			}
			return
		}
		// rendering may fail on missing variables but must not panic
		_, _ = tm.Render(map[string]any{"plate": text, "place": text, "points": 1, "when": time.Unix(0, 0)})
	})
}
