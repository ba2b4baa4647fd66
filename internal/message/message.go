// Package message defines an SMS to send and the states it moves through,
// from the decision that created it to its delivery receipt. It is a leaf
// shared by the pipeline stages and the ledger; it does no I/O.
package message

import "time"

// State is where a message is in its life.
type State string

// The states. Final states are Delivered, Failed, Expired, Cancelled,
// Suppressed, Partial and NoReceipt; Unknown is final until reconciled.
const (
	StateScheduled  State = "scheduled"  // waiting for NotBefore (timing, quiet hours)
	StateQueued     State = "queued"     // due, waiting for a bind
	StateSending    State = "sending"    // claimed by a sender, submit_sm in flight
	StateSubmitted  State = "submitted"  // every part accepted by the SMSC, awaiting receipts
	StateDelivered  State = "delivered"  // every part's receipt says DELIVRD
	StateFailed     State = "failed"     // permanent error or negative receipt; Reason says why
	StateExpired    State = "expired"    // ExpiresAt passed before it could be sent, or receipt EXPIRED
	StateCancelled  State = "cancelled"  // a later event made it moot
	StateSuppressed State = "suppressed" // policy decided not to send; Reason says why
	StateUnknown    State = "unknown"    // connection lost after submit; outcome being reconciled
	StateHeld       State = "held"       // stopped by the content check or the audience limit; an operator releases (queued) or drops (cancelled) it
	// StatePartial: some parts of a long message were accepted and the
	// others could not be (validity over, a permanent refusal, the
	// retries spent); the accepted parts keep their ids so their
	// receipts still settle, Reason says which parts are missing.
	StatePartial State = "partial"
	// StateNoReceipt: accepted, but a part got no receipt within its
	// validity period plus a grace.
	StateNoReceipt State = "no_receipt"
)

// Final reports whether no further transition is expected.
func (s State) Final() bool {
	switch s {
	case StateDelivered, StateFailed, StateExpired, StateCancelled, StateSuppressed,
		StatePartial, StateNoReceipt:
		return true
	}
	return false
}

// Message is one SMS to one recipient, as the ledger keeps it.
type Message struct {
	ID  int64  // ledger row id; 0 until stored
	Key string // idempotency key: event id + rule id + recipient; unique in the ledger

	EventID   string
	EventType string
	Entity    string // licence number, plate or advisory id the event was about
	RuleID    string
	Template  string
	Priority  int
	Urgent    bool // bypasses per-recipient caps

	// DedupeKey groups messages that must not repeat within a window (for
	// example rule + licence number, so the daily snapshot sweep does not
	// remind the same driver every day). Empty: no dedupe beyond Key.
	DedupeKey string

	// CancelKey names the fact this message is about (for example rule +
	// plate + inspection deadline) so that a later event that makes it moot
	// can cancel it while it is still scheduled or queued. Empty: not
	// cancellable.
	CancelKey string

	Recipient string // national mobile number, 11 digits (e.g. "13800138000")
	Carrier   string // route.Carrier value, set when routed
	Source    string // source address, "12123" plus optional extension
	Text      string // full text including the signature
	Encoding  string // "gsm7" or "ucs2"
	Segments  int

	State     State
	Reason    string // why suppressed, failed, expired, cancelled or unknown
	NotBefore time.Time
	ExpiresAt time.Time // zero: never expires
	Attempts  int

	CarrierIDs []string // SMSC message ids, one per part; "" for a part not accepted (yet)
	// ConcatRef is the concatenation reference of an earlier send whose
	// parts were not all accepted (HasConcatRef): the missing parts are
	// sent again under it, with their own part numbers.
	ConcatRef     uint16
	HasConcatRef  bool
	ReceiptStatus string // last receipt stat, e.g. "DELIVRD"
	ReceiptError  string // last receipt err code

	CreatedAt   time.Time
	SubmittedAt time.Time
	DoneAt      time.Time

	// Voice, when set, asks for an outbound call about this message
	// (rules `channels`): as a fallback when the SMS fails or is not
	// delivered within FallbackAfter, or instead of the SMS (Only). The
	// ledger stores the call with the message (Insert); nil: SMS only.
	Voice *Voice
}

// Voice is the voice part of a message's plan.
type Voice struct {
	// Only: the rule names voice alone. The message row is kept for
	// idempotency, caps and trace, suppressed with ReasonVoiceOnly, and
	// the call is queued for NotBefore.
	Only bool
	// FallbackAfter: call when the SMS has no delivered receipt this
	// long after it was submitted (or created or due, whichever is
	// later, when it was never submitted; never while it is held). The
	// call also goes at once when the SMS ends failed, expired, partial
	// or no_receipt. Zero with Only.
	FallbackAfter time.Duration
	// Say is what the call speaks after its intro, in order (rendered by
	// the rules); empty: the SMS text, spoken by the TTS command.
	Say []SayItem
}

// SayItem is one piece of a spoken notice: a kind (prompt, text, number,
// money, date, time, plate, digits, as pkg/ivr.SayItem) and its value.
type SayItem struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// ReasonVoiceOnly is the suppression reason of the message row of a
// voice-only rule: its notice goes by call, not by SMS.
const ReasonVoiceOnly = "voice_only"

// Key builds the idempotency key of a message.
func Key(eventID, ruleID, recipient string) string {
	return eventID + "|" + ruleID + "|" + recipient
}
