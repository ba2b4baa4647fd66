package sqlite

import (
	"slices"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		in, out string
		args    []any
		want    []any
	}{
		{"SELECT $1, $2", "SELECT ?, ?", []any{"a", "b"}, []any{"a", "b"}},
		{"x = $2 AND y = $1 AND z = $2", "x = ? AND y = ? AND z = ?", []any{1, 2}, []any{2, 1, 2}},
		{"VALUES ($10, $9)", "VALUES (?, ?)", []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []any{10, 9}},
		{"cost $ 0 and $a", "cost $ 0 and $a", nil, []any{}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r := rewrite(tc.in)
			if r.sql != tc.out {
				t.Fatalf("sql %q, want %q", r.sql, tc.out)
			}
			if got := r.args(tc.args); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Fatalf("args %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzRewrite(f *testing.F) {
	for _, s := range []string{"SELECT $1", "$12$3", "a $0 b", "$", "x$9999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := rewrite(s)
		if n := strings.Count(r.sql, "?") - strings.Count(s, "?"); n != len(r.order) {
			t.Fatalf("%q: %d placeholders, %d args", s, n, len(r.order))
		}
		r.args([]any{1, 2, 3}) // never panics, whatever the numbers
	})
}
