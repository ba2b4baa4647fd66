package cmpp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version octet: major in the high nibble.
type Version byte

// The versions this package speaks.
const (
	V30 Version = 0x30 // CMPP 3.0
	V20 Version = 0x20 // CMPP 2.0
)

func (v Version) String() string { return fmt.Sprintf("%d.%d", v>>4, v&0x0f) }

// Valid reports whether v is 2.0 or 3.0.
func (v Version) Valid() bool { return v == V30 || v == V20 }

// Command ids (CMPP 3.0; 2.0 uses the same).
const (
	CmdConnect        uint32 = 0x00000001
	CmdConnectResp    uint32 = 0x80000001
	CmdTerminate      uint32 = 0x00000002
	CmdTerminateResp  uint32 = 0x80000002
	CmdSubmit         uint32 = 0x00000004
	CmdSubmitResp     uint32 = 0x80000004
	CmdDeliver        uint32 = 0x00000005
	CmdDeliverResp    uint32 = 0x80000005
	CmdQuery          uint32 = 0x00000006
	CmdQueryResp      uint32 = 0x80000006
	CmdCancel         uint32 = 0x00000007
	CmdCancelResp     uint32 = 0x80000007
	CmdActiveTest     uint32 = 0x00000008
	CmdActiveTestResp uint32 = 0x80000008
)

// CommandName is the spec's name of a command id ("CMPP_SUBMIT").
func CommandName(cmd uint32) string {
	switch cmd &^ 0x80000000 {
	case CmdConnect:
		return resp(cmd, "CMPP_CONNECT")
	case CmdTerminate:
		return resp(cmd, "CMPP_TERMINATE")
	case CmdSubmit:
		return resp(cmd, "CMPP_SUBMIT")
	case CmdDeliver:
		return resp(cmd, "CMPP_DELIVER")
	case CmdQuery:
		return resp(cmd, "CMPP_QUERY")
	case CmdCancel:
		return resp(cmd, "CMPP_CANCEL")
	case CmdActiveTest:
		return resp(cmd, "CMPP_ACTIVE_TEST")
	}
	return "other"
}

func resp(cmd uint32, n string) string {
	if cmd&0x80000000 != 0 {
		return n + "_RESP"
	}
	return n
}

// Msg_Fmt values.
const (
	FmtASCII   byte = 0
	FmtWrite   byte = 3 // write-card (SIM) message
	FmtBinary  byte = 4
	FmtUCS2    byte = 8
	FmtGB18030 byte = 15 // GB (含 GB18030 where the carrier asks)
)

// Registered_Delivery values.
const (
	NoReport byte = 0
	Report   byte = 1 // SUBMIT: ask for a status report; DELIVER: this is one
)

// Field sizes that differ between the versions.
func termLen(v Version) int {
	if v == V20 {
		return 21
	}
	return 32
}

func tailLen(v Version) int { // LinkID (3.0) or Reserve (2.0)
	if v == V20 {
		return 8
	}
	return 20
}

// MaxContent bounds Msg_Content (one SMS: 140 octets).
const MaxContent = 140

// MaxDest bounds DestUsr_tl.
const MaxDest = 100

// MalformedError is a body that does not follow the spec's field table.
type MalformedError struct {
	Cmd    uint32
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("cmpp: malformed %s: %s", CommandName(e.Cmd), e.Reason)
}

// ErrFieldTooLong is a value longer than its fixed field.
var ErrFieldTooLong = errors.New("cmpp: value longer than its field")

// Connect is CMPP_CONNECT.
type Connect struct {
	SourceAddr    string   // SP enterprise code (6)
	Authenticator [16]byte // AuthenticatorSource
	Version       Version
	Timestamp     uint32 // MMDDHHMMSS as a number
}

// ConnectResp is CMPP_CONNECT_RESP. Its Status is 4 octets in 3.0 and 1
// in 2.0; the decoder tells them apart by the body length.
type ConnectResp struct {
	Status        uint32
	Authenticator [16]byte // AuthenticatorISMG
	Version       Version
	Wire          Version // layout it was decoded from / is encoded in
}

// Submit is CMPP_SUBMIT.
type Submit struct {
	MsgID              MsgID // 0 from an SP; the ISMG fills it
	PkTotal, PkNumber  byte
	RegisteredDelivery byte
	MsgLevel           byte
	ServiceID          string // 10
	FeeUserType        byte
	FeeTerminalID      string // 32 (21)
	FeeTerminalType    byte   // 3.0 only
	TPPID, TPUDHI      byte
	MsgFmt             byte
	MsgSrc             string // 6: SP enterprise code
	FeeType            string // 2
	FeeCode            string // 6
	ValidTime, AtTime  string // 17 each, SMPP 3.3 time format
	SrcID              string // 21: the number the handset shows
	Dest               []string
	DestTerminalType   byte // 3.0 only
	Content            []byte
	LinkID             string // 20 (3.0); 2.0: Reserve, 8
}

// SubmitResp is CMPP_SUBMIT_RESP.
type SubmitResp struct {
	MsgID  MsgID
	Result uint32
}

// Deliver is CMPP_DELIVER: an MO message, or a status report when
// RegisteredDelivery is 1 (then Content holds the report; see Report).
type Deliver struct {
	MsgID              MsgID
	DestID             string // 21: our number the handset sent to
	ServiceID          string // 10
	TPPID, TPUDHI      byte
	MsgFmt             byte
	SrcTerminalID      string // 32 (21)
	SrcTerminalType    byte   // 3.0 only
	RegisteredDelivery byte
	Content            []byte
	LinkID             string // 20 (3.0); 2.0: Reserve, 8
}

// DeliverResp is CMPP_DELIVER_RESP.
type DeliverResp struct {
	MsgID  MsgID
	Result uint32
}

// StatusReport is the Msg_Content of a DELIVER with Registered_Delivery 1.
type StatusReport struct {
	MsgID          MsgID  // the Msg_Id SUBMIT_RESP gave
	Stat           string // 7: DELIVRD, EXPIRED, UNDELIV, …
	SubmitTime     string // 10: YYMMDDHHMM
	DoneTime       string // 10: YYMMDDHHMM
	DestTerminalID string // 32 (21)
	SMSCSequence   uint32
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

func putResult(b []byte, v Version, r uint32) []byte {
	if v == V20 {
		return append(b, byte(r))
	}
	return binary.BigEndian.AppendUint32(b, r)
}

// AppendConnect appends c's body.
func AppendConnect(b []byte, c *Connect) ([]byte, error) {
	b, err := putStr(b, c.SourceAddr, 6)
	if err != nil {
		return b, err
	}
	b = append(b, c.Authenticator[:]...)
	b = append(b, byte(c.Version))
	return binary.BigEndian.AppendUint32(b, c.Timestamp), nil
}

// AppendConnectResp appends r's body in the layout of r.Wire (default
// r.Version, default 3.0).
func AppendConnectResp(b []byte, r *ConnectResp) []byte {
	w := r.Wire
	if !w.Valid() {
		w = r.Version
	}
	b = putResult(b, w, r.Status)
	b = append(b, r.Authenticator[:]...)
	return append(b, byte(r.Version))
}

// AppendSubmit appends s's body in version v's layout.
func AppendSubmit(b []byte, v Version, s *Submit) ([]byte, error) {
	if len(s.Dest) == 0 || len(s.Dest) > MaxDest {
		return b, fmt.Errorf("cmpp: %d destinations (1..%d)", len(s.Dest), MaxDest)
	}
	if len(s.Content) > MaxContent {
		return b, fmt.Errorf("cmpp: %d octets of content (max %d)", len(s.Content), MaxContent)
	}
	tl := termLen(v)
	b = binary.BigEndian.AppendUint64(b, uint64(s.MsgID))
	b = append(b, s.PkTotal, s.PkNumber, s.RegisteredDelivery, s.MsgLevel)
	var err error
	put := func(str string, n int) {
		if err == nil {
			b, err = putStr(b, str, n)
		}
	}
	put(s.ServiceID, 10)
	b = append(b, s.FeeUserType)
	put(s.FeeTerminalID, tl)
	if v == V30 {
		b = append(b, s.FeeTerminalType)
	}
	b = append(b, s.TPPID, s.TPUDHI, s.MsgFmt)
	put(s.MsgSrc, 6)
	put(s.FeeType, 2)
	put(s.FeeCode, 6)
	put(s.ValidTime, 17)
	put(s.AtTime, 17)
	put(s.SrcID, 21)
	b = append(b, byte(len(s.Dest)))
	for _, d := range s.Dest {
		put(d, tl)
	}
	if v == V30 {
		b = append(b, s.DestTerminalType)
	}
	b = append(b, byte(len(s.Content)))
	b = append(b, s.Content...)
	put(s.LinkID, tailLen(v))
	return b, err
}

// AppendSubmitResp appends r's body.
func AppendSubmitResp(b []byte, v Version, r *SubmitResp) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(r.MsgID))
	return putResult(b, v, r.Result)
}

// AppendDeliver appends d's body.
func AppendDeliver(b []byte, v Version, d *Deliver) ([]byte, error) {
	if len(d.Content) > 255 {
		return b, fmt.Errorf("cmpp: %d octets of content (max 255)", len(d.Content))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(d.MsgID))
	var err error
	put := func(str string, n int) {
		if err == nil {
			b, err = putStr(b, str, n)
		}
	}
	put(d.DestID, 21)
	put(d.ServiceID, 10)
	b = append(b, d.TPPID, d.TPUDHI, d.MsgFmt)
	put(d.SrcTerminalID, termLen(v))
	if v == V30 {
		b = append(b, d.SrcTerminalType)
	}
	b = append(b, d.RegisteredDelivery, byte(len(d.Content)))
	b = append(b, d.Content...)
	put(d.LinkID, tailLen(v))
	return b, err
}

// AppendDeliverResp appends r's body.
func AppendDeliverResp(b []byte, v Version, r *DeliverResp) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(r.MsgID))
	return putResult(b, v, r.Result)
}

// AppendStatusReport appends the Msg_Content of a status report.
func AppendStatusReport(b []byte, v Version, r *StatusReport) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, uint64(r.MsgID))
	var err error
	put := func(str string, n int) {
		if err == nil {
			b, err = putStr(b, str, n)
		}
	}
	put(r.Stat, 7)
	put(r.SubmitTime, 10)
	put(r.DoneTime, 10)
	put(r.DestTerminalID, termLen(v))
	return binary.BigEndian.AppendUint32(b, r.SMSCSequence), err
}

// ActiveTestRespBody is CMPP_ACTIVE_TEST_RESP's body: one reserved octet.
var ActiveTestRespBody = []byte{0}

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

func (r *reader) u64(what string) uint64 {
	if v := r.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// str reads a fixed field and cuts it at its first NUL.
func (r *reader) str(n int, what string) string {
	v := r.take(n, what)
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

func (r *reader) result(v Version, what string) uint32 {
	if v == V20 {
		return uint32(r.byte(what))
	}
	return r.u32(what)
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d octets after the last field", len(r.b))
	}
	return r.err
}

// DecodeConnect reads a CMPP_CONNECT body.
func DecodeConnect(b []byte) (*Connect, error) {
	r := &reader{b: b, cmd: CmdConnect}
	c := &Connect{SourceAddr: r.str(6, "Source_Addr")}
	copy(c.Authenticator[:], r.take(16, "AuthenticatorSource"))
	c.Version = Version(r.byte("Version"))
	c.Timestamp = r.u32("Timestamp")
	return c, r.end()
}

// DecodeConnectResp reads a CMPP_CONNECT_RESP body: 21 octets (3.0) or
// 18 (2.0).
func DecodeConnectResp(b []byte) (*ConnectResp, error) {
	c := &ConnectResp{}
	switch len(b) {
	case 21:
		c.Wire = V30
	case 18:
		c.Wire = V20
	default:
		return nil, &MalformedError{Cmd: CmdConnectResp, Reason: fmt.Sprintf("%d octets (21 for 3.0, 18 for 2.0)", len(b))}
	}
	r := &reader{b: b, cmd: CmdConnectResp}
	c.Status = r.result(c.Wire, "Status")
	copy(c.Authenticator[:], r.take(16, "AuthenticatorISMG"))
	c.Version = Version(r.byte("Version"))
	return c, r.end()
}

// DecodeSubmit reads a CMPP_SUBMIT body in version v's layout.
func DecodeSubmit(v Version, b []byte) (*Submit, error) {
	r := &reader{b: b, cmd: CmdSubmit}
	tl := termLen(v)
	s := &Submit{MsgID: MsgID(r.u64("Msg_Id"))}
	s.PkTotal = r.byte("Pk_total")
	s.PkNumber = r.byte("Pk_number")
	s.RegisteredDelivery = r.byte("Registered_Delivery")
	s.MsgLevel = r.byte("Msg_level")
	s.ServiceID = r.str(10, "Service_Id")
	s.FeeUserType = r.byte("Fee_UserType")
	s.FeeTerminalID = r.str(tl, "Fee_terminal_Id")
	if v == V30 {
		s.FeeTerminalType = r.byte("Fee_terminal_type")
	}
	s.TPPID = r.byte("TP_pId")
	s.TPUDHI = r.byte("TP_udhi")
	s.MsgFmt = r.byte("Msg_Fmt")
	s.MsgSrc = r.str(6, "Msg_src")
	s.FeeType = r.str(2, "FeeType")
	s.FeeCode = r.str(6, "FeeCode")
	s.ValidTime = r.str(17, "ValId_Time")
	s.AtTime = r.str(17, "At_Time")
	s.SrcID = r.str(21, "Src_Id")
	n := int(r.byte("DestUsr_tl"))
	if r.err == nil && (n == 0 || n > MaxDest) {
		r.fail("DestUsr_tl %d (1..%d)", n, MaxDest)
	}
	if r.err == nil {
		s.Dest = make([]string, n)
		for i := range n {
			s.Dest[i] = r.str(tl, "Dest_terminal_Id")
		}
	}
	if v == V30 {
		s.DestTerminalType = r.byte("Dest_terminal_type")
	}
	ml := int(r.byte("Msg_Length"))
	s.Content = r.take(ml, "Msg_Content")
	s.LinkID = r.str(tailLen(v), "LinkID")
	return s, r.end()
}

// DecodeSubmitResp reads a CMPP_SUBMIT_RESP body; the length decides the
// layout (12 octets: 3.0, 9: 2.0) so a peer that answers in the other
// version is still understood.
func DecodeSubmitResp(b []byte) (*SubmitResp, error) {
	v, err := respVersion(CmdSubmitResp, b)
	if err != nil {
		return nil, err
	}
	r := &reader{b: b, cmd: CmdSubmitResp}
	s := &SubmitResp{MsgID: MsgID(r.u64("Msg_Id"))}
	s.Result = r.result(v, "Result")
	return s, r.end()
}

func respVersion(cmd uint32, b []byte) (Version, error) {
	switch len(b) {
	case 12:
		return V30, nil
	case 9:
		return V20, nil
	}
	return 0, &MalformedError{Cmd: cmd, Reason: fmt.Sprintf("%d octets (12 for 3.0, 9 for 2.0)", len(b))}
}

// DecodeDeliver reads a CMPP_DELIVER body in version v's layout.
func DecodeDeliver(v Version, b []byte) (*Deliver, error) {
	r := &reader{b: b, cmd: CmdDeliver}
	d := &Deliver{MsgID: MsgID(r.u64("Msg_Id"))}
	d.DestID = r.str(21, "Dest_Id")
	d.ServiceID = r.str(10, "Service_Id")
	d.TPPID = r.byte("TP_pid")
	d.TPUDHI = r.byte("TP_udhi")
	d.MsgFmt = r.byte("Msg_Fmt")
	d.SrcTerminalID = r.str(termLen(v), "Src_terminal_Id")
	if v == V30 {
		d.SrcTerminalType = r.byte("Src_terminal_type")
	}
	d.RegisteredDelivery = r.byte("Registered_Delivery")
	ml := int(r.byte("Msg_Length"))
	d.Content = r.take(ml, "Msg_Content")
	d.LinkID = r.str(tailLen(v), "LinkID")
	return d, r.end()
}

// DecodeDeliverResp reads a CMPP_DELIVER_RESP body (12 or 9 octets).
func DecodeDeliverResp(b []byte) (*DeliverResp, error) {
	v, err := respVersion(CmdDeliverResp, b)
	if err != nil {
		return nil, err
	}
	r := &reader{b: b, cmd: CmdDeliverResp}
	d := &DeliverResp{MsgID: MsgID(r.u64("Msg_Id"))}
	d.Result = r.result(v, "Result")
	return d, r.end()
}

// DecodeStatusReport reads a status report from a DELIVER's Msg_Content:
// 71 octets in 3.0, 60 in 2.0. Longer content (some gateways pad) is
// accepted; shorter is not.
func DecodeStatusReport(v Version, b []byte) (*StatusReport, error) {
	r := &reader{b: b, cmd: CmdDeliver}
	s := &StatusReport{MsgID: MsgID(r.u64("report Msg_Id"))}
	s.Stat = r.str(7, "Stat")
	s.SubmitTime = r.str(10, "Submit_time")
	s.DoneTime = r.str(10, "Done_time")
	s.DestTerminalID = r.str(termLen(v), "Dest_terminal_Id")
	s.SMSCSequence = r.u32("SMSC_sequence")
	return s, r.err
}
