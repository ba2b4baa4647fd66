package template

import (
	"unicode/utf8"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Rendered is a finished text as the carrier bills it.
type Rendered struct {
	Text     string
	Encoding string // "gsm7" or "ucs2"
	Chars    int    // septets (GSM7, escapes count 2) or UTF-16 units (UCS2)
	Segments int
}

// Measure returns the encoding, length and number of segments of text
// (pkg/smpp/coding.Count).
func Measure(text string) Rendered {
	enc, segs := coding.Count(text)
	units := utf8.RuneCountInString(text)
	if enc == coding.UCS2 {
		units = coding.UCS2Len(text)
	} else {
		units = coding.GSM7Len(text)
	}
	return Rendered{Text: text, Encoding: string(enc), Chars: units, Segments: segs}
}
