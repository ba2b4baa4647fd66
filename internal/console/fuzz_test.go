package console

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzParseAccounts: any accounts file is refused with an error or gives
// accounts with a known role; it never panics.
func FuzzParseAccounts(f *testing.F) {
	line, _ := hashLine("ops", Operator, "password-1", 4)
	f.Add([]byte(line))
	f.Add([]byte("# c\n\nops admin $2a$04$abcdefghijklmnopqrstuu\n"))
	f.Add([]byte("a b c d\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAccounts("fuzz", b)
		if err != nil {
			return
		}
		for _, u := range a.users {
			if u.Role.rank() == 0 || u.Name == "" {
				t.Fatalf("account %+v", u)
			}
		}
	})
}

// FuzzMaskText: masking never leaves an 11-digit mobile number standing
// alone, and never panics on any input.
func FuzzMaskText(f *testing.F) {
	f.Add(`{"phone":"13912345678","owner":"王五","plate":"沪B7N2K9"}`)
	f.Add("reason 18912345678; id 310115198808124567")
	f.Add("\xff\xfe13912345678")
	phone := regexp.MustCompile(`\b1\d{10}\b`)
	f.Fuzz(func(t *testing.T, s string) {
		got := maskText(s)
		if m := phone.FindString(got); m != "" && !strings.Contains(s, m) {
			t.Fatalf("masking made a phone number: %q → %q", s, got)
		}
		if phone.MatchString(got) && phone.MatchString(s) {
			t.Fatalf("phone left: %q → %q", s, got)
		}
	})
}
