package cmpp

import (
	"fmt"
	"strconv"
	"time"
)

// MsgID is the 8-octet Msg_Id the ISMG gives a message: from the top
// bit, month (4 bits), day (5), hour (5), minute
// (6), second (6), the ISMG's gateway code (22) and a sequence (16) that
// wraps every 65,536 ids.
type MsgID uint64

// NewMsgID builds a Msg_Id from its parts. t is read in the ISMG's local
// time (China Standard Time for the carriers); gateway and seq are cut to
// their widths.
func NewMsgID(t time.Time, gateway uint32, seq uint16) MsgID {
	v := uint64(t.Month())<<60 | uint64(t.Day())<<55 | uint64(t.Hour())<<50 |
		uint64(t.Minute())<<44 | uint64(t.Second())<<38 |
		uint64(gateway&0x3FFFFF)<<16 | uint64(seq)
	return MsgID(v)
}

// Month, Day, Hour, Minute, Second, Gateway and Seq are the fields.
func (m MsgID) Month() int      { return int(m >> 60 & 0xF) }
func (m MsgID) Day() int        { return int(m >> 55 & 0x1F) }
func (m MsgID) Hour() int       { return int(m >> 50 & 0x1F) }
func (m MsgID) Minute() int     { return int(m >> 44 & 0x3F) }
func (m MsgID) Second() int     { return int(m >> 38 & 0x3F) }
func (m MsgID) Gateway() uint32 { return uint32(m >> 16 & 0x3FFFFF) }
func (m MsgID) Seq() uint16     { return uint16(m) }

// String is the decimal form of the 64-bit value, the id most SP
// platforms store and the one Result and Receipt carry ("0" for none).
func (m MsgID) String() string { return strconv.FormatUint(uint64(m), 10) }

// Text is the structured form: MMDDHHMMSS, the gateway code in 7 digits
// and the sequence in 5 — 22 digits, readable by a person who knows the
// layout ("1202152200" + "0012123" + "00042").
func (m MsgID) Text() string {
	return fmt.Sprintf("%02d%02d%02d%02d%02d%07d%05d", m.Month(), m.Day(), m.Hour(), m.Minute(), m.Second(), m.Gateway(), m.Seq())
}

// Hex is the 16-digit hexadecimal form some gateways print.
func (m MsgID) Hex() string { return fmt.Sprintf("%016X", uint64(m)) }

// ParseMsgID reads any of the forms: 22 digits (Text), 16 hex digits
// with an "0x" prefix or 16 characters containing A–F (Hex), else
// decimal (String).
func ParseMsgID(s string) (MsgID, error) {
	switch {
	case len(s) == 22 && allDigits(s):
		n := func(i, j int) uint64 { v, _ := strconv.ParseUint(s[i:j], 10, 64); return v }
		mo, d, h, mi, se, gw, sq := n(0, 2), n(2, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 17), n(17, 22)
		if mo > 12 || d > 31 || h > 23 || mi > 59 || se > 59 || gw > 0x3FFFFF || sq > 0xFFFF {
			return 0, fmt.Errorf("cmpp: Msg_Id %q: field out of range", s)
		}
		return MsgID(mo<<60 | d<<55 | h<<50 | mi<<44 | se<<38 | gw<<16 | sq), nil
	case len(s) == 18 && (s[:2] == "0x" || s[:2] == "0X"):
		v, err := strconv.ParseUint(s[2:], 16, 64)
		return MsgID(v), wrapID(s, err)
	case len(s) == 16 && !allDigits(s):
		v, err := strconv.ParseUint(s, 16, 64)
		return MsgID(v), wrapID(s, err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return MsgID(v), wrapID(s, err)
}

func wrapID(s string, err error) error {
	if err != nil {
		return fmt.Errorf("cmpp: Msg_Id %q: %w", s, err)
	}
	return nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
