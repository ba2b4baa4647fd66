package smsgw

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/redact"
)

// The HTTP surface is split in two. The main listener (http.listen) serves
// only what a scraper and an orchestrator need: /metrics, /healthz,
// /readyz. The admin listener (http.admin_listen, loopback by default)
// serves what changes or exposes the process: POST /-/reload,
// /debug/pprof/ and the held-message API; bound anywhere but loopback it
// requires the bearer token of http.admin_token_file on every request.

func (a *App) mainMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Readiness(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Readiness is nil when the gateway can do its job: started and not
// draining, the brokers reachable and consumption not stalled with lag,
// the ledger taking writes, every carrier with a bind up, and (with
// voice.trunk) the voice stage placing calls.
func (a *App) Readiness() error {
	if !a.ready.Load() {
		return errors.New("starting or draining")
	}
	var errs []string
	if err := a.consumer.Health(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := a.ledgerHealth(); err != nil {
		errs = append(errs, err.Error())
	}
	var down []string
	for n, c := range a.clients {
		if c.BindsUp() == 0 {
			down = append(down, n)
		}
	}
	if len(down) > 0 {
		slices.Sort(down)
		errs = append(errs, fmt.Sprintf("no bind up for %v", down))
	}
	if a.voice != nil {
		if err := a.voice.health(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ledgerProbe holds the result of the last ledger write probe.
type ledgerProbe struct {
	mu   sync.Mutex
	err  error
	at   time.Time
	seen bool
}

const ledgerProbeEvery = 5 * time.Second

func (a *App) ledgerHealth() error {
	a.probe.mu.Lock()
	defer a.probe.mu.Unlock()
	if a.probe.seen && a.probe.err != nil {
		return fmt.Errorf("ledger cannot write: %w", a.probe.err)
	}
	return nil
}

// probeLedger checks every few seconds that the ledger takes writes.
func (a *App) probeLedger(ctx context.Context) {
	t := time.NewTicker(ledgerProbeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, ledgerProbeEvery)
		err := a.store.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		a.probe.mu.Lock()
		a.probe.err, a.probe.at, a.probe.seen = err, time.Now(), true
		a.probe.mu.Unlock()
		a.ledgerUp.Set(b2f(err == nil))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (a *App) adminMux(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Reload(); err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprintf(w, "reloaded %s\n", a.reloader.Hash())
	})
	mux.HandleFunc("GET /held", a.heldList)
	mux.HandleFunc("POST /held/release", func(w http.ResponseWriter, r *http.Request) { a.heldDecide(w, r, true) })
	mux.HandleFunc("POST /held/drop", func(w http.ResponseWriter, r *http.Request) { a.heldDecide(w, r, false) })
	mux.HandleFunc("GET /held/{id}/decisions", a.heldDecisions)
	if a.console != nil { // console.go: its own accounts and sessions
		mux.Handle("/console/", a.console)
		mux.Handle("/console", a.console)
	}
	if token == "" {
		return mux
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.console != nil && (r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/")) {
			mux.ServeHTTP(w, r)
			return
		}
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			a.adminDenied.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="smsgw admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// HeldMessage is one held message as the admin API lists it. The
// recipient is masked.
type HeldMessage struct {
	ID        int64     `json:"id"`
	EventID   string    `json:"event_id"`
	RuleID    string    `json:"rule_id"`
	Recipient string    `json:"recipient"`
	Carrier   string    `json:"carrier"`
	Reason    string    `json:"reason"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// HeldRequest is the body of POST /held/release and /held/drop.
type HeldRequest struct {
	IDs    []int64 `json:"ids"`
	Reason string  `json:"reason,omitempty"` // instead of ids: every held message with this reason (at most heldMax)
	Who    string  `json:"who"`              // the operator deciding; required, recorded
	Note   string  `json:"note,omitempty"`
}

// HeldResult is the answer to a decision.
type HeldResult struct {
	Changed []int64 `json:"changed"`
}

const heldMax = 100_000

func (a *App) heldList(w http.ResponseWriter, r *http.Request) {
	limit := 1000
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > heldMax {
			http.Error(w, "limit: 1.."+strconv.Itoa(heldMax), http.StatusBadRequest)
			return
		}
		limit = n
	}
	ms, err := a.store.Held(r.Context(), limit)
	if err != nil {
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	out := make([]HeldMessage, 0, len(ms))
	for _, m := range ms {
		out = append(out, HeldMessage{ID: m.ID, EventID: m.EventID, RuleID: m.RuleID, Recipient: redact.Phone(m.Recipient),
			Carrier: m.Carrier, Reason: m.Reason, Text: m.Text, CreatedAt: m.CreatedAt})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (a *App) heldDecide(w http.ResponseWriter, r *http.Request, release bool) {
	var req HeldRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req.Who = strings.TrimSpace(req.Who)
	switch {
	case req.Who == "" || len(req.Who) > 128:
		http.Error(w, "who: the operator's name is required (at most 128 bytes)", http.StatusBadRequest)
		return
	case len(req.Note) > 1024:
		http.Error(w, "note: at most 1024 bytes", http.StatusBadRequest)
		return
	case (len(req.IDs) == 0) == (req.Reason == ""):
		http.Error(w, "give ids or reason", http.StatusBadRequest)
		return
	}
	ids := req.IDs
	if req.Reason != "" {
		ms, err := a.store.Held(r.Context(), heldMax)
		if err != nil {
			http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, m := range ms {
			if m.Reason == req.Reason {
				ids = append(ids, m.ID)
			}
		}
	}
	changed, err := a.store.DecideHeld(r.Context(), ids, ledger.HeldDecision{Release: release, Who: req.Who, Note: req.Note})
	if err != nil {
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	verb := "dropped"
	if release {
		verb = "released"
		a.sender.Wake()
	}
	a.log.Warn("held messages "+verb, "who", req.Who, "messages", len(changed), "asked", len(ids))
	a.heldDecisionsTotal.WithLabelValues(verb).Add(float64(len(changed)))
	if changed == nil {
		changed = []int64{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(HeldResult{Changed: changed})
}

func (a *App) heldDecisions(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "id: not a number", http.StatusBadRequest)
		return
	}
	ds, err := a.store.HeldDecisions(r.Context(), id)
	if err != nil {
		http.Error(w, "ledger: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ds)
}

// adminToken reads the admin token file; it must hold a token of at least
// 16 bytes and must not be readable by others.
func adminToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	st, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("smsgw: http.admin_token_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("smsgw: http.admin_token_file %s is readable by others (mode %v): chmod 600", file, st.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("smsgw: http.admin_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("smsgw: http.admin_token_file %s: the token must be at least 16 characters", file)
	}
	return tok, nil
}

func (a *App) startAdmin() error {
	addr := a.cfg.HTTP.AdminListen
	if addr == "" {
		return nil
	}
	token, err := adminToken(a.cfg.HTTP.AdminTokenFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smsgw: admin http: %w", err)
	}
	if token == "" {
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			ln.Close()
			return fmt.Errorf("smsgw: http.admin_listen %s is not loopback and there is no http.admin_token_file", addr)
		}
	}
	a.adminAddr = ln.Addr().String()
	a.admin = &http.Server{Handler: a.adminMux(token), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin http server stopped", "err", err)
		}
	}()
	return nil
}

func (a *App) stopAdmin() {
	if a.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.admin.Shutdown(ctx)
}

// AdminAddr is the address of the admin listener ("" when off).
func (a *App) AdminAddr() string { return a.adminAddr }
