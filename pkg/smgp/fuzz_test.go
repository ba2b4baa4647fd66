package smgp

import (
	"context"
	"reflect"
	"testing"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// FuzzDecode runs every decoder on arbitrary input: no panic, and what
// Submit and Deliver accept encodes and decodes back to the same value.
func FuzzDecode(f *testing.F) {
	b, _ := AppendSubmit(nil, &Submit{MsgType: 6, Dest: []string{"13300000000"}, Content: []byte("hi"),
		TLVs: TLVs{{TagTPUdhi, []byte{1}}, {TagPkTotal, []byte{2}}}})
	f.Add(b)
	rep, _ := AppendReport(nil, &Report{Stat: "DELIVRD"})
	b, _ = AppendDeliver(nil, &Deliver{IsReport: 1, Content: rep})
	f.Add(b)
	f.Add(rep)
	f.Add(AppendSubmitResp(nil, &SubmitResp{Status: 1}))
	b, _ = AppendLogin(nil, &Login{ClientID: "x"})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSubmit(b); err == nil {
			if out, err := AppendSubmit(nil, s); err == nil {
				s2, err := DecodeSubmit(out)
				if err != nil || !reflect.DeepEqual(s, s2) {
					t.Fatalf("submit round trip: %v", err)
				}
			}
		}
		if d, err := DecodeDeliver(b); err == nil {
			out, err := AppendDeliver(nil, d)
			if err != nil {
				t.Fatal(err)
			}
			d2, err := DecodeDeliver(out)
			if err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("deliver round trip: %v", err)
			}
			_, _ = DecodeReport(d.Content)
		}
		_, _ = DecodeReport(b)
		_, _ = DecodeLogin(b)
		_, _ = DecodeLoginResp(b)
		_, _ = DecodeSubmitResp(b)
		_, _ = DecodeDeliverResp(b)
		_, _ = ParseMsgID(string(b))
	})
}

// FuzzHandle feeds arbitrary Deliver bodies through the client's inbound
// path: no panic, and every one is answered with a Deliver_Resp.
func FuzzHandle(f *testing.F) {
	rep, _ := AppendReport(nil, &Report{Stat: "DELIVRD"})
	b, _ := AppendDeliver(nil, &Deliver{IsReport: 1, Content: rep})
	f.Add(b)
	b, _ = AppendDeliver(nil, &Deliver{MsgFormat: 8, Content: []byte{5, 0, 3, 1, 2, 1, 0, 'a'}, TLVs: TLVs{{TagTPUdhi, []byte{1}}}})
	f.Add(b)
	c, err := NewClient(Config{Name: "f", Addr: "127.0.0.1:1", ClientID: "1",
		OnReceipt: func(context.Context, Receipt) error { return nil },
		OnMessage: func(context.Context, Incoming) error { return nil }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, drop := c.handle(context.Background(), cnsms.Frame{Cmd: CmdDeliver, Seq: 1, Body: body})
		if drop {
			t.Fatal("Deliver left unanswered")
		}
		if _, err := DecodeDeliverResp(out); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
	})
}
