package cmpp

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/config"
)

// TestEveryNumericKeyBounded: a numeric key added to the section without
// a bound fails here (every numeric key has an upper limit, issue 13).
func TestEveryNumericKeyBounded(t *testing.T) {
	if missing := config.UnboundedKeys(Section{}, "", bounds); len(missing) > 0 {
		t.Errorf("numeric keys of the cmpp section without a bound: %v", missing)
	}
}

// TestBoundsRefused: a value past its bound is refused with its line.
func TestBoundsRefused(t *testing.T) {
	for _, tc := range []struct{ section, want string }{
		{"  fee_user_type: 9\n", "line 3: carriers[0].cmpp.fee_user_type: 9 is outside 0..3"},
		{"  active_test: 11m\n", "line 3: carriers[0].cmpp.active_test: 11m is outside 0s..10m0s"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("cmpp:\n  # a comment\n"+tc.section), &doc); err != nil {
			t.Fatal(err)
		}
		k := config.Carrier{Name: "c", Addr: "gw:7890", Protocol: Name, Sections: map[string]yaml.Node{Name: *doc.Content[0].Content[1]}}
		if _, err := decode(&k, "carriers[0]"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.section, err, tc.want)
		}
	}
}
