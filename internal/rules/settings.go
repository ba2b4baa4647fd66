package rules

import (
	"time"

	"github.com/traffic12123/gateway/internal/template"
	yaml "go.yaml.in/yaml/v3"
)

// Defaults of settings.yaml.
const (
	DefaultSignature   = "【交管12123】"
	DefaultTimezone    = "Asia/Shanghai"
	DefaultQuietStart  = "21:00"
	DefaultQuietEnd    = "08:00"
	DefaultMaxSegments = 2
	DefaultMaxCost     = 5000
)

// Settings are the set-wide settings (rules/settings.yaml).
type Settings struct {
	Signature   string         // added in front of every message
	Timezone    string         // IANA name; calendar helpers and quiet hours use it
	Location    *time.Location // Timezone, loaded
	QuietStart  string         // "21:00": quiet hours start (local)
	QuietEnd    string         // "08:00": quiet hours end (local)
	MaxSegments int            // default max_segments of a rule
	MaxCost     uint64         // largest estimated CEL cost accepted for one expression
	Caps        Caps           // enforced by internal/policy
	FieldMaxLen map[string]int // overrides of template.FieldLen

	quietStart, quietEnd int // minutes of the day
}

// Caps are the default per-recipient limits internal/policy enforces on
// non-urgent messages. Zero means no cap.
type Caps struct {
	PerRecipientPerDay  int
	PerRecipientPerWeek int
}

func defaultSettings() Settings {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		loc = time.FixedZone("CST", 8*3600) // no tzdata: Beijing has no DST
	}
	return Settings{
		Signature: DefaultSignature, Timezone: DefaultTimezone, Location: loc,
		QuietStart: DefaultQuietStart, QuietEnd: DefaultQuietEnd,
		MaxSegments: DefaultMaxSegments, MaxCost: DefaultMaxCost,
		Caps:       Caps{PerRecipientPerDay: 3, PerRecipientPerWeek: 10},
		quietStart: 21 * 60, quietEnd: 8 * 60,
	}
}

func (f *yfile) settings(root *yaml.Node) Settings {
	s := defaultSettings()
	m := f.fields(root, "settings", "signature", "timezone", "quiet_hours", "max_segments", "max_cost", "caps", "field_max_len")
	if n := m["signature"]; n != nil {
		if v, ok := f.str(n, "signature"); ok {
			if v == "" {
				f.errAt(n, "signature must not be empty")
			}
			s.Signature = v
		}
	}
	if n := m["timezone"]; n != nil {
		if v, ok := f.str(n, "timezone"); ok {
			loc, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				f.errAt(n, "timezone %q: not an IANA zone name", v)
			} else {
				s.Timezone, s.Location = v, loc
			}
		}
	}
	if n := m["quiet_hours"]; n != nil {
		q := f.fields(n, "quiet_hours", "start", "end")
		for key, dst := range map[string]*string{"start": &s.QuietStart, "end": &s.QuietEnd} {
			if v := q[key]; v != nil {
				if str, ok := f.str(v, "quiet_hours."+key); ok {
					if _, _, err := template.ParseClock(str); err != nil {
						f.errAt(v, "quiet_hours.%s: %v", key, err)
					} else {
						*dst = str
					}
				}
			}
		}
	}
	if n := m["max_segments"]; n != nil {
		if v, ok := f.integer(n, "max_segments"); ok {
			if v < 1 || v > 10 {
				f.errAt(n, "max_segments must be 1..10")
			} else {
				s.MaxSegments = v
			}
		}
	}
	if n := m["max_cost"]; n != nil {
		if v, ok := f.integer(n, "max_cost"); ok {
			if v < 1 {
				f.errAt(n, "max_cost must be positive")
			} else {
				s.MaxCost = uint64(v)
			}
		}
	}
	if n := m["caps"]; n != nil {
		c := f.fields(n, "caps", "per_recipient_per_day", "per_recipient_per_week")
		for key, dst := range map[string]*int{"per_recipient_per_day": &s.Caps.PerRecipientPerDay, "per_recipient_per_week": &s.Caps.PerRecipientPerWeek} {
			if v := c[key]; v != nil {
				if x, ok := f.integer(v, "caps."+key); ok {
					if x < 0 {
						f.errAt(v, "caps.%s must not be negative", key)
					}
					*dst = x
				}
			}
		}
	}
	if n := m["field_max_len"]; n != nil {
		if n.Kind != yaml.MappingNode {
			f.errAt(n, "field_max_len must be a mapping of field name to length")
		} else {
			s.FieldMaxLen = map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if x, ok := f.integer(n.Content[i+1], "field_max_len."+n.Content[i].Value); ok {
					if x < 1 || x > 1000 {
						f.errAt(n.Content[i+1], "field_max_len must be 1..1000")
					}
					s.FieldMaxLen[n.Content[i].Value] = x
				}
			}
		}
	}
	h, mi, _ := template.ParseClock(s.QuietStart)
	s.quietStart = h*60 + mi
	h, mi, _ = template.ParseClock(s.QuietEnd)
	s.quietEnd = h*60 + mi
	return s
}

// deferQuiet moves t out of quiet hours to the first minute they end.
func (s *Settings) deferQuiet(t time.Time) time.Time {
	if s.quietStart == s.quietEnd {
		return t
	}
	l := t.In(s.Location)
	m := l.Hour()*60 + l.Minute()
	endToday := time.Date(l.Year(), l.Month(), l.Day(), s.quietEnd/60, s.quietEnd%60, 0, 0, s.Location)
	if s.quietStart < s.quietEnd { // e.g. 00:00–07:00
		if m >= s.quietStart && m < s.quietEnd {
			return endToday
		}
		return t
	}
	// wraps midnight, e.g. 21:00–08:00
	switch {
	case m >= s.quietStart:
		return endToday.AddDate(0, 0, 1)
	case m < s.quietEnd:
		return endToday
	}
	return t
}

// InQuietHours reports whether t falls inside the quiet hours.
func (s *Settings) InQuietHours(t time.Time) bool { return !s.deferQuiet(t).Equal(t) }
