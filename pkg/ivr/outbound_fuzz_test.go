package ivr

import (
	"errors"
	"testing"
	"time"
)

// FuzzNotice: any notice is rendered or refused with ErrBadNotice, never
// a panic; what is rendered names only clips the library can play or
// synthesize.
func FuzzNotice(f *testing.F) {
	lib := &Library{audio: [2]map[string][]byte{{"notice_see_sms": nil}, {"notice_see_sms": nil}}}
	f.Add("n1", "13800138000", "plate", "京A12345", "")
	f.Add("n1", "+8613800138000", "number", "12", "")
	f.Add("n1", "13800138000", "date", "2026-12-02", "")
	f.Add("n1", "13800138000", "", "", "请尽快处理")
	f.Add("", "x", "time", "25:61", "")
	f.Fuzz(func(t *testing.T, id, phone, kind, value, text string) {
		n := Notice{ID: id, Phone: phone, Text: text}
		if kind != "" {
			n.Say = []SayItem{{Kind: kind, Value: value}}
		}
		clips, err := n.clips(lib)
		if err != nil {
			if !errors.Is(err, ErrBadNotice) {
				t.Fatalf("error %v is not ErrBadNotice", err)
			}
			return
		}
		if len(clips) == 0 {
			t.Fatal("accepted notice renders nothing")
		}
	})
}

// FuzzParseHours: a window is parsed or refused; a parsed one prints back
// to itself and always answers Allowed with an opening not in the past.
func FuzzParseHours(f *testing.F) {
	for _, s := range []string{"08:00-21:00", "22:00-06:00", "", "00:00-24:00", "8-21", "24:00-01:00"} {
		f.Add(s)
	}
	loc := time.FixedZone("CST", 8*3600)
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHours(s)
		if err != nil {
			return
		}
		if h2, err := ParseHours(h.String()); err != nil || h2 != h {
			t.Fatalf("%q → %q → %v %v", s, h.String(), h2, err)
		}
		now := time.Date(2026, 12, 2, 13, 7, 0, 0, loc)
		ok, next := h.Allowed(now)
		if next.Before(now) || (!ok && !next.After(now)) {
			t.Fatalf("%q at %v: %v %v", s, now, ok, next)
		}
		if ok2, _ := h.Allowed(next); !ok2 {
			t.Fatalf("%q: next opening %v is not allowed", s, next)
		}
	})
}
