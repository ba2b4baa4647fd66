package smpp

import (
	"testing"

	"github.com/traffic12123/gateway/internal/config"
)

// TestEveryNumericKeyBounded: a numeric key added to the section without
// a bound fails here (every numeric key has an upper limit, issue 13).
func TestEveryNumericKeyBounded(t *testing.T) {
	if missing := config.UnboundedKeys(Section{}, "", bounds); len(missing) > 0 {
		t.Errorf("numeric keys of the smpp section without a bound: %v", missing)
	}
}
