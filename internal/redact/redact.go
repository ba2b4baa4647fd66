// Package redact masks personal data (phone numbers, ID numbers, names)
// for logs, metrics-free traces and operator output. Every log line that
// names a person goes through it.
package redact

import (
	"strings"
	"unicode/utf8"
)

// Phone keeps the first 3 and last 4 digits: 138****8000.
func Phone(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + strings.Repeat("*", len(s)-7) + s[len(s)-4:]
}

// ID keeps the first 2 and last 4 characters of a citizen ID number:
// 11**************1X.
func ID(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:2] + strings.Repeat("*", len(s)-6) + s[len(s)-4:]
}

// Name keeps the family name (the first character): 张**.
func Name(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return ""
	}
	return string(r) + strings.Repeat("*", utf8.RuneCountInString(s)-1)
}

// Plate keeps the province and authority letter and the last two
// characters: 京A***45.
func Plate(s string) string {
	rs := []rune(s)
	if len(rs) <= 4 {
		return s
	}
	return string(rs[:2]) + strings.Repeat("*", len(rs)-4) + string(rs[len(rs)-2:])
}
