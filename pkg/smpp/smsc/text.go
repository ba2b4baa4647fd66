package smsc

import (
	"encoding/hex"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Data coding schemes the simulator decodes to text.
const (
	CodingGSM7   uint8 = 0x00 // SMSC default alphabet: GSM 03.38, unpacked, one septet a byte
	CodingASCII  uint8 = 0x01 // IA5
	CodingBinary uint8 = 0x02 // 8-bit binary
	CodingLatin1 uint8 = 0x03 // ISO-8859-1
	CodingBin8   uint8 = 0x04 // 8-bit binary
	CodingUCS2   uint8 = 0x08 // UCS2 / UTF-16BE
)

// gsm7Basic is the GSM 03.38 default alphabet; 0x1B is the escape to
// gsm7Ext.
var gsm7Basic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

func gsm7Ext(c byte) (rune, bool) {
	switch c {
	case 0x0A:
		return '\f', true
	case 0x14:
		return '^', true
	case 0x28:
		return '{', true
	case 0x29:
		return '}', true
	case 0x2F:
		return '\\', true
	case 0x3C:
		return '[', true
	case 0x3D:
		return '~', true
	case 0x3E:
		return ']', true
	case 0x40:
		return '|', true
	case 0x65:
		return '€', true
	}
	return 0, false
}

// DecodeText turns an SMPP payload (without UDH) into text according to
// data_coding. GSM7 is unpacked (one septet a byte, as SMPP carries it),
// UCS2 is big-endian UTF-16 with surrogate pairs; binary codings and
// anything unknown come back as "hex:" followed by the bytes in hex. Bytes
// that are invalid in their coding become U+FFFD or '?', never an error:
// the handset shows something.
func DecodeText(dataCoding uint8, b []byte) string {
	switch dataCoding {
	case CodingGSM7:
		return decodeGSM7(b)
	case CodingUCS2:
		return decodeUCS2(b)
	case CodingLatin1:
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String()
	case CodingASCII:
		if isASCII(b) {
			return string(b)
		}
		return strings.ToValidUTF8(string(b), "?")
	default:
		return "hex:" + hex.EncodeToString(b)
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func decodeGSM7(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			sb.WriteByte('?')
			continue
		}
		if c == 0x1B {
			if i+1 < len(b) && b[i+1] < 0x80 {
				i++
				if r, ok := gsm7Ext(b[i]); ok {
					sb.WriteRune(r)
				} else {
					sb.WriteRune(gsm7Basic[b[i]])
				}
				continue
			}
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(gsm7Basic[c])
	}
	return sb.String()
}

func decodeUCS2(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(b[i])<<8 | rune(b[i+1])
		if utf16.IsSurrogate(u) {
			if u < 0xDC00 && i+3 < len(b) {
				u2 := rune(b[i+2])<<8 | rune(b[i+3])
				if r := utf16.DecodeRune(u, u2); r != utf8.RuneError {
					sb.WriteRune(r)
					i += 2
					continue
				}
			}
			sb.WriteRune(utf8.RuneError)
			continue
		}
		sb.WriteRune(u)
	}
	if len(b)%2 == 1 {
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

// receiptText returns the first 20 characters of text as printable ASCII,
// the form the "text:" field of a receipt carries (other characters become
// '?'; carriers differ here and parsers must not rely on it).
func receiptText(text string) string {
	var sb strings.Builder
	n := 0
	for _, r := range text {
		if n == 20 {
			break
		}
		if r >= 0x20 && r < 0x7F {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('?')
		}
		n++
	}
	return sb.String()
}

// Mask hides the middle of a phone number for logs: the first 3 and last 4
// digits stay (13812345678 → 138****5678); short values are masked whole.
func Mask(phone string) string {
	if len(phone) < 8 {
		return strings.Repeat("*", len(phone))
	}
	return phone[:3] + strings.Repeat("*", len(phone)-7) + phone[len(phone)-4:]
}
