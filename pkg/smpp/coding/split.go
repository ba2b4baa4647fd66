package coding

import "fmt"

// Encoding is the character coding of a message. Its values are the
// strings the ledger keeps (message.Message.Encoding).
type Encoding string

// The encodings. Auto picks GSM7 when the text fits it, else UCS2.
const (
	Auto Encoding = ""
	GSM7 Encoding = "gsm7"
	UCS2 Encoding = "ucs2"
)

// DataCoding returns the SMPP data_coding value for e: 0x00 (SMSC default
// alphabet, GSM 03.38) for GSM7 and 0x08 for UCS2.
func (e Encoding) DataCoding() byte {
	if e == UCS2 {
		return 0x08
	}
	return 0x00
}

// Limits of one message body (140 octets), in characters of each coding.
const (
	GSM7Single = 160 // septets in an unsplit GSM7 message
	GSM7Part   = 153 // septets in a part behind a 6-byte UDH
	UCS2Single = 70  // UTF-16 units in an unsplit UCS2 message
	UCS2Part   = 67  // UTF-16 units in a part behind a 6-byte UDH
	MaxParts   = 255
)

// Choose returns GSM7 if the GSM default alphabet carries every character
// of s, else UCS2.
func Choose(s string) Encoding {
	if IsGSM7(s) {
		return GSM7
	}
	return UCS2
}

// Plan is text encoded for the wire: one short_message per part.
type Plan struct {
	Encoding   Encoding
	DataCoding byte
	Units      int      // septets (GSM7) or UTF-16 units (UCS2) of the whole text
	Parts      [][]byte // short_message octets; with a concatenation UDH when len(Parts) > 1
}

// UDHI reports whether the parts start with a user data header, i.e.
// whether submit_sm must set esm_class bit 0x40.
func (p Plan) UDHI() bool { return len(p.Parts) > 1 }

// unitsOf returns how many units r takes in enc (0: cannot be carried).
func unitsOf(enc Encoding, r rune) int {
	if enc == GSM7 {
		return gsm7Septets(r)
	}
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// Count returns the encoding Auto would choose for s and the number of
// parts it needs. It allocates nothing; templates use it to bill segments.
func Count(s string) (Encoding, int) {
	enc := Choose(s)
	n, _ := countParts(s, enc)
	return enc, n
}

// countParts returns the number of parts and the total units of s in enc;
// parts is -1 if a character does not fit enc.
func countParts(s string, enc Encoding) (parts, total int) {
	single, per := GSM7Single, GSM7Part
	if enc == UCS2 {
		single, per = UCS2Single, UCS2Part
	}
	cur := 0
	parts = 1
	for _, r := range s {
		k := unitsOf(enc, r)
		if k == 0 {
			return -1, 0
		}
		total += k
		if cur+k > per {
			parts++
			cur = 0
		}
		cur += k
	}
	if total <= single {
		return 1, total
	}
	return parts, total
}

// Split encodes s in enc (Auto: Choose) and cuts it into parts. Text that
// fits one message gets one part and no header; longer text gets parts of
// at most GSM7Part septets or UCS2Part UTF-16 units, each behind a 6-byte
// concatenation header (IEI 0x00) with reference ref. A part never ends
// inside a GSM escape sequence or a surrogate pair.
func Split(s string, enc Encoding, ref byte) (Plan, error) {
	if enc == Auto {
		enc = Choose(s)
	}
	if enc != GSM7 && enc != UCS2 {
		return Plan{}, fmt.Errorf("%w: %q", ErrUnknownEncoding, string(enc))
	}
	parts, total := countParts(s, enc)
	if parts < 0 {
		_, err := EncodeGSM7(s)
		return Plan{}, err
	}
	if parts > MaxParts {
		return Plan{}, fmt.Errorf("%w: %d parts", ErrTooLong, parts)
	}
	p := Plan{Encoding: enc, DataCoding: enc.DataCoding(), Units: total}
	if parts == 1 {
		var b []byte
		if enc == GSM7 {
			b, _ = EncodeGSM7(s)
		} else {
			b = EncodeUCS2(s)
		}
		p.Parts = [][]byte{b}
		return p, nil
	}
	per := GSM7Part
	if enc == UCS2 {
		per = UCS2Part
	}
	p.Parts = make([][]byte, 0, parts)
	// One backing array for all parts: 6 header octets + at most 134
	// payload octets (153 septets or 67 units) each.
	buf := make([]byte, 0, parts*(6+2*UCS2Part))
	start := 0
	cur := 0
	flush := func(end int) {
		off := len(buf)
		buf = append(buf, 0x05, 0x00, 0x03, ref, byte(parts), byte(len(p.Parts)+1))
		if enc == GSM7 {
			buf, _ = AppendGSM7(buf, s[start:end])
		} else {
			buf = AppendUCS2(buf, s[start:end])
		}
		p.Parts = append(p.Parts, buf[off:len(buf):len(buf)])
		start = end
		cur = 0
	}
	for i, r := range s {
		k := unitsOf(enc, r)
		if cur+k > per {
			flush(i)
		}
		cur += k
	}
	flush(len(s))
	return p, nil
}
