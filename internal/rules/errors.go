package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors.
var (
	// ErrInvalid: the rule files do not load (LoadErrors is(ErrInvalid)).
	ErrInvalid = errors.New("invalid rule set")
	// ErrEvent: the event cannot be evaluated (unknown type or no payload).
	ErrEvent = errors.New("event not evaluable")
)

// LoadError is one problem in a rules file, at a 1-based line and column.
type LoadError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Unwrap lets errors.Is(err, ErrInvalid) hold for every LoadError.
func (e *LoadError) Unwrap() error { return ErrInvalid }

// LoadErrors is every problem found while loading a set, in file order.
type LoadErrors []*LoadError

func (es LoadErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is reports ErrInvalid.
func (es LoadErrors) Is(target error) bool { return target == ErrInvalid }
