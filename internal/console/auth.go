package console

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what an account may do. Each role can do what the ones before
// it can.
type Role string

// The roles.
const (
	// Viewer reads every page, with personal data masked.
	Viewer Role = "viewer"
	// Operator also unmasks traces (recorded), releases or drops held
	// messages, replays dead letters and previews edited rules.
	Operator Role = "operator"
	// Admin also saves rules files (validated and swapped in like a
	// reload).
	Admin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether r can do what need requires.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

// Account is one console user.
type Account struct {
	Name string
	Role Role
	hash []byte
}

// Accounts are the console's users, from a file with one account per
// line: "name role bcrypt-hash" ('#' starts a comment).
type Accounts struct {
	file  string // where they were read from
	users map[string]Account
	dummy []byte // compared against for unknown names, so timing does not tell names apart
}

// LoadAccounts reads an accounts file; it must not be readable by others.
func LoadAccounts(file string) (*Accounts, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("console accounts: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("console accounts %s is readable by others (mode %v): chmod 600", file, st.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("console accounts: %w", err)
	}
	a, err := ParseAccounts(file, b)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(file); err == nil {
		a.file = abs
	}
	return a, nil
}

// ParseAccounts parses the accounts file format; name is used in errors
// and as File.
func ParseAccounts(name string, b []byte) (*Accounts, error) {
	a := &Accounts{file: name, users: map[string]Account{}}
	cost := bcrypt.MinCost
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"name role bcrypt-hash\"", name, n)
		}
		role := Role(f[1])
		if role.rank() == 0 {
			return nil, fmt.Errorf("%s:%d: role %q: want viewer, operator or admin", name, n, f[1])
		}
		c, err := bcrypt.Cost([]byte(f[2]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not a bcrypt hash: %w", name, n, err)
		}
		cost = max(cost, c)
		if _, dup := a.users[f[0]]; dup {
			return nil, fmt.Errorf("%s:%d: account %q given twice", name, n, f[0])
		}
		a.users[f[0]] = Account{Name: f[0], Role: role, hash: []byte(f[2])}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(a.users) == 0 {
		return nil, fmt.Errorf("%s: no accounts", name)
	}
	// As costly as the accounts' hashes, so an unknown name takes as long.
	a.dummy, _ = bcrypt.GenerateFromPassword([]byte("not a password"), cost)
	return a, nil
}

// File is where the accounts were read from.
func (a *Accounts) File() string { return a.file }

// List returns the accounts by name (their hashes stay unexported).
func (a *Accounts) List() []Account {
	out := make([]Account, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(x, y Account) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// HashLine returns an accounts file line for name, role and password
// (bcrypt cost 10).
func HashLine(name string, role Role, password string) (string, error) {
	return hashLine(name, role, password, bcrypt.DefaultCost)
}

func hashLine(name string, role Role, password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s\n", name, role, h), nil
}

// check returns the account when name and password match.
func (a *Accounts) check(name, password string) (Account, bool) {
	u, ok := a.users[name]
	h := u.hash
	if !ok {
		h = a.dummy
	}
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	return u, ok && err == nil
}

// session is one logged-in browser.
type session struct {
	user    string
	role    Role
	csrf    string
	expires time.Time
}

// sessions are kept in memory: a restart logs everyone out.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
	now func() time.Time
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(u Account) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.m { // drop expired ones while here
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	id := newToken()
	ss := &session{user: u.Name, role: u.Role, csrf: newToken(), expires: now.Add(s.ttl)}
	s.m[id] = ss
	return id, ss
}

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if s.now().After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	ss.expires = s.now().Add(s.ttl) // sliding
	c := *ss
	return &c
}

// perUser counts the live sessions of each user.
func (s *sessions) perUser() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := map[string]int{}
	for _, ss := range s.m {
		if !now.After(ss.expires) {
			out[ss.user]++
		}
	}
	return out
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// throttle counts failed logins per client address: after maxFailures
// within failureWindow the address is refused (429) until the window
// since its first failure has passed, right password or not.
type throttle struct {
	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

const (
	maxFailures   = 10
	failureWindow = 10 * time.Minute
)

func (t *throttle) blocked(addr string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[addr]
	if f == nil {
		return false
	}
	if now.Sub(f.first) > failureWindow {
		delete(t.m, addr)
		return false
	}
	return f.n >= maxFailures
}

func (t *throttle) fail(addr string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*failures{}
	}
	if len(t.m) > 100_000 { // bounded memory under a spray of addresses
		for k, f := range t.m {
			if now.Sub(f.first) > failureWindow {
				delete(t.m, k)
			}
		}
	}
	f := t.m[addr]
	if f == nil || now.Sub(f.first) > failureWindow {
		f = &failures{first: now}
		t.m[addr] = f
	}
	f.n++
}

func (t *throttle) reset(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, addr)
}

// CookieName is the session cookie.
const CookieName = "smsgw_console"

// CSRFHeader carries the session's CSRF token on every POST.
const CSRFHeader = "X-CSRF-Token"

func (c *Console) setCookie(w http.ResponseWriter, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: c.prefix + "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}

// auth wraps an API handler: it needs a session whose role allows need
// (401 without a session, 403 when the role is too low) and, for anything
// but GET, the session's CSRF token in X-CSRF-Token (403 otherwise).
func (c *Console) auth(need Role, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(CookieName)
		var ss *session
		if err == nil {
			ss = c.sessions.get(ck.Value)
		}
		if ss == nil {
			jsonError(w, http.StatusUnauthorized, "not logged in")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get(CSRFHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) != 1 {
				jsonError(w, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		if !ss.role.Allows(need) {
			jsonError(w, http.StatusForbidden, fmt.Sprintf("role %s may not do this (needs %s)", ss.role, need))
			return
		}
		h(w, r, ss)
	}
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type me struct {
	User string `json:"user"`
	Role Role   `json:"role"`
	CSRF string `json:"csrf"`
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	// A cross-site login form post would log the victim in as the
	// attacker: only same-origin (or non-browser) requests log in.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		jsonError(w, http.StatusForbidden, "cross-site login refused")
		return
	}
	var req loginRequest
	if !decode(w, r, &req) {
		return
	}
	addr := remoteHost(r)
	if c.throttle.blocked(addr, time.Now()) {
		jsonError(w, http.StatusTooManyRequests, "too many failed logins from this address; try again later")
		return
	}
	u, ok := c.accounts.check(req.User, req.Password)
	if !ok {
		c.throttle.fail(addr, time.Now())
		c.loginFailures.Inc()
		// A name that is no account may be a password typed in the
		// wrong field: it is not recorded.
		who, detail := req.User, "wrong password"
		if _, known := c.accounts.users[req.User]; !known {
			who, detail = "?", fmt.Sprintf("unknown user (%d bytes)", len(req.User))
		}
		c.record(r, &session{user: who}, "login.failed", "", detail)
		jsonError(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	c.throttle.reset(addr)
	id, ss := c.sessions.create(u)
	c.setCookie(w, id, int(c.sessions.ttl.Seconds()))
	c.record(r, ss, "login", "", "")
	writeJSON(w, me{User: ss.user, Role: ss.role, CSRF: ss.csrf})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	if ck, err := r.Cookie(CookieName); err == nil {
		c.sessions.drop(ck.Value)
	}
	c.setCookie(w, "", -1)
	c.record(r, ss, "logout", "", "")
	writeJSON(w, map[string]bool{"ok": true})
}

func (c *Console) whoami(w http.ResponseWriter, _ *http.Request, ss *session) {
	writeJSON(w, me{User: ss.user, Role: ss.role, CSRF: ss.csrf})
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
