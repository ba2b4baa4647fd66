package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuf
	addrCh := make(chan string, 1)
	errCh := make(chan error, 1)
	go func() {
		errCh <- run(ctx, []string{"-listen", "127.0.0.1:0", "-system-id", "gw", "-password", "pw",
			"-receipt-delay", "0s", "-outcomes", "UNDELIV=1", "-id-format", "decimal", "-stats-every", "20ms", "-log-level", "debug"},
			&logs, func(a string) { addrCh <- a })
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-errCh:
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	send := func(p *smpp.PDU) {
		b, err := p.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(b)
	}
	recv := func() *smpp.PDU {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := smpp.ReadFrame(br, 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := smpp.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	send(&smpp.PDU{Command: smpp.BindTransceiver, Seq: 1, Body: &smpp.Bind{SystemID: "gw", Password: "pw", InterfaceVersion: 0x34}})
	if p := recv(); p.Status != smpp.StatusOK {
		t.Fatalf("bind: %s", p)
	}
	send(&smpp.PDU{Command: smpp.SubmitSM, Seq: 2, Body: &smpp.SM{Source: smpp.Address{Addr: "12123"}, Dest: smpp.Address{Addr: "13800138000"}, ShortMessage: []byte("hi"), RegisteredDelivery: 1}})
	var id, stat string
	for id == "" || stat == "" {
		p := recv()
		switch p.Command {
		case smpp.SubmitSMResp:
			id = p.MessageID()
		case smpp.DeliverSM:
			r, err := smpp.ParseReceipt(p.SM())
			if err != nil {
				t.Fatal(err)
			}
			stat = r.Stat
			send(&smpp.PDU{Command: smpp.DeliverSMResp, Seq: p.Seq, Body: &smpp.SMResp{}})
		}
	}
	if strings.Trim(id, "0123456789") != "" || stat != "UNDELIV" {
		t.Errorf("id %q stat %q", id, stat)
	}
	time.Sleep(50 * time.Millisecond) // a stats line or two
	cancel()
	if p := recv(); p.Command != smpp.Unbind { // clean shutdown unbinds
		t.Errorf("got %s, want unbind", p)
	} else {
		send(&smpp.PDU{Command: smpp.UnbindResp, Seq: p.Seq})
	}
	if err := <-errCh; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{"msg=stats", "submits=1", "msg=closed", "dest=138****8000"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "13800138000") {
		t.Errorf("log shows a full phone number:\n%s", out)
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-outcomes", "DELIVRD"},
		{"-outcomes", "LOST=1"},
		{"extra"},
	} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run(context.Background(), []string{"-id-format", "base64"}, &bytes.Buffer{}, nil); err == nil {
		t.Error("bad id format accepted")
	}
}
