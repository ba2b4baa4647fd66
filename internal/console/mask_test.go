package console

import (
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

func TestMaskText(t *testing.T) {
	in := `{"vehicle":{"plate":"晋A03465","owner":"王小明","phone":"13912345678"},"licence":{"number":"310115198808124567","holder": "李四"},"violation":{"id":"3501022611175672581"}}`
	got := maskText(in)
	for _, leak := range []string{"晋A03465", "王小明", "13912345678", "310115198808124567", "李四"} {
		if strings.Contains(got, leak) {
			t.Errorf("%q left in %s", leak, got)
		}
	}
	for _, keep := range []string{"晋A***65", `"owner":"王**"`, "139****5678", "31************4567", `"holder": "李*"`, "3501022611175672581"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%q missing from %s", keep, got)
		}
	}
}

func TestSplitParts(t *testing.T) {
	units := func(enc coding.Encoding, s string) int {
		if enc == coding.GSM7 {
			return coding.GSM7Len(s)
		}
		return len(utf16.Encode([]rune(s)))
	}
	for _, tc := range []struct {
		name  string
		text  string
		parts []int // units per part
	}{
		{"gsm7 single", strings.Repeat("a", 160), []int{160}},
		{"gsm7 two", strings.Repeat("a", 161), []int{153, 8}},
		{"gsm7 escape not split", strings.Repeat("a", 152) + "{" + "bbbbbbbbbb", []int{152, 12}},
		{"ucs2 single", strings.Repeat("交", 70), []int{70}},
		{"ucs2 two", strings.Repeat("交", 71), []int{67, 4}},
		{"surrogate not split", strings.Repeat("交", 66) + "😀" + "尾尾尾尾尾", []int{66, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := splitParts(tc.text)
			enc, n := coding.Count(tc.text)
			if strings.Join(ps, "") != tc.text || len(ps) != n {
				t.Fatalf("%d parts (coding.Count %d), joined equal %v", len(ps), n, strings.Join(ps, "") == tc.text)
			}
			for i, p := range ps {
				if units(enc, p) != tc.parts[i] {
					t.Errorf("part %d: %d units, want %d", i, units(enc, p), tc.parts[i])
				}
			}
		})
	}
}

func TestParseAccounts(t *testing.T) {
	line, err := HashLine("a", Admin, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no accounts"},
		{"a admin\n", "want \"name role bcrypt-hash\""},
		{"a root $2a$10$abcdefghijklmnopqrstuu1234567890123456789012345678901\n", "role \"root\""},
		{"a admin plaintext\n", "not a bcrypt hash"},
		{line + line, "given twice"},
	} {
		if _, err := ParseAccounts("acc", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	a, err := ParseAccounts("acc", []byte("# comment\n\n"+line))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.check("a", "pw"); !ok {
		t.Fatal("right password refused")
	}
	if _, ok := a.check("a", "pw2"); ok {
		t.Fatal("wrong password accepted")
	}
	if _, ok := a.check("b", "pw"); ok {
		t.Fatal("unknown user accepted")
	}
}
