package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/console"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/rules"
)

// dirRules is the rules directory with the gateway's load-then-swap: the
// console's Rules over real files and the real loader.
type dirRules struct {
	dir     string
	mu      sync.Mutex
	hash    string
	reloads int
}

func (r *dirRules) Dir() string { return r.dir }
func (r *dirRules) Hash() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hash
}
func (r *dirRules) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, err := rules.LoadDir(r.dir, rules.Options{})
	if err != nil {
		return err
	}
	r.hash = set.Hash()
	r.reloads++
	return nil
}

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store *sqlite.Store
	rules *dirRules
	reg   *prometheus.Registry
	// accounts is the accounts file.
	accounts string
}

const (
	pwViewer   = "viewer-pass-1"
	pwOperator = "operator-pass-1"
	pwAdmin    = "admin-pass-1"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	rdir := filepath.Join(dir, "rules")
	if err := os.CopyFS(rdir, os.DirFS("../../rules")); err != nil {
		t.Fatal(err)
	}
	_ = filepath.Walk(rdir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			_ = os.Chmod(p, 0o644)
		} else if err == nil {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
	rs := &dirRules{dir: rdir}
	if err := rs.Reload(); err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "ledger.db"), ledger.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var acc strings.Builder
	for _, a := range []struct {
		n, pw string
		r     console.Role
	}{{"vera", pwViewer, console.Viewer}, {"otto", pwOperator, console.Operator}, {"ada", pwAdmin, console.Admin}} {
		l, err := console.CheapHashLine(a.n, a.r, a.pw)
		if err != nil {
			t.Fatal(err)
		}
		acc.WriteString(l)
	}
	accFile := filepath.Join(dir, "accounts")
	if err := os.WriteFile(accFile, []byte("# console accounts\n"+acc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	accts, err := console.LoadAccounts(accFile)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	binds := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "smsgw_binds_up", Help: "binds"}, []string{"carrier"})
	reg.MustRegister(binds)
	binds.WithLabelValues("china_mobile").Set(2)
	binds.WithLabelValues("china_unicom").Set(0)
	c, err := console.New(console.Config{
		Accounts: accts, Ledger: store, Rules: rs, Gatherer: reg, Registerer: reg, Now: func() time.Time { return now },
		Carriers: []console.Carrier{{Name: "china_mobile", TPS: 100, Binds: 2, Window: 64}, {Name: "china_unicom", Binds: 1, Window: 64}},
		Samples: func() []json.RawMessage {
			g := eventgen.New(1, now)
			var out []json.RawMessage
			for range 50 {
				_, _, ev := g.Next()
				b, _ := event.Encode(ev)
				out = append(out, b)
			}
			return out
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, store: store, rules: rs, reg: reg, accounts: accFile}
}

// client is one browser: its session cookie and CSRF token.
type client struct {
	f      *fixture
	cookie string
	csrf   string
}

func (f *fixture) anon() *client { return &client{f: f} }

func (f *fixture) login(user, pw string) *client {
	f.t.Helper()
	c := &client{f: f}
	code, b := c.do("POST", "login", map[string]string{"user": user, "password": pw})
	if code != 200 {
		f.t.Fatalf("login %s: %d %s", user, code, b)
	}
	var m struct{ CSRF string }
	_ = json.Unmarshal(b, &m)
	c.csrf = m.CSRF
	return c
}

func (c *client) do(method, path string, body any) (int, []byte) {
	code, b, _ := c.doH(method, path, body, nil)
	return code, b
}

func (c *client) doH(method, path string, body any, hdr map[string]string) (int, []byte, http.Header) {
	c.f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.f.srv.URL+"/console/api/"+path, r)
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: console.CookieName, Value: c.cookie})
	}
	if c.csrf != "" && method != "GET" {
		req.Header.Set(console.CSRFHeader, c.csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.Name == console.CookieName {
			c.cookie = ck.Value
		}
	}
	return res.StatusCode, b, res.Header
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func (f *fixture) actions() []ledger.OperatorAction {
	f.t.Helper()
	as, err := f.store.Actions(f.t.Context(), 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func (f *fixture) lastAction() ledger.OperatorAction {
	f.t.Helper()
	as := f.actions()
	if len(as) == 0 {
		f.t.Fatal("no action recorded")
	}
	return as[0]
}

// Every API answers 401 without a session.
func TestAPIsNeedLogin(t *testing.T) {
	f := newFixture(t)
	a := f.anon()
	for _, x := range []struct{ method, path string }{
		{"GET", "me"}, {"POST", "logout"}, {"GET", "overview"}, {"GET", "rules"}, {"GET", "rules/samples"}, {"GET", "rules/schema"}, {"POST", "rules/preview"},
		{"POST", "rules/save"}, {"GET", "trace?phone=13800000001"}, {"GET", "held"}, {"POST", "held/release"}, {"POST", "held/drop"},
		{"GET", "deadletters"}, {"POST", "deadletters/replay"}, {"GET", "audit"}, {"GET", "advisories"}, {"POST", "advisories/cancel"},
		{"GET", "accounts"},
	} {
		if code, b := a.do(x.method, x.path, map[string]any{}); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d %s", x.method, x.path, code, b)
		}
	}
	a.cookie = "forged-session-id"
	if code, _ := a.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Errorf("forged session: %d", code)
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	f := newFixture(t)
	a := f.anon()
	if code, _ := a.do("POST", "login", map[string]string{"user": "otto", "password": "wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if code, _ := a.do("POST", "login", map[string]string{"user": "nobody", "password": "x"}); code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", code)
	}
	as := f.actions()
	if act := as[0]; act.Action != "login.failed" || act.Who != "?" || act.Detail != "unknown user (6 bytes)" || act.Remote != "127.0.0.1" {
		t.Fatalf("failed login audit = %+v", act)
	}
	if act := as[1]; act.Action != "login.failed" || act.Who != "otto" || act.Detail != "wrong password" {
		t.Fatalf("failed login audit = %+v", act)
	}
	code, _, _ := a.doH("POST", "login", map[string]string{"user": "otto", "password": pwOperator}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Fatalf("cross-site login: %d", code)
	}

	code, b, hdr := a.doH("POST", "login", map[string]string{"user": "otto", "password": pwOperator}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if code != 200 {
		t.Fatalf("login: %d %s", code, b)
	}
	sc := hdr.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/console/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("cookie %q lacks %s", sc, want)
		}
	}
	me := decodeJSON[struct{ User, Role, CSRF string }](t, b)
	if me.User != "otto" || me.Role != "operator" || len(me.CSRF) < 32 {
		t.Fatalf("me = %+v", me)
	}
	if act := f.lastAction(); act.Action != "login" || act.Who != "otto" || act.Role != "operator" {
		t.Fatalf("login audit = %+v", act)
	}
	// A change without the CSRF token, or with another, is refused.
	if code, _ := a.do("POST", "held/release", map[string]any{"ids": []int{1}}); code != http.StatusForbidden {
		t.Fatalf("no CSRF token: %d", code)
	}
	a.csrf = strings.Repeat("x", 43)
	if code, _ := a.do("POST", "held/release", map[string]any{"ids": []int{1}}); code != http.StatusForbidden {
		t.Fatalf("wrong CSRF token: %d", code)
	}
	a.csrf = me.CSRF
	if code, b := a.do("GET", "me", nil); code != 200 || !strings.Contains(string(b), "otto") {
		t.Fatalf("me: %d %s", code, b)
	}
	if code, _ := a.do("POST", "logout", nil); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	a2 := &client{f: f, cookie: a.cookie}
	if a2.cookie == "" {
		// logout clears the cookie; the old id must be dead too
		t.Log("cookie cleared by logout")
	}
	if code, _ := a.do("GET", "me", nil); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", code)
	}
}

func TestRolesForbidden(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	o := f.login("otto", pwOperator)
	for _, x := range []struct {
		c            *client
		method, path string
		body         any
	}{
		{v, "POST", "held/release", map[string]any{"ids": []int{1}}},
		{v, "POST", "held/drop", map[string]any{"ids": []int{1}}},
		{v, "POST", "deadletters/replay", map[string]any{"partition": 0, "offset": 0}},
		{v, "POST", "advisories/cancel", map[string]any{"event_id": "e", "rule": "r"}},
		{v, "GET", "trace?phone=13800000001&unmask=1", nil},
		{v, "POST", "rules/preview", map[string]any{"event": json.RawMessage(`{}`), "files": map[string]string{"x.yaml": ""}}},
		{v, "POST", "rules/save", map[string]any{"file": "violation.yaml", "content": "rules: []\n"}},
		{o, "POST", "rules/save", map[string]any{"file": "violation.yaml", "content": "rules: []\n"}},
		{v, "GET", "accounts", nil},
		{o, "GET", "accounts", nil},
	} {
		if code, b := x.c.do(x.method, x.path, x.body); code != http.StatusForbidden {
			t.Errorf("%s %s: %d %s, want 403", x.method, x.path, code, b)
		}
	}
	if act := f.actions(); !hasAction(act, "trace.unmask.denied", "vera") {
		t.Errorf("denied unmask not audited: %+v", act)
	}
}

func hasAction(as []ledger.OperatorAction, action, who string) bool {
	for _, a := range as {
		if a.Action == action && a.Who == who {
			return true
		}
	}
	return false
}

// The accounts page: admins only, read-only, names and roles from the
// file, never a hash.
func TestAccountsPage(t *testing.T) {
	f := newFixture(t)
	f.login("vera", pwViewer)
	f.login("vera", pwViewer)
	ad := f.login("ada", pwAdmin)
	b := mustGet(t, ad, "accounts")
	if strings.Contains(string(b), "$2a$") || strings.Contains(string(b), "$2b$") || strings.Contains(string(b), "hash") {
		t.Fatalf("accounts show a hash: %s", b)
	}
	page := decodeJSON[console.AccountsPage](t, b)
	if page.File != f.accounts {
		t.Fatalf("file %q, want %q", page.File, f.accounts)
	}
	want := []console.AccountView{{Name: "ada", Role: console.Admin, Sessions: 1}, {Name: "otto", Role: console.Operator}, {Name: "vera", Role: console.Viewer, Sessions: 2}}
	if len(page.Accounts) != len(want) {
		t.Fatalf("accounts = %+v", page.Accounts)
	}
	for i := range want {
		if page.Accounts[i] != want[i] {
			t.Errorf("account %d = %+v, want %+v", i, page.Accounts[i], want[i])
		}
	}
	if page.Add != "smsgw console-account NAME ROLE < password-file >> "+f.accounts {
		t.Errorf("add = %q", page.Add)
	}
	// A change is refused by the router: the page is read-only.
	if code, _ := ad.do("POST", "accounts", map[string]string{"name": "eve", "role": "admin"}); code != http.StatusMethodNotAllowed {
		t.Errorf("POST accounts: %d, want 405", code)
	}
}

func TestStaticAndHeaders(t *testing.T) {
	f := newFixture(t)
	res, err := http.Get(f.srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "运维控制台") || !strings.Contains(string(b), `src="app.js"`) {
		t.Fatalf("index: %d %s", res.StatusCode, b)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP = %q", csp)
	}
	for _, p := range []string{"app.js", "app.css"} {
		res, err := http.Get(f.srv.URL + "/console/" + p)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, res.Status)
		}
		res.Body.Close()
	}
}

func TestOverview(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	m := ledgertest.Msg("ev1", "r", 1)
	m.Carrier = "china_mobile"
	if err := f.store.Insert(t.Context(), []*message.Message{m}); err != nil {
		t.Fatal(err)
	}
	code, b := v.do("GET", "overview", nil)
	if code != 200 {
		t.Fatalf("overview: %d %s", code, b)
	}
	ov := decodeJSON[console.Overview](t, b)
	if len(ov.Carriers) != 2 || ov.Carriers[0].Name != "china_mobile" || ov.Carriers[0].BindsUp != 2 || ov.Carriers[0].TPSConfigured != 100 {
		t.Fatalf("carriers = %+v", ov.Carriers)
	}
	if ov.Carriers[0].Unsent != 1 || ov.Carriers[1].Unsent != 0 {
		t.Fatalf("unsent = %d, %d; want the queued message on china_mobile", ov.Carriers[0].Unsent, ov.Carriers[1].Unsent)
	}
	if ov.Queue["queued"] != 1 || ov.RulesHash != f.rules.Hash() {
		t.Fatalf("queue %v hash %q", ov.Queue, ov.RulesHash)
	}
	if !strings.Contains(strings.Join(ov.Alerts, "|"), "china_unicom: no bind up") {
		t.Fatalf("alerts = %v", ov.Alerts)
	}
}

func TestLoginThrottle(t *testing.T) {
	f := newFixture(t)
	a := f.anon()
	for i := range 10 {
		if code, _ := a.do("POST", "login", map[string]string{"user": "otto", "password": "guess"}); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, code)
		}
	}
	if code, _ := a.do("POST", "login", map[string]string{"user": "otto", "password": pwOperator}); code != http.StatusTooManyRequests {
		t.Fatalf("after 10 failures the right password: %d, want 429", code)
	}
}
