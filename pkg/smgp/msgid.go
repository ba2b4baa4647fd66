package smgp

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// MsgID is SMGP's 10-octet message id: the SMGW code (3 octets, 6 BCD
// digits), the time MMDDHHMM (4 octets BCD) and a sequence (3 octets, 6
// BCD digits). Its textual form is the 20 digits.
type MsgID [10]byte

// NewMsgID builds an id from the gateway code (6 digits), the time (read
// in the SMGW's local time) and a sequence (mod 1,000,000).
func NewMsgID(gateway uint32, t time.Time, seq uint32) MsgID {
	s := fmt.Sprintf("%06d%02d%02d%02d%02d%06d", gateway%1000000, t.Month(), t.Day(), t.Hour(), t.Minute(), seq%1000000)
	var m MsgID
	_, _ = hex.Decode(m[:], []byte(s))
	return m
}

// String is the 20 hexadecimal digits of the octets (for BCD ids the
// decimal digits), the form Result and Receipt carry.
func (m MsgID) String() string { return strings.ToUpper(hex.EncodeToString(m[:])) }

// IsZero reports whether m is all zeros.
func (m MsgID) IsZero() bool { return m == MsgID{} }

// Gateway is the SMGW code, Time the MMDDHHMM part, Seq the sequence,
// each as its digits.
func (m MsgID) Gateway() string { return m.String()[0:6] }
func (m MsgID) Time() string    { return m.String()[6:14] }
func (m MsgID) Seq() string     { return m.String()[14:20] }

// ParseMsgID reads the 20-digit form.
func ParseMsgID(s string) (MsgID, error) {
	var m MsgID
	if len(s) != 20 {
		return m, fmt.Errorf("smgp: MsgID %q: want 20 hex digits", s)
	}
	if _, err := hex.Decode(m[:], []byte(s)); err != nil {
		return m, fmt.Errorf("smgp: MsgID %q: %w", s, err)
	}
	return m, nil
}
