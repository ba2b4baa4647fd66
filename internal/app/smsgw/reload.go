package smsgw

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/rules"
)

// Reloader owns the live rules set: it builds and validates a new set
// completely, then swaps it in atomically, so no event is ever evaluated
// against a half-loaded set; a set that does not load changes nothing.
type Reloader struct {
	dir     string
	log     *slog.Logger
	current atomic.Pointer[dispatch.Evaluator]

	mu   sync.Mutex // serialises reloads
	hash string

	hashGauge   prometheus.Gauge
	success     prometheus.Gauge
	successTime prometheus.Gauge
	failures    prometheus.Counter
	ruleCount   prometheus.Gauge
}

// NewReloader loads dir; an error here stops the gateway from starting.
func NewReloader(dir string, log *slog.Logger, reg prometheus.Registerer) (*Reloader, error) {
	f := promauto.With(reg)
	r := &Reloader{
		dir:         dir,
		log:         log,
		hashGauge:   f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_rules_config_hash", Help: "Hash of the loaded rules files (first 52 bits)."}),
		success:     f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_rules_last_reload_successful", Help: "1 when the last rules reload succeeded."}),
		successTime: f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_rules_last_reload_success_timestamp_seconds", Help: "Time of the last successful rules reload."}),
		failures:    f.NewCounter(prometheus.CounterOpts{Name: "smsgw_rules_reload_failures_total", Help: "Rules reloads refused because the files did not load."}),
		ruleCount:   f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_rules_loaded", Help: "Rules in the live set."}),
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Current is the pointer the pipeline loads the live set from.
func (r *Reloader) Current() *atomic.Pointer[dispatch.Evaluator] { return &r.current }

// Dir is the rules directory.
func (r *Reloader) Dir() string { return r.dir }

// Hash identifies the live set's files.
func (r *Reloader) Hash() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hash
}

// Reload builds the set from the directory and swaps it in.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, err := rules.LoadDir(r.dir, rules.Options{})
	if err != nil {
		r.success.Set(0)
		r.failures.Inc()
		r.log.Error("rules not loaded; the running rules stay", "dir", r.dir, "err", err)
		return fmt.Errorf("rules: %w", err)
	}
	var ev dispatch.Evaluator = set
	r.current.Store(&ev)
	if h := set.Hash(); h != r.hash {
		r.log.Info("rules loaded", "dir", r.dir, "hash", h, "rules", len(set.Rules()))
		r.hash = h
	}
	sum := sha256.Sum256([]byte(r.hash))
	r.hashGauge.Set(float64(binary.BigEndian.Uint64(sum[:8]) >> 12))
	r.success.Set(1)
	r.successTime.SetToCurrentTime()
	r.ruleCount.Set(float64(len(set.Rules())))
	return nil
}

// Watch reloads when a file under the directory changes (when enabled),
// until ctx is done. It compares names, sizes and modification times every
// two seconds: simple, portable and cheap for a few dozen files.
func (r *Reloader) Watch(ctx context.Context, enabled bool) {
	if !enabled {
		return
	}
	last := r.stamp()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := r.stamp(); s != last {
			last = s
			_ = r.Reload() // logged and counted; the running rules stay
		}
	}
}

func (r *Reloader) stamp() string {
	h := sha256.New()
	_ = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s|%d|%d\n", p, fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return string(h.Sum(nil))
}
