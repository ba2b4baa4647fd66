package ledger

import (
	"context"
	"time"

	"github.com/traffic12123/gateway/internal/message"
)

// Safety is the part of the Store behind the gateway's safety nets:
// event-id conflicts, messages held for an operator, and a write probe.
type Safety interface {
	// RecordEvents stores each event's content hash under its id unless
	// the id is stored already (the first of hs wins for an id given
	// twice), and returns the hash stored for every id of hs: an entry
	// that differs from the caller's hash is an id reused for other
	// content.
	RecordEvents(ctx context.Context, hs []EventHash) (stored map[string]string, err error)
	// PruneEvents deletes event hashes recorded before before.
	PruneEvents(ctx context.Context, before time.Time) (int, error)

	// Held lists up to limit held messages, oldest first.
	Held(ctx context.Context, limit int) ([]*message.Message, error)
	// DecideHeld releases (to queued, due now) or drops (to cancelled)
	// the held messages among ids, records the decision with who, note
	// and the time, and returns the messages it changed. Ids that are not
	// held are left alone.
	DecideHeld(ctx context.Context, ids []int64, d HeldDecision) ([]int64, error)
	// HeldDecisions lists the decisions recorded for a message, oldest first.
	HeldDecisions(ctx context.Context, messageID int64) ([]HeldDecision, error)

	// Ping checks that the ledger takes writes (a write transaction that
	// changes nothing visible).
	Ping(ctx context.Context) error
}

// EventHash is the content hash of one event.
type EventHash struct {
	EventID string
	Hash    string
}

// HeldDecision is an operator's decision on held messages.
type HeldDecision struct {
	Release bool      // true: send; false: drop
	Who     string    // the operator, as the admin API authenticated them
	Note    string    // free text, optional
	At      time.Time // set by the ledger
}

// Reasons recorded with a held decision.
const (
	ReasonReleasedBy = "released by "
	ReasonDroppedBy  = "dropped by "
)
