// Package say turns numbers, amounts, dates, times, plates and digit strings
// into the sequence of recorded Mandarin units that speak them. It only
// names units (ASCII file stems such as "d2", "liang", "bai", "yuan"); the
// caller maps them to audio files. Units lists every unit with its Chinese
// text so a prompt generator can record them all.
package say

import (
	"strings"
	"time"
	"unicode"
)

// Unit names. Digits are d0..d9; "yao" is 幺, the telephony reading of 1 in
// digit strings.
const (
	Liang = "liang" // 两
	Shi   = "shi"   // 十
	Bai   = "bai"   // 百
	Qian  = "qian"  // 千
	Wan   = "wan"   // 万
	Yi    = "yi"    // 亿
	Fu    = "fu"    // 负
	Yao   = "yao"   // 幺
	Yuan  = "yuan"  // 元
	Nian  = "nian"  // 年
	Yue   = "yue"   // 月
	Ri    = "ri"    // 日
	Dian  = "dian"  // 点 (o'clock)
	Fen   = "fen"   // 分 (minutes; also points)
	Zheng = "zheng" // 整
)

func digit(n int) string { return "d" + string(rune('0'+n)) }

// Number speaks an integer the way Mandarin counts: 2 → 两 before 百, 千,
// 万 and 亿 (两百, 两千, 两万) but 二 in 十二, 二十 and alone; 10 → 十 (not
// 一十) at the start; an inner run of zeros is one 零 (1005 → 一千零五).
func Number(n int64) []string {
	var out []string
	if n < 0 {
		if n == -n { // math.MinInt64
			return append([]string{Fu}, Digits("9223372036854775808", false)...)
		}
		out = append(out, Fu)
		n = -n
	}
	if n == 0 {
		return append(out, digit(0))
	}
	if n >= 1e12 {
		// Beyond 万亿 nobody listens to a count: read the digits.
		return append(out, Digits(itoa64(n), false)...)
	}
	parts := [3]struct {
		v    int64
		unit string
	}{{n / 1e8, Yi}, {n / 1e4 % 1e4, Wan}, {n % 1e4, ""}}
	spoken, zero := false, false
	for _, p := range parts {
		if p.v == 0 {
			if spoken {
				zero = true
			}
			continue
		}
		if spoken && (zero || p.v < 1000) {
			out = append(out, digit(0))
		}
		zero = false
		out = append(out, group4(p.v, !spoken, p.unit != "")...)
		if p.unit != "" {
			out = append(out, p.unit)
		}
		spoken = true
	}
	return out
}

// group4 speaks 1..9999. leading: nothing spoken before (10..19 drop 一).
// beforeUnit: a 万/亿 follows, where a lone 2 is 两.
func group4(v int64, leading, beforeUnit bool) []string {
	var out []string
	d := [4]int{int(v / 1000), int(v / 100 % 10), int(v / 10 % 10), int(v % 10)}
	units := [4]string{Qian, Bai, Shi, ""}
	started := false
	zero := false
	for i, x := range d {
		if x == 0 {
			if started {
				zero = true
			}
			continue
		}
		if zero {
			out = append(out, digit(0))
			zero = false
		}
		switch {
		case i == 2 && x == 1 && !started && leading:
			// 十, 十五: no 一 at the very start of a number.
		case x == 2 && (i == 0 || i == 1):
			out = append(out, Liang) // 两千, 两百
		case x == 2 && i == 3 && !started && beforeUnit:
			out = append(out, Liang) // 两万, 两亿
		default:
			out = append(out, digit(x))
		}
		if units[i] != "" {
			out = append(out, units[i])
		}
		started = true
	}
	return out
}

// Money speaks an amount in whole yuan: 200 → 两百元.
func Money(yuan int64) []string {
	return append(Number(yuan), Yuan)
}

// Digits speaks a digit string one key at a time, 1 as 幺 when yao is set
// (phone numbers), letters as letter units and '*' / '#' as xing / jing.
// Other characters are skipped.
func Digits(s string, yao bool) []string {
	var out []string
	for _, r := range s {
		switch {
		case r == '1' && yao:
			out = append(out, Yao)
		case r >= '0' && r <= '9':
			out = append(out, digit(int(r-'0')))
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
			out = append(out, "letter_"+string(unicode.ToUpper(r)))
		case r == '*':
			out = append(out, "xing")
		case r == '#':
			out = append(out, "jing")
		}
	}
	return out
}

// Date speaks a calendar date: the year digit by digit (二零二六年), then
// month and day as numbers (五月三日).
func Date(t time.Time) []string {
	out := Digits(itoa(t.Year()), false)
	out = append(out, Nian)
	out = append(out, Number(int64(t.Month()))...)
	out = append(out, Yue)
	out = append(out, Number(int64(t.Day()))...)
	return append(out, Ri)
}

// Clock speaks a time of day: 十四点三十分, 八点整; 两点 for 2 o'clock.
func Clock(t time.Time) []string {
	h, m := t.Hour(), t.Minute()
	var out []string
	if h == 2 {
		out = append(out, Liang)
	} else {
		out = append(out, Number(int64(h))...)
	}
	out = append(out, Dian)
	if m == 0 {
		return append(out, Zheng)
	}
	if m < 10 {
		out = append(out, digit(0))
	}
	out = append(out, Number(int64(m))...)
	return append(out, Fen)
}

// Plate speaks a number plate: the province character, then letters and
// digits one by one (京A12345 → 京 A 一 二 三 四 五). Characters without a
// unit (学, 警, 挂 ...) are spoken when Units has them, skipped otherwise.
func Plate(p string) []string {
	var out []string
	for _, r := range strings.TrimSpace(p) {
		switch {
		case r >= '0' && r <= '9':
			out = append(out, digit(int(r-'0')))
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
			out = append(out, "letter_"+string(unicode.ToUpper(r)))
		default:
			if name, ok := hanUnit[r]; ok {
				out = append(out, name)
			}
		}
	}
	return out
}

func itoa(n int) string { return itoa64(int64(n)) }

func itoa64(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [21]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
