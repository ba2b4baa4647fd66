package ivr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/traffic12123/gateway/pkg/ivr/say"
)

// Notice is one urgent notice to read to a person by an outbound call.
type Notice struct {
	// ID identifies the notice (the SMS side's message id); the DialGuard
	// is asked with it before every dial.
	ID string
	// Phone is the number to call (digits, an optional leading +).
	Phone string
	// Say is what the call speaks after the intro, in order. When empty,
	// Text is spoken by the synthesizer instead.
	Say []SayItem
	// Text is the rendered notice as free text: spoken when Say is empty
	// (by the TTS command; without one the callee hears notice_see_sms).
	Text string
}

// SayItem kinds.
const (
	SayPrompt = "prompt" // a recorded prompt by name (prompts/<name>.wav)
	SayText   = "text"   // free text, synthesized (fallback notice_see_sms)
	SayNumber = "number" // an integer: 12 → 十二
	SayMoney  = "money"  // whole yuan: 200 → 两百元
	SayDate   = "date"   // 2026-12-02 → 二零二六年十二月二日
	SayTime   = "time"   // 14:30 → 十四点三十分
	SayPlate  = "plate"  // 京A12345
	SayDigits = "digits" // one digit at a time (1 as 幺)
)

// SayItem is one piece of a notice: a kind and its value as text.
type SayItem struct {
	Kind  string `json:"kind" yaml:"kind"`
	Value string `json:"value" yaml:"value"`
}

// ErrBadNotice is returned (wrapped) for a notice that cannot be called:
// nothing is dialled.
var ErrBadNotice = errors.New("ivr: bad notice")

// maxNoticeItems bounds a notice's length (about a minute of speech).
const maxNoticeItems = 64

// clips renders the notice into library clip names. It checks everything
// before a call is placed.
func (n Notice) clips(lib *Library) ([]string, error) {
	if n.ID == "" {
		return nil, fmt.Errorf("%w: no id", ErrBadNotice)
	}
	if !validPhone(n.Phone) {
		return nil, fmt.Errorf("%w: phone %q is not a number", ErrBadNotice, MaskPhone(n.Phone))
	}
	if len(n.Say) > maxNoticeItems {
		return nil, fmt.Errorf("%w: %d items (at most %d)", ErrBadNotice, len(n.Say), maxNoticeItems)
	}
	if len(n.Say) == 0 {
		if strings.TrimSpace(n.Text) == "" {
			return nil, fmt.Errorf("%w: neither say items nor text", ErrBadNotice)
		}
		return []string{ttsClip("notice_see_sms", n.Text)}, nil
	}
	var out []string
	for i, it := range n.Say {
		c, err := it.clips(lib)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d (%s): %w", ErrBadNotice, i, it.Kind, err)
		}
		out = append(out, c...)
	}
	return out, nil
}

func (it SayItem) clips(lib *Library) ([]string, error) {
	v := strings.TrimSpace(it.Value)
	switch it.Kind {
	case SayPrompt:
		if !lib.HasPrompt(v) {
			return nil, fmt.Errorf("no prompt %q", v)
		}
		return []string{v}, nil
	case SayText:
		if v == "" || !utf8.ValidString(v) {
			return nil, errors.New("empty or invalid text")
		}
		return []string{ttsClip("notice_see_sms", v)}, nil
	case SayNumber, SayMoney:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 999_999_999_999 {
			return nil, fmt.Errorf("not a number 0…999999999999: %q", v)
		}
		if it.Kind == SayMoney {
			return units(say.Money(n)), nil
		}
		return units(say.Number(n)), nil
	case SayDate:
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return nil, fmt.Errorf("not a date YYYY-MM-DD: %q", v)
		}
		return units(say.Date(t)), nil
	case SayTime:
		t, err := time.Parse("15:04", v)
		if err != nil {
			return nil, fmt.Errorf("not a time HH:MM: %q", v)
		}
		return units(say.Clock(t)), nil
	case SayPlate:
		u := say.Plate(v)
		if len(u) == 0 {
			return nil, errors.New("empty plate")
		}
		return units(u), nil
	case SayDigits:
		u := say.Digits(v, true)
		if len(u) == 0 {
			return nil, errors.New("no digits")
		}
		return units(u), nil
	}
	return nil, fmt.Errorf("unknown kind %q", it.Kind)
}

func validPhone(p string) bool {
	p = strings.TrimPrefix(p, "+")
	if len(p) < 3 || len(p) > 20 {
		return false
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
