package smpp

import (
	"context"
	"errors"
	"net"
)

// Reason says why a submit failed, in a bounded set that is also the
// result label of smpp_submits_total.
type Reason string

// Reasons.
const (
	ReasonOK        Reason = "ok"
	ReasonThrottled Reason = "throttled"  // ESME_RTHROTTLED: slow down and retry
	ReasonQueueFull Reason = "queue_full" // ESME_RMSGQFUL
	ReasonSMSC      Reason = "smsc_error" // other retryable statuses (system error, submit failed…)
	ReasonRejected  Reason = "rejected"   // a permanent status: bad address, bad message…
	ReasonTimeout   Reason = "timeout"    // no response; the SMSC may have accepted it
	ReasonUnknown   Reason = "unknown"    // connection lost after the PDU was written: outcome unknown
	ReasonNoBind    Reason = "no_bind"    // nothing was sent: no bind up, or closed
	ReasonInvalid   Reason = "invalid"    // the message cannot be encoded or sent as given
	ReasonCanceled  Reason = "canceled"   // the caller's context ended first
)

// Classify says whether a failed submit may be retried and why. Retrying
// after ReasonTimeout or ReasonUnknown may deliver the message twice; the
// caller decides (the ledger marks such messages unknown until a receipt
// or reconciliation settles them).
func Classify(err error) (retry bool, reason Reason) {
	if err == nil {
		return false, ReasonOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == ErrThrottled.Status:
			return true, ReasonThrottled
		case se.Status == ErrMsgQueueFull.Status:
			return true, ReasonQueueFull
		case se.Retryable:
			return true, ReasonSMSC
		}
		return false, ReasonRejected
	}
	var me *MalformedError
	if errors.As(err, &me) || errors.Is(err, ErrWrongBindMode) || errors.Is(err, ErrInvalidMessage) {
		return false, ReasonInvalid
	}
	if errors.Is(err, ErrTimeout) {
		return true, ReasonTimeout
	}
	if errors.Is(err, ErrNotBound) {
		return true, ReasonNoBind
	}
	var re *RequestError
	sent := errors.As(err, &re) && re.Sent
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if sent {
			return true, ReasonUnknown
		}
		return true, ReasonCanceled
	}
	if sent {
		return true, ReasonUnknown
	}
	var ne net.Error
	if errors.Is(err, ErrNotBound) || errors.Is(err, ErrClosed) || errors.Is(err, ErrUnbound) ||
		errors.Is(err, ErrLinkDead) || errors.As(err, &ne) || re != nil {
		return true, ReasonNoBind
	}
	return true, ReasonSMSC
}
