package smgp

import (
	"bytes"
	"fmt"
	"strings"
)

// Report is the MsgContent of a Deliver with IsReport 1. SMGP 3.0 takes
// the SMPP 3.4 receipt text with the id as the 10 binary octets of the
// MsgID: "id:IIIIIIIIII sub:SSS dlvrd:DDD Submit date:YYMMDDhhmm done
// date:YYMMDDhhmm stat:DDDDDDD err:EEE Text:…" (122 octets with a
// 20-octet Text).
type Report struct {
	MsgID      MsgID
	Sub        string // 3
	Dlvrd      string // 3
	SubmitDate string // 10: YYMMDDhhmm
	DoneDate   string // 10
	Stat       string // 7
	Err        string // 3
	Text       []byte // 20: the first octets of the message
}

// AppendReport appends r in the fixed layout.
func AppendReport(b []byte, r *Report) ([]byte, error) {
	var err error
	put := func(s string, n int) {
		if err == nil {
			b, err = putStr(b, s, n)
		}
	}
	b = append(b, "id:"...)
	b = append(b, r.MsgID[:]...)
	b = append(b, " sub:"...)
	put(r.Sub, 3)
	b = append(b, " dlvrd:"...)
	put(r.Dlvrd, 3)
	b = append(b, " Submit date:"...)
	put(r.SubmitDate, 10)
	b = append(b, " done date:"...)
	put(r.DoneDate, 10)
	b = append(b, " stat:"...)
	put(r.Stat, 7)
	b = append(b, " err:"...)
	put(r.Err, 3)
	b = append(b, " Text:"...)
	if len(r.Text) > 20 {
		return b, fmt.Errorf("%w: Text %d octets", ErrFieldTooLong, len(r.Text))
	}
	b = append(b, r.Text...)
	b = append(b, make([]byte, 20-len(r.Text))...)
	return b, err
}

// DecodeReport reads a report. The id must be the 10 octets after "id:";
// the other fields are found by their labels (case-insensitive) so that
// gateways that space them differently are still read. stat is required.
func DecodeReport(b []byte) (*Report, error) {
	bad := func(why string) error { return &MalformedError{Cmd: CmdDeliver, Reason: "report: " + why} }
	if len(b) < 13 || !bytes.EqualFold(b[:3], []byte("id:")) {
		return nil, bad(`no "id:" and 10 octets`)
	}
	r := &Report{}
	copy(r.MsgID[:], b[3:13])
	if fastReport(b, r) {
		return r, nil
	}
	rest := b[13:]
	var text []byte
	if i := indexFold(rest, "text:"); i >= 0 {
		text = rest[i+5:]
		rest = rest[:i]
	}
	r.Text = bytes.TrimRight(text, "\x00")
	s := string(rest)
	field := func(label string, n int) string {
		i := indexFold([]byte(s), label)
		if i < 0 {
			return ""
		}
		v := s[i+len(label):]
		if len(v) > n {
			v = v[:n]
		}
		return strings.TrimSpace(strings.TrimRight(v, "\x00"))
	}
	r.Sub = field("sub:", 3)
	r.Dlvrd = field("dlvrd:", 3)
	r.SubmitDate = field("submit date:", 10)
	r.DoneDate = field("done date:", 10)
	r.Stat = field("stat:", 7)
	r.Err = field("err:", 3)
	if r.Stat == "" {
		return nil, bad("no stat")
	}
	return r, nil
}

// indexFold finds label (lower-case ASCII) in b, ASCII case-insensitive.
// (bytes.ToLower would change the length of non-ASCII input and shift
// every index: found by FuzzDecode.)
func indexFold(b []byte, label string) int {
	for i := 0; i+len(label) <= len(b); i++ {
		ok := true
		for j := range len(label) {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != label[j] {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// The canonical layout AppendReport writes; most gateways send exactly
// this, and reading it by offset saves the label search.
var reportLabels = [...]struct {
	at    int
	label string
}{{13, " sub:"}, {21, " dlvrd:"}, {31, " Submit date:"}, {54, " done date:"}, {75, " stat:"}, {88, " err:"}, {96, " Text:"}}

func fastReport(b []byte, r *Report) bool {
	if len(b) < 102 {
		return false
	}
	for _, l := range reportLabels {
		if !bytes.Equal(b[l.at:l.at+len(l.label)], []byte(l.label)) {
			return false
		}
	}
	all := string(b[:102]) // one copy; the fields are slices of it
	field := func(i, j int) string { return strings.TrimSpace(strings.TrimRight(all[i:j], "\x00")) }
	r.Sub, r.Dlvrd = field(18, 21), field(28, 31)
	r.SubmitDate, r.DoneDate = field(44, 54), field(65, 75)
	r.Stat, r.Err = field(81, 88), field(93, 96)
	r.Text = bytes.TrimRight(b[102:], "\x00")
	return r.Stat != ""
}
