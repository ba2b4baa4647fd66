// Package ledger is the gateway's durable record of every message: the Store
// interface the pipeline stages code against and the types it exchanges.
//
// The ledger underpins the delivery guarantees:
//
//   - Insert is idempotent on the message key (event id + rule id +
//     recipient), so a redelivered Kafka event never creates a second
//     message; the ingest commits an offset only after Insert returned.
//   - Claim moves due messages to "sending" durably before submit_sm, so a
//     crash leaves "sending" rows that Recover turns into "unknown" (never
//     blindly resent).
//   - Receipts match parts by (carrier, normalised carrier message id); a
//     receipt for an id not yet known is kept as pending and applied when
//     Submitted records that id. A message's state is derived from its parts.
//   - Every state change (except the internal claim into "sending") appends a
//     row to a status outbox in the same transaction, for publishing to
//     Kafka.
//   - A message's outbound notice call (CallStore, calls.go) is stored with
//     it; its state changes go to the same outbox on the "voice" channel.
//
// Implementations live in ledger/sqlite (embedded default) and
// ledger/postgres (several instances); ledger/open picks one by DSN and
// ledger/ledgertest is the conformance suite both pass. Policy decisions,
// routing, SMPP and Kafka are left to their own packages: the ledger only
// stores and answers.
//
// Times are stored as Unix nanoseconds (0 = unset) in both databases, so the
// schema is the same.
package ledger

import (
	"context"
	"log/slog"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// Store is the ledger. All methods are safe for concurrent use.
type Store interface {
	Safety // safety.go: event-id conflicts, held messages, write probe

	// Insert stores new messages in one transaction, with the call of
	// each new message's voice plan (CallStore). New rows get their ID
	// set (and CreatedAt when zero; NotBefore defaults to CreatedAt). A message whose Key already exists
	// changes nothing: the existing row's ID, State and CreatedAt are copied
	// into it, so a caller that set CreatedAt can tell a duplicate. An empty
	// State is stored as queued.
	Insert(ctx context.Context, msgs []*message.Message) error

	// Claim moves up to limit due messages (queued or scheduled with
	// NotBefore <= now; higher Priority first, then earlier NotBefore) to
	// sending, counting an attempt and recording owner and claim time.
	// Queued or scheduled messages whose ExpiresAt is before now become
	// expired and are not returned. At most one message per recipient is
	// claimed, and none while another to that recipient is sending or may
	// still take a receipt by reconciliation (unknown; requeued after an
	// unknown outcome, of which the oldest is claimed first; submitted by
	// receipts with parts missing; queued to resend the parts an earlier
	// send left without an id, which goes first): receipts that name no
	// known part are matched by recipient and text, which cannot tell two
	// such apart, and a handset joins parts by an 8-bit reference.
	Claim(ctx context.Context, now time.Time, limit int, owner string) ([]*message.Message, error)
	// NextDue returns the earliest NotBefore of a queued or scheduled
	// message; false when there is none.
	NextDue(ctx context.Context) (time.Time, bool, error)

	// Submitted records a send's outcome part by part: the accepted
	// parts (CarrierIDs, "" for a part not accepted) are stored and the
	// pending receipts for their ids applied in the same transaction
	// (those received before the message was claimed belong to an
	// earlier submission that had the same id, and are dropped). With
	// every part accepted the message becomes submitted; otherwise it
	// moves to Submission.State (queued to resend the missing parts
	// under Ref, unknown, partial). A message with an accepted part is
	// never failed: failed becomes partial.
	Submitted(ctx context.Context, subs []Submission) error
	// LateParts records parts whose submit_sm_resp came after the send
	// had reported them unknown: the id fills the part's place, pending
	// receipts for it apply, and a message whose parts are now all
	// accepted becomes submitted (from unknown or queued).
	LateParts(ctx context.Context, ls []LatePart) error
	// NoReceipt ends submitted messages that still wait for a receipt
	// after their validity (ExpiresAt, and at most validity after
	// submission: the longest an SMSC keeps a message) plus grace: they
	// become no_receipt. It returns how many.
	NoReceipt(ctx context.Context, now time.Time, validity, grace time.Duration, limit int) (int, error)
	// Transition moves messages to another state (retry: queued with
	// NotBefore; failed with reason; unknown). Messages already in a final
	// state are left alone.
	Transition(ctx context.Context, ts []Transition) error
	// Receipts applies delivery receipts in one transaction. It is
	// idempotent: a receipt already applied is reported as a duplicate and
	// changes nothing.
	Receipts(ctx context.Context, rs []Receipt) ([]ReceiptResult, error)
	// Cancel moves scheduled or queued messages with one of the cancel keys
	// to cancelled and returns how many; the armed or queued calls of
	// messages with those keys (whatever the message's state) are
	// cancelled too.
	Cancel(ctx context.Context, cancelKeys []string, reason string) (int, error)
	// Recover turns sending messages claimed by owner, or by anyone before
	// staleBefore (zero: nobody else's), into unknown with reason
	// ReasonCrash, and tries the pending receipts that match them (they
	// may have come before the submit result was recorded).
	Recover(ctx context.Context, owner string, staleBefore time.Time) (int, error)

	// Unknown lists unknown messages that last changed before olderThan,
	// oldest first: candidates for the reconciliation policy. It also
	// lists messages that receipts made submitted after an unknown outcome
	// but that have fewer parts than segments (the process died between
	// the parts of a long message): the handset has no complete message.
	Unknown(ctx context.Context, olderThan time.Time, limit int) ([]*message.Message, error)
	// Requeue puts messages Unknown lists back in the queue (due at
	// notBefore) if they were requeued fewer than maxRequeues times
	// (PartsResendExtra more when some of their parts are on the
	// handset: only the missing ones go again), counting and recording
	// the attempt; the others become failed, or partial when some of
	// their parts are on the handset.
	// Pending receipts that match them are tried first, and messages they
	// settle are not requeued. Messages no longer in Unknown's list are
	// left alone. A resend's Submitted supersedes the parts of the
	// earlier send (their receipts are logged but change nothing).
	Requeue(ctx context.Context, ids []int64, maxRequeues int, notBefore time.Time) (RequeueResult, error)

	// RecentDedupe reports which dedupe keys have a non-suppressed message
	// (or one suppressed as message.ReasonVoiceOnly: its notice went by
	// call) created at or after since.
	RecentDedupe(ctx context.Context, keys []string, since time.Time) (map[string]bool, error)
	// CountSince counts non-suppressed, non-cancelled messages per
	// recipient created at or after since. Recipients with none are absent.
	CountSince(ctx context.Context, recipients []string, since time.Time) (map[string]int, error)
	// OptOut records (on) or removes (!on) an opt-out.
	OptOut(ctx context.Context, phone string, on bool) error
	// OptedOut reports which phones opted out.
	OptedOut(ctx context.Context, phones []string) (map[string]bool, error)

	// UpsertContacts adds (phone, region, entity) rows to the directory
	// used for region-targeted advisories.
	UpsertContacts(ctx context.Context, cs []Contact) error
	// ContactsInRegions calls fn once per distinct phone whose region is
	// covered by one of regions (see RegionPrefix). An error from fn stops
	// the walk and is returned.
	ContactsInRegions(ctx context.Context, regions []string, fn func(phone string) error) error

	// PendingStatus returns up to limit status changes not yet
	// acknowledged, in order.
	PendingStatus(ctx context.Context, limit int) ([]StatusChange, error)
	// AckStatus acknowledges every status change with ID <= upToID.
	AckStatus(ctx context.Context, upToID int64) error

	// Trace answers "why did (or didn't) this person get this reminder":
	// the matching messages (suppressed ones too), their state changes,
	// parts and receipts, and their calls' state changes (TraceCall), in
	// time order.
	Trace(ctx context.Context, q TraceQuery) ([]TraceEntry, error)
	// Summary counts messages by state, by carrier and suppressed ones by
	// reason, and calls by state. It is cheap enough to call every second.
	Summary(ctx context.Context) (Summary, error)
	// Prune deletes messages in a final state that last changed before
	// before and whose status changes were all acknowledged (with their
	// parts, receipts, calls and status history), adding them to the
	// audit table first; a message whose call is not final, or last
	// changed at or after before, is kept; it also drops pending receipts older than both before and
	// Options.PendingRetention. It returns the number of messages deleted.
	// Keep before older than the Kafka retention: a pruned key no longer
	// recognises a redelivered event.
	Prune(ctx context.Context, before time.Time) (int, error)
	// Audit returns the audit rows kept by Prune.
	Audit(ctx context.Context) ([]AuditRow, error)

	Close() error
}

// PartsResendExtra is how many more times than its maxRequeues Requeue
// resends the missing parts of a message some of whose parts are on the
// handset (giving up would leave a fragment there).
const PartsResendExtra = 3

// ReasonCrash is the reason Recover records.
const ReasonCrash = "crash during submit"

// Options are shared by the implementations.
type Options struct {
	// Now is the clock for the times the ledger records itself (created,
	// updated, received). Default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Metrics; nil records nothing.
	Metrics *Metrics
	// PendingRetention is the minimum time an unmatched receipt is kept
	// (Prune never drops younger ones). Default 72 h.
	PendingRetention time.Duration
}

// DefaultPendingRetention is the default Options.PendingRetention.
const DefaultPendingRetention = 72 * time.Hour

// WithDefaults fills in unset options.
func (o Options) WithDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PendingRetention <= 0 {
		o.PendingRetention = DefaultPendingRetention
	}
	return o
}

// Submission records what the SMSC said to the parts of a message.
type Submission struct {
	ID         int64
	Carrier    string
	CarrierIDs []string // one per part, in part order; "" for a part not accepted
	At         time.Time
	// Ref is the concatenation reference of the send (HasRef): the
	// missing parts are resent under it.
	Ref    uint16
	HasRef bool
	// Outcomes says per part what happened ("accepted", "refused
	// 0x00000058", "unknown", "not_sent"), for the trace.
	Outcomes []string
	// State is where the message goes when not every part has an id:
	// queued (NotBefore: resend the missing parts), unknown or partial
	// (failed is taken as partial when a part was accepted), with
	// Reason. Empty with every part accepted: submitted.
	State     message.State
	Reason    string
	NotBefore time.Time
}

// Complete reports whether every part has an id.
func (s Submission) Complete() bool {
	if len(s.CarrierIDs) == 0 {
		return false
	}
	for _, id := range s.CarrierIDs {
		if id == "" {
			return false
		}
	}
	return true
}

// LatePart is a part whose submit_sm_resp came late: accepted under
// CarrierID, or Refused (then it is certain the part is not on the
// handset: once no part's outcome is unknown any more, the message goes
// back to the queue to resend its missing parts).
type LatePart struct {
	ID        int64 // message
	Carrier   string
	Part      int // 1-based
	Parts     int // parts of the message
	CarrierID string
	Refused   bool
	At        time.Time
}

// Receipt-deadline reasons.
const (
	ReasonNoReceipt = "no receipt within validity + grace"
)

// Transition is a requested state change.
type Transition struct {
	ID        int64
	State     message.State
	Reason    string
	NotBefore time.Time // for queued/scheduled: when it is due again
}

// Receipt is a delivery receipt as the SMPP layer parsed it.
type Receipt struct {
	Carrier   string
	MessageID string // carrier message id (normalised again by the ledger)
	Stat      string // DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, UNKNOWN, ENROUTE
	Err       string
	Recipient string // handset number, for reconciling unknown messages
	Text      string // text excerpt, for reconciling unknown messages
	Done      time.Time
}

// Outcome says what a receipt did.
type Outcome string

// Receipt outcomes.
const (
	OutcomeMatched   Outcome = "matched"   // applied to a known part
	OutcomePending   Outcome = "pending"   // id not known yet; kept until Submitted records it
	OutcomeDuplicate Outcome = "duplicate" // already applied or already pending: nothing changed
)

// ReceiptResult is the result of one receipt, in input order.
type ReceiptResult struct {
	Outcome    Outcome
	MessageID  int64         // 0 when pending
	Reconciled bool          // matched an unknown message by recipient and text
	Changed    bool          // the message's state changed
	State      message.State // the new state when Changed
	// PartSubmitted is when the SMSC accepted the part that took this
	// final receipt (matched by id); zero otherwise. Receipt latency.
	PartSubmitted time.Time
}

// RequeueResult counts what Requeue did.
type RequeueResult struct {
	Requeued int
	Failed   int // requeue limit reached
}

// Contact is a directory row: a phone reachable for advisories in a region.
type Contact struct {
	Phone  string
	Region string // 6-digit administrative division code
	Entity string // licence number, plate or enterprise id; may be empty
}

// StatusChange is one row of the status outbox.
type StatusChange struct {
	ID        int64 // outbox sequence
	MessageID int64
	Key       string
	EventID   string
	RuleID    string
	Recipient string
	Carrier   string
	State     message.State // for Channel "voice": the CallState
	Reason    string
	At        time.Time
	// Channel is "sms" (the message) or "voice" (its call; MessageID and
	// Key are the message's, CallID the call's).
	Channel string
	CallID  int64
}

// Status channels.
const (
	ChannelSMS   = "sms"
	ChannelVoice = "voice"
)

// TraceQuery selects messages; set fields are combined with AND. At least one
// must be set.
type TraceQuery struct {
	Phone   string
	EventID string
	Entity  string
}

// TraceKind says what a trace entry is.
type TraceKind string

// Trace entry kinds.
const (
	TraceState   TraceKind = "state"   // a state change (including creation and suppression)
	TracePart    TraceKind = "part"    // a part accepted by the SMSC
	TraceReceipt TraceKind = "receipt" // a receipt applied to a part
	TraceCall    TraceKind = "call"    // a state change of the message's call (State is the CallState)
)

// TraceEntry is one line of a trace.
type TraceEntry struct {
	At        time.Time
	Kind      TraceKind
	MessageID int64
	Key       string
	EventID   string
	RuleID    string
	Recipient string
	State     message.State // TraceState
	Reason    string        // TraceState
	Carrier   string        // TracePart, TraceReceipt
	CarrierID string        // TracePart, TraceReceipt
	Seq       int           // TracePart: part number from 0; -1-n for part n of a send a resend superseded
	Stat      string        // TraceReceipt
	Err       string        // TraceReceipt
	CallID    int64         // TraceCall
	SIPCallID string        // TraceCall: the attempt's Call-ID, when dialled
	Attempt   int           // TraceCall: the attempt the change belongs to
}

// Summary is the ledger at a glance.
type Summary struct {
	States     map[message.State]int
	Carriers   map[string]CarrierSummary // by carrier; unrouted messages under ""
	Suppressed map[string]int            // suppressed messages by reason
	Pending    int                       // unmatched receipts
	Calls      map[CallState]int         // outbound notice calls by state
}

// CarrierSummary counts one carrier's messages.
type CarrierSummary struct {
	Messages  int // routed to this carrier (not suppressed, nor cancelled before it was sent)
	Segments  int // their segments
	Submitted int // accepted by the SMSC at some point
	Delivered int
	Failed    int // failed or expired
}

// AuditRow counts pruned messages per day (UTC, YYYY-MM-DD of creation),
// rule, carrier and final state.
type AuditRow struct {
	Day      string
	RuleID   string
	Carrier  string
	State    message.State
	Messages int
	Segments int
}
