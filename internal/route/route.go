// Package route decides which carrier's SMSC a mobile number is sent
// through: the number's home carrier from libphonenumber's carrier data
// (github.com/nyaruka/phonenumbers), overridden by an operator table of
// ported numbers and prefixes (numbers ported since 2019-12-01 keep their
// prefix; virtual operators ride on one of the big three). It knows nothing
// of SMPP accounts: the caller maps a Carrier to its binds.
package route

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"

	"github.com/traffic12123/gateway/internal/redact"
)

// Carrier names a mainland mobile network operator.
type Carrier string

// The four mainland carriers.
const (
	ChinaMobile   Carrier = "china_mobile"
	ChinaUnicom   Carrier = "china_unicom"
	ChinaTelecom  Carrier = "china_telecom"
	ChinaBroadnet Carrier = "china_broadnet"
)

// Carriers lists every known carrier in a stable order.
var Carriers = []Carrier{ChinaMobile, ChinaUnicom, ChinaTelecom, ChinaBroadnet}

// Valid reports whether c is one of Carriers.
func (c Carrier) Valid() bool {
	for _, k := range Carriers {
		if c == k {
			return true
		}
	}
	return false
}

// ErrUnroutable is returned for a number no carrier can be found for.
var ErrUnroutable = errors.New("no carrier for number")

// ErrInvalidNumber is returned for a string that is not a mainland mobile number.
var ErrInvalidNumber = errors.New("not a mainland mobile number")

// Table holds the operator's overrides: exact numbers (ported) and
// prefixes. Longer prefixes win; an exact number beats any prefix.
type Table struct {
	Numbers  map[string]Carrier
	Prefixes map[string]Carrier
}

// Router maps numbers to carriers. It is safe for concurrent use.
type Router struct {
	table    Table
	maxPre   int
	fallback Carrier // used when libphonenumber has no carrier; "" means unroutable

	mu    sync.RWMutex
	cache map[string]Carrier // national prefix (3, 4 or 7 digits) -> carrier
}

// New builds a router from an override table. fallback, when not empty,
// is used for valid mobile numbers whose carrier is unknown.
func New(t Table, fallback Carrier) (*Router, error) {
	r := &Router{table: t, fallback: fallback, cache: make(map[string]Carrier)}
	if fallback != "" && !fallback.Valid() {
		return nil, fmt.Errorf("route: unknown fallback carrier %q", fallback)
	}
	for n, c := range t.Numbers {
		if !c.Valid() {
			return nil, fmt.Errorf("route: number %s: unknown carrier %q", redact.Phone(n), c)
		}
	}
	for p, c := range t.Prefixes {
		if !c.Valid() {
			return nil, fmt.Errorf("route: prefix %s: unknown carrier %q", p, c)
		}
		if !allDigits(p) || len(p) == 0 || len(p) > 11 {
			return nil, fmt.Errorf("route: prefix %q: want 1 to 11 digits", p)
		}
		r.maxPre = max(r.maxPre, len(p))
	}
	return r, nil
}

// Normalize turns "+86 138-0013-8000", "8613800138000" or "13800138000"
// into the 11-digit national form.
func Normalize(number string) (string, error) {
	var b [16]byte
	n := 0
	for i := 0; i < len(number); i++ {
		c := number[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return "", ErrInvalidNumber
			}
			b[n] = c
			n++
		case c == '+' || c == ' ' || c == '-':
		default:
			return "", ErrInvalidNumber
		}
	}
	s := string(b[:n])
	switch {
	case len(s) == 13 && strings.HasPrefix(s, "86"):
		s = s[2:]
	case len(s) == 15 && strings.HasPrefix(s, "0086"):
		s = s[4:]
	}
	if len(s) != 11 || s[0] != '1' || s[1] < '3' {
		return "", ErrInvalidNumber
	}
	return s, nil
}

// Route returns the carrier for number, which may be in any form Normalize
// accepts.
func (r *Router) Route(number string) (Carrier, error) {
	n, err := Normalize(number)
	if err != nil {
		return "", err
	}
	if c, ok := r.table.Numbers[n]; ok {
		return c, nil
	}
	for l := min(r.maxPre, len(n)); l > 0; l-- {
		if c, ok := r.table.Prefixes[n[:l]]; ok {
			return c, nil
		}
	}
	r.mu.RLock()
	c, ok := r.cache[n[:3]]
	if !ok {
		c, ok = r.cache[n[:4]]
	}
	if !ok {
		c, ok = r.cache[n[:7]]
	}
	r.mu.RUnlock()
	if ok {
		return r.orFallback(c)
	}
	c, plen := lookup(n)
	key := n[:7]
	switch {
	case plen > 0 && plen <= 3:
		key = n[:3]
	case plen == 4:
		key = n[:4]
	}
	r.mu.Lock()
	r.cache[key] = c
	r.mu.Unlock()
	return r.orFallback(c)
}

func (r *Router) orFallback(c Carrier) (Carrier, error) {
	if c != "" {
		return c, nil
	}
	if r.fallback != "" {
		return r.fallback, nil
	}
	return "", ErrUnroutable
}

// lookup asks libphonenumber; plen is the length of the national prefix
// its carrier data matched (0 when it has none).
func lookup(n string) (Carrier, int) {
	num, err := phonenumbers.Parse(n, "CN")
	if err != nil {
		return "", 0
	}
	name, plen, err := phonenumbers.GetCarrierWithPrefixForNumber(num, "en")
	if err != nil {
		return "", 0
	}
	if plen > 2 {
		plen -= 2 // the prefix includes the country code 86
	}
	switch name {
	case "China Mobile":
		return ChinaMobile, plen
	case "China Unicom":
		return ChinaUnicom, plen
	case "China Telecom":
		return ChinaTelecom, plen
	case "China Broadnet":
		return ChinaBroadnet, plen
	}
	return "", plen
}

// LoadPorted reads a ported-number file: one "number,carrier" per line,
// blank lines and lines starting with # ignored.
func LoadPorted(path string) (map[string]Carrier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("route: open ported numbers: %w", err)
	}
	defer f.Close()
	return ReadPorted(f, path)
}

// ReadPorted parses the ported-number format of LoadPorted from r; name is
// used in errors.
func ReadPorted(r io.Reader, name string) (map[string]Carrier, error) {
	out := make(map[string]Carrier)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		num, car, ok := strings.Cut(s, ",")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want number,carrier", name, line)
		}
		n, err := Normalize(strings.TrimSpace(num))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		c := Carrier(strings.TrimSpace(car))
		if !c.Valid() {
			return nil, fmt.Errorf("%s:%d: unknown carrier %q", name, line, c)
		}
		out[n] = c
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DefaultPrefixes are ranges libphonenumber has no carrier for, or gives
// to the wrong one: China Telecom's 149 and its 1349 satellite range, and
// the virtual operators' 162, 165, 167 hosted on Telecom, Mobile and
// Unicom. The operator's prefixes (route.prefixes in smsgw.yaml) are
// added to these and override them.
func DefaultPrefixes() map[string]Carrier {
	return map[string]Carrier{
		"149": ChinaTelecom, "1349": ChinaTelecom,
		"162": ChinaTelecom, "165": ChinaMobile, "167": ChinaUnicom,
	}
}

// Names returns the names of Carriers, for messages that list them.
func Names() []string {
	names := make([]string, len(Carriers))
	for i, c := range Carriers {
		names[i] = string(c)
	}
	return names
}
