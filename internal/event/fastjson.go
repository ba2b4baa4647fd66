package event

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// fastDecoder fills an envelope from the record in one pass without
// reflection. It handles the shape producers send (the documented fields,
// plain or escaped strings, integers, booleans, null, unknown fields of any
// shape) and gives up — returning false — on anything else: a syntax error,
// a value of the wrong kind, a key that matches a field only
// case-insensitively, deep nesting. Decode then runs encoding/json on the
// record, so results and errors are always exactly encoding/json's; the fast
// path only changes the speed. FuzzFastMatchesJSON holds it to that.
//
// Strings are substrings of one copy of the record (one allocation for all
// of them) unless they contain escapes.
type fastDecoder struct {
	s string
	i int
}

const maxFastDepth = 64

func (d *decoded) fast(value []byte) bool {
	f := fastDecoder{s: string(value)}
	f.ws()
	if !f.object(func(key string) bool { return f.envelopeField(d, key) }) {
		return false
	}
	f.ws()
	return f.i == len(f.s)
}

var envelopeKeys = []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"}

func (f *fastDecoder) envelopeField(d *decoded, key string) bool {
	env := &d.env
	switch key {
	case "specversion":
		return f.str(&env.SpecVersion)
	case "id":
		return f.str(&env.ID)
	case "source":
		return f.str(&env.Source)
	case "type":
		t := string(env.Type)
		ok := f.str(&t)
		env.Type = Type(t)
		return ok
	case "subject":
		return f.str(&env.Subject)
	case "time":
		return f.str(&env.Time)
	case "datacontenttype":
		return f.str(&env.DataContentType)
	case "data":
		if f.null() {
			env.Data = nil
			return true
		}
		if env.Data == nil {
			d.p = payload{}
			env.Data = &d.p
		}
		p := env.Data
		return f.object(func(key string) bool { return f.payloadField(p, key) })
	}
	return f.unknown(key, envelopeKeys)
}

var payloadKeys = []string{"violation", "vehicle", "licence", "points_applied", "points_before", "plate",
	"old_status", "new_status", "reason", "id", "regions", "kind", "text", "valid_until"}

func (f *fastDecoder) payloadField(p *payload, key string) bool {
	switch key {
	case "violation":
		if f.null() {
			return true
		}
		return f.object(func(key string) bool { return f.violationField(&p.Violation, key) })
	case "vehicle":
		if f.null() {
			return true
		}
		return f.object(func(key string) bool { return f.vehicleField(&p.Vehicle, key) })
	case "licence":
		if f.null() {
			return true
		}
		return f.object(func(key string) bool { return f.licenceField(&p.Licence, key) })
	case "points_applied":
		return f.int(&p.PointsApplied)
	case "points_before":
		return f.int(&p.PointsBefore)
	case "plate":
		return f.str(&p.Plate)
	case "old_status":
		return f.str(&p.OldStatus)
	case "new_status":
		return f.str(&p.NewStatus)
	case "reason":
		return f.str(&p.Reason)
	case "id":
		return f.str(&p.ID)
	case "regions":
		return f.strings(&p.Regions)
	case "kind":
		return f.str(&p.Kind)
	case "text":
		return f.str(&p.Text)
	case "valid_until":
		return f.time(&p.ValidUntil)
	}
	return f.unknown(key, payloadKeys)
}

var violationKeys = []string{"id", "time", "place", "code", "description", "fine", "points", "monitoring"}

func (f *fastDecoder) violationField(v *Violation, key string) bool {
	switch key {
	case "id":
		return f.str(&v.ID)
	case "time":
		return f.time(&v.Time)
	case "place":
		return f.str(&v.Place)
	case "code":
		return f.str(&v.Code)
	case "description":
		return f.str(&v.Description)
	case "fine":
		return f.int(&v.Fine)
	case "points":
		return f.int(&v.Points)
	case "monitoring":
		return f.bool(&v.Monitoring)
	}
	return f.unknown(key, violationKeys)
}

var vehicleKeys = []string{"plate", "plate_type", "owner", "phone", "region", "use", "status",
	"inspection_valid_until", "missed_inspections", "scrap_deadline", "transfer_in_due",
	"unprocessed_violations", "enterprise"}

func (f *fastDecoder) vehicleField(v *Vehicle, key string) bool {
	switch key {
	case "plate":
		return f.str(&v.Plate)
	case "plate_type":
		return f.str(&v.PlateType)
	case "owner":
		return f.str(&v.Owner)
	case "phone":
		return f.str(&v.Phone)
	case "region":
		return f.str(&v.Region)
	case "use":
		return f.str(&v.Use)
	case "status":
		return f.str(&v.Status)
	case "inspection_valid_until":
		return f.time(&v.InspectionValidUntil)
	case "missed_inspections":
		return f.int(&v.MissedInspections)
	case "scrap_deadline":
		return f.time(&v.ScrapDeadline)
	case "transfer_in_due":
		return f.time(&v.TransferInDue)
	case "unprocessed_violations":
		return f.int(&v.UnprocessedViolations)
	case "enterprise":
		if f.null() {
			v.Enterprise = nil
			return true
		}
		if v.Enterprise == nil {
			v.Enterprise = new(Enterprise)
		}
		e := v.Enterprise
		return f.object(func(key string) bool {
			switch key {
			case "id":
				return f.str(&e.ID)
			case "name":
				return f.str(&e.Name)
			case "contact_phone":
				return f.str(&e.ContactPhone)
			}
			return f.unknown(key, enterpriseKeys)
		})
	}
	return f.unknown(key, vehicleKeys)
}

var enterpriseKeys = []string{"id", "name", "contact_phone"}

var licenceKeys = []string{"number", "holder", "phone", "region", "class", "status", "points",
	"cycle_end", "valid_until", "probation_until", "review_due", "medical_due"}

func (f *fastDecoder) licenceField(l *Licence, key string) bool {
	switch key {
	case "number":
		return f.str(&l.Number)
	case "holder":
		return f.str(&l.Holder)
	case "phone":
		return f.str(&l.Phone)
	case "region":
		return f.str(&l.Region)
	case "class":
		return f.str(&l.Class)
	case "status":
		return f.str(&l.Status)
	case "points":
		return f.int(&l.Points)
	case "cycle_end":
		return f.time(&l.CycleEnd)
	case "valid_until":
		return f.time(&l.ValidUntil)
	case "probation_until":
		return f.time(&l.ProbationUntil)
	case "review_due":
		return f.time(&l.ReviewDue)
	case "medical_due":
		return f.time(&l.MedicalDue)
	}
	return f.unknown(key, licenceKeys)
}

// unknown skips the value of a key that is not a field, unless encoding/json
// would match it to a field case-insensitively.
func (f *fastDecoder) unknown(key string, known []string) bool {
	for _, k := range known {
		if strings.EqualFold(key, k) {
			return false
		}
	}
	return f.skip(0)
}

func (f *fastDecoder) ws() {
	for f.i < len(f.s) {
		switch f.s[f.i] {
		case ' ', '\t', '\n', '\r':
			f.i++
		default:
			return
		}
	}
}

// object reads {"key": value, ...}, calling field with the cursor on each
// value (after whitespace). Keys with escapes give up.
func (f *fastDecoder) object(field func(key string) bool) bool {
	if f.i >= len(f.s) || f.s[f.i] != '{' {
		return false
	}
	f.i++
	f.ws()
	if f.i < len(f.s) && f.s[f.i] == '}' {
		f.i++
		return true
	}
	for {
		key, ok := f.plainString()
		if !ok {
			return false
		}
		f.ws()
		if f.i >= len(f.s) || f.s[f.i] != ':' {
			return false
		}
		f.i++
		f.ws()
		if !field(key) {
			return false
		}
		f.ws()
		if f.i >= len(f.s) {
			return false
		}
		switch f.s[f.i] {
		case ',':
			f.i++
			f.ws()
		case '}':
			f.i++
			return true
		default:
			return false
		}
	}
}

// plainString reads a string without escapes or invalid UTF-8.
func (f *fastDecoder) plainString() (string, bool) {
	if f.i >= len(f.s) || f.s[f.i] != '"' {
		return "", false
	}
	start := f.i + 1
	ascii := true
	for j := start; j < len(f.s); j++ {
		c := f.s[j]
		switch {
		case c == '"':
			v := f.s[start:j]
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			f.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

func (f *fastDecoder) null() bool {
	if strings.HasPrefix(f.s[f.i:], "null") {
		f.i += 4
		return true
	}
	return false
}

// str reads a JSON string into dst; null leaves dst as it is.
func (f *fastDecoder) str(dst *string) bool {
	if f.null() {
		return true
	}
	v, ok := f.plainString()
	if ok {
		*dst = v
		return true
	}
	// Escapes: find the end, let encoding/json unquote it.
	start := f.i
	if !f.skipString() {
		return false
	}
	return json.Unmarshal([]byte(f.s[start:f.i]), dst) == nil
}

func (f *fastDecoder) strings(dst *[]string) bool {
	if f.null() {
		*dst = nil
		return true
	}
	if f.i >= len(f.s) || f.s[f.i] != '[' {
		return false
	}
	f.i++
	out := make([]string, 0, 4)
	f.ws()
	if f.i < len(f.s) && f.s[f.i] == ']' {
		f.i++
		*dst = out
		return true
	}
	for {
		if f.i < len(f.s) && f.s[f.i] != '"' {
			return false
		}
		var v string
		if !f.str(&v) {
			return false
		}
		out = append(out, v)
		f.ws()
		if f.i >= len(f.s) {
			return false
		}
		switch f.s[f.i] {
		case ',':
			f.i++
			f.ws()
		case ']':
			f.i++
			*dst = out
			return true
		default:
			return false
		}
	}
}

func (f *fastDecoder) time(dst *time.Time) bool {
	if f.null() {
		return true
	}
	v, ok := f.plainString()
	if !ok {
		return false
	}
	return dst.UnmarshalText([]byte(v)) == nil
}

// int reads an integer that fits int64 (no fraction, no exponent).
func (f *fastDecoder) int(dst *int64) bool {
	if f.null() {
		return true
	}
	i, s := f.i, f.s
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	var n uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if i-start >= 18 {
			return false // may overflow: leave it to encoding/json
		}
		n = n*10 + uint64(s[i]-'0')
		i++
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return false
	}
	if i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
		return false
	}
	if neg {
		*dst = -int64(n)
	} else {
		*dst = int64(n)
	}
	f.i = i
	return true
}

func (f *fastDecoder) bool(dst *bool) bool {
	switch {
	case strings.HasPrefix(f.s[f.i:], "true"):
		*dst = true
		f.i += 4
	case strings.HasPrefix(f.s[f.i:], "false"):
		*dst = false
		f.i += 5
	case f.null():
	default:
		return false
	}
	return true
}

// skip steps over any valid JSON value.
func (f *fastDecoder) skip(depth int) bool {
	if depth > maxFastDepth || f.i >= len(f.s) {
		return false
	}
	switch c := f.s[f.i]; {
	case c == '{':
		return f.object(func(string) bool { return f.skip(depth + 1) })
	case c == '[':
		f.i++
		f.ws()
		if f.i < len(f.s) && f.s[f.i] == ']' {
			f.i++
			return true
		}
		for {
			if !f.skip(depth + 1) {
				return false
			}
			f.ws()
			if f.i >= len(f.s) {
				return false
			}
			switch f.s[f.i] {
			case ',':
				f.i++
				f.ws()
			case ']':
				f.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return f.skipString()
	case c == '-' || (c >= '0' && c <= '9'):
		return f.skipNumber()
	case strings.HasPrefix(f.s[f.i:], "true"), strings.HasPrefix(f.s[f.i:], "null"):
		f.i += 4
		return true
	case strings.HasPrefix(f.s[f.i:], "false"):
		f.i += 5
		return true
	}
	return false
}

// skipString steps over a string, checking its escapes.
func (f *fastDecoder) skipString() bool {
	s := f.s
	for j := f.i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			f.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(s) {
				return false
			}
			switch s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s) {
					return false
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(s[k]) {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber steps over -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (f *fastDecoder) skipNumber() bool {
	s, i := f.s, f.i
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	f.i = i
	return true
}
