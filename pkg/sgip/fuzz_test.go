package sgip

import (
	"context"
	"reflect"
	"testing"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// FuzzDecode runs every decoder on arbitrary input; what SUBMIT, DELIVER
// and REPORT accept encodes and decodes back to the same value.
func FuzzDecode(f *testing.F) {
	b, _ := AppendSubmit(nil, &Submit{Users: []string{"8613000000000"}, Content: []byte("hi")})
	f.Add(b)
	b, _ = AppendDeliver(nil, &Deliver{UserNumber: "86130", Content: []byte("x")})
	f.Add(b)
	b, _ = AppendReport(nil, &Report{UserNumber: "86130"})
	f.Add(b)
	b, _ = AppendBind(nil, &Bind{LoginType: 2, Name: "n"})
	f.Add(b)
	f.Add(AppendResp(nil, &Resp{Result: 11}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSubmit(b); err == nil {
			out, err := AppendSubmit(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			if s2, err := DecodeSubmit(out); err != nil || !reflect.DeepEqual(s, s2) {
				t.Fatalf("submit round trip: %v", err)
			}
		}
		if d, err := DecodeDeliver(b); err == nil {
			out, err := AppendDeliver(nil, d)
			if err != nil {
				t.Fatal(err)
			}
			if d2, err := DecodeDeliver(out); err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("deliver round trip: %v", err)
			}
		}
		if r, err := DecodeReport(b); err == nil {
			out, _ := AppendReport(nil, r)
			if r2, err := DecodeReport(out); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("report round trip: %v", err)
			}
		}
		_, _ = DecodeBind(b)
		_, _ = DecodeResp(CmdSubmitResp, b)
		_, _ = ParseSeqID(string(b))
	})
}

// FuzzHandle feeds arbitrary SGIP_DELIVER and SGIP_REPORT bodies through
// the client's inbound path: no panic, and every one is answered.
func FuzzHandle(f *testing.F) {
	b, _ := AppendReport(nil, &Report{UserNumber: "8613000000000"})
	f.Add(true, b)
	b, _ = AppendDeliver(nil, &Deliver{UserNumber: "8613000000000", TPUDHI: 1, MessageCoding: 8, Content: []byte{5, 0, 3, 1, 2, 1, 0, 'a'}})
	f.Add(false, b)
	c, err := NewClient(Config{Name: "f", Addr: "127.0.0.1:1", Login: "l", NodeID: 1,
		OnReceipt: func(context.Context, Receipt) error { return nil },
		OnMessage: func(context.Context, Incoming) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, report bool, body []byte) {
		cmd := CmdDeliver
		if report {
			cmd = CmdReport
		}
		out, drop := c.handle(context.Background(), cnsms.Frame{Cmd: cmd, Seq: 1, Body: body})
		if drop {
			t.Fatal("left unanswered")
		}
		if _, err := DecodeResp(cmd|0x80000000, out); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}
