package dispatch

import (
	"context"
	"errors"
	"time"
)

// The carrier seam: what dispatch sends and receives, whatever protocol a
// carrier speaks. A connector (internal/carrier/<protocol>) adapts one
// protocol client to Connector and translates its results and callbacks
// into these types; nothing in dispatch names a protocol.

// Connector is one carrier account: the binds (connections) to one
// carrier's gateway, of whatever protocol. Its callbacks (Handlers) are
// given when it is built.
type Connector interface {
	Submitter
	// BindsUp is the number of binds (connections, logged-in sessions)
	// up now; 0 means the carrier cannot be reached.
	BindsUp() int
	// WaitReady returns once at least one bind is up, or with ctx's
	// error, or an error once Run has returned.
	WaitReady(ctx context.Context) error
	// Run keeps the binds up until ctx ends, then closes them (bounded
	// by the connector's own shutdown timeout) and returns. It is
	// called once; Send may be called from any goroutine while it runs.
	Run(ctx context.Context) error
}

// Submitter is the part of a Connector the sender uses.
type Submitter interface {
	// Send submits one message, or the parts of it SMS.Parts names,
	// under SMS.ConcatRef; it returns one PartOutcome per part. It
	// returns an error when any part was not accepted: with no outcomes
	// (nothing was split or sent) the error alone says why, through
	// Classify.
	Send(ctx context.Context, m SMS) (SendResult, error)
}

// Handlers are a connector's callbacks, given when it is built. A nil
// field means the connector acknowledges and drops what it would carry.
type Handlers struct {
	// Receipt gets each delivery receipt. It returns once the receipt is
	// durable; a non-nil error makes the connector answer so that the
	// carrier delivers the receipt again later.
	Receipt func(ctx context.Context, r Receipt) error
	// Incoming gets each mobile-originated message (reassembled when it
	// came in parts), with the same contract as Receipt.
	Incoming func(ctx context.Context, m Incoming) error
	// Late gets the carrier's answer to a part that Send reported with
	// PartUnknown (a response after the request timed out).
	Late func(ctx context.Context, l Late)
}

// SMS is one message to one handset.
type SMS struct {
	// Ref is the caller's reference for the message (the ledger id),
	// opaque to the connector and returned in Late.
	Ref    string
	Source string // source address, e.g. "12123"; "" for the account's default
	Dest   string // the handset: an 11-digit national mobile number
	Text   string // the whole text, signature included
	// Validity, when positive, is how long the carrier may keep trying.
	Validity time.Duration
	Priority int // 0 (normal) .. 3 (highest)
	// ConcatRef is the concatenation reference the parts go under: the
	// same for every send of one message, so that the handset joins
	// parts sent before a crash with the parts sent after it.
	ConcatRef uint16
	// Parts are the 1-based numbers of the parts to send (those an
	// earlier send left without an id). Nil, or none that exists when
	// the text is split: all.
	Parts []int
}

// SendResult is what the carrier said about a message.
type SendResult struct {
	// ConcatRef is the concatenation reference used; pass it back in
	// SMS.ConcatRef to resend missing parts.
	ConcatRef uint16
	// Outcomes has one entry per part of the message as split (a
	// connector that lets the carrier split it reports one), in order.
	Outcomes []PartOutcome
}

// PartState is what became of one part. The values are stored in the
// ledger with the part.
type PartState string

// Part states.
const (
	PartAccepted PartState = "accepted" // the carrier took it: ID is set
	PartRefused  PartState = "refused"  // the carrier refused it: Code, Reason and Retry say how
	PartUnknown  PartState = "unknown"  // written, no usable answer: the carrier may have it (a Late may tell)
	PartNotSent  PartState = "not_sent" // never written (no bind, deadline, an earlier part stopped the rest)
	PartSkipped  PartState = "skipped"  // not asked for (SMS.Parts)
)

// PartOutcome is the outcome of one part.
type PartOutcome struct {
	State PartState
	ID    string // the carrier's message id (PartAccepted); receipts name it
	// Code is the carrier's refusal in its own terms (PartRefused), e.g.
	// "ESME_RTHROTTLED"; it is recorded with the part, never a label.
	Code   string
	Reason Reason // why the part was not accepted
	Retry  bool   // sending it again later may succeed
	// Err is the part's error, classified by Classify (a *CarrierError
	// from the connector, or a context error).
	Err error
}

// Reason says why a part or message was not accepted, in a bounded set
// that is also a metric label value.
type Reason string

// Reasons. Every connector maps its protocol's answers onto these.
const (
	ReasonOK        Reason = "ok"
	ReasonThrottled Reason = "throttled"  // the carrier asked us to slow down; retry later
	ReasonQueueFull Reason = "queue_full" // the carrier's queue is full; retry later
	ReasonSMSC      Reason = "smsc_error" // another temporary refusal or carrier error
	ReasonRejected  Reason = "rejected"   // a permanent refusal: bad address, bad message…
	ReasonTimeout   Reason = "timeout"    // no answer in time: the carrier may have accepted it
	ReasonUnknown   Reason = "unknown"    // the link broke after the request was written: outcome unknown
	ReasonNoBind    Reason = "no_bind"    // nothing was sent: no bind up, or closed
	ReasonInvalid   Reason = "invalid"    // the message cannot be encoded or sent as given
	ReasonCanceled  Reason = "canceled"   // not sent in time: our own wait or the caller's deadline
)

// Reasons lists every Reason, for metric labels and tests.
var Reasons = []Reason{ReasonOK, ReasonThrottled, ReasonQueueFull, ReasonSMSC, ReasonRejected,
	ReasonTimeout, ReasonUnknown, ReasonNoBind, ReasonInvalid, ReasonCanceled}

// CarrierError is a connector's error with its classification: what
// Classify returns for it. Error is the wrapped error's text.
type CarrierError struct {
	Reason Reason
	Retry  bool
	Err    error
}

func (e *CarrierError) Error() string {
	if e.Err == nil {
		return "carrier: " + string(e.Reason)
	}
	return e.Err.Error()
}

// Unwrap returns the protocol's error.
func (e *CarrierError) Unwrap() error { return e.Err }

// Classify says whether a failed send may be retried and why: a
// *CarrierError says so itself; a context error means not sent in time;
// any other error is a temporary carrier error. Retrying after
// ReasonTimeout or ReasonUnknown may deliver the message twice: the
// sender marks such messages unknown instead.
func Classify(err error) (retry bool, reason Reason) {
	if err == nil {
		return false, ReasonOK
	}
	var ce *CarrierError
	if errors.As(err, &ce) {
		return ce.Retry, ce.Reason
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true, ReasonCanceled
	}
	return true, ReasonSMSC
}

// Receipt is a delivery receipt.
type Receipt struct {
	MessageID string // the id the carrier gave the part when it accepted it
	Stat      string // DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, UNKNOWN, ENROUTE, or the carrier's own
	Err       string // the carrier's error code, as text
	From      string // the handset that received the message
	Text      string // the first characters of the message, when the carrier sends them
}

// Incoming is a mobile-originated message.
type Incoming struct {
	From string // the handset
	To   string // our address it was sent to
	Text string // the decoded text ("" when it is not text)
	// Parts is how many parts were joined: 1 for a single message.
	Parts int
	// Partial marks a multi-part message delivered without all its
	// parts (reassembly gave up waiting).
	Partial bool
}

// Late is the carrier's answer to a part that Send had reported with an
// unknown outcome.
type Late struct {
	Ref         string // SMS.Ref of the message the part belongs to
	Part, Parts int    // 1-based part number, and the parts of the message
	// Accepted: the carrier took the part, under ID (which may be ""
	// when the answer carried none: receipts settle it then). Not
	// accepted: refused, so the part is not on the handset.
	Accepted bool
	ID       string
}
