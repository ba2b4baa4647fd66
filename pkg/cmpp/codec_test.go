package cmpp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// The vectors below are assembled field by field from the field tables of
// CMPP 3.0 and 2.0, not from the encoder: each helper call is one
// row of a table (name, size). The MD5 values were computed apart from
// this package (Python's hashlib) for Source_Addr 901234, secret
// "s3cret", Timestamp 1202152200.

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func o(b ...byte) []byte  { return b }

func fixed(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func frameBytes(cmd, seq uint32, body []byte) []byte {
	return join(u32(uint32(12+len(body))), u32(cmd), u32(seq), body)
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	authSrc  = [16]byte(unhex("69b5a79fb0a289c33f1de46fabb3c211"))
	authV3   = [16]byte(unhex("2834013b50559560ffb82f7f85b3b80f")) // MD5(Status as 4 octets + AuthSrc + secret)
	authV2   = [16]byte(unhex("7e21768f1cfca8972b06444bf995c920")) // MD5(Status as 1 octet + …)
	goldenID = MsgID(0xC13D60002F5B002A)                           // 12-02 15:22:00, gateway 12123, seq 42
)

func TestAuthenticators(t *testing.T) {
	ts := Timestamp(time.Date(2026, 12, 2, 15, 22, 0, 0, CST))
	if ts != 1202152200 {
		t.Fatalf("Timestamp %d", ts)
	}
	if got := AuthenticatorSource("901234", "s3cret", ts); got != authSrc {
		t.Fatalf("AuthenticatorSource %x", got)
	}
	if got := AuthenticatorISMG(V30, 0, authSrc, "s3cret"); got != authV3 {
		t.Fatalf("AuthenticatorISMG 3.0 %x", got)
	}
	if got := AuthenticatorISMG(V20, 0, authSrc, "s3cret"); got != authV2 {
		t.Fatalf("AuthenticatorISMG 2.0 %x", got)
	}
}

func TestMsgID(t *testing.T) {
	id := NewMsgID(time.Date(2026, 12, 2, 15, 22, 0, 0, CST), 12123, 42)
	if id != goldenID {
		t.Fatalf("NewMsgID %016X", uint64(id))
	}
	if id.Month() != 12 || id.Day() != 2 || id.Hour() != 15 || id.Minute() != 22 || id.Second() != 0 || id.Gateway() != 12123 || id.Seq() != 42 {
		t.Fatalf("fields of %s", id.Text())
	}
	forms := map[string]string{
		"String": id.String(), "Text": id.Text(), "Hex": id.Hex(), "0x": "0x" + id.Hex(),
	}
	if forms["String"] != "13924391176810201130" || forms["Text"] != "1202152200001212300042" || forms["Hex"] != "C13D60002F5B002A" {
		t.Fatalf("forms %v", forms)
	}
	for name, s := range forms {
		got, err := ParseMsgID(s)
		if err != nil || got != id {
			t.Fatalf("ParseMsgID(%s %q) = %v, %v", name, s, got, err)
		}
	}
	for _, bad := range []string{"", "x", "1302152200001212300042", "99999999999999999999999"} {
		if _, err := ParseMsgID(bad); err == nil {
			t.Fatalf("ParseMsgID(%q) accepted", bad)
		}
	}
}

type golden struct {
	name   string
	cmd    uint32
	wire   []byte // body, from the field table
	length int    // Total_Length the spec's table gives
	encode func() ([]byte, error)
	decode func([]byte) (any, error)
	want   any
}

func TestGolden(t *testing.T) {
	ucs2 := unhex("4EA4901A8FDD6CD5") // 交通违法
	udhPart := join(o(5, 0, 3, 0x2A, 2, 1), ucs2)
	sub3 := &Submit{PkTotal: 2, PkNumber: 1, RegisteredDelivery: 1, MsgLevel: 0, ServiceID: "JTGL", FeeUserType: 2,
		TPUDHI: 1, MsgFmt: FmtUCS2, MsgSrc: "901234", FeeType: "01", FeeCode: "000000", SrcID: "1069012123",
		Dest: []string{"13812345678"}, Content: udhPart}
	sub2 := *sub3
	sub2.PkTotal, sub2.PkNumber, sub2.TPUDHI, sub2.Content = 1, 1, 0, ucs2
	report3 := &StatusReport{MsgID: goldenID, Stat: "DELIVRD", SubmitTime: "2612021522", DoneTime: "2612021523", DestTerminalID: "13812345678", SMSCSequence: 42}
	reportBody3 := join(u64(uint64(goldenID)), fixed("DELIVRD", 7), fixed("2612021522", 10), fixed("2612021523", 10), fixed("13812345678", 32), u32(42))
	reportBody2 := join(u64(uint64(goldenID)), fixed("DELIVRD", 7), fixed("2612021522", 10), fixed("2612021523", 10), fixed("13812345678", 21), u32(42))
	del3 := &Deliver{MsgID: MsgID(7), DestID: "1069012123", ServiceID: "JTGL", MsgFmt: FmtASCII, SrcTerminalID: "13812345678",
		RegisteredDelivery: 1, Content: reportBody3}
	del2 := *del3
	del2.Content = reportBody2
	mo3 := &Deliver{MsgID: MsgID(8), DestID: "1069012123", MsgFmt: FmtUCS2, SrcTerminalID: "13812345678", Content: ucs2, LinkID: "LNK"}

	cases := []golden{
		{
			name: "CONNECT", cmd: CmdConnect, length: 39,
			wire:   join(fixed("901234", 6), authSrc[:], o(0x30), u32(1202152200)),
			encode: func() ([]byte, error) { return AppendConnect(nil, &Connect{"901234", authSrc, V30, 1202152200}) },
			decode: func(b []byte) (any, error) { return DecodeConnect(b) },
			want:   &Connect{"901234", authSrc, V30, 1202152200},
		},
		{
			name: "CONNECT_RESP 3.0", cmd: CmdConnectResp, length: 33,
			wire:   join(u32(0), authV3[:], o(0x30)),
			encode: func() ([]byte, error) { return AppendConnectResp(nil, &ConnectResp{0, authV3, V30, V30}), nil },
			decode: func(b []byte) (any, error) { return DecodeConnectResp(b) },
			want:   &ConnectResp{0, authV3, V30, V30},
		},
		{
			name: "CONNECT_RESP 2.0", cmd: CmdConnectResp, length: 30,
			wire:   join(o(0), authV2[:], o(0x20)),
			encode: func() ([]byte, error) { return AppendConnectResp(nil, &ConnectResp{0, authV2, V20, V20}), nil },
			decode: func(b []byte) (any, error) { return DecodeConnectResp(b) },
			want:   &ConnectResp{0, authV2, V20, V20},
		},
		{
			name: "SUBMIT 3.0 part 1 of 2", cmd: CmdSubmit, length: 12 + 129 + 32 + 1 + 1 + 14 + 20,
			wire: join(u64(0), o(2, 1, 1, 0), fixed("JTGL", 10), o(2), fixed("", 32), o(0), o(0, 1, 8),
				fixed("901234", 6), fixed("01", 2), fixed("000000", 6), fixed("", 17), fixed("", 17), fixed("1069012123", 21),
				o(1), fixed("13812345678", 32), o(0), o(14), udhPart, fixed("", 20)),
			encode: func() ([]byte, error) { return AppendSubmit(nil, V30, sub3) },
			decode: func(b []byte) (any, error) { return DecodeSubmit(V30, b) },
			want:   sub3,
		},
		{
			name: "SUBMIT 2.0", cmd: CmdSubmit, length: 12 + 117 + 21 + 1 + 8 + 8,
			wire: join(u64(0), o(1, 1, 1, 0), fixed("JTGL", 10), o(2), fixed("", 21), o(0, 0, 8),
				fixed("901234", 6), fixed("01", 2), fixed("000000", 6), fixed("", 17), fixed("", 17), fixed("1069012123", 21),
				o(1), fixed("13812345678", 21), o(8), ucs2, fixed("", 8)),
			encode: func() ([]byte, error) { return AppendSubmit(nil, V20, &sub2) },
			decode: func(b []byte) (any, error) { return DecodeSubmit(V20, b) },
			want:   &sub2,
		},
		{
			name: "SUBMIT_RESP 3.0", cmd: CmdSubmitResp, length: 24,
			wire:   join(u64(uint64(goldenID)), u32(8)),
			encode: func() ([]byte, error) { return AppendSubmitResp(nil, V30, &SubmitResp{goldenID, 8}), nil },
			decode: func(b []byte) (any, error) { return DecodeSubmitResp(b) },
			want:   &SubmitResp{goldenID, 8},
		},
		{
			name: "SUBMIT_RESP 2.0", cmd: CmdSubmitResp, length: 21,
			wire:   join(u64(uint64(goldenID)), o(0)),
			encode: func() ([]byte, error) { return AppendSubmitResp(nil, V20, &SubmitResp{goldenID, 0}), nil },
			decode: func(b []byte) (any, error) { return DecodeSubmitResp(b) },
			want:   &SubmitResp{goldenID, 0},
		},
		{
			name: "DELIVER 3.0 report", cmd: CmdDeliver, length: 12 + 77 + 71 + 20,
			wire: join(u64(7), fixed("1069012123", 21), fixed("JTGL", 10), o(0, 0, 0), fixed("13812345678", 32), o(0),
				o(1), o(71), reportBody3, fixed("", 20)),
			encode: func() ([]byte, error) { return AppendDeliver(nil, V30, del3) },
			decode: func(b []byte) (any, error) { return DecodeDeliver(V30, b) },
			want:   del3,
		},
		{
			name: "DELIVER 2.0 report", cmd: CmdDeliver, length: 12 + 65 + 60 + 8,
			wire: join(u64(7), fixed("1069012123", 21), fixed("JTGL", 10), o(0, 0, 0), fixed("13812345678", 21),
				o(1), o(60), reportBody2, fixed("", 8)),
			encode: func() ([]byte, error) { return AppendDeliver(nil, V20, &del2) },
			decode: func(b []byte) (any, error) { return DecodeDeliver(V20, b) },
			want:   &del2,
		},
		{
			name: "DELIVER 3.0 MO", cmd: CmdDeliver, length: 12 + 77 + 8 + 20,
			wire: join(u64(8), fixed("1069012123", 21), fixed("", 10), o(0, 0, 8), fixed("13812345678", 32), o(0),
				o(0), o(8), ucs2, fixed("LNK", 20)),
			encode: func() ([]byte, error) { return AppendDeliver(nil, V30, mo3) },
			decode: func(b []byte) (any, error) { return DecodeDeliver(V30, b) },
			want:   mo3,
		},
		{
			name: "status report 3.0", cmd: CmdDeliver, length: 12 + 71,
			wire:   reportBody3,
			encode: func() ([]byte, error) { return AppendStatusReport(nil, V30, report3) },
			decode: func(b []byte) (any, error) { return DecodeStatusReport(V30, b) },
			want:   report3,
		},
		{
			name: "DELIVER_RESP 3.0", cmd: CmdDeliverResp, length: 24,
			wire:   join(u64(7), u32(0)),
			encode: func() ([]byte, error) { return AppendDeliverResp(nil, V30, &DeliverResp{7, 0}), nil },
			decode: func(b []byte) (any, error) { return DecodeDeliverResp(b) },
			want:   &DeliverResp{7, 0},
		},
		{
			name: "DELIVER_RESP 2.0", cmd: CmdDeliverResp, length: 21,
			wire:   join(u64(7), o(8)),
			encode: func() ([]byte, error) { return AppendDeliverResp(nil, V20, &DeliverResp{7, 8}), nil },
			decode: func(b []byte) (any, error) { return DecodeDeliverResp(b) },
			want:   &DeliverResp{7, 8},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whole := frameBytes(c.cmd, 5, c.wire)
			if len(whole) != c.length {
				t.Fatalf("vector is %d octets, the table says %d", len(whole), c.length)
			}
			body, err := c.encode()
			if err != nil {
				t.Fatal(err)
			}
			if got := cnsms.AppendFrame(nil, cnsms.Frame{Cmd: c.cmd, Seq: 5, Body: body}); !bytes.Equal(got, whole) {
				t.Fatalf("encoded\n%x\nwant\n%x", got, whole)
			}
			f, err := cnsms.ParseFrame(whole)
			if err != nil || f.Cmd != c.cmd || f.Seq != 5 {
				t.Fatalf("frame %+v %v", f, err)
			}
			got, err := c.decode(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decoded %+v\nwant %+v", got, c.want)
			}
			// Every truncation is an error, never a panic.
			for n := range len(f.Body) {
				if _, err := c.decode(f.Body[:n]); err == nil && !otherLayout(c.cmd, n) && c.name != "status report 3.0" {
					t.Fatalf("truncated to %d octets: accepted", n)
				}
			}
		})
	}
}

// otherLayout: a response cut to the other version's length is that
// version's response (the decoders tell 3.0 from 2.0 by length).
func otherLayout(cmd uint32, n int) bool {
	return (cmd == CmdConnectResp && n == 18) || ((cmd == CmdSubmitResp || cmd == CmdDeliverResp) && n == 9)
}

func TestEmptyBodies(t *testing.T) {
	for _, v := range []struct {
		cmd  uint32
		body []byte
		want string
	}{
		{CmdActiveTest, nil, "0000000c0000000800000009"},
		{CmdActiveTestResp, ActiveTestRespBody, "0000000d800000080000000900"},
		{CmdTerminate, nil, "0000000c0000000200000009"},
		{CmdTerminateResp, nil, "0000000c8000000200000009"},
	} {
		if got := hex.EncodeToString(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: v.cmd, Seq: 9, Body: v.body})); got != v.want {
			t.Errorf("%s: %s, want %s", CommandName(v.cmd), got, v.want)
		}
	}
}

func TestEncodeLimits(t *testing.T) {
	s := &Submit{Dest: []string{"1"}, Content: make([]byte, 141)}
	if _, err := AppendSubmit(nil, V30, s); err == nil {
		t.Fatal("141 octets accepted")
	}
	s = &Submit{Dest: []string{"1"}, ServiceID: "12345678901"}
	if _, err := AppendSubmit(nil, V30, s); err == nil {
		t.Fatal("11-character Service_Id accepted")
	}
	if _, err := AppendSubmit(nil, V30, &Submit{}); err == nil {
		t.Fatal("no destination accepted")
	}
}

func TestResultTable(t *testing.T) {
	for code, want := range map[uint32]bool{1: false, 3: true, 6: false, 8: true, 9: false, 13: false, 200: false} {
		err := ResultError(code)
		retry, _ := Classify(err)
		if retry != want {
			t.Errorf("result %d: retryable %v, want %v", code, retry, want)
		}
	}
	if ResultError(0) != nil {
		t.Fatal("result 0 is an error")
	}
	if _, reason := Classify(ResultError(8)); reason != ReasonThrottled {
		t.Fatalf("result 8: %s", reason)
	}
}

func TestSplit(t *testing.T) {
	p, err := Split(string(make([]rune, 70)), UCS2, 1)
	if err != nil || len(p.Parts) != 1 || p.UDHI {
		t.Fatalf("70 units: %d parts", len(p.Parts))
	}
	p, _ = Split(string(make([]rune, 71)), UCS2, 1)
	if len(p.Parts) != 2 || !p.UDHI || len(p.Parts[0]) != 6+67*2 {
		t.Fatalf("71 units: %d parts, first %d octets", len(p.Parts), len(p.Parts[0]))
	}
	// GB18030: 2 octets per Han character, 140 single, 134 per part.
	han := func(n int) string {
		r := make([]rune, n)
		for i := range r {
			r[i] = '中'
		}
		return string(r)
	}
	p, _ = Split(han(70), GB18030, 1)
	if len(p.Parts) != 1 || len(p.Parts[0]) != 140 {
		t.Fatalf("70 Han GB: %d parts", len(p.Parts))
	}
	p, _ = Split(han(71), GB18030, 1)
	if len(p.Parts) != 2 || len(p.Parts[0]) != 6+134 {
		t.Fatalf("71 Han GB: %d parts, %d octets", len(p.Parts), len(p.Parts[0]))
	}
	txt, err := DecodeText(FmtGB18030, p.Parts[1][6:])
	if err != nil || txt != han(4) {
		t.Fatalf("GB decode %q %v", txt, err)
	}
}
