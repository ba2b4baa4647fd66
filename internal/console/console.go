// Package console is the operators' web console, served on the gateway's
// admin listener under /console/: an overview of the carriers, a rules
// playground, message traces, held messages, dead letters and the audit of
// operator actions. Accounts come from a file of bcrypt hashes; sessions
// are cookies (HttpOnly, Secure, SameSite=Strict) with a CSRF token on
// every change. The pages are embedded (no CDN): Chinese by default,
// English as an option.
//
// The console reads the gateway through the small interfaces below, which
// the app wires to the ledger, the rules reloader and the metrics registry.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

//go:embed assets
var assets embed.FS

// Ledger is what the console reads and changes in the ledger.
type Ledger interface {
	Trace(ctx context.Context, q ledger.TraceQuery) ([]ledger.TraceEntry, error)
	Summary(ctx context.Context) (ledger.Summary, error)
	Held(ctx context.Context, limit int) ([]*message.Message, error)
	DecideHeld(ctx context.Context, ids []int64, d ledger.HeldDecision) ([]int64, error)
	HeldDecisions(ctx context.Context, messageID int64) ([]ledger.HeldDecision, error)
	RecentDedupe(ctx context.Context, keys []string, since time.Time) (map[string]bool, error)
	CountSince(ctx context.Context, recipients []string, since time.Time) (map[string]int, error)
	OptedOut(ctx context.Context, phones []string) (map[string]bool, error)
	ledger.ActionLog
	ledger.Advisories
}

// Rules is the live rules set's owner.
type Rules interface {
	// Dir is the rules directory (the playground reads and saves there).
	Dir() string
	// Hash identifies the live set.
	Hash() string
	// Reload validates the directory and swaps the set in; on error
	// nothing changes.
	Reload() error
}

// DeadLetters reads and replays the dead-letter topic.
type DeadLetters interface {
	// DeadLetters returns up to limit of the newest dead-lettered records.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Replay publishes the record at partition/offset of the dead-letter
	// topic back to its original topic.
	Replay(ctx context.Context, partition int, offset int64) (topic string, err error)
}

// DeadLetter is one record of the dead-letter topic, as read.
type DeadLetter struct {
	Partition int
	Offset    int64
	Time      time.Time
	Reason    string
	Error     string
	Topic     string // original topic
	Size      int
	Truncated bool
	Key       []byte // the original record's key
	Value     []byte // the original record (possibly truncated by the DLQ); in listings only its first KB
}

// Carrier is one configured carrier.
type Carrier struct {
	Name   string
	TPS    int // configured, 0: unlimited
	Binds  int
	Window int
}

// Config configures the console.
type Config struct {
	Accounts    *Accounts
	Ledger      Ledger
	Rules       Rules
	DeadLetters DeadLetters // nil: the page says it is not available
	Gatherer    prometheus.Gatherer
	Carriers    []Carrier
	Samples     func() []json.RawMessage // example events for the playground; may be nil
	Wake        func()                   // called after held messages are released (wakes the sender); may be nil
	Ready       func() error             // readiness, shown on the overview; nil: not shown
	Now         func() time.Time         // the gateway's clock (rules' now default)
	SessionTTL  time.Duration            // default 8 h
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // the console's own metrics; nil: none
	// Prefix is where the console is mounted; default "/console".
	Prefix string
}

// Console is the web console's handler.
type Console struct {
	cfg      Config
	accounts *Accounts
	sessions *sessions
	prefix   string
	log      *slog.Logger
	sampler  *sampler
	throttle throttle
	mux      *http.ServeMux

	loginFailures prometheus.Counter
	actions       *prometheus.CounterVec
}

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Accounts == nil || cfg.Ledger == nil || cfg.Rules == nil || cfg.Gatherer == nil {
		return nil, errors.New("console: accounts, ledger, rules and gatherer are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/console"
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	c := &Console{
		cfg: cfg, accounts: cfg.Accounts, prefix: strings.TrimSuffix(cfg.Prefix, "/"), log: cfg.Logger,
		sessions:      &sessions{m: map[string]*session{}, ttl: cfg.SessionTTL, now: time.Now},
		sampler:       newSampler(cfg.Gatherer, cfg.Carriers),
		loginFailures: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_console_login_failures_total", Help: "Console logins refused for a wrong user or password."}),
		actions:       f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_console_actions_total", Help: "Operator actions recorded by the console, by action."}, []string{"action"}),
	}
	c.routes()
	return c, nil
}

// Run samples the metrics for the overview's charts until ctx is done.
func (c *Console) Run(ctx context.Context) { c.sampler.run(ctx, 5*time.Second) }

// ServeHTTP serves the console under its prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	p := c.prefix
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix(p+"/", http.FileServerFS(static))
	m.Handle("GET "+p+"/", files)
	m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, p+"/", http.StatusFound) })
	m.HandleFunc("POST "+p+"/api/login", c.login)
	m.HandleFunc("POST "+p+"/api/logout", c.auth(Viewer, c.logout))
	m.HandleFunc("GET "+p+"/api/me", c.auth(Viewer, c.whoami))
	m.HandleFunc("GET "+p+"/api/overview", c.auth(Viewer, c.overview))
	m.HandleFunc("GET "+p+"/api/rules", c.auth(Viewer, c.rulesFiles))
	m.HandleFunc("GET "+p+"/api/rules/samples", c.auth(Viewer, c.samples))
	m.HandleFunc("GET "+p+"/api/rules/schema", c.auth(Viewer, c.schema))
	m.HandleFunc("POST "+p+"/api/rules/preview", c.auth(Viewer, c.preview))
	m.HandleFunc("POST "+p+"/api/rules/save", c.auth(Admin, c.saveRule))
	m.HandleFunc("GET "+p+"/api/trace", c.auth(Viewer, c.trace))
	m.HandleFunc("GET "+p+"/api/held", c.auth(Viewer, c.heldList))
	m.HandleFunc("POST "+p+"/api/held/release", c.auth(Operator, func(w http.ResponseWriter, r *http.Request, ss *session) { c.heldDecide(w, r, ss, true) }))
	m.HandleFunc("POST "+p+"/api/held/drop", c.auth(Operator, func(w http.ResponseWriter, r *http.Request, ss *session) { c.heldDecide(w, r, ss, false) }))
	m.HandleFunc("GET "+p+"/api/deadletters", c.auth(Viewer, c.deadLetters))
	m.HandleFunc("POST "+p+"/api/deadletters/replay", c.auth(Operator, c.replay))
	m.HandleFunc("GET "+p+"/api/audit", c.auth(Viewer, c.audit))
	m.HandleFunc("GET "+p+"/api/advisories", c.auth(Viewer, c.advisories))
	m.HandleFunc("POST "+p+"/api/advisories/cancel", c.auth(Operator, c.cancelAdvisory))
	m.HandleFunc("GET "+p+"/api/accounts", c.auth(Admin, c.accountsList))
	c.mux = m
}

// record stores an operator action in the ledger's audit; a failure is
// logged (the action itself already happened).
func (c *Console) record(r *http.Request, ss *session, action, target, detail string) {
	c.actions.WithLabelValues(action).Inc()
	remote := remoteHost(r)
	// The action happened: record it even if the client has gone.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	_, err := c.cfg.Ledger.RecordAction(ctx, ledger.OperatorAction{
		Who: ss.user, Role: string(ss.role), Action: action, Target: cut(target, 1024), Detail: cut(detail, 2048), Remote: remote,
	})
	if err != nil {
		c.log.Error("console: audit not recorded", "action", action, "who", ss.user, "err", err)
	}
}

// remoteHost is the client's address without the port. The admin
// listener is reached directly (no proxy headers are trusted).
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// decode reads a JSON body of at most 1 MB, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		jsonError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}
