package browser

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/console"
)

// need skips the test (fails it under CI=true) when a peer is missing.
func need(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(what string) {
		msg := what + "; run: apt-get install -y chromium fonts-noto-cjk && npm ci --prefix internal/console/browser"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing(chromium + " is missing")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing("node_modules/playwright-core is not installed")
	}
	return node, chromium
}

// TestConsoleInBrowser: log in, the overview's carriers and charts, a
// playground run that fires a rule with a 2-part message and its boundary,
// a broken rule refused with file:line:column, a trace with its receipt, a
// held message released and an advisory cancelled, both shown in the
// audit, the English interface, and a viewer refused unmasking; a
// screenshot of every page (the accounts page as the admin).
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo and a browser")
	}
	node, chromium := need(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "smsgw")
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/smsgw")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var accounts strings.Builder
	for _, a := range []struct {
		name string
		role console.Role
		pw   string
	}{{"ops", console.Admin, "ops-password-1"}, {"guest", console.Viewer, "guest-password-1"}} {
		line, err := console.HashLine(a.name, a.role, a.pw)
		if err != nil {
			t.Fatal(err)
		}
		accounts.WriteString(line)
	}
	accFile := filepath.Join(dir, "accounts")
	if err := os.WriteFile(accFile, []byte(accounts.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, bin, "demo", "--console", "--console-accounts", accFile, "--events", "2000", "--hold-audience", "1",
		"--rules", filepath.Join(root, "rules"))
	demo.Cancel = func() error { return demo.Process.Signal(syscall.SIGINT) }
	demo.WaitDelay = 10 * time.Second
	demo.Stderr = nil
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = demo.Process.Signal(syscall.SIGINT)
		_ = demo.Wait()
	}()
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		if u, ok := strings.CutPrefix(line, "console: "); ok {
			url = strings.TrimSpace(u)
			break
		}
	}
	if url == "" {
		t.Fatal("the demo printed no console URL")
	}
	go func() { // keep draining
		for sc.Scan() {
		}
	}()

	shots := os.Getenv("SMSGW_TEST_ARTIFACTS")
	if shots == "" {
		shots = "artifacts"
	}
	shots, _ = filepath.Abs(filepath.Join(shots, "console"))
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(ctx, node, "console.mjs", url, "ops", "ops-password-1", "guest", "guest-password-1", shots)
	run.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := run.CombinedOutput()
	t.Logf("console.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser checks failed: %v", err)
	}
	if !strings.Contains(string(out), `"ok":true`) {
		t.Fatal("console.mjs did not report ok")
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) < 13 {
		t.Fatalf("%d screenshots in %s, want 13", len(pngs), shots)
	}
	t.Logf("screenshots in %s", shots)
}
