package smgp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Vectors assembled field by field from SMGP 3.0's tables (one helper
// call per row), not from the encoder. MD5 values computed apart
// (Python's hashlib) for ClientID 90123456, secret "s3cret", TimeStamp
// 1202152200.

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func o(b ...byte) []byte  { return b }
func join(p ...[]byte) []byte {
	return bytes.Join(p, nil)
}

func fixed(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	authClient = [16]byte(unhex("28263042b4d712d77e45156dfe0f6ced"))
	authServer = [16]byte(unhex("3401dcb5a7672c9bd6db48aa87d63713"))
	goldenID   = MsgID(unhex("12345612021522000042")) // SMGW 123456, 12-02 15:22, seq 42
)

func TestAuthenticators(t *testing.T) {
	ts := Timestamp(time.Date(2026, 12, 2, 15, 22, 0, 0, CST))
	if ts != 1202152200 {
		t.Fatalf("Timestamp %d", ts)
	}
	if AuthenticatorClient("90123456", "s3cret", ts) != authClient {
		t.Fatal("AuthenticatorClient")
	}
	if AuthenticatorServer(0, authClient, "s3cret") != authServer {
		t.Fatal("AuthenticatorServer")
	}
}

func TestMsgID(t *testing.T) {
	id := NewMsgID(123456, time.Date(2026, 12, 2, 15, 22, 0, 0, CST), 42)
	if id != goldenID || id.String() != "12345612021522000042" || id.Gateway() != "123456" || id.Time() != "12021522" || id.Seq() != "000042" {
		t.Fatalf("%s", id)
	}
	if p, err := ParseMsgID(id.String()); err != nil || p != id {
		t.Fatalf("parse %v %v", p, err)
	}
	for _, bad := range []string{"", "123", "1234561202152200004Z"} {
		if _, err := ParseMsgID(bad); err == nil {
			t.Fatalf("ParseMsgID(%q) accepted", bad)
		}
	}
}

func TestGolden(t *testing.T) {
	ucs2 := unhex("4EA4901A8FDD6CD5") // 交通违法
	part := join(o(5, 0, 3, 0x2A, 2, 1), ucs2)
	sub := &Submit{MsgType: MsgTypeMT, NeedReport: 1, Priority: 0, ServiceID: "JTGL", FeeType: "00", FeeCode: "000000",
		FixedFee: "000000", MsgFormat: 8, SrcTermID: "1069012123", Dest: []string{"13312345678"}, Content: part,
		TLVs: TLVs{{TagTPUdhi, []byte{1}}, {TagPkTotal, []byte{2}}, {TagPkNumber, []byte{1}}}}
	rep := &Report{MsgID: goldenID, Sub: "001", Dlvrd: "001", SubmitDate: "2612021522", DoneDate: "2612021523", Stat: "DELIVRD", Err: "000", Text: ucs2}
	repBytes := join([]byte("id:"), goldenID[:], []byte(" sub:001 dlvrd:001 Submit date:2612021522 done date:2612021523 stat:DELIVRD err:000 Text:"), ucs2, fixed("", 12))
	del := &Deliver{MsgID: goldenID, IsReport: 1, MsgFormat: 0, RecvTime: "20261202152300", SrcTermID: "13312345678", DestTermID: "1069012123", Content: repBytes}
	mo := &Deliver{MsgID: goldenID, MsgFormat: 8, RecvTime: "20261202152300", SrcTermID: "13312345678", DestTermID: "1069012123", Content: ucs2,
		TLVs: TLVs{{TagLinkID, []byte("LNK")}}}
	cases := []struct {
		name   string
		cmd    uint32
		wire   []byte
		length int
		encode func() ([]byte, error)
		decode func([]byte) (any, error)
		want   any
	}{
		{"Login", CmdLogin, join(fixed("90123456", 8), authClient[:], o(2), u32(1202152200), o(0x30)), 42,
			func() ([]byte, error) { return AppendLogin(nil, &Login{"90123456", authClient, 2, 1202152200, 0x30}) },
			func(b []byte) (any, error) { return DecodeLogin(b) }, &Login{"90123456", authClient, 2, 1202152200, 0x30}},
		{"Login_Resp", CmdLoginResp, join(u32(0), authServer[:], o(0x30)), 33,
			func() ([]byte, error) { return AppendLoginResp(nil, &LoginResp{0, authServer, 0x30}), nil },
			func(b []byte) (any, error) { return DecodeLoginResp(b) }, &LoginResp{0, authServer, 0x30}},
		{"Submit part 1 of 2 with TLVs", CmdSubmit,
			join(o(6, 1, 0), fixed("JTGL", 10), fixed("00", 2), fixed("000000", 6), fixed("000000", 6), o(8),
				fixed("", 17), fixed("", 17), fixed("1069012123", 21), fixed("", 21), o(1), fixed("13312345678", 21),
				o(14), part, fixed("", 8), u16(2), u16(1), o(1), u16(9), u16(1), o(2), u16(10), u16(1), o(1)),
			12 + 105 + 21 + 1 + 14 + 8 + 15,
			func() ([]byte, error) { return AppendSubmit(nil, sub) },
			func(b []byte) (any, error) { return DecodeSubmit(b) }, sub},
		{"Submit_Resp", CmdSubmitResp, join(goldenID[:], u32(1)), 26,
			func() ([]byte, error) { return AppendSubmitResp(nil, &SubmitResp{goldenID, 1}), nil },
			func(b []byte) (any, error) { return DecodeSubmitResp(b) }, &SubmitResp{goldenID, 1}},
		{"Deliver report", CmdDeliver,
			join(goldenID[:], o(1, 0), fixed("20261202152300", 14), fixed("13312345678", 21), fixed("1069012123", 21), o(122), repBytes, fixed("", 8)),
			12 + 69 + 122 + 8,
			func() ([]byte, error) { return AppendDeliver(nil, del) },
			func(b []byte) (any, error) { return DecodeDeliver(b) }, del},
		{"Deliver MO with LinkID", CmdDeliver,
			join(goldenID[:], o(0, 8), fixed("20261202152300", 14), fixed("13312345678", 21), fixed("1069012123", 21), o(8), ucs2, fixed("", 8), u16(3), u16(3), []byte("LNK")),
			12 + 69 + 8 + 8 + 7,
			func() ([]byte, error) { return AppendDeliver(nil, mo) },
			func(b []byte) (any, error) { return DecodeDeliver(b) }, mo},
		{"Deliver_Resp", CmdDeliverResp, join(goldenID[:], u32(0)), 26,
			func() ([]byte, error) { return AppendDeliverResp(nil, &DeliverResp{goldenID, 0}), nil },
			func(b []byte) (any, error) { return DecodeDeliverResp(b) }, &DeliverResp{goldenID, 0}},
		{"report", CmdDeliver, repBytes, 12 + 122,
			func() ([]byte, error) { return AppendReport(nil, rep) },
			func(b []byte) (any, error) { return DecodeReport(b) }, rep},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whole := join(u32(uint32(12+len(c.wire))), u32(c.cmd), u32(5), c.wire)
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
			got, err := c.decode(c.wire)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decoded %+v\nwant %+v", got, c.want)
			}
			if c.name == "report" {
				return // read by labels: a cut Text is still a report
			}
			for n := range len(c.wire) {
				// A cut that ends exactly at a TLV boundary is a valid
				// PDU with fewer TLVs; everything else must fail.
				if v, err := c.decode(c.wire[:n]); err == nil {
					if s, ok := v.(*Submit); ok && len(s.TLVs) < 3 {
						continue
					}
					if d, ok := v.(*Deliver); ok && len(d.TLVs) < len(mo.TLVs) && c.name == "Deliver MO with LinkID" {
						continue
					}
					t.Fatalf("truncated to %d octets: accepted", n)
				}
			}
		})
	}
}

func TestEmptyBodies(t *testing.T) {
	for _, v := range []struct {
		cmd  uint32
		want string
	}{
		{CmdActiveTest, "0000000c0000000400000009"},
		{CmdActiveTestResp, "0000000c8000000400000009"},
		{CmdExit, "0000000c0000000600000009"},
		{CmdExitResp, "0000000c8000000600000009"},
	} {
		if got := hex.EncodeToString(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: v.cmd, Seq: 9})); got != v.want {
			t.Errorf("%s: %s, want %s", CommandName(v.cmd), got, v.want)
		}
	}
}

func TestStatusTable(t *testing.T) {
	for code, want := range map[uint32]Reason{1: ReasonThrottled, 103: ReasonThrottled, 12: ReasonSMSC, 21: ReasonRejected, 47: ReasonRejected, 75: ReasonRejected, 999: ReasonRejected} {
		if _, r := Classify(StatusErr(code)); r != want {
			t.Errorf("status %d: %s, want %s", code, r, want)
		}
	}
	if StatusErr(0) != nil {
		t.Fatal("status 0 is an error")
	}
}

func TestReportTolerant(t *testing.T) {
	// Another gateway's spacing and case, no Text.
	b := join([]byte("id:"), goldenID[:], []byte("  SUB:001  DLVRD:000  SUBMIT DATE:2612021522  DONE DATE:2612021530  STAT:UNDELIV  ERR:045"))
	r, err := DecodeReport(b)
	if err != nil || r.Stat != "UNDELIV" || r.Err != "045" || r.MsgID != goldenID || r.DoneDate != "2612021530" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := DecodeReport([]byte("id:short")); err == nil {
		t.Fatal("short id accepted")
	}
}
