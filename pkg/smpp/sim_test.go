package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// These tests run the client against the SMSC simulator of
// pkg/smpp/smsc, which has its own wire code: two implementations that
// must agree.

func startSim(t testing.TB, cfg smsc.Config) *smsc.Server {
	t.Helper()
	s := smsc.New(cfg)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type receipts struct {
	mu  sync.Mutex
	ids map[string]string // message id → stat
	n   atomic.Int64
}

func (r *receipts) on(ctx context.Context, rc smpp.Receipt) error {
	r.mu.Lock()
	r.ids[rc.MessageID] = rc.Stat
	r.mu.Unlock()
	r.n.Add(1)
	return nil
}

func startClient(t testing.TB, cfg smpp.Config) *smpp.Client {
	t.Helper()
	cfg.Name = "sim"
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 100*time.Millisecond
	}
	c, err := smpp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func text(i int) string {
	if i%3 == 0 {
		return fmt.Sprintf("【交管12123】第%d条：您的机动车检验有效期即将届满，请在有效期满前三个月内到检验机构申请检验。逾期未检验的机动车不得上道路行驶，请及时处理。", i)
	}
	return fmt.Sprintf("【交管12123】第%d条：您有一条交通违法记录待处理。", i)
}

func TestWithSimulator(t *testing.T) {
	t.Run("every part receipted and reassembled", func(t *testing.T) {
		sim := startSim(t, smsc.Config{SystemID: "gw", Password: "pw"})
		rc := &receipts{ids: map[string]string{}}
		c := startClient(t, smpp.Config{Addr: sim.Addr(), SystemID: "gw", Password: "pw", Binds: 2, OnReceipt: rc.on})
		const n = 90
		results := make([]smpp.Result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				results[i], err = c.Send(t.Context(), smpp.Message{Source: "12123", Dest: fmt.Sprintf("1380013%04d", i), Text: text(i)})
				if err != nil {
					t.Errorf("send %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		parts := 0
		for _, r := range results {
			parts += r.Parts
		}
		if parts != n+n/3 {
			t.Fatalf("%d parts, want %d", parts, n+n/3)
		}
		eventually(t, "receipts", func() bool { return rc.n.Load() >= int64(parts) })
		rc.mu.Lock()
		for i, r := range results {
			for _, id := range r.IDs {
				if rc.ids[id] != "DELIVRD" {
					t.Errorf("message %d part %s: receipt %q", i, id, rc.ids[id])
				}
			}
		}
		rc.mu.Unlock()
		got := map[string]string{}
		for _, m := range sim.Messages() {
			got[m.Dest] = m.Text
		}
		for i := range n {
			dest := fmt.Sprintf("861380013%04d", i)
			if got[dest] != text(i) {
				t.Fatalf("handset %s shows %q, want %q", dest, got[dest], text(i))
			}
		}
	})

	t.Run("receipt before response", func(t *testing.T) {
		sim := startSim(t, smsc.Config{Faults: smsc.Faults{ReceiptFirst: true}})
		rc := &receipts{ids: map[string]string{}}
		c := startClient(t, smpp.Config{Addr: sim.Addr(), OnReceipt: rc.on})
		var ids []string
		for i := range 20 {
			r, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: text(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.IDs...)
		}
		eventually(t, "receipts", func() bool { return rc.n.Load() >= int64(len(ids)) })
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range ids {
			if rc.ids[id] == "" {
				t.Fatalf("no receipt for %s", id)
			}
		}
	})

	t.Run("receipts on a separate receiver bind", func(t *testing.T) {
		sim := startSim(t, smsc.Config{Faults: smsc.Faults{ReceiptOtherBind: true}})
		rc := &receipts{ids: map[string]string{}}
		c := startClient(t, smpp.Config{Addr: sim.Addr(), SystemID: "gw", Mode: smpp.ModeTransmitter, ReceiverBinds: 1, OnReceipt: rc.on})
		eventually(t, "two binds", func() bool { return c.BindsUp() == 2 && sim.Stats().Binds == 2 })
		var ids []string
		for i := range 10 {
			r, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: text(i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.IDs...)
		}
		eventually(t, "receipts", func() bool { return rc.n.Load() >= int64(len(ids)) })
	})

	for _, mode := range []smpp.Concat{smpp.ConcatSAR, smpp.ConcatPayload} {
		t.Run("long message by "+string(mode), func(t *testing.T) {
			sim := startSim(t, smsc.Config{})
			c := startClient(t, smpp.Config{Addr: sim.Addr(), Concat: mode})
			res, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: text(3)})
			if err != nil {
				t.Fatal(err)
			}
			want := 2
			if mode == smpp.ConcatPayload {
				want = 1
			}
			if res.Parts != want || len(res.IDs) != want {
				t.Fatalf("result %+v", res)
			}
			eventually(t, "message", func() bool { return len(sim.Messages()) == 1 })
			if got := sim.Messages()[0].Text; got != text(3) {
				t.Fatalf("handset shows %q", got)
			}
			for _, sub := range sim.Submits() {
				if sub.UDH != nil || sub.ESMClass&0x40 != 0 || (mode == smpp.ConcatSAR) != sub.SAR {
					t.Fatalf("submit %+v", sub)
				}
			}
		})
	}

	t.Run("queue full is retried", func(t *testing.T) {
		sim := startSim(t, smsc.Config{Faults: smsc.Faults{QueueFull: 0.3}, Seed: 7})
		c := startClient(t, smpp.Config{Addr: sim.Addr(), ThrottleRetries: 20, ThrottleBackoff: time.Millisecond})
		for i := range 50 {
			if _, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: text(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if st := sim.Stats(); st.QueueFull == 0 {
			t.Fatalf("no queue-full answers to retry: %+v", st)
		}
	})

	t.Run("no response is a timeout with unknown outcome", func(t *testing.T) {
		sim := startSim(t, smsc.Config{Faults: smsc.Faults{NoResponse: 1}})
		c := startClient(t, smpp.Config{Addr: sim.Addr(), RequestTimeout: 100 * time.Millisecond})
		_, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: "hello"})
		if retry, reason := smpp.Classify(err); !errors.Is(err, smpp.ErrTimeout) || !retry || reason != smpp.ReasonTimeout {
			t.Fatalf("err = %v (%v %v)", err, retry, reason)
		}
	})

	t.Run("dropped connections and an outage", func(t *testing.T) {
		sim := startSim(t, smsc.Config{Faults: smsc.Faults{DropAfter: 15}})
		c := startClient(t, smpp.Config{Addr: sim.Addr(), RequestTimeout: time.Second})
		ok, unknown := 0, 0
		for i := range 60 {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			_, err := c.Send(ctx, smpp.Message{Source: "12123", Dest: "13800138000", Text: fmt.Sprintf("msg %d", i)})
			cancel()
			switch _, reason := smpp.Classify(err); reason {
			case smpp.ReasonOK:
				ok++
			case smpp.ReasonUnknown, smpp.ReasonTimeout:
				unknown++
			default:
				t.Fatalf("send %d: %v (%s)", i, err, reason)
			}
		}
		if st := sim.Stats(); st.ConnsDropped == 0 || ok < 45 || unknown == 0 {
			t.Fatalf("ok %d unknown %d, stats %+v", ok, unknown, st)
		}
		if err := sim.SetFaults(smsc.Faults{Down: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "outage noticed", func() bool { return c.BindsUp() == 0 })
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := c.Send(ctx, smpp.Message{Source: "12123", Dest: "13800138000", Text: "after the outage"}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkClientWithSimulator measures the whole client — encoding,
// splitting, window, receipts parsed and handed to OnReceipt — against
// the simulator on loopback, with 256 sends in flight.
func BenchmarkClientWithSimulator(b *testing.B) {
	for _, bc := range []struct {
		name  string
		binds int
		long  bool
	}{
		{"1bind", 1, false},
		{"2binds", 2, false},
		{"1bind-2parts", 1, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sim := startSim(b, smsc.Config{MaxRecords: -1})
			var got atomic.Int64
			c := startClient(b, smpp.Config{Addr: sim.Addr(), Binds: bc.binds, Window: 256,
				OnReceipt: func(ctx context.Context, r smpp.Receipt) error { got.Add(1); return nil }})
			msg := smpp.Message{Source: "12123", Dest: "13800138000", Text: text(1)}
			if bc.long {
				msg.Text = text(3)
			}
			const inflight = 256
			work := make(chan struct{}, inflight)
			var wg sync.WaitGroup
			var parts atomic.Int64
			for range inflight {
				wg.Go(func() {
					for range work {
						r, err := c.Send(context.Background(), msg)
						if err != nil {
							b.Error(err)
						}
						parts.Add(int64(r.Parts))
					}
				})
			}
			start := time.Now()
			n := 0
			for b.Loop() {
				work <- struct{}{}
				n++
			}
			close(work)
			wg.Wait()
			deadline := time.Now().Add(30 * time.Second)
			// The simulator drops receipts beyond its MaxPendingReceipts.
			for got.Load()+int64(sim.Stats().ReceiptsDropped) < parts.Load() {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d receipts after 30 s; simulator %+v", got.Load(), parts.Load(), sim.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			el := time.Since(start).Seconds()
			if d := sim.Stats().ReceiptsDropped; d > 0 {
				b.Logf("simulator dropped %d receipts (MaxPendingReceipts)", d)
			}
			b.ReportMetric(float64(n)/el, "msgs/s")
			b.ReportMetric(float64(parts.Load())/el, "parts/s")
		})
	}
}

// TestChaos sends concurrently through several binds while the simulator
// refuses, drops connections, swallows responses and duplicates
// receipts. Every send must return, be classified, and every id the
// client reports accepted must get its receipt.
func TestChaos(t *testing.T) {
	sim := startSim(t, smsc.Config{Seed: 12123, Faults: smsc.Faults{
		QueueFull: 0.05, DropAfter: 60, NoResponse: 0.01, DuplicateReceipts: 0.05,
	}})
	rc := &receipts{ids: map[string]string{}}
	c := startClient(t, smpp.Config{Addr: sim.Addr(), Binds: 3, Window: 16, RequestTimeout: 300 * time.Millisecond,
		ThrottleBackoff: time.Millisecond, OnReceipt: rc.on})
	const senders, each = 16, 25
	var mu sync.Mutex
	reasons := map[smpp.Reason]int{}
	var accepted []string
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := range each {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				res, err := c.Send(ctx, smpp.Message{Source: "12123", Dest: fmt.Sprintf("139%08d", w*1000+i), Text: text(w*each + i)})
				cancel()
				_, reason := smpp.Classify(err)
				mu.Lock()
				reasons[reason]++
				for _, id := range res.IDs {
					if id != "" {
						accepted = append(accepted, id)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("outcomes %v, %d parts accepted, simulator %+v", reasons, len(accepted), sim.Stats())
	for r := range reasons {
		switch r {
		// no_bind: the simulator drops every connection after 60 PDUs,
		// and a part whose bind went away each time it was picked was
		// not written at all (retryable, nothing to reconcile).
		case smpp.ReasonOK, smpp.ReasonUnknown, smpp.ReasonTimeout, smpp.ReasonQueueFull, smpp.ReasonNoBind:
		default:
			t.Errorf("unexpected outcome %s", r)
		}
	}
	if reasons[smpp.ReasonOK] < senders*each/2 {
		t.Fatalf("only %d of %d sent", reasons[smpp.ReasonOK], senders*each)
	}
	eventually(t, "receipts for accepted parts", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, id := range accepted {
			if rc.ids[id] == "" {
				return false
			}
		}
		return true
	})
}
