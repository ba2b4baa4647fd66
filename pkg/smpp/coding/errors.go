package coding

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotGSM7 means a character is outside the GSM default alphabet.
	ErrNotGSM7 = errors.New("coding: character not in the GSM 7-bit alphabet")
	// ErrInvalidSeptet means an octet above 0x7F where a septet was expected.
	ErrInvalidSeptet = errors.New("coding: invalid septet")
	// ErrShortPacked means packed data ends before the septet count.
	ErrShortPacked = errors.New("coding: packed data shorter than its septet count")
	// ErrOddUCS2 means UCS2 data of odd length.
	ErrOddUCS2 = errors.New("coding: UCS2 data of odd length")
	// ErrTooLong means text that needs more than 255 parts.
	ErrTooLong = errors.New("coding: text needs more than 255 parts")
	// ErrBadUDH means a user data header whose lengths do not add up.
	ErrBadUDH = errors.New("coding: malformed user data header")
	// ErrUnknownEncoding means an Encoding value this package does not know.
	ErrUnknownEncoding = errors.New("coding: unknown encoding")
	// ErrUnsupportedDataCoding means a data_coding this package cannot decode.
	ErrUnsupportedDataCoding = errors.New("coding: unsupported data_coding")
)

// EncodeError says which character could not be encoded.
type EncodeError struct {
	Offset int  // byte offset in the input string
	Rune   rune // the character
	Err    error
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("coding: %U at byte %d: %v", e.Rune, e.Offset, e.Err)
}

// Unwrap returns the underlying sentinel.
func (e *EncodeError) Unwrap() error { return e.Err }
