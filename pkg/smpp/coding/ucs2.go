package coding

import (
	"unicode/utf16"
	"unicode/utf8"
)

// UCS2Len returns the number of UTF-16 code units s takes: characters
// outside the Basic Multilingual Plane (emoji) count two.
func UCS2Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// AppendUCS2 appends s as UTF-16 big-endian to b. Characters outside the
// Basic Multilingual Plane become surrogate pairs; invalid UTF-8 becomes
// U+FFFD.
func AppendUCS2(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1>>8), byte(r1), byte(r2>>8), byte(r2))
			continue
		}
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// EncodeUCS2 returns s as UTF-16 big-endian.
func EncodeUCS2(s string) []byte {
	return AppendUCS2(make([]byte, 0, 2*utf8.RuneCountInString(s)), s)
}

// DecodeUCS2 decodes UTF-16 big-endian. An unpaired surrogate reads as
// U+FFFD; an odd length is ErrOddUCS2.
func DecodeUCS2(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", ErrOddUCS2
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u)), nil
}
