package template

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrSyntax: a placeholder is not closed, empty, or a "}}" has no "{{".
	ErrSyntax = errors.New("template syntax")
	// ErrLint: the template compiles but breaks a house rule (signature
	// brackets, links, too long).
	ErrLint = errors.New("template lint")
	// ErrType: a placeholder does not type-check or yields an unprintable type.
	ErrType = errors.New("template type")
	// ErrRender: a placeholder failed at run time.
	ErrRender = errors.New("template render")
)

// Error is a problem at a position inside the template text. Offset is
// counted in characters (runes) from the start of the text; Line and Col
// (1-based) are the same position as the text's own lines and columns.
type Error struct {
	Offset    int
	Line, Col int
	Msg       string
	Err       error // one of the sentinels
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one template.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 0 {
		return "no errors"
	}
	s := es[0].Error()
	if len(es) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(es)-1)
	}
	return s
}

// Unwrap returns the individual errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
