package smsc

import "errors"

// Sentinel errors.
var (
	// ErrMalformed wraps every PDU decoding error.
	ErrMalformed = errors.New("smsc: malformed PDU")
	// ErrClosed is returned by Listen after Close.
	ErrClosed = errors.New("smsc: server closed")
	// ErrListening is returned by a second Listen.
	ErrListening = errors.New("smsc: already listening")
	// ErrBusy is returned by Deliver when MaxPendingReceipts is reached.
	ErrBusy = errors.New("smsc: too many deliveries pending")
	// ErrConfig wraps configuration errors found by Listen.
	ErrConfig = errors.New("smsc: invalid config")
)
