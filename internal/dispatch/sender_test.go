package dispatch

import "testing"

func TestIsUnsubscribe(t *testing.T) {
	for s, want := range map[string]bool{"TD": true, " td ": true, "退订": true, "T": true, "hello": false, "": false, "TD please": false} {
		if got := IsUnsubscribe(s); got != want {
			t.Errorf("IsUnsubscribe(%q) = %v", s, got)
		}
	}
}
