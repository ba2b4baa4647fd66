package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/sgip"
	"github.com/traffic12123/gateway/pkg/smgp"
)

// startSim runs smscsim with args until the test ends and returns its
// address; its logs are checked for full phone numbers at the end.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuf
	addrCh := make(chan string, 1)
	errCh := make(chan error, 1)
	go func() {
		errCh <- run(ctx, append([]string{"-listen", "127.0.0.1:0", "-stats-every", "20ms", "-receipt-delay", "0s"}, args...),
			&logs, func(a string) { addrCh <- a })
	}()
	t.Cleanup(func() {
		for end := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), "msg=stats") && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond) // a stats line
		}
		cancel()
		if err := <-errCh; err != nil {
			t.Errorf("run: %v", err)
		}
		out := logs.String()
		if !strings.Contains(out, "msg=stats") {
			t.Errorf("no stats logged:\n%s", out)
		}
		if strings.Contains(out, "13800138000") {
			t.Errorf("log shows a full phone number:\n%s", out)
		}
	})
	select {
	case a := <-addrCh:
		return a
	case err := <-errCh:
		t.Fatal(err)
	}
	return ""
}

// Each native protocol: a real client of its package logs in to
// smscsim, sends a two-part message and gets a report per part.
func TestNativeProtocols(t *testing.T) {
	long := strings.Repeat("您的机动车检验有效期即将届满，请及时检验。", 4) // 80 characters: 2 parts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("cmpp2", func(t *testing.T) {
		// Every submit ends its connection, every report comes first and
		// twice: the flags reach the simulator.
		addr := startSim(t, "-protocol", "cmpp2", "-system-id", "901234", "-password", "secret", "-stat", "UNDELIV",
			"-fault-unbind-after", "1", "-fault-receipt-first", "-fault-duplicate-receipts", "1")
		reports := make(chan cmpp.Receipt, 8)
		c, err := cmpp.NewClient(cmpp.Config{Name: "cm", Addr: addr, SourceAddr: "901234", Secret: "secret", SrcID: "1069012123",
			Fallback20: true, OnReceipt: func(_ context.Context, r cmpp.Receipt) error { reports <- r; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, ctx, c.Run, c.WaitReady)
		res, err := c.Send(ctx, cmpp.Message{Dest: "13800138000", Text: long})
		if err != nil || len(res.Parts) != 2 {
			t.Fatalf("send: %v %+v", err, res)
		}
		for range 4 {
			select {
			case r := <-reports:
				if r.Stat != "UNDELIV" {
					t.Errorf("report %+v", r)
				}
			case <-ctx.Done():
				t.Fatal("fewer than 4 reports for 2 parts sent twice")
			}
		}
	})
	t.Run("smgp", func(t *testing.T) {
		addr := startSim(t, "-protocol", "smgp", "-system-id", "90123456", "-password", "secret", "-fault-restart-ids-every", "100")
		reports := make(chan smgp.Receipt, 4)
		c, err := smgp.NewClient(smgp.Config{Name: "ct", Addr: addr, ClientID: "90123456", Secret: "secret", SrcTermID: "1069012123",
			OnReceipt: func(_ context.Context, r smgp.Receipt) error { reports <- r; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, ctx, c.Run, c.WaitReady)
		res, err := c.Send(ctx, smgp.Message{Dest: "13300138000", Text: long})
		if err != nil || len(res.Parts) != 2 {
			t.Fatalf("send: %v %+v", err, res)
		}
		for range 2 {
			if r := <-reports; !r.Delivered {
				t.Errorf("report %+v", r)
			}
		}
	})
	t.Run("sgip", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := startSim(t, "-protocol", "sgip", "-system-id", "sp12123", "-password", "pw", "-sp-addr", ln.Addr().String(),
			"-sp-login", "unicom", "-sp-password", "smgpw", "-report-state", "2")
		reports := make(chan sgip.Receipt, 4)
		c, err := sgip.NewClient(sgip.Config{Name: "cu", Addr: addr, Login: "sp12123", Password: "pw", NodeID: 3053112123,
			Listener: ln, SMGLogin: "unicom", SMGPassword: "smgpw", SPNumber: "1065512123",
			OnReceipt: func(_ context.Context, r sgip.Receipt) error { reports <- r; return nil }})
		if err != nil {
			t.Fatal(err)
		}
		runClient(t, ctx, c.Run, c.WaitReady)
		res, err := c.Send(ctx, sgip.Message{Dest: "13000138000", Text: long})
		if err != nil || len(res.Parts) != 2 {
			t.Fatalf("send: %v %+v", err, res)
		}
		for range 2 {
			if r := <-reports; r.Delivered || r.Stat != "UNDELIV" {
				t.Errorf("report %+v", r)
			}
		}
	})
}

func runClient(t *testing.T, ctx context.Context, run func(context.Context) error, ready func(context.Context) error) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = run(cctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNativeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-protocol", "ucp"},
		{"-protocol", "cmpp", "-fault-queue-full", "0.1"},      // SMPP's queue-full: no CMPP result for it
		{"-protocol", "sgip", "-fault-restart-ids-every", "9"}, // the SP assigns SGIP's ids
		{"-protocol", "sgip", "-system-id", "sp"},              // no -sp-addr
		{"-protocol", "smgp", "-node-id", "1"},
		{"-stat", "UNDELIV"}, // a native flag with smpp
	} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run(context.Background(), []string{"-protocol", "cmpp"}, &bytes.Buffer{}, nil); err == nil {
		t.Error("cmpp without -system-id accepted")
	}
}

// The HTTP side: the handset record, the part log and MO.
func TestNativeHTTP(t *testing.T) {
	o, err := parse([]string{"-protocol", "cmpp", "-listen", "127.0.0.1:0", "-system-id", "901234", "-password", "secret", "-receipt-delay", "0s"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := startNative(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(nativeMux(s, prometheus.NewRegistry()))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mo := make(chan cmpp.Incoming, 1)
	c, err := cmpp.NewClient(cmpp.Config{Name: "cm", Addr: s.Addr(), SourceAddr: "901234", Secret: "secret", SrcID: "1069012123",
		OnMessage: func(_ context.Context, in cmpp.Incoming) error { mo <- in; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, ctx, c.Run, c.WaitReady)
	if _, err := c.Send(ctx, cmpp.Message{Dest: "13800138000", Text: "检验提醒"}); err != nil {
		t.Fatal(err)
	}
	get := func(path string, v any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var dests []string
	get("/handsets", &dests)
	var msgs []struct{ Text string }
	get("/handsets/13800138000", &msgs)
	var parts []struct{ Dest string }
	get("/parts", &parts)
	if len(dests) != 1 || len(msgs) != 1 || msgs[0].Text != "检验提醒" || len(parts) != 1 || parts[0].Dest != "13800138000" {
		t.Fatalf("dests %v msgs %v parts %v", dests, msgs, parts)
	}
	resp, err := http.Post(srv.URL+"/mo", "application/json", strings.NewReader(`{"account":"901234","from":"13800138000","to":"1069012123","text":"TD"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mo: %s", resp.Status)
	}
	if in := <-mo; in.Text != "TD" || in.Source != "13800138000" {
		t.Fatalf("mo %+v", in)
	}
	resp, err = http.Post(srv.URL+"/mo", "application/json", strings.NewReader(`{"account":"901234","text":"no from"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("mo without from: %s", resp.Status)
	}
}
