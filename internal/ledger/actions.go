package ledger

import (
	"context"
	"time"
)

// OperatorAction is one thing an operator did through the console (or any
// other authenticated admin surface): who, what, on what, when and from
// where. Details must not hold personal data in full (mask it).
type OperatorAction struct {
	ID     int64     // set by the ledger, increasing
	At     time.Time // set by the ledger
	Who    string    // the operator's account
	Role   string    // the account's role at the time
	Action string    // e.g. "login", "held.release", "trace.unmask", "rules.save"
	Target string    // what it acted on (message ids, a rules file, a masked query)
	Detail string    // free text: the outcome, a note
	Remote string    // the client address
}

// ActionLog keeps the operators' actions. Both implementations provide it
// (conformance tests in ledgertest/actions.go).
type ActionLog interface {
	// RecordAction appends a; ID and At are set by the ledger and
	// returned.
	RecordAction(ctx context.Context, a OperatorAction) (OperatorAction, error)
	// Actions lists up to limit actions with ID < before (0: the newest),
	// newest first.
	Actions(ctx context.Context, before int64, limit int) ([]OperatorAction, error)
}

// AdvisoryCount is how many messages of one advisory (event and rule) are
// in one state.
type AdvisoryCount struct {
	EventID  string
	RuleID   string
	State    string
	Messages int
	First    time.Time // earliest created
	Last     time.Time // latest change
}

// Advisories is what the console's "advisories in progress" page needs.
// Both implementations provide it (ledgertest/actions.go).
type Advisories interface {
	// AdvisoryCounts counts the messages of advisory events
	// (advisory.published) created at or after since, per event, rule
	// and state.
	AdvisoryCounts(ctx context.Context, since time.Time) ([]AdvisoryCount, error)
	// CancelAdvisory moves the queued, scheduled and held messages of an
	// advisory (event and rule) to cancelled with reason and returns how
	// many.
	CancelAdvisory(ctx context.Context, eventID, ruleID, reason string) (int, error)
}
