package ivr

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"time"
)

// DefaultAdminAddr is where the admin listener binds when admin.token_file
// is set without admin.addr: loopback only.
const DefaultAdminAddr = "127.0.0.1:9103"

// minTokenLen is the shortest bearer token accepted.
const minTokenLen = 16

// readToken reads the admin bearer token from its file (kept apart from
// the configuration, e.g. a mounted secret).
func readToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < minTokenLen {
		return nil, fmt.Errorf("admin token in %s: shorter than %d characters", path, minTokenLen)
	}
	return tok, nil
}

// adminHandler serves, behind "Authorization: Bearer <token>":
//
//	/debug/pprof/...        the Go profiles (heap, goroutine, profile, trace ...)
//	POST /admin/reload      build, validate and swap the call flow (as SIGHUP)
//	GET  /admin/memstats    heap in use, live heap, goroutines, active calls;
//	                        ?gc=1 collects garbage first
func (a *App) adminHandler(token []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("POST /admin/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Reload(); err != nil {
			http.Error(w, "reload refused; the running flow stays: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprintln(w, "reloaded")
	})
	mux.HandleFunc("GET /admin/memstats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"heap_inuse_bytes": ms.HeapInuse, "heap_alloc_bytes": ms.HeapAlloc, "heap_sys_bytes": ms.HeapSys,
			"goroutines": runtime.NumGoroutine(), "active_calls": a.server.ActiveCalls(),
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ivr-admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// listenAdmin binds the admin listener when one is configured.
func (a *App) listenAdmin() error {
	if a.cfg.Admin.TokenFile == "" {
		return nil
	}
	tok, err := readToken(a.cfg.Admin.TokenFile)
	if err != nil {
		return err
	}
	addr := a.cfg.Admin.Addr
	if addr == "" {
		addr = DefaultAdminAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen admin: %w", err)
	}
	a.adminLn = ln
	// No write timeout: a CPU profile or trace streams for its duration.
	a.admin = &http.Server{Handler: a.adminHandler(tok), ReadHeaderTimeout: 5 * time.Second}
	return nil
}

// AdminAddr returns the bound admin address, "" when disabled.
func (a *App) AdminAddr() string {
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
}

var errAdminNoToken = errors.New("admin.addr is set but admin.token_file is not: the admin listener needs a bearer token")
