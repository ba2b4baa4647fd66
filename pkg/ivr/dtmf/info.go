package dtmf

import (
	"errors"
	"strings"
)

// ErrNoSignal is returned for an INFO body without a DTMF key.
var ErrNoSignal = errors.New("dtmf: INFO body carries no key")

// maxInfoBody bounds what ParseInfo looks at.
const maxInfoBody = 4096

// ParseInfo reads the key from a SIP INFO body. contentType is the media
// type without parameters: "application/dtmf-relay" bodies carry
// "Signal=5\r\nDuration=160"; "application/dtmf" bodies carry the key alone
// (or an event code 0-16).
func ParseInfo(contentType string, body []byte) (rune, error) {
	if len(body) > maxInfoBody {
		body = body[:maxInfoBody]
	}
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch ct {
	case "application/dtmf-relay", "application/vnd.nortelnetworks.digits":
		for line := range strings.SplitSeq(string(body), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if !strings.EqualFold(strings.TrimSpace(k), "signal") {
				continue
			}
			return keyOf(strings.TrimSpace(v))
		}
		return 0, ErrNoSignal
	case "application/dtmf":
		return keyOf(strings.TrimSpace(string(body)))
	}
	return 0, ErrNoSignal
}

func keyOf(v string) (rune, error) {
	if v == "" {
		return 0, ErrNoSignal
	}
	if len(v) == 1 {
		r := rune(v[0])
		if r >= 'a' && r <= 'd' {
			r -= 'a' - 'A'
		}
		if _, ok := Code(r); ok {
			return r, nil
		}
		return 0, ErrNoSignal
	}
	// Some senders put the event code: "10" for '*', "11" for '#'.
	if len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5' {
		if r, ok := Rune(10 + v[1] - '0'); ok {
			return r, nil
		}
	}
	return 0, ErrNoSignal
}
