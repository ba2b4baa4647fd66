// Package ivr wires the 12123 voice service process: configuration → read
// model store, Kafka consumer that keeps it current, prompt library, call
// flow, SIP server, call records (store + Kafka) and the HTTP endpoints
// (/metrics, /healthz, /readyz); it owns their life cycle and the
// build-then-swap reload of the call flow. cmd/ivr is a thin shell around
// it and tests embed it.
package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/traffic12123/gateway/internal/cdr"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/records"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
)

// Options are what New needs besides the configuration.
type Options struct {
	Config   *Config
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a private one
	Now      func() time.Time
	// DialGuard and OnCallState are handed to the notice dialler
	// (outbound.trunk set): the ledger's claim before every dial and its
	// record of the call's states. Both may be nil.
	DialGuard   ivr.DialGuard
	OnCallState func(ivr.Transition)
}

// App is a built voice service.
type App struct {
	cfg      *Config
	log      *slog.Logger
	reg      *prometheus.Registry
	store    *records.Store
	lib      *ivr.Library
	server   *ivr.Server
	metrics  *ivr.Metrics
	consumer *ingest.Consumer
	kcdr     *cdr.Kafka
	http     *http.Server
	httpLn   net.Listener
	admin    *http.Server
	adminLn  net.Listener
	reloadMu sync.Mutex
	dialler  *ivr.Dialler
}

// New builds every component and binds the sockets; nothing runs yet.
func New(ctx context.Context, o Options) (*App, error) {
	cfg := o.Config
	if cfg == nil {
		return nil, errors.New("ivr app: no configuration")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a := &App{cfg: cfg, log: log, reg: reg}
	lib, err := ivr.LoadLibrary(cfg.Prompts)
	if err != nil {
		return nil, err
	}
	a.lib = lib
	f, err := flow.Load(cfg.Flows, lib.HasPrompt)
	if err != nil {
		return nil, err
	}
	store, err := records.Open(ctx, cfg.Records.DSN)
	if err != nil {
		return nil, err
	}
	a.store = store
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()
	sinks := cdr.Multi{store}
	if len(cfg.Kafka.Brokers) > 0 {
		if cfg.Kafka.CDRTopic != "" {
			a.kcdr = cdr.NewKafka(cfg.Kafka.Brokers, cfg.Kafka.CDRTopic)
			sinks = append(sinks, a.kcdr)
		}
		a.consumer, err = ingest.New(ingest.Config{
			Brokers: cfg.Kafka.Brokers, GroupID: cfg.Kafka.GroupID, Topics: cfg.Kafka.Topics,
			DeadLetterTopic: cfg.Kafka.DeadLetterTopic, Logger: log,
			Metrics: ingest.NewMetrics(prometheus.WrapRegistererWithPrefix("ivr_", reg)),
		}, store)
		if err != nil {
			return nil, err
		}
	}
	a.metrics = ivr.NewMetrics(reg)
	var synth ivr.Synthesizer
	if len(cfg.TTS.Command) > 0 {
		synth = ivr.CommandSynth{Argv: cfg.TTS.Command}
	}
	a.server, err = ivr.New(ivr.Options{
		Config: ivr.Config{
			UDP: cfg.SIP.UDP, TCP: cfg.SIP.TCP, ExternalHost: cfg.SIP.ExternalHost,
			MaxCalls: cfg.SIP.MaxCalls, InviteRate: cfg.SIP.InviteRate, InviteBurst: cfg.SIP.InviteBurst,
			Trusted: cfg.trusted, InBandDTMF: cfg.SIP.InBandDTMF, MaxCallDuration: cfg.SIP.MaxCallDuration,
			RingFor:  cfg.SIP.RingFor,
			Location: cfg.location, Now: o.Now,
		},
		Library: lib, Flow: f, Records: store, CDR: sinks, Synth: synth, Lockout: store,
		Logger: log.With("component", "sip"), Metrics: a.metrics,
	})
	if err != nil {
		return nil, err
	}
	if err := a.server.Listen(); err != nil {
		return nil, err
	}
	if err := a.newDialler(o, sinks); err != nil {
		return nil, err
	}
	if cfg.HTTP.Addr != "" {
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen http: %w", err)
		}
		a.httpLn = ln
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
			if err := a.Ready(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		})
		a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	}
	if err := a.listenAdmin(); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// Ready reports whether calls are taken and the store answers.
func (a *App) Ready(ctx context.Context) error {
	if !a.server.Ready() {
		return errors.New("sip server not listening")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.store.Ping(ctx)
}

// SIPAddr returns the bound SIP address for "udp" or "tcp".
func (a *App) SIPAddr(network string) string { return a.server.Addr(network) }

// HTTPAddr returns the bound HTTP address, "" when disabled.
func (a *App) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// Brokers are the Kafka brokers in use, nil without Kafka.
func (a *App) Brokers() []string { return a.cfg.Kafka.Brokers }

// Flow is the running call flow.
func (a *App) Flow() *flow.Flow { return a.server.Flow() }

// Store is the read model (for tools and tests).
func (a *App) Store() *records.Store { return a.store }

// Library is the prompt library.
func (a *App) Library() *ivr.Library { return a.lib }

// Reload re-reads the call flow file and swaps it in when it is valid;
// otherwise the running flow stays and the error says why.
func (a *App) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	f, err := flow.Load(a.cfg.Flows, a.lib.HasPrompt)
	if err != nil {
		a.metrics.FlowReloads.WithLabelValues("error").Inc()
		a.log.Error("call flow reload refused; the running flow stays", "err", err)
		return err
	}
	if err := a.server.SetFlow(f); err != nil {
		a.log.Error("call flow reload refused; the running flow stays", "err", err)
		return err
	}
	a.log.Info("call flow reloaded", "file", a.cfg.Flows)
	return nil
}

// Run serves until ctx is done, then stops taking calls, ends the calls in
// progress, stops the consumer and HTTP, and closes the store.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	fail := func(what string, err error) {
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, http.ErrServerClosed) {
			return
		}
		errMu.Lock()
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", what, err)
		}
		errMu.Unlock()
		cancel(err)
	}
	wg.Go(func() { fail("sip", a.server.Serve(ctx)) })
	wg.Go(func() { fail("dialler", a.runDialler(ctx)) })
	if a.consumer != nil {
		wg.Go(func() { fail("ingest", a.consumer.Run(ctx)) })
	}
	if a.http != nil {
		wg.Go(func() { fail("http", a.http.Serve(a.httpLn)) })
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = a.http.Shutdown(sctx)
		})
	}
	if a.admin != nil {
		wg.Go(func() { fail("admin", a.admin.Serve(a.adminLn)) })
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = a.admin.Shutdown(sctx)
		})
	}
	wg.Wait()
	return firstErr
}

func (a *App) close() {
	for _, ln := range []net.Listener{a.httpLn, a.adminLn} {
		if ln != nil {
			_ = ln.Close() // after Serve returned, or when New failed
		}
	}
	if a.kcdr != nil {
		_ = a.kcdr.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
}
