package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadDefaultsAndExample(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.GroupID != "smsgw" || c.Sender.ClaimBatch != 1000 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	t.Setenv("SMSGW_CMCC_PASSWORD", "s3cret")
	t.Setenv("SMSGW_CUCC_PASSWORD", "x")
	t.Setenv("SMSGW_CTCC_PASSWORD", "x")
	t.Setenv("SMSGW_CBN_PASSWORD", "x")
	c, err = LoadFile("../../config/smsgw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Carriers) != 4 {
		t.Fatalf("example config has %d carriers", len(c.Carriers))
	}
	pw, err := c.Carriers[0].ResolvePassword()
	if err != nil || pw != "s3cret" {
		t.Fatalf("password = %q, %v", pw, err)
	}
}

func TestStrict(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"kafka:\n  brokrs: [a]\n", "line 2: field brokrs not found"},
		{"sender:\n  retry_backoff: soon\n", `line 2: "soon" is not a duration`},
		{"ledger:\n  dsn_env: X\n", "exactly one of dsn, dsn_env, dsn_file"},
		{"log:\n  format: xml\n", `log.format: "xml"`},
		{"policy:\n  daily_cap: 5\n", "policy.daily_cap: removed; the per-recipient caps are rules/settings.yaml"},
	} {
		_, err := Load([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) error = %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "dsn")
	if err := os.WriteFile(f, []byte("postgres://u:p@127.0.0.1/db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]byte("ledger:\n  dsn: ''\n  dsn_file: " + f + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := c.LedgerDSN()
	if err != nil || dsn != "postgres://u:p@127.0.0.1/db" {
		t.Fatalf("dsn = %q, %v", dsn, err)
	}
	c.Ledger = Ledger{DSNEnv: "SMSGW_TEST_UNSET_VAR"}
	if _, err := c.LedgerDSN(); err == nil {
		t.Fatal("unset env accepted")
	}
	if d := c.Sender.UnknownGrace.D(); d != 10*time.Minute {
		t.Fatalf("unknown grace %v", d)
	}
}

// A caller's Check is reported with the file's own problems, at once.
func TestLoadChecks(t *testing.T) {
	check := func(c *Config) error {
		if c.Route.Fallback != "" {
			return errors.New("route.fallback: not here")
		}
		return nil
	}
	_, err := Load([]byte("route:\n  fallback: x\nlog:\n  level: loud\n"), check)
	if err == nil || !strings.Contains(err.Error(), "route.fallback: not here") || !strings.Contains(err.Error(), `log.level: "loud"`) {
		t.Fatalf("error = %v, want the check's and log.level's", err)
	}
	if _, err := Load([]byte("route:\n  fallback: x\n")); err != nil {
		t.Fatalf("without checks: %v", err)
	}
}

// TestVoiceSection: the example's voice section loads (off without a
// trunk), its retry keys override the dialler's defaults, and a trunk
// that is not an address is refused.
func TestVoiceSection(t *testing.T) {
	c, err := Load([]byte("voice:\n  retry:\n    max_attempts: 5\n    backoff: 30s\n    retry_unconfirmed: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Voice.Enabled() {
		t.Fatal("voice on without a trunk")
	}
	p := c.Voice.RetryPolicy()
	if p.MaxAttempts != 5 || p.Backoff != 30*time.Second || p.MaxBackoff != time.Hour || p.RetryUnconfirmed {
		t.Fatalf("retry policy %+v", p)
	}
	if _, err := Load([]byte("voice:\n  trunk: \"sip:\"\n")); err == nil || !strings.Contains(err.Error(), "voice.trunk") {
		t.Fatalf("bad trunk: %v", err)
	}
}
