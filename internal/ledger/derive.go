package ledger

import (
	"strings"

	"github.com/traffic12123/gateway/internal/message"
)

// NormalizeID normalises a carrier message id the same way for submissions
// and receipts: trimmed, lower case, leading zeros removed ("0" stays).
// It is idempotent, so ids the SMPP layer already normalised are unchanged.
func NormalizeID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	t := strings.TrimLeft(s, "0")
	if t == "" && s != "" {
		return "0"
	}
	return t
}

// Receipt stats, as in the SMPP receipt text.
const (
	StatDelivered = "DELIVRD"
	StatExpired   = "EXPIRED"
	StatUndeliv   = "UNDELIV"
	StatRejected  = "REJECTD"
	StatDeleted   = "DELETED"
	StatUnknown   = "UNKNOWN"
	StatAccepted  = "ACCEPTD"
	StatEnroute   = "ENROUTE"
)

// FinalStat reports whether a receipt stat is a final outcome for its part.
func FinalStat(stat string) bool {
	switch stat {
	case StatDelivered, StatExpired, StatUndeliv, StatRejected, StatDeleted, StatUnknown:
		return true
	}
	return false
}

// DeriveState derives a message's state from its parts' last receipt stats.
// segments is the number of parts the message has (at least len(stats)
// counts). The message is expired if any part expired, failed if any part
// failed (UNDELIV, REJECTD, DELETED, UNKNOWN), delivered when every part was
// delivered, and otherwise unchanged (ok false).
func DeriveState(segments int, stats []string) (st message.State, reason string, ok bool) {
	if segments < len(stats) {
		segments = len(stats)
	}
	delivered := 0
	for _, s := range stats {
		if s == StatExpired {
			return message.StateExpired, "receipt " + s, true
		}
	}
	for _, s := range stats {
		switch s {
		case StatUndeliv, StatRejected, StatDeleted, StatUnknown:
			return message.StateFailed, "receipt " + s, true
		case StatDelivered:
			delivered++
		}
	}
	if segments > 0 && delivered == segments {
		return message.StateDelivered, "", true
	}
	return "", "", false
}

// RegionPrefix returns the prefix of region codes that region covers: a
// 6-digit code ending in 0000 covers its province (first 2 digits), one
// ending in 00 its city (first 4 digits); any other code covers itself.
func RegionPrefix(region string) string {
	if len(region) == 6 {
		switch {
		case strings.HasSuffix(region, "0000"):
			return region[:2]
		case strings.HasSuffix(region, "00"):
			return region[:4]
		}
	}
	return region
}

// RegionRange returns the half-open range [lo, hi) of region codes that
// region covers, for an index range scan ("C" collation: ':' follows '9').
// For a code that covers only itself exact is true and lo == hi == region.
func RegionRange(region string) (lo, hi string, exact bool) {
	p := RegionPrefix(region)
	if p == region {
		return region, region, true
	}
	return p, p + ":", false
}

// ReceiptMatchesText reports whether a receipt's text excerpt identifies a
// message text: the text starts with it, or (for a later part of a long
// message) contains it. SMSCs write the excerpt of a UCS2 message in
// ASCII with every other character replaced by '?', so a '?' in the
// excerpt matches any one character of the text (then the ASCII in it,
// such as the 12123 of the signature, digits, plates, still has to
// match). An empty excerpt matches nothing.
func ReceiptMatchesText(msgText, excerpt string) bool {
	excerpt = strings.TrimSpace(excerpt)
	if excerpt == "" {
		return false
	}
	if strings.Contains(msgText, excerpt) {
		return true
	}
	if !strings.Contains(excerpt, "?") {
		return false
	}
	ex := []rune(excerpt)
	text := []rune(msgText)
	for start := 0; start+len(ex) <= len(text); start++ {
		if wildcardAt(text[start:], ex) {
			return true
		}
	}
	return false
}

func wildcardAt(text, ex []rune) bool {
	for i, r := range ex {
		if r != '?' && r != text[i] {
			return false
		}
	}
	return true
}

// Transitionable reports whether Transition accepts a target state.
func Transitionable(s message.State) bool {
	switch s {
	case message.StateQueued, message.StateScheduled, message.StateFailed,
		message.StateExpired, message.StateCancelled, message.StateUnknown:
		return true
	}
	return false
}
