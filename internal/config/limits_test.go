package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBounds: every numeric key has an upper bound; a value past it is
// refused with file:line.
func TestBounds(t *testing.T) {
	dir := t.TempDir()
	for _, b := range bounds {
		val := "99999999999"
		if b.dur {
			val = "100000h"
		}
		var y string
		parts := strings.Split(b.path, ".")
		if parts[0] == "carriers[]" {
			y = "carriers:\n  - name: china_mobile\n    addr: x:1\n    smpp:\n      system_id: y\n    " + parts[1] + ": " + val + "\n"
		} else {
			indent := ""
			for _, p := range parts[:len(parts)-1] {
				y += indent + p + ":\n"
				indent += "  "
			}
			y += indent + parts[len(parts)-1] + ": " + val + "\n"
		}
		lines := strings.Count(y, "\n")
		f := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(f)
		want := f + ":" + strconv.Itoa(lines) + ": "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "is outside") {
			t.Errorf("%s = %s: error %v, want it to name %s", b.path, val, err, want)
		}
	}
	// the case
	_, err := Load([]byte("sender:\n  in_flight: 100000000\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: sender.in_flight: 100000000 is outside 1..10000") {
		t.Fatalf("in_flight: %v", err)
	}
	// the shipped configurations are inside every bound
	t.Setenv("SMSGW_CMCC_PASSWORD", "x")
	for _, f := range []string{"../../config/smsgw.yaml", "../../deploy/smsgw.yaml"} {
		if _, err := LoadFile(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestSecretRules(t *testing.T) {
	carrier := "carriers:\n  - name: china_mobile\n    addr: x:1\n    smpp:\n      system_id: y\n"
	for _, tc := range []struct {
		yaml    string
		err     string // "" : loads
		warning string
	}{
		{carrier + "    password: inline\n", "", "line 6: carriers[0].password: secret written inline"},
		{carrier + "    password: inline\nstrict_secrets: true\n", "carriers[0].password: secret written inline", ""},
		{carrier + "    password: inline\n    password_env: X\n", "set at most one of password, password_env, password_file", ""},
		{"kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: p\n    password_env: X\n", "line 5: kafka.sasl: password together with password_env/password_file", ""},
		{"kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: p\n", "", "kafka.sasl.password: secret written inline"},
		{"ledger:\n  dsn: postgres://u:pw@db/x\n", "", "line 2: ledger.dsn: secret written inline"},
		{"ledger:\n  dsn: host=db user=u password=pw\nstrict_secrets: true\n", "ledger.dsn: secret written inline", ""},
		{"ledger:\n  dsn: postgres://u@db/x\nstrict_secrets: true\n", "", ""},
		{"http:\n  admin_listen: 0.0.0.0:9124\n", "http.admin_token_file", ""},
		{"http:\n  admin_listen: 0.0.0.0:9124\n  admin_token_file: /run/secrets/t\n", "", ""},
	} {
		c, err := Load([]byte(tc.yaml))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), "inline\n") || strings.Contains(err.Error(), "pw")) {
				t.Errorf("%q: the error echoes the secret: %v", tc.yaml, err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case tc.warning == "" && len(c.Warnings) > 0:
			t.Errorf("%q: warnings %v", tc.yaml, c.Warnings)
		case tc.warning != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.warning)):
			t.Errorf("%q: warnings %v, want %q", tc.yaml, c.Warnings, tc.warning)
		}
	}
}
