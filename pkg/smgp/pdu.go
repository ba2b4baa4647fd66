package smgp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version3 is SMGP 3.0's version octet.
const Version3 byte = 0x30

// Request ids (SMGP 3.0).
const (
	CmdLogin          uint32 = 0x00000001
	CmdLoginResp      uint32 = 0x80000001
	CmdSubmit         uint32 = 0x00000002
	CmdSubmitResp     uint32 = 0x80000002
	CmdDeliver        uint32 = 0x00000003
	CmdDeliverResp    uint32 = 0x80000003
	CmdActiveTest     uint32 = 0x00000004
	CmdActiveTestResp uint32 = 0x80000004
	CmdForward        uint32 = 0x00000005
	CmdForwardResp    uint32 = 0x80000005
	CmdExit           uint32 = 0x00000006
	CmdExitResp       uint32 = 0x80000006
	CmdQuery          uint32 = 0x00000007
	CmdQueryResp      uint32 = 0x80000007
)

// CommandName is the spec's name of a request id ("Submit_Resp").
func CommandName(cmd uint32) string {
	n := ""
	switch cmd &^ 0x80000000 {
	case CmdLogin:
		n = "Login"
	case CmdSubmit:
		n = "Submit"
	case CmdDeliver:
		n = "Deliver"
	case CmdActiveTest:
		n = "Active_Test"
	case CmdForward:
		n = "Forward"
	case CmdExit:
		n = "Exit"
	case CmdQuery:
		n = "Query"
	default:
		return "other"
	}
	if cmd&0x80000000 != 0 {
		n += "_Resp"
	}
	return n
}

// LoginMode values.
const (
	ModeSend     byte = 0 // the SP only sends (MT)
	ModeReceive  byte = 1 // the SP only receives (MO, reports)
	ModeTransmit byte = 2 // both
)

// MsgType values of Submit.
const (
	MsgTypeMO  byte = 0
	MsgTypeMT  byte = 6
	MsgTypeP2P byte = 7
)

// TLV tags (SMGP 3.0).
const (
	TagTPPid            uint16 = 0x0001
	TagTPUdhi           uint16 = 0x0002
	TagLinkID           uint16 = 0x0003
	TagChargeUserType   uint16 = 0x0004
	TagChargeTermType   uint16 = 0x0005
	TagChargeTermPseudo uint16 = 0x0006
	TagDestTermType     uint16 = 0x0007
	TagDestTermPseudo   uint16 = 0x0008
	TagPkTotal          uint16 = 0x0009
	TagPkNumber         uint16 = 0x000A
	TagSubmitMsgType    uint16 = 0x000B
	TagSPDealResult     uint16 = 0x000C
	TagSrcTermType      uint16 = 0x000D
	TagSrcTermPseudo    uint16 = 0x000E
	TagNodesCount       uint16 = 0x000F
	TagMsgSrc           uint16 = 0x0010
	TagSrcType          uint16 = 0x0011
	TagMServiceID       uint16 = 0x0012
)

// TLV is one optional parameter, in wire order.
type TLV struct {
	Tag   uint16
	Value []byte
}

// TLVs are the optional parameters after the fixed fields.
type TLVs []TLV

// Get returns the first value of tag.
func (t TLVs) Get(tag uint16) ([]byte, bool) {
	for _, v := range t {
		if v.Tag == tag {
			return v.Value, true
		}
	}
	return nil, false
}

// Byte returns the first octet of tag's value (0 if absent or empty).
func (t TLVs) Byte(tag uint16) byte {
	if v, ok := t.Get(tag); ok && len(v) > 0 {
		return v[0]
	}
	return 0
}

// MaxContent bounds MsgContent.
const MaxContent = 140

// MaxDest bounds DestTermIDCount.
const MaxDest = 100

// MalformedError is a body that does not follow the field table.
type MalformedError struct {
	Cmd    uint32
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("smgp: malformed %s: %s", CommandName(e.Cmd), e.Reason)
}

// ErrFieldTooLong is a value longer than its fixed field.
var ErrFieldTooLong = errors.New("smgp: value longer than its field")

// Login is the Login request.
type Login struct {
	ClientID      string   // 8
	Authenticator [16]byte // AuthenticatorClient
	LoginMode     byte
	Timestamp     uint32 // MMDDHHMMSS as a number
	Version       byte
}

// LoginResp is Login_Resp.
type LoginResp struct {
	Status        uint32
	Authenticator [16]byte // AuthenticatorServer
	Version       byte
}

// Submit is the Submit request.
type Submit struct {
	MsgType           byte
	NeedReport        byte
	Priority          byte
	ServiceID         string // 10
	FeeType           string // 2
	FeeCode           string // 6
	FixedFee          string // 6
	MsgFormat         byte
	ValidTime, AtTime string // 17 each
	SrcTermID         string // 21
	ChargeTermID      string // 21
	Dest              []string
	Content           []byte
	Reserve           string // 8
	TLVs              TLVs
}

// SubmitResp is Submit_Resp.
type SubmitResp struct {
	MsgID  MsgID
	Status uint32
}

// Deliver is the Deliver request: an MO message, or a status report when
// IsReport is 1 (Content then holds it; see DecodeReport).
type Deliver struct {
	MsgID      MsgID
	IsReport   byte
	MsgFormat  byte
	RecvTime   string // 14: YYYYMMDDHHMMSS
	SrcTermID  string // 21
	DestTermID string // 21
	Content    []byte
	Reserve    string // 8
	TLVs       TLVs
}

// DeliverResp is Deliver_Resp.
type DeliverResp struct {
	MsgID  MsgID
	Status uint32
}

// ---- writing ----

func putStr(b []byte, s string, n int) ([]byte, error) {
	if len(s) > n {
		return b, fmt.Errorf("%w: %q (%d > %d)", ErrFieldTooLong, s, len(s), n)
	}
	b = append(b, s...)
	for range n - len(s) {
		b = append(b, 0)
	}
	return b, nil
}

func appendTLVs(b []byte, t TLVs) ([]byte, error) {
	for _, v := range t {
		if len(v.Value) > 0xFFFF {
			return b, fmt.Errorf("smgp: TLV 0x%04x: %d octets", v.Tag, len(v.Value))
		}
		b = binary.BigEndian.AppendUint16(b, v.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b, nil
}

// AppendLogin appends l's body.
func AppendLogin(b []byte, l *Login) ([]byte, error) {
	b, err := putStr(b, l.ClientID, 8)
	b = append(b, l.Authenticator[:]...)
	b = append(b, l.LoginMode)
	b = binary.BigEndian.AppendUint32(b, l.Timestamp)
	return append(b, l.Version), err
}

// AppendLoginResp appends r's body.
func AppendLoginResp(b []byte, r *LoginResp) []byte {
	b = binary.BigEndian.AppendUint32(b, r.Status)
	b = append(b, r.Authenticator[:]...)
	return append(b, r.Version)
}

// AppendSubmit appends s's body.
func AppendSubmit(b []byte, s *Submit) ([]byte, error) {
	if len(s.Dest) == 0 || len(s.Dest) > MaxDest {
		return b, fmt.Errorf("smgp: %d destinations (1..%d)", len(s.Dest), MaxDest)
	}
	if len(s.Content) > MaxContent {
		return b, fmt.Errorf("smgp: %d octets of content (max %d)", len(s.Content), MaxContent)
	}
	var err error
	put := func(str string, n int) {
		if err == nil {
			b, err = putStr(b, str, n)
		}
	}
	b = append(b, s.MsgType, s.NeedReport, s.Priority)
	put(s.ServiceID, 10)
	put(s.FeeType, 2)
	put(s.FeeCode, 6)
	put(s.FixedFee, 6)
	b = append(b, s.MsgFormat)
	put(s.ValidTime, 17)
	put(s.AtTime, 17)
	put(s.SrcTermID, 21)
	put(s.ChargeTermID, 21)
	b = append(b, byte(len(s.Dest)))
	for _, d := range s.Dest {
		put(d, 21)
	}
	b = append(b, byte(len(s.Content)))
	b = append(b, s.Content...)
	put(s.Reserve, 8)
	if err != nil {
		return b, err
	}
	return appendTLVs(b, s.TLVs)
}

// AppendSubmitResp appends r's body.
func AppendSubmitResp(b []byte, r *SubmitResp) []byte {
	b = append(b, r.MsgID[:]...)
	return binary.BigEndian.AppendUint32(b, r.Status)
}

// AppendDeliver appends d's body.
func AppendDeliver(b []byte, d *Deliver) ([]byte, error) {
	if len(d.Content) > 255 {
		return b, fmt.Errorf("smgp: %d octets of content (max 255)", len(d.Content))
	}
	var err error
	put := func(str string, n int) {
		if err == nil {
			b, err = putStr(b, str, n)
		}
	}
	b = append(b, d.MsgID[:]...)
	b = append(b, d.IsReport, d.MsgFormat)
	put(d.RecvTime, 14)
	put(d.SrcTermID, 21)
	put(d.DestTermID, 21)
	b = append(b, byte(len(d.Content)))
	b = append(b, d.Content...)
	put(d.Reserve, 8)
	if err != nil {
		return b, err
	}
	return appendTLVs(b, d.TLVs)
}

// AppendDeliverResp appends r's body.
func AppendDeliverResp(b []byte, r *DeliverResp) []byte {
	b = append(b, r.MsgID[:]...)
	return binary.BigEndian.AppendUint32(b, r.Status)
}

// ---- reading ----

type reader struct {
	b   []byte
	cmd uint32
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = &MalformedError{Cmd: r.cmd, Reason: fmt.Sprintf(format, a...)}
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: need %d octets, have %d", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte(what string) byte {
	if v := r.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if v := r.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) str(n int, what string) string {
	v := r.take(n, what)
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

func (r *reader) msgID() (m MsgID) {
	copy(m[:], r.take(10, "MsgID"))
	return m
}

// tlvs reads the rest as TLVs: every octet must belong to one.
func (r *reader) tlvs() TLVs {
	var t TLVs
	for r.err == nil && len(r.b) > 0 {
		if len(r.b) < 4 {
			r.fail("%d stray octets after the TLVs", len(r.b))
			break
		}
		tag := binary.BigEndian.Uint16(r.b)
		n := int(binary.BigEndian.Uint16(r.b[2:]))
		r.b = r.b[4:]
		t = append(t, TLV{Tag: tag, Value: r.take(n, fmt.Sprintf("TLV 0x%04x", tag))})
	}
	return t
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d octets after the last field", len(r.b))
	}
	return r.err
}

// DecodeLogin reads a Login body.
func DecodeLogin(b []byte) (*Login, error) {
	r := &reader{b: b, cmd: CmdLogin}
	l := &Login{ClientID: r.str(8, "ClientID")}
	copy(l.Authenticator[:], r.take(16, "AuthenticatorClient"))
	l.LoginMode = r.byte("LoginMode")
	l.Timestamp = r.u32("TimeStamp")
	l.Version = r.byte("ClientVersion")
	return l, r.end()
}

// DecodeLoginResp reads a Login_Resp body.
func DecodeLoginResp(b []byte) (*LoginResp, error) {
	r := &reader{b: b, cmd: CmdLoginResp}
	l := &LoginResp{Status: r.u32("Status")}
	copy(l.Authenticator[:], r.take(16, "AuthenticatorServer"))
	l.Version = r.byte("ServerVersion")
	return l, r.end()
}

// DecodeSubmit reads a Submit body.
func DecodeSubmit(b []byte) (*Submit, error) {
	r := &reader{b: b, cmd: CmdSubmit}
	s := &Submit{MsgType: r.byte("MsgType"), NeedReport: r.byte("NeedReport"), Priority: r.byte("Priority")}
	s.ServiceID = r.str(10, "ServiceID")
	s.FeeType = r.str(2, "FeeType")
	s.FeeCode = r.str(6, "FeeCode")
	s.FixedFee = r.str(6, "FixedFee")
	s.MsgFormat = r.byte("MsgFormat")
	s.ValidTime = r.str(17, "ValidTime")
	s.AtTime = r.str(17, "AtTime")
	s.SrcTermID = r.str(21, "SrcTermID")
	s.ChargeTermID = r.str(21, "ChargeTermID")
	n := int(r.byte("DestTermIDCount"))
	if r.err == nil && (n == 0 || n > MaxDest) {
		r.fail("DestTermIDCount %d (1..%d)", n, MaxDest)
	}
	if r.err == nil {
		s.Dest = make([]string, n)
		for i := range n {
			s.Dest[i] = r.str(21, "DestTermID")
		}
	}
	s.Content = r.take(int(r.byte("MsgLength")), "MsgContent")
	s.Reserve = r.str(8, "Reserve")
	s.TLVs = r.tlvs()
	return s, r.end()
}

// DecodeSubmitResp reads a Submit_Resp body.
func DecodeSubmitResp(b []byte) (*SubmitResp, error) {
	r := &reader{b: b, cmd: CmdSubmitResp}
	s := &SubmitResp{MsgID: r.msgID()}
	s.Status = r.u32("Status")
	return s, r.end()
}

// DecodeDeliver reads a Deliver body.
func DecodeDeliver(b []byte) (*Deliver, error) {
	r := &reader{b: b, cmd: CmdDeliver}
	d := &Deliver{MsgID: r.msgID()}
	d.IsReport = r.byte("IsReport")
	d.MsgFormat = r.byte("MsgFormat")
	d.RecvTime = r.str(14, "RecvTime")
	d.SrcTermID = r.str(21, "SrcTermID")
	d.DestTermID = r.str(21, "DestTermID")
	d.Content = r.take(int(r.byte("MsgLength")), "MsgContent")
	d.Reserve = r.str(8, "Reserve")
	d.TLVs = r.tlvs()
	return d, r.end()
}

// DecodeDeliverResp reads a Deliver_Resp body.
func DecodeDeliverResp(b []byte) (*DeliverResp, error) {
	r := &reader{b: b, cmd: CmdDeliverResp}
	d := &DeliverResp{MsgID: r.msgID()}
	d.Status = r.u32("Status")
	return d, r.end()
}
