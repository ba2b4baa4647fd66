package cmpp

import (
	"context"
	"reflect"
	"testing"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

func seeds(f *testing.F) {
	for _, v := range []Version{V30, V20} {
		b, _ := AppendSubmit(nil, v, &Submit{PkTotal: 1, PkNumber: 1, Dest: []string{"13800000000"}, Content: []byte("hi"), MsgFmt: FmtUCS2})
		f.Add(byte(v), b)
		sr, _ := AppendStatusReport(nil, v, &StatusReport{Stat: "DELIVRD", DestTerminalID: "13800000000"})
		b, _ = AppendDeliver(nil, v, &Deliver{RegisteredDelivery: 1, Content: sr})
		f.Add(byte(v), b)
		f.Add(byte(v), AppendSubmitResp(nil, v, &SubmitResp{1, 8}))
		f.Add(byte(v), AppendConnectResp(nil, &ConnectResp{Version: v, Wire: v}))
	}
	b, _ := AppendConnect(nil, &Connect{SourceAddr: "901234", Version: V30})
	f.Add(byte(V30), b)
	f.Add(byte(0), []byte{})
}

func version(b byte) Version {
	if b&1 == 0 {
		return V30
	}
	return V20
}

// FuzzDecode runs every decoder on arbitrary input: no panic, and
// anything accepted encodes back to the same octets (the fixed fields are
// NUL-padded, so a value cut at a NUL re-encodes only when the padding
// was all NULs; those are skipped).
func FuzzDecode(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, vb byte, b []byte) {
		v := version(vb)
		if s, err := DecodeSubmit(v, b); err == nil {
			out, err := AppendSubmit(nil, v, s)
			if err == nil {
				s2, err := DecodeSubmit(v, out)
				if err != nil || !reflect.DeepEqual(s, s2) {
					t.Fatalf("submit round trip: %v\n%+v\n%+v", err, s, s2)
				}
			}
		}
		if d, err := DecodeDeliver(v, b); err == nil {
			out, err := AppendDeliver(nil, v, d)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := DecodeDeliver(v, out)
			if err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("deliver round trip: %v", err)
			}
			_, _ = DecodeStatusReport(v, d.Content)
		}
		_, _ = DecodeStatusReport(v, b)
		_, _ = DecodeConnect(b)
		_, _ = DecodeConnectResp(b)
		_, _ = DecodeSubmitResp(b)
		_, _ = DecodeDeliverResp(b)
		_, _ = DecodeText(vb, b)
		_, _ = ParseMsgID(string(b))
	})
}

// FuzzHandle feeds arbitrary DELIVER bodies through the client's inbound
// path (decode, report parse, UDH split, MO reassembly, callbacks): no
// panic, and every one is answered with a DELIVER_RESP.
func FuzzHandle(f *testing.F) {
	sr, _ := AppendStatusReport(nil, V30, &StatusReport{Stat: "DELIVRD"})
	b, _ := AppendDeliver(nil, V30, &Deliver{RegisteredDelivery: 1, Content: sr})
	f.Add(byte(0), b)
	b, _ = AppendDeliver(nil, V30, &Deliver{TPUDHI: 1, MsgFmt: FmtUCS2, Content: []byte{5, 0, 3, 1, 2, 1, 0, 'a'}})
	f.Add(byte(0), b)
	b, _ = AppendDeliver(nil, V20, &Deliver{MsgFmt: FmtGB18030, Content: []byte{0xD6, 0xD0}})
	f.Add(byte(1), b)
	c, err := NewClient(Config{Name: "f", Addr: "127.0.0.1:1", SourceAddr: "1",
		OnReceipt: func(context.Context, Receipt) error { return nil },
		OnMessage: func(context.Context, Incoming) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, vb byte, body []byte) {
		v := version(vb)
		out, drop := c.handle(context.Background(), v, cnsms.Frame{Cmd: CmdDeliver, Seq: 1, Body: body})
		if drop {
			t.Fatal("DELIVER left unanswered")
		}
		if _, err := DecodeDeliverResp(out); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}
