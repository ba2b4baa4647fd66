package redact

import "testing"

func TestMasks(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Phone("13800138000"), "138****8000"},
		{Phone("123"), "***"},
		{ID("11010519491231002X"), "11************002X"},
		{Name("张三丰"), "张**"},
		{Name(""), ""},
		{Plate("京A12345"), "京A***45"},
		{Plate("粤BD12345"), "粤B****45"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
