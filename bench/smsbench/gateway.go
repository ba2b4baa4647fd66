package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite" // read the gateway's SQLite ledger

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/broker"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/rules"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// idFormats are the message-id formats of the simulated carriers (as in
// the demo): the gateway must normalise all three.
var idFormats = map[string]string{
	"china_mobile": smsc.IDHex, "china_unicom": smsc.IDDecimal,
	"china_telecom": smsc.IDUUID, "china_broadnet": smsc.IDHex,
}

// rig is the broker, the SMSC simulators and the rule set a run uses.
type rig struct {
	o        *options
	dir      string
	rulesDir string
	set      *rules.Set
	now      time.Time
	broker   *broker.Broker
	sims     map[string]*smsc.Server
	pgDSN    string // the run's schema in -ledger's database ("": SQLite)
	dropPG   func()
	bin      string // the smsgw binary, once built or given
}

func newRig(ctx context.Context, o *options, name string, records int) (*rig, error) {
	dir, err := os.MkdirTemp("", "smsbench-"+name+"-")
	if err != nil {
		return nil, err
	}
	r := &rig{o: o, dir: dir, rulesDir: filepath.Join(dir, "rules"), now: time.Now(), sims: map[string]*smsc.Server{}}
	if err := copyRules(o.rules, r.rulesDir); err != nil {
		r.close()
		return nil, fmt.Errorf("copy rules: %w", err)
	}
	if r.set, err = rules.LoadDir(r.rulesDir, rules.Options{}); err != nil {
		r.close()
		return nil, err
	}
	topics := map[string]int{eventgen.DefaultDeadLetterTopic: 1, "sms.status": 4}
	for _, t := range eventgen.TopicNames() {
		topics[t] = 4
	}
	r.broker, err = broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Topics: topics})
	if err != nil {
		r.close()
		return nil, err
	}
	for i, c := range o.carriers {
		s := smsc.New(smsc.Config{
			Name: "SIM-" + c, SystemID: "12123", Password: "bench", IDFormat: idFormats[c],
			ReceiptDelay: o.receiptDelay, Seed: o.seed + int64(i), MaxRecords: records,
			Location: time.FixedZone("CST", 8*3600),
		})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			r.close()
			return nil, err
		}
		r.sims[c] = s
	}
	if o.ledger != "" && name == "gw" {
		if r.pgDSN, r.dropPG, err = postgresSchema(ctx, o.ledger); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *rig) close() {
	if r.dropPG != nil && !r.o.keep {
		r.dropPG()
	}
	for _, s := range r.sims {
		s.Close()
	}
	if r.broker != nil {
		r.broker.Close()
	}
	if r.o.keep {
		fmt.Fprintf(os.Stderr, "kept %s\n", r.dir)
		return
	}
	os.RemoveAll(r.dir)
}

// simSubmit is what the simulators saw of one destination.
type simSubmit struct {
	first, last time.Time
	messages    int // submits that start a message (single or part 1)
	parts       int
}

func (r *rig) submits() map[string]*simSubmit {
	out := map[string]*simSubmit{}
	for _, s := range r.sims {
		for _, sub := range s.Submits() {
			if sub.MessageID == "" {
				continue
			}
			dest := sub.Dest
			if len(dest) == 13 && strings.HasPrefix(dest, "86") {
				dest = dest[2:]
			}
			x := out[dest]
			if x == nil {
				x = &simSubmit{first: sub.Time, last: sub.Time}
				out[dest] = x
			}
			if sub.Time.Before(x.first) {
				x.first = sub.Time
			}
			if sub.Time.After(x.last) {
				x.last = sub.Time
			}
			x.parts++
			if sub.Seq <= 1 {
				x.messages++
			}
		}
	}
	return out
}

// instanceSuffix tells instance i of n apart in names and files: "" when
// it is the only one (names as before -instances), else "-1", "-2"...
func instanceSuffix(i, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("-%d", i+1)
}

// gatewayConfig is the configuration instance i of n runs with: the
// shipped defaults, pointed at the rig. Instances share the brokers, the
// consumer group, the ledger, the rules and the simulators; each has its
// own instance name (the owner of its claims in the ledger), HTTP and
// admin listeners, binds (its own connections to the simulators) and
// call journal (unused without a voice trunk, but a local file).
func (r *rig) gatewayConfig(i, n int) (*config.Config, error) {
	cfg := config.Default()
	sfx := instanceSuffix(i, n)
	cfg.Instance = "bench" + sfx
	cfg.Voice.Journal = filepath.Join(r.dir, "calls"+sfx+".cdr.jsonl")
	cfg.Kafka.Brokers = r.broker.Addrs()
	cfg.Kafka.GroupID = "smsgw-bench"
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(r.dir, "ledger.db")
	if r.pgDSN != "" {
		cfg.Ledger.DSN = r.pgDSN
	}
	cfg.Rules.Dir = r.rulesDir
	cfg.Rules.Watch = false
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg.HTTP.Listen = addr
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.Log.Level = "warn"
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	if r.o.noStatus {
		cfg.Kafka.StatusTopic = ""
	}
	for _, c := range r.o.carriers {
		cfg.Carriers = append(cfg.Carriers, config.Carrier{
			Name: c, Addr: r.sims[c].Addr(), Password: "bench",
			Binds: r.o.binds, Window: r.o.window,
			ResponseTimeout: config.Duration(10 * time.Second),
			Sections:        carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(30 * time.Second)}),
		})
	}
	return &cfg, cfg.Validate()
}

// gateway is a running smsgw, in its own process or in this one.
type gateway interface {
	cpu() float64 // CPU seconds so far
	rss() float64 // peak RSS so far, MB
	alive() error
	httpAddr() string
	stop() error
}

type gwProcess struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// buildBinary builds a command of this module into dir.
func buildBinary(ctx context.Context, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// binary is -smsgw, or ./cmd/smsgw built into the run's directory once.
func (r *rig) binary(ctx context.Context) (string, error) {
	if r.bin != "" {
		return r.bin, nil
	}
	bin := r.o.smsgwBin
	if bin == "" {
		bin = filepath.Join(r.dir, "smsgw")
		if err := buildBinary(ctx, "./cmd/smsgw", bin); err != nil {
			return "", fmt.Errorf("build smsgw (run from the repository root): %w", err)
		}
	}
	r.bin = bin
	return bin, nil
}

// startProcess runs `smsgw run` with cfg, its configuration and log
// named smsgw<sfx>.yaml and smsgw<sfx>.log in the run's directory.
func startProcess(ctx context.Context, r *rig, cfg *config.Config, sfx string) (*gwProcess, error) {
	bin, err := r.binary(ctx)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(r.dir, "smsgw"+sfx+".yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(r.dir, "smsgw"+sfx+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	g := &gwProcess{cmd: cmd, addr: cfg.HTTP.Listen, done: make(chan error, 1)}
	go func() { g.done <- cmd.Wait(); logf.Close() }()
	if err := waitHTTP(ctx, "http://"+g.addr+"/readyz", 60*time.Second, g.alive); err != nil {
		_ = g.stop()
		return nil, fmt.Errorf("smsgw%s did not get ready (log: %s): %w", sfx, logf.Name(), err)
	}
	return g, nil
}

func (g *gwProcess) cpu() float64     { c, _ := cpuSeconds(g.cmd.Process.Pid); return c }
func (g *gwProcess) rss() float64     { r, _ := peakRSSMB(g.cmd.Process.Pid); return r }
func (g *gwProcess) httpAddr() string { return g.addr }

func (g *gwProcess) alive() error {
	select {
	case err := <-g.done:
		g.done <- err
		return fmt.Errorf("smsgw exited: %w", err)
	default:
		return nil
	}
}

func (g *gwProcess) stop() error {
	if g.alive() != nil {
		return nil
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		return err
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		return <-g.done
	}
}

// gwInProc runs the gateway inside this process (for -cpuprofile): its
// CPU and RSS then include the broker, the simulators and the harness.
type gwInProc struct {
	app    *smsgw.App
	cancel context.CancelFunc
	done   chan error
}

func startInProc(ctx context.Context, cfg *config.Config, logw io.Writer) (*gwInProc, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := smsgw.New(ctx, smsgw.Options{Config: cfg, Logger: log, Registry: prometheus.NewRegistry()})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &gwInProc{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- a.Run(runCtx) }()
	if err := waitHTTP(ctx, "http://"+cfg.HTTP.Listen+"/readyz", 60*time.Second, g.alive); err != nil {
		_ = g.stop()
		return nil, err
	}
	return g, nil
}

func (g *gwInProc) cpu() float64     { return selfCPU() }
func (g *gwInProc) rss() float64     { r, _ := peakRSSMB(os.Getpid()); return r }
func (g *gwInProc) httpAddr() string { return g.app.HTTPAddr() }
func (g *gwInProc) alive() error {
	select {
	case err := <-g.done:
		g.done <- err
		return fmt.Errorf("smsgw stopped: %w", err)
	default:
		return nil
	}
}
func (g *gwInProc) stop() error {
	g.cancel()
	select {
	case err := <-g.done:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("in-process gateway did not stop in 30 s")
	}
}

// gateways are the instances of one run. They share the ledger and the
// consumer group; the run's figures add them up.
type gateways []gateway

// cpus is each instance's CPU seconds so far.
func (gs gateways) cpus() []float64 {
	out := make([]float64, len(gs))
	for i, g := range gs {
		out[i] = g.cpu()
	}
	return out
}

// rss is each instance's peak RSS so far, MB.
func (gs gateways) rss() []float64 {
	out := make([]float64, len(gs))
	for i, g := range gs {
		out[i] = g.rss()
	}
	return out
}

// alive is nil while every instance runs, else why the first stopped.
func (gs gateways) alive() error {
	for i, g := range gs {
		if err := g.alive(); err != nil {
			if len(gs) == 1 {
				return err
			}
			return fmt.Errorf("instance %d: %w", i+1, err)
		}
	}
	return nil
}

// scrape reads every instance's /metrics: the sum of each family over
// the instances, and each instance's own.
func (gs gateways) scrape(ctx context.Context) (map[string]float64, []map[string]float64, error) {
	sum := map[string]float64{}
	each := make([]map[string]float64, len(gs))
	for i, g := range gs {
		m, err := scrape(ctx, g.httpAddr())
		if err != nil {
			return nil, nil, err
		}
		each[i] = m
		for k, v := range m {
			sum[k] += v
		}
	}
	return sum, each, nil
}

// stop stops every instance and returns the first error.
func (gs gateways) stop() error {
	var first error
	for _, g := range gs {
		if err := g.stop(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// startGateways starts o.instances smsgw processes, one after the other,
// and waits until the consumer group is stable with all of them holding
// partitions, so that the timed run does not include their joining.
func startGateways(ctx context.Context, r *rig) (gateways, error) {
	n := r.o.instances
	var gs gateways
	group := ""
	for i := range n {
		cfg, err := r.gatewayConfig(i, n)
		if err != nil {
			_ = gs.stop()
			return nil, err
		}
		group = cfg.Kafka.GroupID
		g, err := startProcess(ctx, r, cfg, instanceSuffix(i, n))
		if err != nil {
			_ = gs.stop()
			return nil, err
		}
		gs = append(gs, g)
	}
	if err := waitGroup(ctx, r.broker.Addrs(), group, n, 60*time.Second, gs.alive); err != nil {
		_ = gs.stop()
		return nil, err
	}
	return gs, nil
}

// waitGroup waits until the consumer group is Stable with n members, each
// assigned at least one partition.
func waitGroup(ctx context.Context, brokers []string, group string, n int, timeout time.Duration, alive func() error) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	seen := "no answer"
	for time.Now().Before(deadline) {
		if err := alive(); err != nil {
			return err
		}
		resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		switch {
		case err != nil:
			seen = err.Error()
		case len(resp.Groups) != 1:
			seen = fmt.Sprintf("%d groups described", len(resp.Groups))
		case resp.Groups[0].Error != nil:
			seen = resp.Groups[0].Error.Error()
		default:
			g := resp.Groups[0]
			assigned := 0
			for _, m := range g.Members {
				for _, t := range m.MemberAssignments.Topics {
					if len(t.Partitions) > 0 {
						assigned++
						break
					}
				}
			}
			if g.GroupState == "Stable" && len(g.Members) == n && assigned == n {
				return nil
			}
			seen = fmt.Sprintf("state %s, %d members, %d holding partitions", g.GroupState, len(g.Members), assigned)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("consumer group %s not stable with %d members after %v: %s", group, n, timeout, seen)
}

// publish writes items to the broker, at rate events per second (0: as
// fast as the broker takes them), and returns when each was acknowledged.
func publish(ctx context.Context, brokers []string, items []item, rate float64) ([]time.Time, error) {
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{},
		BatchSize: 2000, BatchBytes: 1_000_000, BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll, WriteTimeout: 30 * time.Second,
	}
	defer w.Close()
	acked := make([]time.Time, len(items))
	chunk := 5000
	var tick *time.Ticker
	if rate > 0 {
		const every = 10 * time.Millisecond
		chunk = max(1, int(rate*every.Seconds()))
		tick = time.NewTicker(every)
		defer tick.Stop()
	}
	msgs := make([]kafka.Message, 0, chunk)
	for lo := 0; lo < len(items); lo += chunk {
		if tick != nil && lo > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		hi := min(lo+chunk, len(items))
		msgs = msgs[:0]
		for _, it := range items[lo:hi] {
			msgs = append(msgs, kafka.Message{Topic: it.Topic, Key: it.Key, Value: it.Value})
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		now := time.Now()
		for i := lo; i < hi; i++ {
			acked[i] = now
		}
	}
	return acked, nil
}

// ledger reads the gateway's SQLite ledger, read-only.
type ledgerReader struct{ db *sql.DB }

func openLedger(path string) (*ledgerReader, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &ledgerReader{db: db}, nil
}

func (l *ledgerReader) states(ctx context.Context) (map[string]int, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM messages GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// ledgerRow is one message as the ledger has it at the end.
type ledgerRow struct {
	carrier  string
	segments int
	state    string
	stored   time.Time // the last receipt stored
}

func (l *ledgerReader) rows(ctx context.Context) (map[string]ledgerRow, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT m.recipient, m.carrier, m.segments, m.state,
		COALESCE((SELECT MAX(r.received_at) FROM receipts r WHERE r.message_id = m.id), 0) FROM messages m`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]ledgerRow{}
	for rows.Next() {
		var phone string
		var r ledgerRow
		var ns int64
		if err := rows.Scan(&phone, &r.carrier, &r.segments, &r.state, &ns); err != nil {
			return nil, err
		}
		if ns > 0 {
			r.stored = time.Unix(0, ns)
		}
		out[phone] = r
	}
	return out, rows.Err()
}

var pendingStates = []string{"queued", "sending", "submitted", "unknown", "scheduled"}

// waitLedger waits until want messages exist in the ledger and none is
// pending. It watches the gateways' receipt counters on /metrics (cheap;
// summed over the instances, each storing the receipts of its own binds)
// and asks the ledger only once the sum reaches segments, or every 5 s: a
// full count of the messages table every 100 ms costs the machine more
// CPU than some gateway stages. It returns each instance's metrics of the
// last scrape.
func waitLedger(ctx context.Context, l *ledgerReader, gw gateways, want, segments int, timeout time.Duration, progress io.Writer) (bool, []map[string]float64, error) {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	lastAsk, lastPrint := time.Now(), time.Now()
	var each []map[string]float64
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false, each, ctx.Err()
		case <-t.C:
		}
		if err := gw.alive(); err != nil {
			return false, each, err
		}
		m, e, err := gw.scrape(ctx)
		if err != nil {
			continue
		}
		each = e
		receipts := int(m["smsgw_receipts_total"])
		if time.Since(lastPrint) >= 2*time.Second {
			fmt.Fprintf(progress, "  smsgw: %d/%d receipts stored, %.0f parts submitted%s\n", receipts, segments, m["smsgw_segments_submitted_total"], perInstance(e))
			lastPrint = time.Now()
		}
		if receipts < segments && time.Since(lastAsk) < 5*time.Second {
			continue
		}
		lastAsk = time.Now()
		st, err := l.states(ctx)
		if err != nil {
			continue // the gateway may be mid-checkpoint; try again
		}
		total, pending := 0, 0
		for s, n := range st {
			total += n
			for _, p := range pendingStates {
				if s == p {
					pending += n
				}
			}
		}
		if total >= want && pending == 0 {
			return true, each, nil
		}
	}
	return false, each, nil
}

// perInstance is each instance's receipts and parts submitted, for the
// progress line: "" with one instance.
func perInstance(each []map[string]float64) string {
	if len(each) < 2 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" (")
	for i, m := range each {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "#%d %.0f/%.0f", i+1, m["smsgw_receipts_total"], m["smsgw_segments_submitted_total"])
	}
	b.WriteString(")")
	return b.String()
}

func segmentsOf(items []item) int {
	n := 0
	for _, it := range items {
		n += it.Segments
	}
	return n
}

// runGateway is the gateway mode.
func runGateway(ctx context.Context, o *options) (*Result, error) {
	r, err := newRig(ctx, o, "gw", 4*o.n+10000)
	if err != nil {
		return nil, err
	}
	defer r.close()
	items, err := makeItems(r.set, o.n, o.carriers, 1, 0, o.seed, r.now)
	if err != nil {
		return nil, err
	}
	var gw gateways
	res := &Result{System: "smsgw", Instances: o.instances}
	if o.cpuprofile != "" {
		cfg, err := r.gatewayConfig(0, 1)
		if err != nil {
			return nil, err
		}
		logf, err := os.Create(filepath.Join(r.dir, "smsgw.log"))
		if err != nil {
			return nil, err
		}
		defer logf.Close()
		g, err := startInProc(ctx, cfg, logf)
		if err != nil {
			return nil, err
		}
		gw = gateways{g}
		res.Notes = append(res.Notes, "in-process run for -cpuprofile: CPU and RSS include the broker, the simulators and the harness")
	} else if gw, err = startGateways(ctx, r); err != nil {
		return nil, err
	}
	defer func() { _ = gw.stop() }()
	var l *ledgerReader
	if r.pgDSN != "" {
		l, err = openPostgresLedger(r.pgDSN)
		res.Ledger = "postgres"
	} else {
		l, err = openLedger(filepath.Join(r.dir, "ledger.db"))
		res.Ledger = "sqlite"
	}
	if err != nil {
		return nil, err
	}
	defer l.db.Close()

	fmt.Fprintf(os.Stderr, "smsgw: %d messages (%s), %d instance(s), publishing\n", len(items), o.carriersFlag, len(gw))
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	cpu0, self0, db0 := gw.cpus(), selfCPU(), postgresCPU()
	start := time.Now()
	var profDone chan string
	if o.gwProfile != "" {
		profDone = make(chan string, 1)
		go func() { profDone <- fetchProfile(ctx, gw[0].httpAddr(), o.gwProfile, o.gwProfileLen) }()
	}
	acked, err := publish(ctx, r.broker.Addrs(), items, o.rate)
	if err != nil {
		return nil, err
	}
	done, each, err := waitLedger(ctx, l, gw, len(items), segmentsOf(items), o.timeout, os.Stderr)
	cpu1, rss := gw.cpus(), gw.rss()
	res.HarnessCPU = selfCPU() - self0
	if res.Ledger == "postgres" {
		res.DBCPUSeconds = postgresCPU() - db0
	}
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	if profDone != nil {
		note := <-profDone
		if len(gw) > 1 {
			note += " (instance 1 of " + fmt.Sprint(len(gw)) + ")"
		}
		res.Notes = append(res.Notes, note)
	}
	res.Complete = done
	for i := range gw {
		c := cpu1[i] - cpu0[i]
		res.CPUSeconds += c
		res.PeakRSSMB = max(res.PeakRSSMB, rss[i])
		if len(gw) > 1 {
			res.InstanceCPUSeconds = append(res.InstanceCPUSeconds, c)
			res.InstancePeakRSSMB = append(res.InstancePeakRSSMB, rss[i])
			if len(each) == len(gw) {
				res.InstanceParts = append(res.InstanceParts, int(each[i]["smsgw_segments_submitted_total"]))
			}
		}
	}
	if err := r.fill(ctx, l, res, items, acked, start); err != nil {
		return nil, err
	}
	if o.half && done && res.MessagesPerSec > 0 {
		h, err := r.halfRate(ctx, l, gw, res.MessagesPerSec/2, len(items), segmentsOf(items))
		if err != nil {
			return nil, err
		}
		res.HalfRate = h
	}
	for i, g := range gw {
		if o.metricsOut != "" {
			dumpMetrics(g.httpAddr(), instanceFile(o.metricsOut, i, len(gw)))
		}
		if o.allocsOut != "" {
			dumpHTTP(g.httpAddr(), "/debug/pprof/allocs", instanceFile(o.allocsOut, i, len(gw)))
		}
	}
	return res, nil
}

// instanceFile is where instance i of n saves what -metrics-out or
// -allocs-out name: the file itself with one instance, else the name
// with "-1", "-2"... before its extension.
func instanceFile(path string, i, n int) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + instanceSuffix(i, n) + ext
}

// fill computes the figures of items from the ledger and the simulators.
func (r *rig) fill(ctx context.Context, l *ledgerReader, res *Result, items []item, acked []time.Time, start time.Time) error {
	rows, err := l.rows(ctx)
	if err != nil {
		return err
	}
	subs := r.submits()
	res.Receipts = map[string]int{}
	res.ByCarrier = map[string]CarrierResult{}
	var e2s, s2r []time.Duration
	perE2S, perS2R := map[string][]time.Duration{}, map[string][]time.Duration{}
	lastByCarrier := map[string]time.Time{}
	var last time.Time
	for i, it := range items {
		row, ok := rows[it.Phone]
		if !ok {
			res.Receipts["missing"]++
			continue
		}
		res.Receipts[row.state]++
		c := res.ByCarrier[it.Carrier]
		c.Messages++
		c.Segments += row.segments
		res.ByCarrier[it.Carrier] = c
		res.Messages++
		res.Segments += row.segments
		if row.stored.After(last) {
			last = row.stored
		}
		if row.stored.After(lastByCarrier[it.Carrier]) {
			lastByCarrier[it.Carrier] = row.stored
		}
		if s := subs[it.Phone]; s != nil {
			if s.messages > 1 {
				res.Duplicates++
			}
			d := s.first.Sub(acked[i])
			e2s = append(e2s, d)
			perE2S[it.Carrier] = append(perE2S[it.Carrier], d)
			if !row.stored.IsZero() {
				d := row.stored.Sub(s.last)
				s2r = append(s2r, d)
				perS2R[it.Carrier] = append(perS2R[it.Carrier], d)
			}
		}
	}
	res.EventToSubmit, res.SubmitToStored = latency(e2s), latency(s2r)
	if !last.IsZero() {
		res.Seconds = last.Sub(start).Seconds()
		res.MessagesPerSec = float64(res.Messages) / res.Seconds
		res.SegmentsPerSec = float64(res.Segments) / res.Seconds
	}
	if res.Messages > 0 {
		res.CPUPer1000 = res.CPUSeconds / float64(res.Messages) * 1000
		res.DBCPUPer1000 = res.DBCPUSeconds / float64(res.Messages) * 1000
	}
	for name, c := range res.ByCarrier {
		if t := lastByCarrier[name]; !t.IsZero() {
			c.MessagesPerSec = float64(c.Messages) / t.Sub(start).Seconds()
		}
		c.EventToSubmit, c.SubmitToStored = latency(perE2S[name]), latency(perS2R[name])
		res.ByCarrier[name] = c
	}
	return nil
}

// halfRate publishes a second batch at rate and measures its latencies.
func (r *rig) halfRate(ctx context.Context, l *ledgerReader, gw gateways, rate float64, before, beforeSegs int) (*HalfRate, error) {
	n := max(1000, min(r.o.n, int(rate*r.o.halfLen.Seconds())))
	items, err := makeItems(r.set, n, r.o.carriers, 2, 0, r.o.seed, r.now)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "smsgw: half rate, %d messages at %.0f/s\n", n, rate)
	acked, err := publish(ctx, r.broker.Addrs(), items, rate)
	if err != nil {
		return nil, err
	}
	done, _, err := waitLedger(ctx, l, gw, before+n, beforeSegs+segmentsOf(items), r.o.timeout, os.Stderr)
	if err != nil {
		return nil, err
	}
	var tmp Result
	if err := r.fill(ctx, l, &tmp, items, acked, time.Now()); err != nil {
		return nil, err
	}
	return &HalfRate{Rate: rate, Messages: tmp.Messages, EventToSubmit: tmp.EventToSubmit, SubmitToStored: tmp.SubmitToStored, Complete: done}, nil
}

// fetchProfile saves a CPU profile of the gateway process from its
// /debug/pprof/profile endpoint, if it has one, and says what it did.
func fetchProfile(ctx context.Context, addr, path string, d time.Duration) string {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "gateway profile: " + err.Error()
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return "gateway profile: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("gateway profile: %s answered %s (smsgw serves no /debug/pprof; use -cpuprofile)", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return "gateway profile: " + err.Error()
	}
	return fmt.Sprintf("gateway CPU profile of the first %v written to %s", d, path)
}

// dumpMetrics saves the gateway's /metrics text (histograms and all).
func dumpMetrics(addr, path string) { dumpHTTP(addr, "/metrics", path) }

// dumpHTTP saves what the gateway serves at urlPath into path.
func dumpHTTP(addr, urlPath, path string) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + urlPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dump %s: %v\n", urlPath, err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "dump %s: %v\n", urlPath, err)
	}
}
