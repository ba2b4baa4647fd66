package ledger

import "errors"

// Sentinel errors.
var (
	// ErrClosed is returned by a Store used after Close.
	ErrClosed = errors.New("ledger: closed")
	// ErrBadDSN is returned for a DSN no implementation understands.
	ErrBadDSN = errors.New("ledger: unsupported dsn")
	// ErrEmptyQuery is returned by Trace when no field of the query is set.
	ErrEmptyQuery = errors.New("ledger: empty trace query")
	// ErrBadTransition is returned for a transition to a state that
	// Transition does not accept (sending, submitted, delivered: those
	// have their own methods), or for a call state CallProgress or
	// CallEnded does not take.
	ErrBadTransition = errors.New("ledger: bad transition")
	// ErrSchemaNewer is returned by Open for a ledger whose schema version
	// is newer than the binary knows (a newer release migrated it): the
	// binary would not know its tables, so it opens nothing.
	ErrSchemaNewer = errors.New("ledger: schema newer than this binary")
)
