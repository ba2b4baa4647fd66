package sgip

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"reflect"
	"testing"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Vectors assembled field by field from SGIP 1.2's tables (one helper call
// per row), with the 20-octet header: length, command, node id, time,
// sequence.

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

func TestGolden(t *testing.T) {
	ucs2, _ := hex.DecodeString("4EA4901A8FDD6CD5")
	part := join(o(5, 0, 3, 0x2A, 2, 1), ucs2)
	sub := &Submit{SPNumber: "1065512123", ChargeNumber: DefaultChargeNumber, Users: []string{"8613012345678"}, CorpID: "12123",
		ServiceType: "JTGL", FeeType: 1, FeeValue: "0", MorelatetoMTFlag: 2, ReportFlag: 1, TPUDHI: 1, MessageCoding: 8, Content: part}
	seq := SeqID{Node: 3053112123, Time: 1202152200, Seq: 42}
	cases := []struct {
		name   string
		cmd    uint32
		wire   []byte
		length int
		encode func() ([]byte, error)
		decode func([]byte) (any, error)
		want   any
	}{
		{"BIND", CmdBind, join(o(1), fixed("sp12123", 16), fixed("pw", 16), fixed("", 8)), 20 + 41,
			func() ([]byte, error) { return AppendBind(nil, &Bind{LoginType: 1, Name: "sp12123", Password: "pw"}) },
			func(b []byte) (any, error) { return DecodeBind(b) }, &Bind{LoginType: 1, Name: "sp12123", Password: "pw"}},
		{"BIND_RESP", CmdBindResp, join(o(0), fixed("", 8)), 29,
			func() ([]byte, error) { return AppendResp(nil, &Resp{}), nil },
			func(b []byte) (any, error) { return DecodeResp(CmdBindResp, b) }, &Resp{}},
		{"SUBMIT part 1 of 2", CmdSubmit,
			join(fixed("1065512123", 21), fixed(DefaultChargeNumber, 21), o(1), fixed("8613012345678", 21), fixed("12123", 5),
				fixed("JTGL", 10), o(1), fixed("0", 6), fixed("", 6), o(0, 2, 0), fixed("", 16), fixed("", 16),
				o(1, 0, 1, 8, 0), u32(14), part, fixed("", 8)),
			164 + 14,
			func() ([]byte, error) { return AppendSubmit(nil, sub) },
			func(b []byte) (any, error) { return DecodeSubmit(b) }, sub},
		{"SUBMIT_RESP node busy", CmdSubmitResp, join(o(11), fixed("", 8)), 29,
			func() ([]byte, error) { return AppendResp(nil, &Resp{Result: 11}), nil },
			func(b []byte) (any, error) { return DecodeResp(CmdSubmitResp, b) }, &Resp{Result: 11}},
		{"DELIVER", CmdDeliver, join(fixed("8613012345678", 21), fixed("1065512123", 21), o(0, 0, 8), u32(8), ucs2, fixed("", 8)), 20 + 57 + 8,
			func() ([]byte, error) {
				return AppendDeliver(nil, &Deliver{UserNumber: "8613012345678", SPNumber: "1065512123", MessageCoding: 8, Content: ucs2})
			},
			func(b []byte) (any, error) { return DecodeDeliver(b) },
			&Deliver{UserNumber: "8613012345678", SPNumber: "1065512123", MessageCoding: 8, Content: ucs2}},
		{"REPORT", CmdReport, join(u32(3053112123), u32(1202152200), u32(42), o(0), fixed("8613012345678", 21), o(2, 29), fixed("", 8)), 20 + 44,
			func() ([]byte, error) {
				return AppendReport(nil, &Report{SubmitSeq: seq, UserNumber: "8613012345678", State: 2, ErrorCode: 29})
			},
			func(b []byte) (any, error) { return DecodeReport(b) },
			&Report{SubmitSeq: seq, UserNumber: "8613012345678", State: 2, ErrorCode: 29}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whole := join(u32(uint32(20+len(c.wire))), u32(c.cmd), u32(seq.Node), u32(seq.Time), u32(seq.Seq), c.wire)
			if len(whole) != c.length {
				t.Fatalf("vector is %d octets, the table says %d", len(whole), c.length)
			}
			body, err := c.encode()
			if err != nil {
				t.Fatal(err)
			}
			fr := cnsms.Frame{Cmd: c.cmd, Node: seq.Node, Time: seq.Time, Seq: seq.Seq, Body: body}
			if got := cnsms.AppendFrameOf(nil, fr, cnsms.FramingSGIP); !bytes.Equal(got, whole) {
				t.Fatalf("encoded\n%x\nwant\n%x", got, whole)
			}
			f, err := cnsms.ParseFrameOf(whole, cnsms.FramingSGIP)
			if err != nil || f.Cmd != c.cmd || f.Node != seq.Node || f.Time != seq.Time || f.Seq != seq.Seq {
				t.Fatalf("frame %+v %v", f, err)
			}
			got, err := c.decode(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("decoded %+v\nwant %+v", got, c.want)
			}
			for n := range len(f.Body) {
				if _, err := c.decode(f.Body[:n]); err == nil {
					t.Fatalf("truncated to %d octets: accepted", n)
				}
			}
		})
	}
	// UNBIND and UNBIND_RESP: header only.
	if got := hex.EncodeToString(cnsms.AppendFrameOf(nil, cnsms.Frame{Cmd: CmdUnbind, Node: 1, Time: 2, Seq: 3}, cnsms.FramingSGIP)); got != "0000001400000002000000010000000200000003" {
		t.Fatalf("UNBIND %s", got)
	}
}

func TestSeqID(t *testing.T) {
	s := SeqID{Node: 3053112123, Time: 1202152200, Seq: 42}
	if s.String() != "3053112123-1202152200-0000000042" {
		t.Fatal(s.String())
	}
	if p, err := ParseSeqID(s.String()); err != nil || p != s {
		t.Fatalf("%v %v", p, err)
	}
	for _, bad := range []string{"", "1-2-3", "9999999999-0000000000-0000000000", "30531121a3-1202152200-0000000042"} {
		if _, err := ParseSeqID(bad); err == nil {
			t.Fatalf("ParseSeqID(%q) accepted", bad)
		}
	}
}

func TestResultTable(t *testing.T) {
	for code, want := range map[byte]Reason{11: ReasonThrottled, 33: ReasonThrottled, 32: ReasonSMSC, 1: ReasonRejected, 29: ReasonRejected, 200: ReasonRejected} {
		if _, r := Classify(ResultErr(code)); r != want {
			t.Errorf("result %d: %s, want %s", code, r, want)
		}
	}
}
