package smpp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// runClient starts a client's Run for the test's duration.
func runClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	if cfg.SystemID == "" {
		cfg.SystemID, cfg.Password = "gw", "pw"
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 10 * time.Millisecond
		cfg.ReconnectMax = 50 * time.Millisecond
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

func waitReady(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitBinds waits (up to 10 s) until n binds are up.
func waitBinds(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.BindsUp() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d binds up, want %d", c.BindsUp(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

const longText = "【交管12123】您的小型汽车（京A·12345）检验有效期至2026年12月31日，请在有效期满前三个月内到检验机构检验。逾期未检验的，不得上道路行驶，将被依法处罚。连续三个检验周期未取得检验合格标志的，将被强制报废。"

func TestClientSendLongWithReceipts(t *testing.T) {
	tp := newTestPeer(t)
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		id := fmt.Sprintf("m%d", tp.nextID.Add(1))
		pc.respond(p, StatusOK, &SMResp{MessageID: id})
		pc.receipt(id, "DELIVRD", 0)
	})
	receipts := make(chan Receipt, 10)
	m := NewMetrics(prometheus.NewRegistry())
	c := runClient(t, Config{Addr: tp.addr(), Binds: 2, Metrics: m, OnReceipt: func(ctx context.Context, r Receipt) error {
		receipts <- r
		return nil
	}})
	waitReady(t, c)
	res, err := c.Send(t.Context(), Message{Source: "12123", Dest: "13800138000", Text: longText, Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Encoding != coding.UCS2 || res.Parts != 2 || len(res.IDs) != 2 || res.IDs[0] == "" || res.IDs[1] == "" {
		t.Fatalf("result %+v", res)
	}
	// What the SMSC got reassembles to the text.
	parts := map[uint8]string{}
	var ref uint16
	for range res.Parts {
		sm := tp.waitFor(t, SubmitSM).SM()
		if sm.Dest.Addr != "8613800138000" || sm.Dest.TON != TONInternational || sm.Source.Addr != "12123" {
			t.Fatalf("addresses %+v %+v", sm.Source, sm.Dest)
		}
		if sm.ESMClass&ESMClassUDHI == 0 || sm.DataCoding != 8 || sm.RegisteredDelivery != 1 || sm.ValidityPeriod != "000002000000000R" {
			t.Fatalf("submit fields esm=%x dc=%d rd=%d vp=%q", sm.ESMClass, sm.DataCoding, sm.RegisteredDelivery, sm.ValidityPeriod)
		}
		h, rest, err := coding.SplitUDH(sm.ShortMessage)
		if err != nil || !h.Concat || h.Total != 2 {
			t.Fatalf("UDH %+v %v", h, err)
		}
		if len(parts) > 0 && h.Ref != ref {
			t.Fatalf("parts with different refs")
		}
		ref = h.Ref
		parts[h.Seq], _ = coding.DecodeUCS2(rest)
	}
	if got := parts[1] + parts[2]; got != longText {
		t.Fatalf("reassembled %q", got)
	}
	want := map[string]bool{res.IDs[0]: true, res.IDs[1]: true}
	for range 2 {
		select {
		case r := <-receipts:
			if !want[r.MessageID] || r.State != StateDelivered || r.Source.Addr != "8613800138000" {
				t.Fatalf("receipt %+v", r)
			}
			delete(want, r.MessageID)
		case <-time.After(10 * time.Second):
			t.Fatal("receipts missing")
		}
	}
	if n := metricValue(t, m.Submits.WithLabelValues("test", "smpp", "ok")); n != 2 {
		t.Fatalf("submits ok %v", n)
	}
	if n := metricValue(t, m.Receipts.WithLabelValues("test", "smpp", "DELIVRD")); n != 2 {
		t.Fatalf("receipts %v", n)
	}
	waitBinds(t, c, 2)
	if n := metricValue(t, m.BindsUp.WithLabelValues("test", "smpp")); n != 2 {
		t.Fatalf("binds up %v", n)
	}
}

func TestClientReconnects(t *testing.T) {
	tp := newTestPeer(t)
	m := NewMetrics(prometheus.NewRegistry())
	c := runClient(t, Config{Addr: tp.addr(), Metrics: m})
	waitReady(t, c)
	if _, err := c.Send(t.Context(), Message{Source: "12123", Dest: "13800138000", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	tp.waitFor(t, SubmitSM)
	tp.dropAll()
	// A send racing the drop may fail as "unknown" (written, then the
	// connection went); once the client has bound again sends succeed.
	tp.waitFor(t, BindTransceiver)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.Send(ctx, Message{Source: "12123", Dest: "13800138000", Text: "two"}); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(t, m.BindAttempts.WithLabelValues("test", "smpp", "ok")); n < 2 {
		t.Fatalf("bind attempts %v", n)
	}
}

func TestClientThrottleRetry(t *testing.T) {
	tp := newTestPeer(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		key := string(p.SM().ShortMessage)
		mu.Lock()
		first := !seen[key]
		seen[key] = true
		mu.Unlock()
		if first {
			pc.respond(p, ErrThrottled.Status, nil)
			return
		}
		pc.respond(p, StatusOK, &SMResp{MessageID: "ok"})
	})
	m := NewMetrics(prometheus.NewRegistry())
	c := runClient(t, Config{Addr: tp.addr(), Metrics: m, ThrottleBackoff: time.Millisecond})
	waitReady(t, c)
	res, err := c.Send(t.Context(), Message{Source: "12123", Dest: "13800138000", Text: longText})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 2 {
		t.Fatalf("parts %d", res.Parts)
	}
	if n := metricValue(t, m.Submits.WithLabelValues("test", "smpp", "throttled")); n != 2 {
		t.Fatalf("throttled %v", n)
	}
	// With retries off the refusal reaches the caller as a SendError.
	c2 := runClient(t, Config{Name: "noretry", Addr: tp.addr(), ThrottleRetries: -1})
	waitReady(t, c2)
	_, err = c2.Send(t.Context(), Message{Source: "12123", Dest: "13900139000", Text: "fresh text"})
	var se *SendError
	if !errors.As(err, &se) || se.Failed != 1 || !errors.Is(err, ErrThrottled) {
		t.Fatalf("err = %v", err)
	}
	if retry, reason := Classify(err); !retry || reason != ReasonThrottled {
		t.Fatalf("classify %v %v", retry, reason)
	}
}

func TestClientRejectsBadMessages(t *testing.T) {
	tp := newTestPeer(t)
	c := runClient(t, Config{Addr: tp.addr()})
	tests := []struct {
		name string
		m    Message
	}{
		{"no destination", Message{Text: "x"}},
		{"han in gsm7", Message{Dest: "13800138000", Text: "交", Encoding: coding.GSM7}},
		{"too long", Message{Dest: "13800138000", Text: strings.Repeat("交", 67*256)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(t.Context(), tc.m)
			if retry, reason := Classify(err); !errors.Is(err, ErrInvalidMessage) || retry || reason != ReasonInvalid {
				t.Fatalf("err = %v (%v %v)", err, retry, reason)
			}
		})
	}
}

func TestClientShutdownUnbinds(t *testing.T) {
	tp := newTestPeer(t)
	c, err := NewClient(Config{Name: "t", Addr: tp.addr(), SystemID: "gw", Password: "pw", Binds: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitBinds(t, c, 2)
	cancel()
	tp.waitFor(t, Unbind)
	tp.waitFor(t, Unbind)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), Message{Dest: "13800138000", Text: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after Run: %v", err)
	}
	if err := c.Run(t.Context()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func TestClientBindRefused(t *testing.T) {
	tp := newTestPeer(t)
	m := NewMetrics(prometheus.NewRegistry())
	c := runClient(t, Config{Addr: tp.addr(), Password: "wrong", SystemID: "gw", Metrics: m})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, Message{Dest: "13800138000", Text: "x"})
	if !errors.Is(err, ErrNotBound) {
		t.Fatalf("err = %v", err)
	}
	if retry, reason := Classify(err); !retry || reason != ReasonNoBind {
		t.Fatalf("classify %v %v", retry, reason)
	}
	if n := metricValue(t, m.BindAttempts.WithLabelValues("test", "smpp", "error")); n < 1 {
		t.Fatalf("failed bind attempts %v", n)
	}
}

func TestClientInbound(t *testing.T) {
	tp := newTestPeer(t)
	mo := make(chan Incoming, 1)
	c := runClient(t, Config{Addr: tp.addr(),
		OnReceipt: func(ctx context.Context, r Receipt) error { return errors.New("ledger unavailable") },
		OnMessage: func(ctx context.Context, m Incoming) error { mo <- m; return nil },
	})
	waitReady(t, c)
	pc := tp.lastConn()
	// A receipt the application cannot store yet: answered RX_T_APPN.
	pc.receipt("m1", "DELIVRD", 41)
	if p := tp.waitFor(t, DeliverSMResp); p.Seq != 41 || p.Status != ErrTempAppError.Status {
		t.Fatalf("receipt answered %v", p)
	}
	// An MO in two parts with a concatenation header: each part acked
	// once held, OnMessage gets the whole (reassembly.go).
	long := strings.Repeat("查询", 40)
	plan, _ := coding.Split(long, coding.Auto, 9)
	for i, part := range plan.Parts {
		pc.send(&PDU{Command: DeliverSM, Seq: uint32(42 + i), Body: &SM{
			Source: Address{1, 1, "8613800138000"}, Dest: Address{0, 0, "12123"},
			ESMClass: ESMClassUDHI, DataCoding: plan.DataCoding, ShortMessage: part,
		}})
		if p := tp.waitFor(t, DeliverSMResp); p.Seq != uint32(42+i) || p.Status != StatusOK {
			t.Fatalf("MO part %d answered %v", i+1, p)
		}
	}
	m := <-mo
	if m.UDH.Ref != 9 || m.UDH.Total != 2 || m.Parts != 2 || m.Partial || m.Text != long {
		t.Fatalf("MO %+v", m)
	}
}

func TestClientTPS(t *testing.T) {
	tp := newTestPeer(t)
	c := runClient(t, Config{Addr: tp.addr(), TPS: 20, Burst: 1})
	waitReady(t, c)
	start := time.Now()
	for range 5 {
		if _, err := c.Send(t.Context(), Message{Dest: "13800138000", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// 5 submits at 20/s with a burst of 1 cannot take less than 200 ms
	// (a lower bound: a slow machine only makes it longer).
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("5 submits at 20 TPS took %v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{Name: "cmcc", Addr: "127.0.0.1:2775"}, true},
		{"no name", Config{Addr: "127.0.0.1:2775"}, false},
		{"bad addr", Config{Name: "x", Addr: "nohost"}, false},
		{"long system id", Config{Name: "x", Addr: "h:1", SystemID: strings.Repeat("a", 16)}, false},
		{"long password", Config{Name: "x", Addr: "h:1", Password: "123456789"}, false},
		{"bad mode", Config{Name: "x", Addr: "h:1", Mode: "both"}, false},
		{"negative tps", Config{Name: "x", Addr: "h:1", TPS: -1}, false},
		{"bad concat", Config{Name: "x", Addr: "h:1", Concat: "split"}, false},
		{"sar", Config{Name: "x", Addr: "h:1", Concat: ConcatSAR}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	if got := MaskNumber("13812345678"); got != "138****5678" {
		t.Fatalf("MaskNumber = %q", got)
	}
	if got := MaskNumber("8613812345678"); got != "861******5678" {
		t.Fatalf("MaskNumber = %q", got)
	}
	if got := MaskNumber("12123"); got != "*****" {
		t.Fatalf("MaskNumber short = %q", got)
	}
	if got := RelativeTime(26*time.Hour + 90*time.Second); got != "000001020130000R" {
		t.Fatalf("RelativeTime = %q", got)
	}
}
