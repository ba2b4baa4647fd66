package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/internal/ledger"
)

// fakeReceiptStore records receipts and opt-outs; err fails both.
type fakeReceiptStore struct {
	mu       sync.Mutex
	receipts []ledger.Receipt
	optOuts  []string
	err      error
}

func (f *fakeReceiptStore) Receipts(_ context.Context, rs []ledger.Receipt) ([]ledger.ReceiptResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.receipts = append(f.receipts, rs...)
	out := make([]ledger.ReceiptResult, len(rs))
	for i := range rs {
		out[i] = ledger.ReceiptResult{Outcome: "final", MessageID: 1, Reconciled: true, PartSubmitted: t0.Add(-time.Minute)}
	}
	return out, nil
}

func (f *fakeReceiptStore) OptOut(_ context.Context, phone string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	if on {
		f.optOuts = append(f.optOuts, phone)
	}
	return nil
}

// A receipt is stored under its carrier with the handset's number
// normalised, and counted by a bounded status; an unsubscribe reply puts
// its sender on the opt-out list; a store failure is returned, so that
// the connector makes the carrier deliver again.
func TestReceiptsAndIncoming(t *testing.T) {
	store := &fakeReceiptStore{}
	m := NewMetrics(prometheus.NewRegistry())
	r := NewReceipts(store, discard(), m).WithClock(func() time.Time { return t0 })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	onReceipt, onMessage := r.OnReceipt("c"), r.OnMessage("c")
	if err := onReceipt(ctx, Receipt{MessageID: "m1", Stat: "DELIVRD", Err: "000", From: "8613800138000", Text: "【交管12123】"}); err != nil {
		t.Fatal(err)
	}
	if err := onReceipt(ctx, Receipt{MessageID: "m2", Stat: "WEIRD", From: "not a number"}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []Incoming{{From: "8613800138001", Text: " td "}, {From: "8613800138002", Text: "谢谢"}, {From: "12", Text: "TD"}} {
		if err := onMessage(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	store.mu.Lock()
	got, optOuts := store.receipts, store.optOuts
	store.mu.Unlock()
	if len(got) != 2 || got[0] != (ledger.Receipt{Carrier: "c", MessageID: "m1", Stat: "DELIVRD", Err: "000", Recipient: "13800138000", Text: "【交管12123】"}) ||
		got[1].Recipient != "not a number" {
		t.Errorf("receipts stored %+v", got)
	}
	if len(optOuts) != 1 || optOuts[0] != "13800138001" {
		t.Errorf("opted out %v, want the one who replied TD", optOuts)
	}
	if a, b := testutil.ToFloat64(m.receipts.WithLabelValues("c", "DELIVRD")), testutil.ToFloat64(m.receipts.WithLabelValues("c", "other")); a != 1 || b != 1 {
		t.Errorf("receipts by status: DELIVRD %v, other %v", a, b)
	}
	if n := testutil.ToFloat64(m.incoming.WithLabelValues("c")); n != 3 {
		t.Errorf("incoming %v", n)
	}

	store.mu.Lock()
	store.err = errors.New("ledger down")
	store.mu.Unlock()
	if err := onReceipt(ctx, Receipt{MessageID: "m3", Stat: "DELIVRD", From: "13800138000"}); err == nil {
		t.Error("a receipt the ledger refused was acknowledged")
	}
	if err := onMessage(ctx, Incoming{From: "13800138003", Text: "退订"}); err == nil {
		t.Error("an opt-out the ledger refused was acknowledged")
	}
	if n := testutil.ToFloat64(m.receipts.WithLabelValues("c", "error")); n != 1 {
		t.Errorf("receipt errors %v", n)
	}
}
