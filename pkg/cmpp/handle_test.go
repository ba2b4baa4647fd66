package cmpp

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/pkg/cnsms"
)

// A report that does not parse is acked (sending it again will not make
// it parse) and counted; a DELIVER that does not decode is answered
// result 1 with its Msg_Id.
func TestHandleBadDeliver(t *testing.T) {
	m := cnsms.NewMetrics(nil)
	called := false
	c, err := NewClient(Config{Name: "x", Addr: "127.0.0.1:1", SourceAddr: "901234", Metrics: m,
		OnReceipt: func(context.Context, Receipt) error { called = true; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := AppendDeliver(nil, V30, &Deliver{MsgID: 77, RegisteredDelivery: Report, Content: []byte("short")})
	out, drop := c.handle(context.Background(), V30, cnsms.Frame{Cmd: CmdDeliver, Seq: 1, Body: body})
	r, err := DecodeDeliverResp(out)
	if drop || err != nil || r.Result != ResultOK || r.MsgID != 77 || called {
		t.Fatalf("unparsed report: %+v %v drop=%v called=%v", r, err, drop, called)
	}
	if n := testutil.ToFloat64(m.Receipts.WithLabelValues("x", "cmpp", "unparsed")); n != 1 {
		t.Fatalf("unparsed %v", n)
	}
	out, _ = c.handle(context.Background(), V30, cnsms.Frame{Cmd: CmdDeliver, Seq: 2, Body: body[:20]})
	if r, err := DecodeDeliverResp(out); err != nil || r.Result != ResultBadStructure || r.MsgID != 77 {
		t.Fatalf("malformed deliver: %+v %v", r, err)
	}
}
