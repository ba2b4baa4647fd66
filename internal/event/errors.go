package event

import (
	"errors"
	"fmt"
)

// Reason is why a record was refused. The set is closed so that it can be a
// metric label and a dead-letter header value.
type Reason string

// The reasons a record is refused.
const (
	ReasonMalformedJSON  Reason = "malformed_json"  // not a JSON object, or a value of the wrong JSON kind
	ReasonMissingField   Reason = "missing_field"   // a required attribute or data field is absent or empty
	ReasonUnknownType    Reason = "unknown_type"    // type is not one of Types
	ReasonInvalidField   Reason = "invalid_field"   // a field is present but its value is not acceptable
	ReasonBadSpecVersion Reason = "bad_specversion" // specversion is present but is not "1.0"
)

// Reasons lists every Reason, for pre-creating metric series.
var Reasons = []Reason{ReasonMalformedJSON, ReasonMissingField, ReasonUnknownType, ReasonInvalidField, ReasonBadSpecVersion}

// Sentinel errors wrapped by InvalidError.Err so that callers can test for
// the common cases with errors.Is.
var (
	ErrMissing       = errors.New("required field missing")
	ErrUnknownType   = errors.New("unknown event type")
	ErrSpecVersion   = errors.New("unsupported specversion")
	ErrPlate         = errors.New("not a plate number")
	ErrIDNumber      = errors.New("not a valid 18-character ID number")
	ErrMobile        = errors.New("not an 11-digit mainland mobile number")
	ErrRegion        = errors.New("not a 6-digit region code")
	ErrEnum          = errors.New("value not in the allowed set")
	ErrNegative      = errors.New("negative value")
	ErrOutOfRange    = errors.New("value out of range")
	ErrContentType   = errors.New("datacontenttype is not application/json")
	ErrNotAnObject   = errors.New("data is not a JSON object")
	ErrPayloadAbsent = errors.New("event has no payload for its type")
)

// InvalidError is the error Decode, Validate and Encode return for a record
// that breaks the contract.
type InvalidError struct {
	Reason Reason
	Field  string // JSON path of the offending field, e.g. "data.licence.number"; may be empty
	Err    error
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("event: %s: %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("event: %s: %s: %v", e.Reason, e.Field, e.Err)
}

func (e *InvalidError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of an *InvalidError in err's chain, or "" when
// there is none.
func ReasonOf(err error) Reason {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ""
}

func missing(field string) *InvalidError {
	return &InvalidError{Reason: ReasonMissingField, Field: field, Err: ErrMissing}
}

func invalid(field string, err error) *InvalidError {
	return &InvalidError{Reason: ReasonInvalidField, Field: field, Err: err}
}

// unknownType is the error of a type that is not one of Types; it names
// the type (quoted, at most 64 bytes) so that the dead letter says which.
func unknownType(t Type) *InvalidError {
	return &InvalidError{Reason: ReasonUnknownType, Field: "type", Err: fmt.Errorf("%w %s", ErrUnknownType, quoteType(t))}
}
