package cnsms

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Encoding is how the client encodes text.
type Encoding string

// Encodings. UCS2 is the default and what every ISMG takes; GB18030
// (Msg_Fmt 15) only where a carrier asks for it.
const (
	UCS2    Encoding = "ucs2"
	GB18030 Encoding = "gb18030"
)

// Message formats (Msg_Fmt in CMPP, MsgFormat in SMGP: the same values).
const (
	FmtASCII   byte = 0
	FmtBinary  byte = 4
	FmtUCS2    byte = 8
	FmtGB18030 byte = 15
)

// ErrInvalidText is text that cannot be encoded as asked.
var ErrInvalidText = errors.New("cnsms: text cannot be encoded")

// Plan is text cut into Msg_Content parts.
type Plan struct {
	MsgFmt byte
	UDHI   bool     // parts start with a 6-octet UDH (TP_udhi 1)
	Parts  [][]byte // Msg_Content of each SUBMIT
}

// Limits of GB18030 text: octets per single message and per part behind
// the 6-octet UDH.
const (
	GBSingle = 140
	GBPart   = 134
)

// Split encodes s and cuts it into parts: UCS2 with pkg/smpp/coding's
// rules (70 units single, 67 per part, never inside a surrogate pair),
// GB18030 by octets (140 single, 134 per part, never inside a
// character). Parts of a long message carry UDH 05 00 03 ref total seq.
func Split(s string, enc Encoding, ref byte) (Plan, error) {
	switch enc {
	case UCS2, "":
		p, err := coding.Split(s, coding.UCS2, ref)
		if err != nil {
			return Plan{}, err
		}
		return Plan{MsgFmt: FmtUCS2, UDHI: p.UDHI(), Parts: p.Parts}, nil
	case GB18030:
		return splitGB(s, ref)
	}
	return Plan{}, fmt.Errorf("%w: encoding %q", ErrInvalidText, enc)
}

func splitGB(s string, ref byte) (Plan, error) {
	if !utf8.ValidString(s) {
		return Plan{}, fmt.Errorf("%w: text is not UTF-8", ErrInvalidText)
	}
	enc := simplifiedchinese.GB18030.NewEncoder()
	all, err := enc.String(s)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %w", ErrInvalidText, err)
	}
	if len(all) <= GBSingle {
		return Plan{MsgFmt: FmtGB18030, Parts: [][]byte{[]byte(all)}}, nil
	}
	var chunks [][]byte
	var cur []byte
	var buf [4]byte
	for _, r := range s {
		n := utf8.EncodeRune(buf[:], r)
		e, err := enc.Bytes(buf[:n])
		if err != nil {
			return Plan{}, fmt.Errorf("%w: %w", ErrInvalidText, err)
		}
		if len(cur)+len(e) > GBPart {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = append(cur, e...)
	}
	chunks = append(chunks, cur)
	if len(chunks) > coding.MaxParts {
		return Plan{}, fmt.Errorf("%w: %d parts", ErrInvalidText, len(chunks))
	}
	p := Plan{MsgFmt: FmtGB18030, UDHI: true, Parts: make([][]byte, len(chunks))}
	for i, c := range chunks {
		p.Parts[i] = append([]byte{5, 0, 3, ref, byte(len(chunks)), byte(i + 1)}, c...)
	}
	return p, nil
}

// DecodeText turns Msg_Content into text by Msg_Fmt: 8 UCS2, 15 GB18030
// (GBK is a subset), 0 ASCII; binary (4) and unknown formats give "".
func DecodeText(msgFmt byte, b []byte) (string, error) {
	switch msgFmt {
	case FmtUCS2:
		return coding.DecodeUCS2(b)
	case FmtGB18030:
		s, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
		return string(s), err
	case FmtASCII:
		return coding.DecodeLatin1(b), nil
	}
	return "", nil
}
