package route

import (
	"errors"
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	r, err := New(Table{
		Numbers:  map[string]Carrier{"13800138000": ChinaTelecom},
		Prefixes: map[string]Carrier{"162": ChinaUnicom, "1700": ChinaMobile},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want Carrier
		err  error
	}{
		{"13800138001", ChinaMobile, nil},
		{"+86 138-0013-8001", ChinaMobile, nil},
		{"8613800138001", ChinaMobile, nil},
		{"13800138000", ChinaTelecom, nil}, // ported
		{"13012345678", ChinaUnicom, nil},
		{"16612345678", ChinaUnicom, nil},
		{"18912345678", ChinaTelecom, nil},
		{"19912345678", ChinaTelecom, nil},
		{"19212345678", ChinaBroadnet, nil},
		{"16212345678", ChinaUnicom, nil},  // prefix override
		{"17001234567", ChinaMobile, nil},  // longer override prefix
		{"17012345678", ChinaTelecom, nil}, // libphonenumber
		{"14912345678", "", ErrUnroutable},
		{"1380013800", "", ErrInvalidNumber},
		{"23800138000", "", ErrInvalidNumber},
		{"1380013800x", "", ErrInvalidNumber},
	} {
		t.Run(tc.in, func(t *testing.T) {
			for range 2 { // second pass goes through the cache
				got, err := r.Route(tc.in)
				if !errors.Is(err, tc.err) || got != tc.want {
					t.Fatalf("Route(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
				}
			}
		})
	}
}

func TestFallback(t *testing.T) {
	r, err := New(Table{}, ChinaMobile)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Route("14912345678"); err != nil || c != ChinaMobile {
		t.Fatalf("got %q, %v", c, err)
	}
	if _, err := New(Table{}, "nokia"); err == nil {
		t.Fatal("unknown fallback accepted")
	}
	if _, err := New(Table{Prefixes: map[string]Carrier{"13a": ChinaMobile}}, ""); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

func TestReadPorted(t *testing.T) {
	m, err := ReadPorted(strings.NewReader("# ported\n13800138000,china_unicom\n\n+8618912345678 , china_mobile\n"), "p.csv")
	if err != nil {
		t.Fatal(err)
	}
	if m["13800138000"] != ChinaUnicom || m["18912345678"] != ChinaMobile || len(m) != 2 {
		t.Fatalf("got %v", m)
	}
	for _, bad := range []string{"13800138000", "13800138000,att", "123,china_mobile"} {
		if _, err := ReadPorted(strings.NewReader(bad), "p.csv"); err == nil || !strings.HasPrefix(err.Error(), "p.csv:1") {
			t.Errorf("%q: error %v, want located error", bad, err)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 138-0013-8000", "008613800138000", "", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err == nil && (len(n) != 11 || !allDigits(n)) {
			t.Fatalf("Normalize(%q) = %q", s, n)
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	r, _ := New(Table{}, "")
	nums := []string{"13800138000", "13012345678", "18912345678", "19212345678"}
	i := 0
	for b.Loop() {
		if _, err := r.Route(nums[i%len(nums)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// The default prefixes are valid table entries, and each one decides the
// carrier of a number in its range.
func TestDefaultPrefixes(t *testing.T) {
	d := DefaultPrefixes()
	r, err := New(Table{Prefixes: d}, "")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range d {
		n := p + strings.Repeat("5", 11-len(p))
		if got, err := r.Route(n); err != nil || got != want {
			t.Errorf("Route(%s) = %v, %v; want %v from prefix %s", n, got, err, want, p)
		}
	}
	if names := Names(); len(names) != len(Carriers) || names[0] != string(ChinaMobile) {
		t.Errorf("Names() = %v", names)
	}
}
