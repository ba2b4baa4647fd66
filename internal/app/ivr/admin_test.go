package ivr_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
)

// TestAdminListener: loopback by default, every path behind the bearer
// token from its file; pprof, flow reload and memstats answer.
func TestAdminListener(t *testing.T) {
	dir := t.TempDir()
	shipped, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "ivr-flows.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	flows := filepath.Join(dir, "flows.yaml")
	if err := os.WriteFile(flows, shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	const token = "test-admin-token-0123456789"
	tokenFile := filepath.Join(dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := appivr.ParseConfig("ivr.yaml", []byte(`
sip: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}
prompts: `+filepath.Join("..", "..", "..", "prompts")+`
flows: `+flows+`
records: {dsn: `+filepath.Join(dir, "r.db")+`}
admin: {addr: "127.0.0.1:0", token_file: `+tokenFile+`}
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
	base := "http://" + a.AdminAddr()
	do := func(method, path, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, p := range []string{"/debug/pprof/heap", "/admin/memstats", "/debug/pprof/goroutine?debug=1"} {
		if code, _ := do("GET", p, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", p, code)
		}
		if code, _ := do("GET", p, "wrong-token-wrong-token"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", p, code)
		}
	}
	if code, body := do("GET", "/debug/pprof/goroutine?debug=1", token); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("pprof goroutine: %d %.100s", code, body)
	}
	if code, body := do("GET", "/debug/pprof/heap", token); code != 200 || len(body) == 0 {
		t.Errorf("pprof heap: %d (%d bytes)", code, len(body))
	}
	code, body := do("GET", "/admin/memstats?gc=1", token)
	var ms map[string]float64
	if err := json.Unmarshal([]byte(body), &ms); code != 200 || err != nil || ms["heap_inuse_bytes"] <= 0 {
		t.Errorf("memstats: %d %s %v", code, body, err)
	}
	// Reload: a broken file is refused (422) and the flow stays; a good
	// one is swapped in.
	changed := strings.Replace(string(shipped), "start: welcome", "start: main", 1)
	os.WriteFile(flows, []byte(changed), 0o644)
	if code, body := do("POST", "/admin/reload", token); code != http.StatusUnprocessableEntity || !strings.Contains(body, "unreachable") {
		t.Errorf("broken reload: %d %s", code, body)
	}
	if code, _ := do("GET", "/admin/reload", token); code != http.StatusMethodNotAllowed {
		t.Errorf("GET reload: %d", code)
	}
	fixed := strings.Replace(changed, "  welcome:\n    actions:\n      - play: welcome\n      - goto: main\n", "", 1)
	os.WriteFile(flows, []byte(fixed), 0o644)
	if code, body := do("POST", "/admin/reload", token); code != 200 || a.Flow().Start != "main" {
		t.Errorf("reload: %d %s, start %q", code, body, a.Flow().Start)
	}
}

// TestAdminConfig: an admin address without a token file is refused; a
// token file alone listens on loopback.
func TestAdminConfig(t *testing.T) {
	if _, err := appivr.ParseConfig("ivr.yaml", []byte("sip: {udp: 127.0.0.1:5060}\nflows: f\nadmin: {addr: 127.0.0.1:9103}\n")); err == nil ||
		!strings.Contains(err.Error(), "token_file") {
		t.Fatalf("admin without a token accepted: %v", err)
	}
	if appivr.DefaultAdminAddr != "127.0.0.1:9103" {
		t.Fatalf("default admin address %s is not loopback", appivr.DefaultAdminAddr)
	}
}
