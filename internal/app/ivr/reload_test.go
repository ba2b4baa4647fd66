package ivr_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
)

// TestReload: a valid file is swapped in; a broken one is refused with its
// position and the running flow stays.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	shipped, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "ivr-flows.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	flows := filepath.Join(dir, "flows.yaml")
	if err := os.WriteFile(flows, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := appivr.ParseConfig("ivr.yaml", []byte(`
sip: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}
prompts: `+filepath.Join("..", "..", "..", "prompts")+`
flows: `+flows+`
records: {dsn: `+filepath.Join(dir, "r.db")+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := appivr.New(context.Background(), appivr.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	if a.Flow().Start != "welcome" {
		t.Fatalf("start %q", a.Flow().Start)
	}
	changed := strings.Replace(string(shipped), "start: welcome", "start: main", 1)
	if err := os.WriteFile(flows, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	// "welcome" is now unreachable: refused, the old flow stays.
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), `menu "welcome" is unreachable`) || !strings.Contains(err.Error(), "flows.yaml:") {
		t.Fatalf("reload error %v", err)
	}
	if a.Flow().Start != "welcome" {
		t.Fatal("refused reload changed the flow")
	}
	fixed := strings.Replace(changed, "  welcome:\n    actions:\n      - play: welcome\n      - goto: main\n", "", 1)
	if err := os.WriteFile(flows, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Flow().Start != "main" {
		t.Fatalf("reload not applied: start %q", a.Flow().Start)
	}
}

func TestConfigStrict(t *testing.T) {
	_, err := appivr.ParseConfig("ivr.yaml", []byte("sip: {udp: 127.0.0.1:5060, tpc: x}\nflows: f\n"))
	if err == nil || !strings.Contains(err.Error(), "tpc") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	if _, err := appivr.LoadConfig(filepath.Join("..", "..", "..", "config", "ivr.yaml")); err != nil {
		t.Fatalf("shipped config: %v", err)
	}
}

// TestConfigTrust: a public listener needs an explicit trusted list; the
// shipped and deploy configs list single addresses, nothing wider.
func TestConfigTrust(t *testing.T) {
	if _, err := appivr.ParseConfig("ivr.yaml", []byte("sip: {udp: 0.0.0.0:5060}\nflows: f\n")); err == nil ||
		!strings.Contains(err.Error(), "sip.trusted") {
		t.Fatalf("public listener without trusted sources accepted: %v", err)
	}
	if _, err := appivr.ParseConfig("ivr.yaml", []byte("sip: {udp: 127.0.0.1:5060}\nflows: f\n")); err != nil {
		t.Fatalf("loopback listener without trusted sources: %v", err)
	}
	for _, path := range []string{"config/ivr.yaml", "deploy/ivr.yaml"} {
		cfg, err := appivr.LoadConfig(filepath.Join("..", "..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.SIP.Trusted) == 0 {
			t.Fatalf("%s trusts every source", path)
		}
		for _, tr := range cfg.SIP.Trusted {
			if strings.Contains(tr, "/") {
				t.Errorf("%s trusts the network %s: list SBC addresses", path, tr)
			}
		}
	}
}
