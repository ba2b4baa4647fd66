package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// Unknowns is the part of the ledger the reconciler works on.
type Unknowns interface {
	Recover(ctx context.Context, owner string, staleBefore time.Time) (int, error)
	Unknown(ctx context.Context, olderThan time.Time, limit int) ([]*message.Message, error)
	Requeue(ctx context.Context, ids []int64, maxRequeues int, notBefore time.Time) (ledger.RequeueResult, error)
	NoReceipt(ctx context.Context, now time.Time, validity, grace time.Duration, limit int) (int, error)
}

// Reconciler settles messages whose submit outcome is unknown (the link
// dropped or no response came after submit_sm was written, or the process
// died mid-submit). The ledger matches late receipts to them by recipient
// and text; those that stay unknown for Grace are resent, at most
// ResendLimit times, or failed with the reason. It also takes over the
// claims of instances that died: "sending" rows older than ClaimLease
// become unknown.
type Reconciler struct {
	Ledger      Unknowns
	Grace       time.Duration
	ClaimLease  time.Duration
	ResendLimit int
	Every       time.Duration
	// ReceiptValidity and ReceiptGrace end the wait for receipts:
	// submitted messages still waiting ReceiptGrace after their validity
	// (ExpiresAt, else ReceiptValidity after submission) become
	// no_receipt. Zero ReceiptValidity: never.
	ReceiptValidity, ReceiptGrace time.Duration
	// UpSince tells since when a carrier has had a bind up (zero while it
	// has none). Receipts only flow while a bind is up, so an unknown
	// message's grace period runs from the later of its last change and
	// its carrier's return: an outage longer than Grace must not turn
	// accepted messages into resends. Nil: carriers count as always up.
	UpSince func(carrier string) time.Time
	Now     func() time.Time
	Wake    func()
	Logger  *slog.Logger
	Metrics *Metrics
}

// Run reconciles every Every until ctx is done.
func (r *Reconciler) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = min(max(r.Grace/4, time.Second), time.Minute)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Once(ctx); err != nil && ctx.Err() == nil {
				r.Logger.Error("reconciling unknown outcomes failed", "err", err)
			}
		}
	}
}

// Once handles every unknown message older than Grace.
func (r *Reconciler) Once(ctx context.Context) error {
	now := r.Now()
	if r.ClaimLease > 0 {
		n, err := r.Ledger.Recover(ctx, "", now.Add(-r.ClaimLease))
		if err != nil {
			return err
		}
		if n > 0 {
			r.Metrics.reconciled.WithLabelValues("claim_expired").Add(float64(n))
			r.Logger.Warn("claims of a stopped instance expired; their outcome is now unknown", "messages", n)
		}
	}
	if r.ReceiptValidity > 0 {
		n, err := r.Ledger.NoReceipt(ctx, now, r.ReceiptValidity, r.ReceiptGrace, 5000)
		if err != nil {
			return err
		}
		if n > 0 {
			r.Metrics.noReceipt.Add(float64(n))
			r.Logger.Warn("messages without a receipt after validity + grace are now no_receipt", "messages", n,
				"validity", r.ReceiptValidity, "grace", r.ReceiptGrace)
		}
	}
	// One page per tick: rows skipped below stay unknown, so paging by
	// re-querying would find them again.
	ms, err := r.Ledger.Unknown(ctx, now.Add(-r.Grace), 5000)
	if err != nil || len(ms) == 0 {
		return err
	}
	ids := make([]int64, 0, len(ms))
	for _, m := range ms {
		if r.UpSince != nil {
			up := r.UpSince(m.Carrier)
			if up.IsZero() || now.Sub(up) < r.Grace {
				continue // its receipts cannot have come yet
			}
		}
		ids = append(ids, m.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	res, err := r.Ledger.Requeue(ctx, ids, r.ResendLimit, now)
	if err != nil {
		return err
	}
	r.Metrics.reconciled.WithLabelValues("resent").Add(float64(res.Requeued))
	r.Metrics.reconciled.WithLabelValues("failed").Add(float64(res.Failed))
	r.Logger.Info("unknown outcomes settled", "resent", res.Requeued, "failed", res.Failed)
	if res.Requeued > 0 && r.Wake != nil {
		r.Wake()
	}
	return nil
}
