package ivr

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	ErrBadWAV       = errors.New("ivr: not an 8 kHz mono 16-bit PCM WAV file")
	ErrClosed       = errors.New("ivr: server closed")
	ErrHangup       = errors.New("ivr: call ended")
	ErrNoFlow       = errors.New("ivr: no call flow")
	ErrMissingAudio = errors.New("ivr: prompt or unit has no audio")
	ErrRejected     = errors.New("ivr: call rejected")
)

// RejectError is a call refused before answer, with its SIP status.
type RejectError struct {
	Status int
	Reason string // bounded: "busy", "untrusted", "rate", "media"
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("ivr: call rejected with %d (%s)", e.Status, e.Reason)
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Unwrap() error { return ErrRejected }
