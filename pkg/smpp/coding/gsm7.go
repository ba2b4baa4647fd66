package coding

import (
	"errors"
	"fmt"
	"strings"
)

// esc is the GSM 03.38 escape to the extension table.
const esc = 0x1B

// gsm7Basic is the GSM 03.38 default alphabet, indexed by septet.
// 0x1B (escape) has no character of its own.
var gsm7Basic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0xFFFD, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsm7Ext is the extension table: septet after an escape → character.
var gsm7Ext = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

var (
	gsm7Enc    = map[rune]byte{}
	gsm7ExtEnc = map[rune]byte{}
	// asciiEnc is a fast path for the ASCII range: septet+1, 0 if not in
	// the basic table (then the extension table or nothing).
	asciiEnc [128]byte
)

func init() {
	for i, r := range gsm7Basic {
		if i == esc {
			continue
		}
		gsm7Enc[r] = byte(i)
		if r < 128 {
			asciiEnc[r] = byte(i) + 1
		}
	}
	for s, r := range gsm7Ext {
		gsm7ExtEnc[r] = s
	}
}

// gsm7Septets returns the septets a rune takes (1 or 2), or 0 if the GSM
// default alphabet cannot carry it.
func gsm7Septets(r rune) int {
	if r >= 0 && r < 128 && asciiEnc[r] != 0 {
		return 1
	}
	if _, ok := gsm7Enc[r]; ok {
		return 1
	}
	if _, ok := gsm7ExtEnc[r]; ok {
		return 2
	}
	return 0
}

// IsGSM7 reports whether every character of s is in the GSM default
// alphabet or its extension table.
func IsGSM7(s string) bool {
	for _, r := range s {
		if gsm7Septets(r) == 0 {
			return false
		}
	}
	return true
}

// GSM7Len returns the number of septets s takes in the GSM default alphabet
// (extension characters count two), or -1 if s does not fit it.
func GSM7Len(s string) int {
	n := 0
	for _, r := range s {
		k := gsm7Septets(r)
		if k == 0 {
			return -1
		}
		n += k
	}
	return n
}

// AppendGSM7 appends the unpacked septets of s (one per octet, extension
// characters as escape + septet) to b. It fails with an *EncodeError
// wrapping ErrNotGSM7 at the first character the alphabet cannot carry.
func AppendGSM7(b []byte, s string) ([]byte, error) {
	for i, r := range s {
		if r < 128 && asciiEnc[r] != 0 {
			b = append(b, asciiEnc[r]-1)
			continue
		}
		if c, ok := gsm7Enc[r]; ok {
			b = append(b, c)
			continue
		}
		if c, ok := gsm7ExtEnc[r]; ok {
			b = append(b, esc, c)
			continue
		}
		return b, &EncodeError{Offset: i, Rune: r, Err: ErrNotGSM7}
	}
	return b, nil
}

// EncodeGSM7 returns the unpacked septets of s.
func EncodeGSM7(s string) ([]byte, error) {
	return AppendGSM7(make([]byte, 0, len(s)), s)
}

// DecodeGSM7 decodes unpacked septets. An escape followed by a septet the
// extension table does not define reads as that septet's basic character
// (as 3GPP TS 23.038 asks); a trailing escape is dropped. An octet above
// 0x7F is not a septet: ErrInvalidSeptet.
func DecodeGSM7(b []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c > 0x7F {
			return "", fmt.Errorf("octet %d is 0x%02X: %w", i, c, ErrInvalidSeptet)
		}
		if c != esc {
			sb.WriteRune(gsm7Basic[c])
			continue
		}
		if i+1 == len(b) {
			break
		}
		i++
		n := b[i]
		if n > 0x7F {
			return "", fmt.Errorf("octet %d is 0x%02X: %w", i, n, ErrInvalidSeptet)
		}
		if r, ok := gsm7Ext[n]; ok {
			sb.WriteRune(r)
		} else if n == esc {
			sb.WriteRune(' ')
		} else {
			sb.WriteRune(gsm7Basic[n])
		}
	}
	return sb.String(), nil
}

// Pack7 packs septets (one per octet, high bit ignored) into octets, least
// significant bit first, after fill zero bits (0-6) that align the text to a
// septet boundary behind a user data header.
func Pack7(septets []byte, fill int) []byte {
	if fill < 0 || fill > 6 {
		fill = 0
	}
	bits := fill + 7*len(septets)
	out := make([]byte, (bits+7)/8)
	pos := fill
	for _, s := range septets {
		v := uint16(s&0x7F) << (pos % 8)
		out[pos/8] |= byte(v)
		if hi := byte(v >> 8); hi != 0 {
			out[pos/8+1] |= hi
		}
		pos += 7
	}
	return out
}

// Unpack7 unpacks n septets from packed octets that start with fill bits.
// It returns ErrShortPacked if b holds fewer than n septets.
func Unpack7(b []byte, fill, n int) ([]byte, error) {
	if fill < 0 || fill > 6 || n < 0 {
		return nil, errors.New("coding: bad fill or count")
	}
	if n > 0 && fill+7*n > 8*len(b) {
		return nil, ErrShortPacked
	}
	out := make([]byte, n)
	pos := fill
	for i := range out {
		v := uint16(b[pos/8]) >> (pos % 8)
		if pos%8 > 1 && pos/8+1 < len(b) {
			v |= uint16(b[pos/8+1]) << (8 - pos%8)
		}
		out[i] = byte(v) & 0x7F
		pos += 7
	}
	return out, nil
}
