package config

import (
	"slices"
	"testing"
)

// TestEveryNumericKeyBounded: a numeric key added to Config without an
// entry in bounds fails here, not in production (issue 13).
func TestEveryNumericKeyBounded(t *testing.T) {
	bs := make([]Bound, len(bounds))
	for i, b := range bounds {
		bs[i] = Bound{Key: b.path}
	}
	if missing := UnboundedKeys(Config{}, "", bs); len(missing) > 0 {
		t.Errorf("numeric keys without a bound in limits.go: %v", missing)
	}
	// And the walk finds keys at all, nested and in slices.
	all := UnboundedKeys(Config{}, "", nil)
	for _, k := range []string{"kafka.max_batch", "carriers[].window", "ledger.contacts.known_mb", "sender.unknown_grace"} {
		if !slices.Contains(all, k) {
			t.Errorf("%s not found among the numeric keys %v", k, all)
		}
	}
}
