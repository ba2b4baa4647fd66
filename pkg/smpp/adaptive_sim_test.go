package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// TestThrottleConverges sends at 4× what the simulator's bind tolerates.
// Without the account-wide reaction three submits in four would be
// answered ESME_RTHROTTLED; with it the client settles near the SMSC's
// rate, throttles become rare, and every message is accepted exactly
// once (the simulator's counts add up: no loss, no extra submits).
func TestThrottleConverges(t *testing.T) {
	sim := startSim(t, smsc.Config{TPS: 100, TPSBurst: 20})
	reg := prometheus.NewRegistry()
	m := smpp.NewMetrics(reg)
	c := startClient(t, smpp.Config{Addr: sim.Addr(), TPS: 400, Burst: 8, Metrics: m,
		ThrottleRetries: 1000, ThrottleBackoff: 20 * time.Millisecond, ThrottleRecover: time.Second})
	const n, senders = 300, 8
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := w; i < n; i += senders {
				if _, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: fmt.Sprintf("msg %d", i)}); err != nil {
					t.Errorf("send %d: %v", i, err)
					continue
				}
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	st := sim.Stats()
	ts := c.Throttle()
	t.Logf("accepted %d, simulator %d submits %d throttled; client %+v", accepted.Load(), st.Submits, st.Throttled, ts)
	if accepted.Load() != n {
		t.Fatalf("%d of %d accepted", accepted.Load(), n)
	}
	if st.Submits != n+st.Throttled+st.QueueFull {
		t.Fatalf("simulator saw %d submits for %d messages and %d refusals", st.Submits, n, st.Throttled)
	}
	if st.Throttled == 0 || ts.Episodes == 0 {
		t.Fatalf("never throttled: the test proves nothing (%+v)", st)
	}
	if st.Throttled > n/4 {
		t.Fatalf("%d throttled answers for %d messages: the client did not slow down", st.Throttled, n)
	}
	if got := testutil.ToFloat64(m.ThrottlePauses.WithLabelValues("sim", "smpp")); got != float64(ts.Episodes) {
		t.Fatalf("smpp_throttle_pauses_total %v, episodes %d", got, ts.Episodes)
	}
	if got := testutil.ToFloat64(m.EffectiveTPS.WithLabelValues("sim", "smpp")); got >= 400 || got != ts.EffectiveTPS {
		t.Fatalf("smpp_effective_tps %v, state %v", got, ts.EffectiveTPS)
	}
}

// TestThrottleQueueFullUnlimited: with no TPS configured a queue-full
// SMSC still pauses the account, and a pause is not a busy loop: the
// submits the simulator saw stay within the messages plus the refusals.
func TestThrottleQueueFullUnlimited(t *testing.T) {
	sim := startSim(t, smsc.Config{Faults: smsc.Faults{QueueFull: 0.5}, Seed: 3})
	c := startClient(t, smpp.Config{Addr: sim.Addr(), ThrottleRetries: 100, ThrottleBackoff: time.Millisecond, ThrottleMaxPause: 20 * time.Millisecond})
	const n = 40
	for i := range n {
		if _, err := c.Send(t.Context(), smpp.Message{Source: "12123", Dest: "13800138000", Text: fmt.Sprintf("msg %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	st, ts := sim.Stats(), c.Throttle()
	if st.QueueFull == 0 || ts.Episodes == 0 || ts.EffectiveTPS != 0 {
		t.Fatalf("simulator %+v, client %+v", st, ts)
	}
	if st.Submits != n+st.QueueFull {
		t.Fatalf("%d submits for %d messages and %d refusals", st.Submits, n, st.QueueFull)
	}
}

// TestMOReassembledFromSimulator: the simulator splits long MOs into
// parts with an 8-bit UDH; OnMessage gets each message once, whole.
func TestMOReassembledFromSimulator(t *testing.T) {
	sim := startSim(t, smsc.Config{SystemID: "gw"})
	got := make(chan smpp.Incoming, 10)
	c := startClient(t, smpp.Config{Addr: sim.Addr(), SystemID: "gw", Binds: 2,
		OnMessage: func(ctx context.Context, m smpp.Incoming) error { got <- m; return nil }})
	eventually(t, "binds", func() bool { return c.BindsUp() == 2 })
	texts := []string{
		"TD",
		strings.Repeat("我要退订交管短信，", 20),    // 180 characters: 3 UCS2 parts
		strings.Repeat("QUERY 12123 ", 30), // 360 septets: 3 GSM7 parts
	}
	for _, tx := range texts {
		if err := sim.Deliver(smsc.MO{SystemID: "gw", From: "13800138000", To: "12123", Text: tx}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]smpp.Incoming{}
	for range texts {
		select {
		case m := <-got:
			seen[m.Text] = m
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d MOs", len(seen), len(texts))
		}
	}
	for _, tx := range texts {
		m, ok := seen[tx]
		if !ok {
			t.Fatalf("%q not delivered whole; got %v", tx, seen)
		}
		want := 1
		if len(tx) > 100 {
			want = 3
		}
		if m.Parts != want || m.Partial {
			t.Fatalf("%q: parts %d partial %v", tx[:10], m.Parts, m.Partial)
		}
	}
	eventually(t, "parts acked", func() bool { return sim.Stats().MODelivered == 7 })
	select {
	case m := <-got:
		t.Fatalf("extra MO %+v", m)
	default:
	}
}

// TestLateResponses: the simulator answers after the client gave up.
// Send reports an unknown outcome; OnLate then gets what the SMSC said,
// per part, with the caller's reference and the message ids the
// simulator recorded.
func TestLateResponses(t *testing.T) {
	sim := startSim(t, smsc.Config{Faults: smsc.Faults{SlowResponse: 400 * time.Millisecond}})
	var mu sync.Mutex
	var lates []smpp.Late
	c := startClient(t, smpp.Config{Addr: sim.Addr(), RequestTimeout: 50 * time.Millisecond,
		OnLate: func(ctx context.Context, l smpp.Late) { mu.Lock(); lates = append(lates, l); mu.Unlock() }})
	msgs := []smpp.Message{
		{Ref: "ledger-1", Source: "12123", Dest: "13800138000", Text: text(1)},
		{Ref: "ledger-2", Source: "12123", Dest: "13800138001", Text: text(3)}, // 2 parts
	}
	for _, m := range msgs {
		_, err := c.Send(t.Context(), m)
		if _, reason := smpp.Classify(err); reason != smpp.ReasonTimeout || !errors.Is(err, smpp.ErrTimeout) {
			t.Fatalf("%s: err %v (%s), want a timeout", m.Ref, err, reason)
		}
	}
	eventually(t, "late responses", func() bool { mu.Lock(); defer mu.Unlock(); return len(lates) == 3 })
	ids := map[string]bool{}
	for _, s := range sim.Submits() {
		ids[s.MessageID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, l := range lates {
		if l.Status != smpp.StatusOK || !ids[l.MessageID] {
			t.Fatalf("late %+v: id not among the simulator's %v", l, ids)
		}
		seen[fmt.Sprintf("%s/%d/%d", l.Ref, l.Part, l.Parts)] = true
	}
	for _, k := range []string{"ledger-1/1/1", "ledger-2/1/2", "ledger-2/2/2"} {
		if !seen[k] {
			t.Fatalf("no late response for %s: %+v", k, lates)
		}
	}
}
