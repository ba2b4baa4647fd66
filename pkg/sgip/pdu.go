package sgip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Command ids (SGIP 1.2).
const (
	CmdBind        uint32 = 0x00000001
	CmdBindResp    uint32 = 0x80000001
	CmdUnbind      uint32 = 0x00000002
	CmdUnbindResp  uint32 = 0x80000002
	CmdSubmit      uint32 = 0x00000003
	CmdSubmitResp  uint32 = 0x80000003
	CmdDeliver     uint32 = 0x00000004
	CmdDeliverResp uint32 = 0x80000004
	CmdReport      uint32 = 0x00000005
	CmdReportResp  uint32 = 0x80000005
	CmdUserRpt     uint32 = 0x00000011
	CmdUserRptResp uint32 = 0x80000011
	CmdTrace       uint32 = 0x00001000
	CmdTraceResp   uint32 = 0x80001000
)

// CommandName is the spec's name of a command id ("SGIP_SUBMIT").
func CommandName(cmd uint32) string {
	var n string
	switch cmd &^ 0x80000000 {
	case CmdBind:
		n = "SGIP_BIND"
	case CmdUnbind:
		n = "SGIP_UNBIND"
	case CmdSubmit:
		n = "SGIP_SUBMIT"
	case CmdDeliver:
		n = "SGIP_DELIVER"
	case CmdReport:
		n = "SGIP_REPORT"
	case CmdUserRpt:
		n = "SGIP_USERRPT"
	case CmdTrace:
		n = "SGIP_TRACE"
	default:
		return "other"
	}
	if cmd&0x80000000 != 0 {
		n += "_RESP"
	}
	return n
}

// Login types of SGIP_BIND.
const (
	LoginSPToSMG byte = 1 // the SP connects to the SMG to send
	LoginSMGToSP byte = 2 // the SMG connects to the SP's listener to deliver
)

// ReportFlag values of SGIP_SUBMIT.
const (
	ReportOnError byte = 0 // a report only if the message fails
	ReportAlways  byte = 1
	ReportNever   byte = 2
)

// Report states.
const (
	StateDelivered byte = 0
	StateWaiting   byte = 1
	StateFailed    byte = 2
)

// MaxContent bounds MessageContent of one short message.
const MaxContent = 140

// MaxUsers bounds UserCount.
const MaxUsers = 100

// MalformedError is a body that does not follow the field table.
type MalformedError struct {
	Cmd    uint32
	Reason string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("sgip: malformed %s: %s", CommandName(e.Cmd), e.Reason)
}

// ErrFieldTooLong is a value longer than its fixed field.
var ErrFieldTooLong = errors.New("sgip: value longer than its field")

// SeqID is SGIP's 12-octet sequence number: the sender's node id, the
// time (MMDDHHMMSS) and a counter. The SMG identifies a submitted message
// by the SGIP_SUBMIT's SeqID, and SGIP_REPORT names it again.
type SeqID struct {
	Node, Time, Seq uint32
}

// String is the textual form: the three parts in 10 digits each, joined
// by dashes ("3053112345-1202152200-0000000042").
func (s SeqID) String() string { return fmt.Sprintf("%010d-%010d-%010d", s.Node, s.Time, s.Seq) }

// ParseSeqID reads String's form.
func ParseSeqID(v string) (SeqID, error) {
	var s SeqID
	if len(v) != 32 || v[10] != '-' || v[21] != '-' {
		return s, fmt.Errorf("sgip: SeqID %q: want 10-10-10 digits", v)
	}
	for i, p := range []*uint32{&s.Node, &s.Time, &s.Seq} {
		var n uint64
		for _, c := range v[i*11 : i*11+10] {
			if c < '0' || c > '9' {
				return SeqID{}, fmt.Errorf("sgip: SeqID %q: not digits", v)
			}
			n = n*10 + uint64(c-'0')
		}
		if n > 0xFFFFFFFF {
			return SeqID{}, fmt.Errorf("sgip: SeqID %q: part out of range", v)
		}
		*p = uint32(n)
	}
	return s, nil
}

// Bind is SGIP_BIND.
type Bind struct {
	LoginType byte
	Name      string // 16
	Password  string // 16
	Reserve   string // 8
}

// Resp is the body shared by BIND_RESP, SUBMIT_RESP, DELIVER_RESP and
// REPORT_RESP: Result and 8 reserved octets.
type Resp struct {
	Result  byte
	Reserve string // 8
}

// Submit is SGIP_SUBMIT.
type Submit struct {
	SPNumber         string // 21: the number handsets see
	ChargeNumber     string // 21: "000000000000000000000" = the SP pays
	Users            []string
	CorpID           string // 5
	ServiceType      string // 10
	FeeType          byte
	FeeValue         string // 6
	GivenValue       string // 6
	AgentFlag        byte
	MorelatetoMTFlag byte
	Priority         byte
	ExpireTime       string // 16
	ScheduleTime     string // 16
	ReportFlag       byte
	TPPID, TPUDHI    byte
	MessageCoding    byte
	MessageType      byte
	Content          []byte
	Reserve          string // 8 (LinkID where the carrier uses it)
}

// Deliver is SGIP_DELIVER: an MO message.
type Deliver struct {
	UserNumber    string // 21
	SPNumber      string // 21
	TPPID, TPUDHI byte
	MessageCoding byte
	Content       []byte
	Reserve       string // 8
}

// Report is SGIP_REPORT: the outcome of a submitted message.
type Report struct {
	SubmitSeq  SeqID  // the SGIP_SUBMIT's sequence number
	ReportType byte   // 0: a previous SUBMIT; 1: a previous command
	UserNumber string // 21
	State      byte   // 0 delivered, 1 waiting, 2 failed
	ErrorCode  byte
	Reserve    string // 8
}

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

type writer struct {
	b   []byte
	err error
}

func (w *writer) str(s string, n int) {
	if w.err == nil {
		w.b, w.err = putStr(w.b, s, n)
	}
}

func (w *writer) o(v ...byte) { w.b = append(w.b, v...) }

// AppendBind appends b's body.
func AppendBind(dst []byte, b *Bind) ([]byte, error) {
	w := &writer{b: dst}
	w.o(b.LoginType)
	w.str(b.Name, 16)
	w.str(b.Password, 16)
	w.str(b.Reserve, 8)
	return w.b, w.err
}

// AppendResp appends r's body.
func AppendResp(dst []byte, r *Resp) []byte {
	w := &writer{b: dst}
	w.o(r.Result)
	w.str(r.Reserve, 8)
	if w.err != nil {
		return append(dst, r.Result, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return w.b
}

// AppendSubmit appends s's body.
func AppendSubmit(dst []byte, s *Submit) ([]byte, error) {
	if len(s.Users) == 0 || len(s.Users) > MaxUsers {
		return dst, fmt.Errorf("sgip: %d users (1..%d)", len(s.Users), MaxUsers)
	}
	if len(s.Content) > MaxContent {
		return dst, fmt.Errorf("sgip: %d octets of content (max %d)", len(s.Content), MaxContent)
	}
	w := &writer{b: dst}
	w.str(s.SPNumber, 21)
	w.str(s.ChargeNumber, 21)
	w.o(byte(len(s.Users)))
	for _, u := range s.Users {
		w.str(u, 21)
	}
	w.str(s.CorpID, 5)
	w.str(s.ServiceType, 10)
	w.o(s.FeeType)
	w.str(s.FeeValue, 6)
	w.str(s.GivenValue, 6)
	w.o(s.AgentFlag, s.MorelatetoMTFlag, s.Priority)
	w.str(s.ExpireTime, 16)
	w.str(s.ScheduleTime, 16)
	w.o(s.ReportFlag, s.TPPID, s.TPUDHI, s.MessageCoding, s.MessageType)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(s.Content)))
	w.o(s.Content...)
	w.str(s.Reserve, 8)
	return w.b, w.err
}

// AppendDeliver appends d's body.
func AppendDeliver(dst []byte, d *Deliver) ([]byte, error) {
	if len(d.Content) > 0xFFFF {
		return dst, fmt.Errorf("sgip: %d octets of content", len(d.Content))
	}
	w := &writer{b: dst}
	w.str(d.UserNumber, 21)
	w.str(d.SPNumber, 21)
	w.o(d.TPPID, d.TPUDHI, d.MessageCoding)
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(d.Content)))
	w.o(d.Content...)
	w.str(d.Reserve, 8)
	return w.b, w.err
}

// AppendReport appends r's body.
func AppendReport(dst []byte, r *Report) ([]byte, error) {
	w := &writer{b: dst}
	w.b = binary.BigEndian.AppendUint32(w.b, r.SubmitSeq.Node)
	w.b = binary.BigEndian.AppendUint32(w.b, r.SubmitSeq.Time)
	w.b = binary.BigEndian.AppendUint32(w.b, r.SubmitSeq.Seq)
	w.o(r.ReportType)
	w.str(r.UserNumber, 21)
	w.o(r.State, r.ErrorCode)
	w.str(r.Reserve, 8)
	return w.b, w.err
}

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
	if n < 0 || len(r.b) < n {
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

func (r *reader) content(maxLen int, what string) []byte {
	n := r.u32(what + " length")
	if r.err == nil && n > uint32(maxLen) {
		r.fail("%s length %d (max %d)", what, n, maxLen)
		return nil
	}
	return r.take(int(n), what)
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d octets after the last field", len(r.b))
	}
	return r.err
}

// DecodeBind reads an SGIP_BIND body.
func DecodeBind(b []byte) (*Bind, error) {
	r := &reader{b: b, cmd: CmdBind}
	v := &Bind{LoginType: r.byte("Login Type")}
	v.Name = r.str(16, "Login Name")
	v.Password = r.str(16, "Login Password")
	v.Reserve = r.str(8, "Reserve")
	return v, r.end()
}

// DecodeResp reads the body of any *_RESP (cmd names it in errors).
func DecodeResp(cmd uint32, b []byte) (*Resp, error) {
	r := &reader{b: b, cmd: cmd}
	v := &Resp{Result: r.byte("Result")}
	v.Reserve = r.str(8, "Reserve")
	return v, r.end()
}

// DecodeSubmit reads an SGIP_SUBMIT body.
func DecodeSubmit(b []byte) (*Submit, error) {
	r := &reader{b: b, cmd: CmdSubmit}
	s := &Submit{SPNumber: r.str(21, "SPNumber"), ChargeNumber: r.str(21, "ChargeNumber")}
	n := int(r.byte("UserCount"))
	if r.err == nil && (n == 0 || n > MaxUsers) {
		r.fail("UserCount %d (1..%d)", n, MaxUsers)
	}
	if r.err == nil {
		s.Users = make([]string, n)
		for i := range n {
			s.Users[i] = r.str(21, "UserNumber")
		}
	}
	s.CorpID = r.str(5, "CorpId")
	s.ServiceType = r.str(10, "ServiceType")
	s.FeeType = r.byte("FeeType")
	s.FeeValue = r.str(6, "FeeValue")
	s.GivenValue = r.str(6, "GivenValue")
	s.AgentFlag = r.byte("AgentFlag")
	s.MorelatetoMTFlag = r.byte("MorelatetoMTFlag")
	s.Priority = r.byte("Priority")
	s.ExpireTime = r.str(16, "ExpireTime")
	s.ScheduleTime = r.str(16, "ScheduleTime")
	s.ReportFlag = r.byte("ReportFlag")
	s.TPPID = r.byte("TP_pid")
	s.TPUDHI = r.byte("TP_udhi")
	s.MessageCoding = r.byte("MessageCoding")
	s.MessageType = r.byte("MessageType")
	s.Content = r.content(MaxContent, "MessageContent")
	s.Reserve = r.str(8, "Reserve")
	return s, r.end()
}

// DecodeDeliver reads an SGIP_DELIVER body.
func DecodeDeliver(b []byte) (*Deliver, error) {
	r := &reader{b: b, cmd: CmdDeliver}
	d := &Deliver{UserNumber: r.str(21, "UserNumber"), SPNumber: r.str(21, "SPNumber")}
	d.TPPID = r.byte("TP_pid")
	d.TPUDHI = r.byte("TP_udhi")
	d.MessageCoding = r.byte("MessageCoding")
	d.Content = r.content(4096, "MessageContent")
	d.Reserve = r.str(8, "Reserve")
	return d, r.end()
}

// DecodeReport reads an SGIP_REPORT body.
func DecodeReport(b []byte) (*Report, error) {
	r := &reader{b: b, cmd: CmdReport}
	v := &Report{SubmitSeq: SeqID{Node: r.u32("SubmitSequenceNumber"), Time: r.u32("SubmitSequenceNumber"), Seq: r.u32("SubmitSequenceNumber")}}
	v.ReportType = r.byte("ReportType")
	v.UserNumber = r.str(21, "UserNumber")
	v.State = r.byte("State")
	v.ErrorCode = r.byte("ErrorCode")
	v.Reserve = r.str(8, "Reserve")
	return v, r.end()
}
