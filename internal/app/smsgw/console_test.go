package smsgw

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/console"
)

// TestConsoleOnAdminListener: the console is served on the admin listener
// with its own login (the bearer token, required by the rest of the admin
// API here, does not apply to it), and its dead-letter page reads the real
// DLQ topic and replays a record to its original topic.
func TestConsoleOnAdminListener(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level run")
	}
	acc := filepath.Join(t.TempDir(), "accounts")
	line, err := console.HashLine("ops", console.Operator, "ops-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acc, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startPoisonGateway(t, 0, func(c *config.Config) { c.HTTP.ConsoleAccountsFile = acc })
	base := "http://" + g.a.AdminAddr()

	// The rest of the admin API still wants the token.
	if code, _ := g.admin("GET", "/held", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("held API without token: %d", code)
	}
	res, err := http.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(page, []byte("运维控制台")) {
		t.Fatalf("console page: %d", res.StatusCode)
	}

	var cookie, csrf string
	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+"/console/api/"+path, r)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: console.CookieName, Value: cookie})
			req.Header.Set(console.CSRFHeader, csrf)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		for _, c := range res.Cookies() {
			if c.Name == console.CookieName {
				cookie = c.Value
			}
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := call("GET", "overview", nil); code != http.StatusUnauthorized {
		t.Fatalf("console API without login: %d", code)
	}
	code, b := call("POST", "login", map[string]string{"user": "ops", "password": "ops-password"})
	if code != 200 {
		t.Fatalf("login: %d %s", code, b)
	}
	var me struct{ CSRF string }
	_ = json.Unmarshal(b, &me)
	csrf = me.CSRF

	// A malformed record goes to the DLQ.
	const bad = `{"specversion":"1.0","id":"broken-1","type":"vehicle.snapshot","data":{"vehicle":{"phone":"13912345678"`
	g.publish(kafka.Message{Topic: "events.vehicle", Key: []byte("京A12345"), Value: []byte(bad)})
	type group struct {
		Reason  string
		Count   int
		Samples []console.DeadLetterSample
	}
	var dl struct {
		Read   int
		Groups []group
	}
	deadline := time.Now().Add(30 * time.Second)
	for dl.Read < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the dead letter did not show")
		}
		time.Sleep(200 * time.Millisecond)
		code, b = call("GET", "deadletters", nil)
		if code != 200 {
			t.Fatalf("dead letters: %d %s", code, b)
		}
		_ = json.Unmarshal(b, &dl)
	}
	s := dl.Groups[0].Samples[0]
	if dl.Groups[0].Reason != "malformed_json" || s.Topic != "events.vehicle" || strings.Contains(s.Excerpt, "13912345678") || !strings.Contains(s.Excerpt, "139****5678") {
		t.Fatalf("dead letters = %+v", dl)
	}

	// Replayed to events.vehicle, it is dead-lettered again (it is still
	// malformed): the DLQ then holds two.
	code, b = call("POST", "deadletters/replay", map[string]any{"partition": s.Partition, "offset": s.Offset})
	if code != 200 || !strings.Contains(string(b), "events.vehicle") {
		t.Fatalf("replay: %d %s", code, b)
	}
	for dl.Read < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the replayed record did not come back")
		}
		time.Sleep(200 * time.Millisecond)
		_, b = call("GET", "deadletters", nil)
		_ = json.Unmarshal(b, &dl)
	}
	if code, b := call("POST", "deadletters/replay", map[string]any{"partition": 0, "offset": 99}); code != http.StatusUnprocessableEntity {
		t.Fatalf("replay of a missing offset: %d %s", code, b)
	}
	_, b = call("GET", "audit", nil)
	if !strings.Contains(string(b), `"action":"deadletter.replay"`) {
		t.Fatalf("audit = %s", b)
	}
}

// The console is served on the admin listener: accounts without an admin
// listener are a configuration error, not a console silently off; a
// missing or world-readable accounts file stops the start too.
func TestConsoleConfigErrors(t *testing.T) {
	dir := t.TempDir()
	acc := filepath.Join(dir, "accounts")
	line, _ := console.HashLine("ops", console.Admin, "ops-password")
	if err := os.WriteFile(acc, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, admin, file, want string
	}{
		{"no admin listener", "", acc, "http.admin_listen is empty"},
		{"readable by others", "127.0.0.1:0", acc, "readable by others"},
		{"missing", "127.0.0.1:0", filepath.Join(dir, "nope"), "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
			cfg.Ledger.DSN = "sqlite://" + filepath.Join(t.TempDir(), "ledger.db")
			cfg.Rules.Dir = filepath.Join(repoRoot, "rules")
			cfg.HTTP.AdminListen = tc.admin
			cfg.HTTP.ConsoleAccountsFile = tc.file
			a, err := New(t.Context(), Options{Config: &cfg})
			if err == nil {
				a.Store().Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}
