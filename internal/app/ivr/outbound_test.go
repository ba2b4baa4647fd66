package ivr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOutboundConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "..", "..", "config", "ivr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Outbound.Enabled() {
		t.Fatal("the shipped config dials without a trunk set")
	}
	if p := c.Outbound.RetryPolicy(); p.MaxAttempts != 3 || p.Backoff != 5*time.Minute || !p.RetryUnconfirmed {
		t.Fatalf("retry %+v", p)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "sip: {udp: 127.0.0.1:0}\nflows: f.yaml\n"
	good := base + "outbound: {trunk: 127.0.0.1:5090, username: gw, password_file: " + pw + ", hours: 08:00-21:00, max_concurrent: 4}\n"
	c, err = ParseConfig("good", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := c.Outbound.DiallerConfig(c.Location())
	if err != nil {
		t.Fatal(err)
	}
	if dc.Password != "secret-password" || dc.Hours.String() != "08:00-21:00" || dc.MaxConcurrent != 4 || dc.Bind != "0.0.0.0:5070" {
		t.Fatalf("dialler config %+v", dc)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"outbound: {trunk: 'sip:'}", "outbound.trunk"},
		{"outbound: {trunk: 127.0.0.1:5090, hours: 8-21}", "outbound.hours"},
		{"outbound: {trunk: 127.0.0.1:5090, username: gw}", "password_file"},
		{"outbound: {trunk: 127.0.0.1:5090, transport: sctp}", "outbound.transport"},
		{"outbound: {trunk: 127.0.0.1:5090, password: x}", "password"},
	} {
		if _, err := ParseConfig("bad", []byte(base+bad.yaml+"\n")); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v", bad.yaml, err)
		}
	}
}
