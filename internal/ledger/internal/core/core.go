// Package core holds the receipt-matching algorithm shared by the ledger
// implementations. It decides; the implementations' Tx does the SQL.
package core

import (
	"context"
	"fmt"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// Part is a stored part of a submitted message.
type Part struct {
	MessageID int64
	Seq       int
	Stat      string
}

// Candidate is an unknown message a receipt may reconcile.
type Candidate struct {
	ID       int64
	Text     string
	Segments int
}

// Derive is what a message's derivation needs.
type Derive struct {
	State    message.State
	Segments int
	Stats    []string // last stat of every part, "" when none yet
}

// Tx is one open write transaction of an implementation. Times are Unix
// nanoseconds.
type Tx interface {
	Part(ctx context.Context, carrier, id string) (Part, bool, error)
	UpdatePart(ctx context.Context, carrier, id, stat, errCode string, done int64) error
	InsertPart(ctx context.Context, msgID int64, seq int, carrier, id, stat, errCode string, done, at int64) error
	LogReceipt(ctx context.Context, msgID int64, carrier, id, stat, errCode string, done, at int64) error
	PendingExists(ctx context.Context, carrier, id, stat string) (bool, error)
	InsertPending(ctx context.Context, r ledger.Receipt, at int64) error
	// TakePending deletes and returns the pending receipts for ids, oldest
	// first.
	TakePending(ctx context.Context, carrier string, ids []string) ([]ledger.Receipt, error)
	UnknownCandidates(ctx context.Context, carrier, recipient string) ([]Candidate, error)
	ForDerive(ctx context.Context, msgID int64) (Derive, error)
	// SetReceipt records the last receipt on the message and, when state is
	// not empty, moves it to state (done_at set) with an outbox row.
	SetReceipt(ctx context.Context, msgID int64, stat, errCode string, state message.State, reason string, at int64) error
}

// ApplyReceipts applies rs in order within tx.
func ApplyReceipts(ctx context.Context, tx Tx, rs []ledger.Receipt, now int64) ([]ledger.ReceiptResult, error) {
	out := make([]ledger.ReceiptResult, len(rs))
	for i := range rs {
		r := rs[i]
		r.MessageID = ledger.NormalizeID(r.MessageID)
		res, err := applyOne(ctx, tx, r, now)
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %w", i, err)
		}
		out[i] = res
	}
	return out, nil
}

// ApplyPending applies the pending receipts for a message's freshly stored
// parts.
func ApplyPending(ctx context.Context, tx Tx, carrier string, ids []string, now int64) error {
	rs, err := tx.TakePending(ctx, carrier, ids)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if _, err := applyOne(ctx, tx, r, now); err != nil {
			return err
		}
	}
	return nil
}

func applyOne(ctx context.Context, tx Tx, r ledger.Receipt, now int64) (ledger.ReceiptResult, error) {
	done := Nanos(r.Done)
	p, found, err := tx.Part(ctx, r.Carrier, r.MessageID)
	if err != nil {
		return ledger.ReceiptResult{}, err
	}
	if found {
		if p.Stat == r.Stat || (FinalStatDone(p.Stat) && !ledger.FinalStat(r.Stat)) {
			// Same receipt again, or an intermediate one after the final.
			return ledger.ReceiptResult{Outcome: ledger.OutcomeDuplicate, MessageID: p.MessageID}, nil
		}
		if err := tx.UpdatePart(ctx, r.Carrier, r.MessageID, r.Stat, r.Err, done); err != nil {
			return ledger.ReceiptResult{}, err
		}
		if err := tx.LogReceipt(ctx, p.MessageID, r.Carrier, r.MessageID, r.Stat, r.Err, done, now); err != nil {
			return ledger.ReceiptResult{}, err
		}
		return derive(ctx, tx, p.MessageID, r, now, false)
	}
	dup, err := tx.PendingExists(ctx, r.Carrier, r.MessageID, r.Stat)
	if err != nil {
		return ledger.ReceiptResult{}, err
	}
	if dup {
		return ledger.ReceiptResult{Outcome: ledger.OutcomeDuplicate}, nil
	}
	if r.Recipient != "" && r.Text != "" {
		cs, err := tx.UnknownCandidates(ctx, r.Carrier, r.Recipient)
		if err != nil {
			return ledger.ReceiptResult{}, err
		}
		for _, c := range cs {
			if !ledger.ReceiptMatchesText(c.Text, r.Text) {
				continue
			}
			d, err := tx.ForDerive(ctx, c.ID)
			if err != nil {
				return ledger.ReceiptResult{}, err
			}
			if err := tx.InsertPart(ctx, c.ID, len(d.Stats), r.Carrier, r.MessageID, r.Stat, r.Err, done, now); err != nil {
				return ledger.ReceiptResult{}, err
			}
			if err := tx.LogReceipt(ctx, c.ID, r.Carrier, r.MessageID, r.Stat, r.Err, done, now); err != nil {
				return ledger.ReceiptResult{}, err
			}
			return derive(ctx, tx, c.ID, r, now, true)
		}
	}
	if err := tx.InsertPending(ctx, r, now); err != nil {
		return ledger.ReceiptResult{}, err
	}
	return ledger.ReceiptResult{Outcome: ledger.OutcomePending}, nil
}

// FinalStatDone reports whether a stored part stat is final.
func FinalStatDone(stat string) bool { return ledger.FinalStat(stat) }

func derive(ctx context.Context, tx Tx, msgID int64, r ledger.Receipt, now int64, reconciled bool) (ledger.ReceiptResult, error) {
	res := ledger.ReceiptResult{Outcome: ledger.OutcomeMatched, MessageID: msgID, Reconciled: reconciled}
	d, err := tx.ForDerive(ctx, msgID)
	if err != nil {
		return res, err
	}
	var newState message.State
	var reason string
	if d.State == message.StateSubmitted || d.State == message.StateUnknown {
		if st, why, ok := ledger.DeriveState(d.Segments, d.Stats); ok && st != d.State {
			newState, reason = st, why
		}
	}
	if err := tx.SetReceipt(ctx, msgID, r.Stat, r.Err, newState, reason, now); err != nil {
		return res, err
	}
	if newState != "" {
		res.Changed, res.State = true, newState
	}
	return res, nil
}
