// Package smsgw wires the SMS gateway process: configuration → ledger,
// rules, policy, routes, carrier binds, sender, receipts, reconciler,
// status publisher, Kafka ingest and the HTTP endpoints; and it owns their
// life cycle (start order, reload, drain on shutdown). cmd/smsgw is a thin
// shell around it and tests embed it.
package smsgw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/console"
	"github.com/traffic12123/gateway/internal/directory"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/kafkasec"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/open"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
)

// Options are what Run needs besides the configuration file.
type Options struct {
	Config   *config.Config
	Now      func() time.Time // the clock of rules, policy and scheduling; default time.Now
	Logger   *slog.Logger
	Registry *prometheus.Registry // nil: a private one
	// Ready, when set, is called once every component is started.
	Ready func(*App)
}

// App is a running gateway.
type App struct {
	opts           Options
	cfg            *config.Config
	log            *slog.Logger
	reg            *prometheus.Registry
	store          ledger.Store
	reloader       *Reloader
	metrics        *dispatch.Metrics
	pipeline       *dispatch.Pipeline
	directory      *directory.Writer
	sender         *dispatch.Sender
	receipts       *dispatch.Receipts
	clients        map[string]dispatch.Connector
	consumer       *ingest.Consumer
	kafkaTransport *kafka.Transport
	http           *http.Server
	httpAddr       string
	ready          atomic.Bool

	// admin.go
	admin              *http.Server
	adminAddr          string
	probe              ledgerProbe
	ledgerUp           prometheus.Gauge
	adminDenied        prometheus.Counter
	heldDecisionsTotal *prometheus.CounterVec
	statusTruncated    prometheus.Counter
	heldGauge          prometheus.GaugeFunc

	console *console.Console // console.go; nil when off
	voice   *voiceParts      // voice.go; nil without voice.trunk

	bindMu sync.Mutex
	bindUp map[string]time.Time // carrier -> bound since (zero: no bind up)
}

// Run builds the gateway from opts and runs it until ctx is done, then
// drains and returns. An error means it could not start or a component
// failed.
func Run(ctx context.Context, opts Options) error {
	a, err := New(ctx, opts)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New builds every component and validates everything; nothing runs yet
// except what opening the ledger needs.
func New(ctx context.Context, opts Options) (*App, error) {
	if opts.Config == nil {
		return nil, errors.New("smsgw: no configuration")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	cfg := opts.Config
	if err := CheckCarriers(cfg); err != nil {
		return nil, err
	}
	a := &App{opts: opts, cfg: cfg, log: opts.Logger, reg: opts.Registry, clients: map[string]dispatch.Connector{}, bindUp: map[string]time.Time{}}
	a.safetyMetrics()
	for _, w := range cfg.Warnings {
		opts.Logger.Warn("configuration: " + w)
	}

	reloader, err := NewReloader(cfg.Rules.Dir, opts.Logger.With("component", "rules"), opts.Registry)
	if err != nil {
		return nil, err
	}
	a.reloader = reloader

	router, err := buildRouter(cfg.Route)
	if err != nil {
		return nil, err
	}

	dsn, err := cfg.LedgerDSN()
	if err != nil {
		return nil, err
	}
	store, err := open.Open(ctx, dsn, ledger.Options{Now: opts.Now, Logger: opts.Logger.With("component", "ledger"), Metrics: ledger.NewMetrics(opts.Registry)})
	if err != nil {
		return nil, fmt.Errorf("smsgw: ledger: %w", err)
	}
	a.store = store
	built := false
	defer func() {
		if !built {
			store.Close()
		}
	}()
	if err := a.loadOptOuts(ctx); err != nil {
		return nil, err
	}

	m := dispatch.NewMetrics(opts.Registry)
	loc, _ := time.LoadLocation(cfg.Policy.Timezone)
	pol := policy.New(policy.Config{Location: loc}, store) // caps: the rule set's, per batch

	a.receipts = dispatch.NewReceipts(store, opts.Logger.With("component", "receipts"), m).WithClock(opts.Now)
	submitters := map[string]dispatch.Submitter{}
	configured := map[route.Carrier]bool{}
	builders := map[string]carrier.Builder{} // per protocol, built once: its metrics are registered once
	for _, k := range cfg.Carriers {
		c, err := a.buildConnector(k, builders)
		if err != nil {
			return nil, err
		}
		a.clients[k.Name] = c
		submitters[k.Name] = c
		configured[route.Carrier(k.Name)] = true
	}

	a.sender = dispatch.NewSender(dispatch.SenderConfig{
		Ledger:          store,
		Carriers:        submitters,
		Owner:           cfg.Instance,
		ClaimBatch:      cfg.Sender.ClaimBatch,
		InFlight:        cfg.Sender.InFlight,
		MaxAttempts:     cfg.Sender.MaxAttempts,
		RetryBackoff:    cfg.Sender.RetryBackoff.D(),
		RetryBackoffMax: cfg.Sender.RetryBackoffMax.D(),
		Poll:            cfg.Sender.Poll.D(),
		DrainTimeout:    cfg.Sender.DrainTimeout.D(),
		SendTimeout:     cfg.Sender.ClaimLease.D() / 2,
		Now:             opts.Now,
		Logger:          opts.Logger.With("component", "sender"),
		Metrics:         m,
	})
	if st, ok := store.(ledger.StateStore); ok { // the rules' still_due, re-checked at send time
		a.sender.SetRecheck(&dispatch.StillDue{Rules: reloader.Current(), States: st, Logger: opts.Logger.With("component", "recheck"), Metrics: m})
	}
	dc := cfg.Ledger.Contacts
	a.directory = directory.New(directory.Config{Store: store, KnownMB: dc.KnownMB, FlushEvery: dc.FlushEvery.D(), MaxPending: dc.MaxPending,
		Sync: dc.Sync, Logger: opts.Logger.With("component", "directory"), Metrics: directory.NewMetrics(opts.Registry)})
	a.pipeline = dispatch.NewPipeline(dispatch.PipelineConfig{
		Rules:     reloader.Current(),
		Policy:    pol,
		Router:    router,
		Ledger:    store,
		Directory: a.directory,
		Carriers:  configured,
		Now:       opts.Now,
		Wake:      a.sender.Wake,
		Safety:    a.safety(),
		// Without a trunk no stage settles armed calls.
		NoFallbackCalls: !cfg.Voice.Enabled(),
		Logger:          opts.Logger.With("component", "pipeline"),
		Metrics:         m,
	})
	kafkaTLS, kafkaSASL, err := kafkasec.Build(cfg.Kafka.TLS, cfg.Kafka.SASL)
	if err != nil {
		return nil, fmt.Errorf("smsgw: kafka: %w", err)
	}
	a.kafkaTransport = ingest.Transport(kafkaTLS, kafkaSASL)
	a.consumer, err = ingest.New(ingest.Config{
		Brokers:         cfg.Kafka.Brokers,
		GroupID:         cfg.Kafka.GroupID,
		Topics:          cfg.Kafka.Topics,
		DeadLetterTopic: cfg.Kafka.DeadLetter,
		MaxBatch:        cfg.Kafka.MaxBatch,
		MaxWait:         cfg.Kafka.MaxWait.D(),
		BatchGap:        cfg.Kafka.BatchGap.D(),
		SessionTimeout:  cfg.Kafka.SessionTimeout.D(),
		DLQMaxBytes:     cfg.Kafka.DLQMaxBytes,
		StallAfter:      cfg.Kafka.StallAfter.D(),
		TLS:             kafkaTLS,
		SASL:            kafkaSASL,
		Logger:          opts.Logger, // ingest adds component=ingest
		Metrics:         ingest.NewMetrics(opts.Registry),
	}, a.pipeline)
	if err != nil {
		return nil, fmt.Errorf("smsgw: ingest: %w", err)
	}
	if err := a.buildVoice(loc); err != nil {
		return nil, err
	}
	a.metrics = m
	a.metricsUp()
	if err := a.buildConsole(); err != nil {
		return nil, err
	}
	built = true
	return a, nil
}

// metricsUp registers gauges that read the app's state at scrape time.
func (a *App) metricsUp() {
	f := promauto.With(a.reg)
	for name, c := range a.clients {
		f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smsgw_binds_up", Help: "Carrier binds (connections) currently up, per carrier.",
			ConstLabels: prometheus.Labels{"carrier": name},
		}, func() float64 { return float64(c.BindsUp()) })
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "smsgw_ready", Help: "1 when every component is started."},
		func() float64 {
			if a.ready.Load() {
				return 1
			}
			return 0
		})
}

// listener is a carrier connector with a socket of its own to listen on
// (internal/carrier/sgip).
type listener interface {
	Listen() error
}

// Run starts every component, serves until ctx is done, then drains in
// order: stop consuming (the last batch is committed once durable), stop
// claiming and let in-flight submits finish, wait for outstanding receipts,
// unbind, close the ledger. It returns the first component failure, or nil
// after a clean drain.
func (a *App) Run(ctx context.Context) error {
	defer a.store.Close()
	cfg := a.cfg
	log := a.log

	n, err := a.store.Recover(ctx, cfg.Instance, time.Time{})
	if err != nil {
		return fmt.Errorf("smsgw: recover: %w", err)
	}
	if n > 0 {
		log.Warn("submits interrupted by the last stop are now unknown and will be reconciled", "messages", n)
	}
	// A carrier's listening socket (SGIP's, where the SMG delivers
	// reports) is opened before anything starts: a port in use stops the
	// start with its reason instead of leaving that carrier's messages
	// waiting for reports that cannot arrive.
	for _, name := range slices.Sorted(maps.Keys(a.clients)) {
		if l, ok := a.clients[name].(listener); ok {
			if err := l.Listen(); err != nil {
				return fmt.Errorf("smsgw: carrier %s: %w", name, err)
			}
		}
	}
	if err := a.startHTTP(); err != nil {
		return err
	}
	defer a.stopHTTP()
	if err := a.startAdmin(); err != nil {
		return err
	}
	defer a.stopAdmin()

	// Carrier binds and the receipt committer run until the very end:
	// receipts keep arriving while everything else drains.
	base := context.WithoutCancel(ctx)
	bindCtx, stopBinds := context.WithCancel(base)
	var binds sync.WaitGroup
	for name, c := range a.clients {
		binds.Go(func() {
			if err := c.Run(bindCtx); err != nil && bindCtx.Err() == nil {
				log.Error("carrier client stopped", "carrier", name, "err", err)
			}
		})
	}
	receiptCtx, stopReceipts := context.WithCancel(base)
	var receipts sync.WaitGroup
	receipts.Go(func() { a.receipts.Run(receiptCtx) })
	defer func() {
		stopBinds()
		binds.Wait()
		stopReceipts()
		receipts.Wait()
	}()

	// The sender outlives ingest so the last batch's messages can go out.
	sendCtx, stopSender := context.WithCancel(base)
	senderDone := make(chan error, 1)
	go func() { senderDone <- a.sender.Run(sendCtx) }()

	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(ctx)
	bg.Go(func() { a.reloader.Watch(bgCtx, cfg.Rules.Watch) })
	rec := &dispatch.Reconciler{
		Ledger: a.store, Grace: cfg.Sender.UnknownGrace.D(), ClaimLease: cfg.Sender.ClaimLease.D(), ResendLimit: cfg.Sender.UnknownResendLimit,
		ReceiptValidity: cfg.Sender.ReceiptValidity.D(), ReceiptGrace: cfg.Sender.ReceiptGrace.D(),
		UpSince: a.upSince, Now: a.opts.Now, Wake: a.sender.Wake, Logger: log.With("component", "reconciler"), Metrics: a.metrics,
	}
	bg.Go(func() { a.watchBinds(bgCtx) })
	bg.Go(func() { a.probeLedger(bgCtx) })
	bg.Go(func() { rec.Run(bgCtx) })
	if a.console != nil {
		bg.Go(func() { a.console.Run(bgCtx) })
	}
	if a.voice != nil {
		bg.Go(func() {
			if err := a.voice.run(bgCtx); err != nil {
				log.Error("voice stage stopped", "err", err)
			}
		})
	}
	if cfg.Kafka.StatusTopic != "" {
		w := &kafka.Writer{
			Addr: kafka.TCP(cfg.Kafka.Brokers...), Topic: cfg.Kafka.StatusTopic,
			Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, BatchSize: statusBatch,
			RequiredAcks: kafka.RequireAll, Transport: a.kafkaTransport,
		}
		defer w.Close()
		pub := &dispatch.Publisher{Outbox: a.store, Writer: w, Logger: log.With("component", "status"), Metrics: a.metrics,
			Truncated: a.statusTruncated}
		bg.Go(func() { pub.Run(bgCtx) })
	}
	if r := cfg.Ledger.Retention.D(); r > 0 {
		bg.Go(func() { a.pruneLoop(bgCtx, r) })
	}
	// The directory writer outlives ingest, to store the last batches' contacts.
	dirCtx, stopDir := context.WithCancel(base)
	var dir sync.WaitGroup
	dir.Go(func() { a.directory.Run(dirCtx) })
	ingestDone := make(chan error, 1)
	go func() { ingestDone <- a.consumer.Run(bgCtx) }()

	a.ready.Store(true)
	log.Info("smsgw started", "instance", cfg.Instance, "carriers", len(a.clients), "rules", a.reloader.Hash(), "http", a.httpAddr)
	if a.opts.Ready != nil {
		a.opts.Ready(a)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-ingestDone:
		ingestDone <- err
		if err != nil {
			runErr = fmt.Errorf("smsgw: ingest: %w", err)
		}
	}
	a.ready.Store(false)
	log.Info("draining", "timeout", cfg.Sender.DrainTimeout.D())
	stopBG()
	if err := <-ingestDone; err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = fmt.Errorf("smsgw: ingest: %w", err)
	}
	stopDir()
	dir.Wait()
	bg.Wait()
	stopSender()
	if err := <-senderDone; err != nil && runErr == nil {
		runErr = err
	}
	a.awaitReceipts(cfg.Sender.DrainTimeout.D())
	log.Info("stopped")
	return runErr
}

// watchBinds records since when each carrier has had a bind up, for the
// reconciler's grace period.
func (a *App) watchBinds(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		now := a.opts.Now()
		a.bindMu.Lock()
		for name, c := range a.clients {
			switch up := c.BindsUp() > 0; {
			case up && a.bindUp[name].IsZero():
				a.bindUp[name] = now
			case !up:
				a.bindUp[name] = time.Time{}
			}
		}
		a.bindMu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) upSince(carrier string) time.Time {
	a.bindMu.Lock()
	defer a.bindMu.Unlock()
	return a.bindUp[carrier]
}

// awaitReceipts waits, up to timeout, until no message this ledger knows
// is still waiting for its receipts, so that the binds are not dropped
// under receipts the SMSC is about to send.
func (a *App) awaitReceipts(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s, err := a.store.Summary(context.Background())
		if err != nil || s.States[message.StateSubmitted] == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *App) pruneLoop(ctx context.Context, retention time.Duration) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := a.store.Prune(ctx, a.opts.Now().Add(-retention))
		if _, perr := a.store.PruneEvents(ctx, a.opts.Now().Add(-retention)); perr != nil && ctx.Err() == nil {
			a.log.Error("prune event hashes failed", "err", perr)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("prune failed", "err", err)
		case n > 0:
			a.log.Info("pruned final messages", "messages", n, "retention", retention)
		}
		if st, ok := a.store.(ledger.StateStore); ok {
			if _, err := st.PruneStates(ctx, a.opts.Now().Add(-retention)); err != nil && ctx.Err() == nil {
				a.log.Error("prune of licence and vehicle states failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Store returns the ledger (for the demo's summary and tests).
func (a *App) Store() ledger.Store { return a.store }

// HTTPAddr is the address /metrics and friends are served on.
func (a *App) HTTPAddr() string { return a.httpAddr }

// Reload rebuilds the rules set and swaps it in; on error nothing changes.
func (a *App) Reload() error { return a.reloader.Reload() }

// BindsUp counts bound binds per carrier.
func (a *App) BindsUp() map[string]int {
	out := make(map[string]int, len(a.clients))
	for n, c := range a.clients {
		out[n] = c.BindsUp()
	}
	return out
}

func (a *App) startHTTP() error {
	if a.cfg.HTTP.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("smsgw: http: %w", err)
	}
	a.httpAddr = ln.Addr().String()
	mux := a.mainMux() // admin.go; reload, pprof and the held API are on the admin listener
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

func (a *App) stopHTTP() {
	if a.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.http.Shutdown(ctx)
}

func buildRouter(c config.Route) (*route.Router, error) {
	t := route.Table{Numbers: map[string]route.Carrier{}, Prefixes: route.DefaultPrefixes()}
	if c.PortedFile != "" {
		m, err := route.LoadPorted(c.PortedFile)
		if err != nil {
			return nil, err
		}
		t.Numbers = m
	}
	for n, car := range c.Numbers {
		nn, err := route.Normalize(n)
		if err != nil {
			return nil, fmt.Errorf("route.numbers: %w", err)
		}
		t.Numbers[nn] = route.Carrier(car)
	}
	for p, car := range c.Prefixes {
		t.Prefixes[p] = route.Carrier(car)
	}
	return route.New(t, route.Carrier(c.Fallback))
}

// buildConnector builds carrier k's connector with the protocol
// registered for it (Protocols), whose builder is made once per protocol.
func (a *App) buildConnector(k config.Carrier, builders map[string]carrier.Builder) (dispatch.Connector, error) {
	name := k.ProtocolName()
	p, ok := Protocols[name]
	if !ok {
		return nil, fmt.Errorf("carrier %s: unknown protocol %q", k.Name, name)
	}
	build, ok := builders[name]
	if !ok {
		build = p.NewBuilder(a.reg)
		builders[name] = build
	}
	pw, err := k.ResolvePassword()
	if err != nil {
		return nil, err
	}
	carrierName := k.Name
	return build(k, carrier.Deps{
		Password: pw,
		Handlers: dispatch.Handlers{
			Receipt:  a.receipts.OnReceipt(carrierName),
			Incoming: a.receipts.OnMessage(carrierName),
			// The sender is built after the connectors; late answers
			// only come once it runs.
			Late: func(ctx context.Context, l dispatch.Late) { a.sender.OnLate(carrierName)(ctx, l) },
		},
		Logger: a.log,
	})
}

// loadOptOuts merges the opt-out file into the ledger's list.
func (a *App) loadOptOuts(ctx context.Context) error {
	f := a.cfg.Policy.OptOutFile
	if f == "" {
		return nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return fmt.Errorf("smsgw: opt-out file: %w", err)
	}
	n := 0
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		phone, err := route.Normalize(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", f, i+1, err)
		}
		if err := a.store.OptOut(ctx, phone, true); err != nil {
			return fmt.Errorf("smsgw: opt-out: %w", err)
		}
		n++
	}
	a.log.Info("opt-out list loaded", "numbers", n)
	return nil
}

// statusBatch is the status writer's batch size. kafka-go allocates each
// partition's batch at full capacity (a []Message of BatchSize), so 5000
// made the status topic 29 % of all allocated bytes at 4k msg/s; the
// publisher's reads of up to 5000 changes go out as several batches.
const statusBatch = 500
