package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/redact"
	"github.com/traffic12123/gateway/internal/route"
)

// ReceiptStore is the part of the ledger receipts go to.
type ReceiptStore interface {
	Receipts(ctx context.Context, rs []ledger.Receipt) ([]ledger.ReceiptResult, error)
	OptOut(ctx context.Context, phone string, on bool) error
}

// Receipts takes every carrier's receipts and incoming messages
// (Handlers.Receipt / Incoming): it group-commits receipts into the
// ledger and returns only once the receipt is durable, so that the
// connector acknowledges a receipt (SMPP deliver_sm_resp) after, never
// before.
type Receipts struct {
	b       *batcher[ledger.Receipt, ledger.ReceiptResult]
	store   ReceiptStore
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time // the clock the sender records submissions with
}

// NewReceipts returns the handler; Run must be running for Receipt calls
// to return.
func NewReceipts(store ReceiptStore, logger *slog.Logger, m *Metrics) *Receipts {
	r := &Receipts{store: store, logger: logger, metrics: m, now: time.Now}
	r.b = newBatcher(1000, batchFill, batchLinger, func(ctx context.Context, rs []ledger.Receipt) ([]ledger.ReceiptResult, error) {
		start := time.Now()
		res, err := store.Receipts(ctx, rs)
		m.ledgerSeconds.WithLabelValues("receipts").Observe(time.Since(start).Seconds())
		return res, err
	})
	return r
}

// WithClock sets the clock receipt latency is measured with: the one the
// sender records submissions with (an injected clock in the demo and
// tests). Default time.Now.
func (r *Receipts) WithClock(now func() time.Time) *Receipts {
	r.now = now
	return r
}

// Run commits receipts until ctx is done, then flushes what was handed in.
func (r *Receipts) Run(ctx context.Context) {
	r.b.Run(ctx, context.WithoutCancel(ctx))
}

// OnReceipt returns the receipt callback of one carrier's connector.
func (r *Receipts) OnReceipt(carrier string) func(context.Context, Receipt) error {
	return func(ctx context.Context, rc Receipt) error { return r.receipt(ctx, carrier, &rc) }
}

// OnMessage returns the incoming-message callback of one carrier's connector.
func (r *Receipts) OnMessage(carrier string) func(context.Context, Incoming) error {
	return func(ctx context.Context, m Incoming) error { return r.incoming(ctx, carrier, &m) }
}

func (r *Receipts) receipt(ctx context.Context, carrier string, rc *Receipt) error {
	recipient := rc.From
	if n, err := route.Normalize(recipient); err == nil {
		recipient = n
	}
	res, err := r.b.Add(ctx, ledger.Receipt{
		Carrier:   carrier,
		MessageID: rc.MessageID,
		Stat:      rc.Stat,
		Err:       rc.Err,
		Recipient: recipient,
		Text:      rc.Text,
	})
	if err != nil {
		r.metrics.receipts.WithLabelValues(carrier, "error").Inc()
		return fmt.Errorf("dispatch: store receipt: %w", err)
	}
	r.metrics.receipts.WithLabelValues(carrier, statLabel(rc.Stat)).Inc()
	r.metrics.receiptOutcomes.WithLabelValues(string(res.Outcome)).Inc()
	if !res.PartSubmitted.IsZero() {
		r.metrics.receiptLatency.WithLabelValues(carrier).Observe(max(0, r.now().Sub(res.PartSubmitted).Seconds()))
	}
	if res.Reconciled {
		r.logger.Info("unknown submit outcome reconciled by receipt", "message", res.MessageID, "carrier", carrier, "stat", rc.Stat)
	}
	return nil
}

// Incoming handles a mobile-originated message: an unsubscribe reply
// (TD, 退订, ...) puts the sender on the opt-out list; anything else is
// counted and logged without its text or the full number.
func (r *Receipts) incoming(ctx context.Context, carrier string, m *Incoming) error {
	r.metrics.incoming.WithLabelValues(carrier).Inc()
	from := m.From
	if !IsUnsubscribe(m.Text) {
		r.logger.Info("incoming message", "carrier", carrier, "from", redact.Phone(from), "chars", len([]rune(m.Text)))
		return nil
	}
	phone, err := route.Normalize(from)
	if err != nil {
		r.logger.Warn("unsubscribe from an invalid number ignored", "carrier", carrier, "from", redact.Phone(from))
		return nil
	}
	if err := r.store.OptOut(ctx, phone, true); err != nil {
		return fmt.Errorf("dispatch: opt-out: %w", err)
	}
	r.metrics.optOuts.Inc()
	r.logger.Info("recipient opted out", "carrier", carrier, "from", redact.Phone(phone))
	return nil
}

// IsUnsubscribe reports whether an incoming text asks to stop reminders.
func IsUnsubscribe(text string) bool {
	switch strings.ToUpper(strings.TrimSpace(text)) {
	case "TD", "T", "N", "0000", "退订", "退定", "取消", "STOP", "UNSUBSCRIBE":
		return true
	}
	return false
}

// statLabel bounds the receipt status label.
func statLabel(s string) string {
	switch s {
	case "DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "ACCEPTD", "UNKNOWN", "ENROUTE":
		return s
	}
	return "other"
}
