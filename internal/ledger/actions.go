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
