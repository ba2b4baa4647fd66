package template

import "github.com/traffic12123/gateway/pkg/smpp/coding"

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
	if enc == coding.UCS2 {
		return Rendered{Text: text, Encoding: "ucs2", Chars: coding.UCS2Len(text), Segments: segs}
	}
	return Rendered{Text: text, Encoding: "gsm7", Chars: coding.GSM7Len(text), Segments: segs}
}
