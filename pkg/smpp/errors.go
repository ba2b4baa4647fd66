package smpp

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrClosed means the session or client is closed or closing.
	ErrClosed = errors.New("smpp: closed")
	// ErrTimeout means no response came within the request timeout; the
	// SMSC may still have acted on the request.
	ErrTimeout = errors.New("smpp: response timeout")
	// ErrUnbound means the SMSC unbound the session.
	ErrUnbound = errors.New("smpp: unbound by peer")
	// ErrLinkDead means enquire_link went unanswered.
	ErrLinkDead = errors.New("smpp: link dead (enquire_link unanswered)")
	// ErrNotBound means no bind is up to carry the request.
	ErrNotBound = errors.New("smpp: no bind up")
	// ErrWrongBindMode means a request the bind mode cannot carry (a
	// submit on a receiver).
	ErrWrongBindMode = errors.New("smpp: request not allowed in this bind mode")
	// ErrPDUTooLong means a command_length above the configured maximum.
	ErrPDUTooLong = errors.New("smpp: PDU too long")
	// ErrMalformed means a PDU that does not parse.
	ErrMalformed = errors.New("smpp: malformed PDU")
	// ErrFieldTooLong means a field longer than SMPP 3.4 allows.
	ErrFieldTooLong = errors.New("smpp: field too long")
	// ErrNotReceipt means a deliver_sm that is not a delivery receipt.
	ErrNotReceipt = errors.New("smpp: not a delivery receipt")
	// ErrInvalidMessage means a message the client cannot send as given.
	ErrInvalidMessage = errors.New("smpp: invalid message")
	// ErrGenericNack means the SMSC answered generic_nack.
	ErrGenericNack = errors.New("smpp: generic_nack")
)

// MalformedError says which PDU and field failed to parse.
type MalformedError struct {
	Command CommandID
	Field   string
	Err     error // ErrMalformed or ErrFieldTooLong, possibly wrapped
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("smpp: %s: field %s: %v", e.Command, e.Field, e.Err)
}

// Unwrap returns the cause.
func (e *MalformedError) Unwrap() error { return e.Err }
