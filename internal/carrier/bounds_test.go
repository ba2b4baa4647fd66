package carrier_test

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/carrier/cmpp"
	"github.com/traffic12123/gateway/internal/carrier/sgip"
	"github.com/traffic12123/gateway/internal/carrier/smgp"
	"github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
)

// TestSectionBounds: every numeric key of every protocol's section has a
// bound (a key added without one fails here, issue 13), and a value past
// it is refused by Check with its line.
func TestSectionBounds(t *testing.T) {
	for _, tc := range []struct {
		p    carrier.Protocol
		keys map[string]string // section line → error it must give
	}{
		{smpp.Protocol, map[string]string{
			"receiver_binds: 65": "line 3: carriers[0].smpp.receiver_binds: 65 is outside 0..64",
			"enquire_link: 11m":  "line 3: carriers[0].smpp.enquire_link: 11m is outside 0s..10m0s",
		}},
		{cmpp.Protocol, map[string]string{
			"fee_user_type: 9": "line 3: carriers[0].cmpp.fee_user_type: 9 is outside 0..3",
			"active_test: 11m": "line 3: carriers[0].cmpp.active_test: 11m is outside 0s..10m0s",
		}},
		{sgip.Protocol, map[string]string{
			"node_id: 4294967296":   "line 3: cannot unmarshal !!int `4294967296` into uint32",
			"fee_type: 300":         "line 3: carriers[0].sgip.fee_type: 300 is outside 0..255",
			"morelateto_mt_flag: 4": "line 3: carriers[0].sgip.morelateto_mt_flag: 4 is outside 0..3",
		}},
		{smgp.Protocol, map[string]string{
			"active_test: 11m": "line 3: carriers[0].smgp.active_test: 11m is outside 0s..10m0s",
		}},
	} {
		if tc.p.Section == nil {
			t.Errorf("%s: no Section", tc.p.Name)
			continue
		}
		if missing := config.UnboundedKeys(tc.p.Section, "", tc.p.Bounds); len(missing) > 0 {
			t.Errorf("%s: numeric keys without a bound: %v", tc.p.Name, missing)
		}
		for line, want := range tc.keys {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.p.Name+":\n  # a comment\n  "+line+"\n"), &doc); err != nil {
				t.Fatal(err)
			}
			k := config.Carrier{Name: "c", Addr: "gw:7890", Protocol: tc.p.Name,
				Sections: map[string]yaml.Node{tc.p.Name: *doc.Content[0].Content[1]}}
			if err := tc.p.Check(&k, "carriers[0]"); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %q: got %v, want %q", tc.p.Name, line, err, want)
			}
		}
	}
}
