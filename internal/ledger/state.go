package ledger

import (
	"context"
	"time"
)

// EntityState is the latest known state of a licence or vehicle, kept for
// the re-check of pending reminders at send time (the newest event wins).
type EntityState struct {
	Entity    string // licence number or plate
	Kind      string // "licence" or "vehicle"
	Data      []byte // the licence or vehicle, JSON
	EventID   string // the event it came from
	EventType string
	At        time.Time // that event's time
	// Keep stores the state even though no message about Entity is
	// pending yet: one is about to be inserted (the state comes from the
	// same batch), and it must be there before the sender can claim it.
	Keep bool
}

// Inhibition cancels pending (queued or scheduled) messages of Rules to
// Recipient about Entity, with Reason; an empty Recipient or Entity matches
// any, but not both.
type Inhibition struct {
	Rules     []string
	Recipient string
	Entity    string
	Reason    string
}

// StateStore is what the re-check at send time and the inhibition rules
// need from the ledger. Both implementations provide it (conformance tests
// in ledgertest/state.go).
type StateStore interface {
	// PutStates stores the states of entities that have a queued or
	// scheduled message, or whose state has Keep (the others have nothing
	// to re-check and are ignored), keeping per entity the one with the
	// latest At.
	PutStates(ctx context.Context, states []EntityState) error
	// PendingEntities reports which entities have a queued or scheduled
	// message (so that a caller builds states for those only).
	PendingEntities(ctx context.Context, entities []string) (map[string]bool, error)
	// LatestStates returns the stored state of each entity that has one.
	LatestStates(ctx context.Context, entities []string) (map[string]EntityState, error)
	// PruneStates deletes states last written before before whose entity
	// has no queued or scheduled message.
	PruneStates(ctx context.Context, before time.Time) (int, error)
	// CancelInhibited moves the pending messages each inhibition names to
	// cancelled with its reason and returns how many; the armed or queued
	// calls of the reminders it names are cancelled too.
	CancelInhibited(ctx context.Context, inhs []Inhibition) (int, error)
}
