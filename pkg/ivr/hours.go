package ivr

import (
	"fmt"
	"strings"
	"time"
)

// Hours is a daily calling window in local time: From inclusive, To
// exclusive, as offsets from midnight. From > To spans midnight. The zero
// value allows any time.
type Hours struct {
	From, To time.Duration
}

// ParseHours reads "08:00-21:00" ("" or "00:00-24:00": any time).
func ParseHours(s string) (Hours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Hours{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Hours{}, fmt.Errorf("hours %q: want HH:MM-HH:MM", s)
	}
	from, err := clockOffset(a)
	if err != nil {
		return Hours{}, fmt.Errorf("hours %q: %w", s, err)
	}
	to, err := clockOffset(b)
	if err != nil {
		return Hours{}, fmt.Errorf("hours %q: %w", s, err)
	}
	if from == to {
		return Hours{}, fmt.Errorf("hours %q: empty window", s)
	}
	if from == 0 && to == 24*time.Hour {
		return Hours{}, nil
	}
	return Hours{From: from, To: to}, nil
}

func clockOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// String is the HH:MM-HH:MM form ("" for any time).
func (h Hours) String() string {
	if h == (Hours{}) {
		return ""
	}
	f := func(d time.Duration) string { return fmt.Sprintf("%02d:%02d", int(d.Hours()), int(d.Minutes())%60) }
	return f(h.From) + "-" + f(h.To)
}

// Allowed reports whether t (in the window's zone) is inside the window,
// and when not, when it next opens.
func (h Hours) Allowed(t time.Time) (bool, time.Time) {
	if h == (Hours{}) {
		return true, t
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	off := t.Sub(midnight)
	var in bool
	if h.From < h.To {
		in = off >= h.From && off < h.To
	} else {
		in = off >= h.From || off < h.To
	}
	if in {
		return true, t
	}
	open := time.Date(t.Year(), t.Month(), t.Day(), int(h.From.Hours()), int(h.From.Minutes())%60, 0, 0, t.Location())
	if !open.After(t) {
		open = open.AddDate(0, 0, 1)
	}
	return false, open
}
