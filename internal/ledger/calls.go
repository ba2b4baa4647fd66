package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// CallState is where an outbound notice call is in its life. The states
// the dialler reports (pkg/ivr.CallState) are the same strings.
type CallState string

// Call states. Armed waits for its SMS (a fallback); Queued is due at
// NotBefore; Claimed is taken by a voice stage that has not dialled yet;
// Dialling, Ringing and Answered are a call in progress. Confirmed, Busy,
// NoAnswer, Failed and Unconfirmed end an attempt: final when no retry is
// due, otherwise the call goes back to Queued. Cancelled and Expired end
// a call that was never (or no more) due.
const (
	CallArmed       CallState = "armed"
	CallQueued      CallState = "queued"
	CallClaimed     CallState = "claimed"
	CallDialling    CallState = "dialling"
	CallRinging     CallState = "ringing"
	CallAnswered    CallState = "answered"
	CallConfirmed   CallState = "confirmed"
	CallBusy        CallState = "busy"
	CallNoAnswer    CallState = "no_answer"
	CallFailed      CallState = "failed"
	CallUnconfirmed CallState = "answered_unconfirmed"
	CallCancelled   CallState = "cancelled"
	CallExpired     CallState = "expired"
)

// CallStates lists every call state (metrics, summaries).
var CallStates = []CallState{CallArmed, CallQueued, CallClaimed, CallDialling, CallRinging, CallAnswered,
	CallConfirmed, CallBusy, CallNoAnswer, CallFailed, CallUnconfirmed, CallCancelled, CallExpired}

// InProgress reports whether a call may be on the line (dialled, not ended).
func (s CallState) InProgress() bool {
	return s == CallDialling || s == CallRinging || s == CallAnswered
}

// Outcome reports whether s ends an attempt (CallEnded accepts these).
func (s CallState) Outcome() bool {
	switch s {
	case CallConfirmed, CallBusy, CallNoAnswer, CallFailed, CallUnconfirmed:
		return true
	}
	return false
}

// Reasons the ledger records on calls.
const (
	// ReasonSMSPrefix + the SMS's final state (failed, expired, partial,
	// no_receipt): why an armed call became queued.
	ReasonSMSPrefix = "sms_"
	// ReasonNoDelivery: the SMS had no delivered receipt within the
	// rule's fallback_after.
	ReasonNoDelivery = "sms_not_delivered_in_time"
	// ReasonSMSDelivered: the SMS was delivered; the armed call is
	// cancelled. Cancelled and suppressed SMS cancel their call with
	// ReasonSMSPrefix + the state.
	ReasonSMSDelivered = "sms_delivered"
	// ReasonCallCrash: the call was in progress when its owner died and
	// no call record says how it ended.
	ReasonCallCrash = "crash during call"
	// ReasonCallIDPrefix + the SIP Call-ID is the reason of an attempt's
	// dialling change on the status outbox (trace reads it back into
	// TraceEntry.SIPCallID).
	ReasonCallIDPrefix = "call_id "
)

// Call is one outbound notice call, stored with the message it is about.
type Call struct {
	ID        int64 // ledger row id
	MessageID int64 // the message (SMS) it belongs to
	Key       string
	EventID   string
	RuleID    string
	Entity    string
	Recipient string
	Text      string            // the SMS text (spoken by TTS when Say is empty)
	Say       []message.SayItem // what the call speaks
	Urgent    bool
	Priority  int

	State         CallState
	Reason        string
	Attempts      int // dials so far (BeforeDial counts them)
	FallbackAfter time.Duration
	NotBefore     time.Time
	ExpiresAt     time.Time // the message's; zero: never

	Owner     string // the voice stage that claimed it
	ClaimedAt time.Time
	SIPCallID string // the current (or last) attempt's Call-ID
	SIPStatus int    // the last attempt's final SIP status

	CreatedAt time.Time
	UpdatedAt time.Time
}

// CallEnd is how one attempt of a call ended, as the voice stage reports
// it after applying its retry policy.
type CallEnd struct {
	ID        int64
	SIPCallID string    // must be the call's current Call-ID, or nothing changes
	Outcome   CallState // confirmed, busy, no_answer, failed or answered_unconfirmed
	Reason    string    // bounded cause (pkg/ivr Result.Reason)
	SIPStatus int
	At        time.Time
	// RetryAt non-zero: the call goes back to queued, due then (Outcome
	// is recorded on the way); zero: Outcome is final.
	RetryAt time.Time
}

// ArmResult counts what ArmCalls did.
type ArmResult struct {
	Queued    int // armed calls now due (their SMS failed or was late)
	Cancelled int // armed calls no longer needed (their SMS was delivered, cancelled or suppressed)
}

// ErrCallNotClaimed is returned by BeforeDial when the call is not
// claimed by the owner (another stage took it over, or it has been
// dialled): the caller must not dial.
var ErrCallNotClaimed = errors.New("ledger: call not claimed by this owner")

// CallStore keeps outbound notice calls. Insert creates a call for each
// new message with Voice set (armed, or queued for a voice-only rule;
// none for a message policy suppressed for another reason), in the same
// transaction. Every call state change appends a row to the
// status outbox (StatusChange.Channel "voice") and shows in Trace
// (TraceCall). Prune deletes a message's calls with it and keeps
// messages whose calls are not final. Both implementations provide it
// (conformance tests in ledgertest/calls.go).
type CallStore interface {
	// ArmCalls queues armed calls whose message is failed, expired,
	// partial or no_receipt (reason ReasonSMSPrefix+state), or has no
	// delivered receipt FallbackAfter after it was submitted (or, when
	// never submitted, after it was created or due, whichever is later:
	// a scheduled SMS is not fallen back on before it is due;
	// ReasonNoDelivery); and cancels armed calls whose message is
	// delivered, cancelled or suppressed. A held message's call waits
	// for the operator's decision (the clock does not call round the
	// hold). Queued calls are due at now.
	ArmCalls(ctx context.Context, now time.Time) (ArmResult, error)
	// ClaimCalls moves up to limit due calls (queued, NotBefore <= now;
	// urgent first, then Priority, then NotBefore) to claimed by owner.
	// Queued calls whose ExpiresAt is before now become expired and are
	// not returned. At most one call per recipient is claimed, and none
	// while another to that recipient is claimed or in progress.
	ClaimCalls(ctx context.Context, now time.Time, limit int, owner string) ([]*Call, error)
	// BeforeDial records durably, before the INVITE is sent, that the
	// call is dialled under sipCallID: a claimed call of owner becomes
	// dialling and its attempt is counted. Any other state gives
	// ErrCallNotClaimed (nothing changes).
	BeforeDial(ctx context.Context, id int64, owner, sipCallID string, at time.Time) error
	// CallProgress records ringing or answered for the attempt sipCallID
	// (ignored when the call's current Call-ID differs or it is not in
	// progress).
	CallProgress(ctx context.Context, id int64, sipCallID string, state CallState, at time.Time) error
	// CallEnded records the end of attempts: final, or back to queued
	// for RetryAt. Ends whose SIPCallID is not the call's current one, or
	// whose call is not in progress, change nothing. An end with an empty
	// SIPCallID ends a claimed call that was never dialled (a notice that
	// cannot be spoken).
	CallEnded(ctx context.Context, ends []CallEnd) error
	// ReleaseCalls puts claimed calls that were never dialled back to
	// queued, due at notBefore (outside calling hours, shutdown).
	ReleaseCalls(ctx context.Context, ids []int64, notBefore time.Time) error
	// StaleCalls lists claimed and in-progress calls of owner, or of
	// anyone claimed before staleBefore (zero: nobody else's): after a
	// crash, the claimed ones are released and the others reconciled
	// from the call records before any retry.
	StaleCalls(ctx context.Context, owner string, staleBefore time.Time) ([]*Call, error)
	// Calls lists the calls of messages (trace, tests), by message id
	// then call id.
	Calls(ctx context.Context, messageIDs []int64) ([]*Call, error)
	// CallSummary counts calls by state.
	CallSummary(ctx context.Context) (map[CallState]int, error)
}
