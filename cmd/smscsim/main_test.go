package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
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
		{"-tls-cert", "cert.pem"},
		{"-tls-cert", "/nonexistent.pem", "-tls-key", "/nonexistent.key"},
	} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run(context.Background(), []string{"-id-format", "base64"}, &bytes.Buffer{}, nil); err == nil {
		t.Error("bad id format accepted")
	}
}

func TestAdmin(t *testing.T) {
	s := smsc.New(smsc.Config{})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(adminMux(s, reg))
	defer srv.Close()
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"stats", "GET", "/stats", "", http.StatusOK},
		{"metrics", "GET", "/metrics", "", http.StatusOK},
		{"mo", "POST", "/mo", `{"system_id":"gw","from":"13800138000","to":"12123","text":"TD"}`, http.StatusAccepted},
		{"mo without from", "POST", "/mo", `{"system_id":"gw","to":"12123","text":"TD"}`, http.StatusBadRequest},
		{"mo unknown field", "POST", "/mo", `{"sender":"x"}`, http.StatusBadRequest},
		{"faults invalid", "PUT", "/faults", `{"queue_full":3}`, http.StatusBadRequest},
		{"faults bad duration", "PUT", "/faults", `{"slow_response":"soon"}`, http.StatusBadRequest},
		{"faults", "PUT", "/faults", `{"queue_full":1,"slow_response":"1ms"}`, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// The fault took effect: the next submit is refused with queue full.
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	for i, p := range []*smpp.PDU{
		{Command: smpp.BindTransceiver, Seq: 1, Body: &smpp.Bind{SystemID: "gw", InterfaceVersion: 0x34}},
		{Command: smpp.SubmitSM, Seq: 2, Body: &smpp.SM{Source: smpp.Address{Addr: "12123"}, Dest: smpp.Address{Addr: "13800138000"}, ShortMessage: []byte("x")}},
	} {
		b, _ := p.AppendTo(nil)
		nc.Write(b)
		for {
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			f, err := smpp.ReadFrame(br, 0)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := smpp.Decode(f)
			if r.Command == smpp.DeliverSM { // the MO queued above
				continue
			}
			if i == 1 && r.Status != smpp.Status(smsc.StatusQueueFull) {
				t.Errorf("submit answered %s", r)
			}
			break
		}
	}
}
