// Package contentcheck is the last look at an SMS text before it is
// stored to be sent from the official number: whatever produced the text
// (a template literal, an event field, an advisory body written upstream),
// it must carry no link or domain in any width, script or encoding, no 【】
// other than the leading signature, no phone number other than the
// configured service numbers, and no control characters. A text that
// fails is held for an operator instead of sent (internal/dispatch).
//
// The check works on a folded copy of the text: NFKC (full-width and
// other compatibility forms to ASCII), lower case, Cyrillic and Greek
// look-alikes to Latin, the ideographic and other full stops to '.'.
package contentcheck

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Reasons a text fails; they are message reasons and metric labels.
const (
	ReasonLink    = "content_link"    // a URL, a domain name, punycode
	ReasonBracket = "content_bracket" // 【】 (or look-alikes) other than the leading signature
	ReasonPhone   = "content_phone"   // a phone number that is not a configured service number
	ReasonControl = "content_control" // a control or invisible formatting character
)

// Reasons lists every reason, for pre-creating metric series.
var Reasons = []string{ReasonLink, ReasonBracket, ReasonPhone, ReasonControl}

// Config is what a text may contain.
type Config struct {
	// ServiceNumbers may appear in texts (digits only), e.g. 12123,
	// 12122 (road rescue), 12345 (government hotline).
	ServiceNumbers []string
	// AllowedDomains may appear, with their subdomains, e.g. 122.gov.cn.
	AllowedDomains []string
}

// Checker checks texts. It is safe for concurrent use.
type Checker struct {
	service map[string]bool
	domains []string
}

// New returns a checker.
func New(cfg Config) *Checker {
	c := &Checker{service: map[string]bool{}}
	for _, n := range cfg.ServiceNumbers {
		c.service[digitsOnly(n)] = true
	}
	for _, d := range cfg.AllowedDomains {
		c.domains = append(c.domains, strings.ToLower(strings.Trim(d, ".")))
	}
	return c
}

// Check returns the reason text fails, or "" when it passes.
func (c *Checker) Check(text string) string {
	if !utf8.ValidString(text) {
		return ReasonControl
	}
	for _, r := range text {
		if r == '\n' {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError ||
			unicode.Is(unicode.Co, r) || (r >= 0xFFF9 && r <= 0xFFFB) {
			return ReasonControl
		}
	}
	f := fold(text)
	if bracket(f) {
		return ReasonBracket
	}
	if c.link(f) {
		return ReasonLink
	}
	if c.phone(f) {
		return ReasonPhone
	}
	return ""
}

// fold normalises text for matching (see the package doc).
func fold(text string) string {
	s := norm.NFKC.String(text)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if m, ok := lookalike[r]; ok {
			r = m
		}
		switch r {
		case '。', '｡', '︒', '﹒', '․', '·', '・', '･', '‧', '∙', '⋅', '●':
			r = '.'
		case '：', '∶':
			r = ':'
		case '／', '⁄', '∕':
			r = '/'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// lookalike maps Cyrillic and Greek letters that look like Latin ones.
var lookalike = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
	'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ɡ': 'g',
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p', 'С': 'c', 'Т': 't',
	'У': 'y', 'Х': 'x', 'І': 'i', 'Ј': 'j', 'Ѕ': 's',
	'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n', 'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x', 'Ζ': 'z',
}

// bracket reports 【】-like brackets other than one leading 【…】.
func bracket(f string) bool {
	const open, shut = "【〖〘〚", "】〗〙〛"
	if strings.HasPrefix(f, "【") {
		if i := strings.Index(f, "】"); i > 0 && !strings.ContainsAny(f[len("【"):i], open) {
			f = f[i+len("】"):]
		}
	}
	return strings.ContainsAny(f, open+shut)
}

// idnTLDs are Chinese top-level domains.
var idnTLDs = []string{"中国", "中國", "公司", "网络", "網絡", "在线", "网址", "网店", "商城", "集团", "我爱你",
	"移动", "游戏", "企业", "手机", "信息", "香港", "台湾", "台灣", "新加坡", "政务", "公益", "网站", "商店", "购物", "联通", "电讯"}

func (c *Checker) link(f string) bool {
	for _, s := range []string{"http", "www.", "www ", "://", "xn--", "ｗｗｗ"} {
		if strings.Contains(f, s) {
			return true
		}
	}
	for _, t := range idnTLDs {
		for i := 0; ; {
			j := strings.Index(f[i:], "."+t)
			if j < 0 {
				break
			}
			j += i
			if j > 0 {
				r, _ := utf8.DecodeLastRuneInString(f[:j])
				if unicode.IsLetter(r) || unicode.IsDigit(r) {
					return true
				}
			}
			i = j + 1
		}
	}
	// ASCII domain names: runs of [a-z0-9-.] with two or more labels, the
	// last of 2–24 letters.
	for i := 0; i < len(f); {
		if !hostByte(f[i]) {
			i++
			continue
		}
		j := i
		for j < len(f) && hostByte(f[j]) {
			j++
		}
		if c.domain(f[i:j]) {
			return true
		}
		i = j
	}
	return false
}

func hostByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.'
}

func (c *Checker) domain(run string) bool {
	run = strings.Trim(run, ".-")
	labels := strings.Split(run, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false // "a..b": not a host name
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 || len(tld) > 24 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] < 'a' || tld[i] > 'z' {
			return false
		}
	}
	for _, d := range c.domains {
		if run == d || strings.HasSuffix(run, "."+d) {
			return false
		}
	}
	return true
}

// phone reports a phone number that is not a service number: a run of 7
// or more digits (single spaces or hyphens between groups allowed, not a
// yyyy-mm-dd date), or a 5–6 digit short number of a hotline range
// (95xxx, 96xxx, 12xxx, 400, 800) that stands alone.
func (c *Checker) phone(f string) bool {
	for i := 0; i < len(f); {
		if !isDigit(f[i]) {
			i++
			continue
		}
		start := i
		var groups []int
		var digits strings.Builder
		for {
			j := i
			for j < len(f) && isDigit(f[j]) {
				j++
			}
			groups = append(groups, j-i)
			digits.WriteString(f[i:j])
			i = j
			if i+1 < len(f) && (f[i] == ' ' || f[i] == '-') && isDigit(f[i+1]) {
				i++
				continue
			}
			break
		}
		d := digits.String()
		if c.service[d] {
			continue
		}
		if len(groups) == 3 && groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2 {
			continue // a date
		}
		if len(d) >= 7 {
			return true
		}
		if len(d) >= 5 && hotline(d) && standalone(f, start, i) {
			return true
		}
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func hotline(d string) bool {
	for _, p := range []string{"95", "96", "12", "400", "800"} {
		if strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// standalone: not part of a plate or code (a letter before) and not an
// amount or a quantity (a unit after).
func standalone(f string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(f[:start])
		if unicode.IsLetter(r) && r < 0x80 {
			return false
		}
	}
	if end < len(f) {
		r, _ := utf8.DecodeRuneInString(f[end:])
		if strings.ContainsRune("元年月日号分次天个条辆人米公km%.", r) || (unicode.IsLetter(r) && r < 0x80) {
			return false
		}
	}
	return true
}

func digitsOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
