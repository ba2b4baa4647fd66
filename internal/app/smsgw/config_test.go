package smsgw

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/route"
)

// Carrier names are route's, protocols and their sections the registered
// connectors': LoadConfig reports unknown ones with the file's other
// problems, all at once, under the file's name.
func TestLoadConfigCarrierNames(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"carriers:\n  - name: att\n    addr: x\n    smpp:\n      system_id: y\n", `carriers[0].name: unknown carrier "att" (want one of china_mobile, china_unicom, china_telecom, china_broadnet)`},
		{"carriers:\n  - name: china_mobile\n    addr: x:1\n    protocol: ucp\n    ucp: {}\n", `carriers[0].protocol: unknown protocol "ucp" (want one of cmpp, sgip, smgp, smpp)`},
		{"carriers:\n  - name: china_mobile\n    addr: x:1\n    protocol: cmpp\n    cmpp: {}\n", `carriers[0].cmpp.source_addr: must not be empty`},
		{"carriers:\n  - name: china_unicom\n    addr: x:1\n    protocol: sgip\n    source: \"10655\"\n    sgip:\n      login: sp\n      nodeid: 1\n", `line 8: carriers[0].sgip: unknown key "nodeid"`},
		{"carriers:\n  - name: china_mobile\n    addr: x:1\n    smpp:\n      system_id: y\n      windw: 3\n", `line 6: carriers[0].smpp: unknown key "windw"`},
		{"route:\n  fallback: nokia\n", `route.fallback: unknown carrier "nokia"`},
		{"route:\n  prefixes:\n    \"170\": vodafone\n", `route.prefixes[170]: unknown carrier "vodafone"`},
		{"route:\n  numbers:\n    \"13800138000\": orange\n", `route.numbers[138…]: unknown carrier "orange"`},
	} {
		path := filepath.Join(t.TempDir(), "smsgw.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml+"log:\n  format: xml\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `log.format: "xml"`) ||
			!strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("LoadConfig(%q) error = %v, want it to start with the path and mention %q and log.format", tc.yaml, err, tc.want)
		}
		if strings.Contains(err.Error(), "13800138000") {
			t.Errorf("error %v shows a whole phone number", err)
		}
	}
	if _, err := config.Load([]byte("route:\n  fallback: china_unicom\n"), CheckCarriers); err != nil {
		t.Fatalf("a known fallback: %v", err)
	}
}

// route's default prefixes apply under the operator's, which override them.
func TestRouterDefaultPrefixes(t *testing.T) {
	r, err := buildRouter(config.Route{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Route("14912345678"); err != nil || c != route.ChinaTelecom {
		t.Fatalf("149 without overrides: %v, %v; want china_telecom from route.DefaultPrefixes", c, err)
	}
	r, err = buildRouter(config.Route{Prefixes: map[string]string{"149": "china_mobile"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Route("14912345678"); err != nil || c != route.ChinaMobile {
		t.Fatalf("149 overridden: %v, %v; want china_mobile", c, err)
	}
	if c, err := r.Route("16512345678"); err != nil || c != route.ChinaMobile {
		t.Fatalf("165 (a default the file does not touch): %v, %v", c, err)
	}
}
