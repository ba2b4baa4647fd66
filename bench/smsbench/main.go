// Command smsbench measures the SMS path end to end against Kannel, in
// the same run, on the same SMSC simulator (issue 7):
//
//	go run ./bench/smsbench                      # gateway mode, 50,000 messages
//	go run ./bench/smsbench -mode both -n 50000  # smsgw, then Kannel, and the ratio
//	go run ./bench/smsbench -mode kannel
//	go run ./bench/smsbench -mode sweep          # 1,000,000 snapshots, ~1 % fire
//
// Gateway mode starts an embedded kfake broker and SMSC simulators in this
// process, builds ./cmd/smsgw and runs `smsgw run --config` as a separate
// process (its CPU seconds and peak RSS are read from /proc), publishes
// one violation.recorded event per message and waits until every message
// has its receipt in the ledger: SQLite, or with -ledger a fresh schema in
// a PostgreSQL database, which -instances N gateway processes share.
// Kannel mode runs Debian's bearerbox and smsbox with their own
// configuration against a fresh simulator and sends the same texts
// through sendsms with delivery reports to a local callback. The figures
// are printed as a table and, with -json, as JSON; there are no
// thresholds. It measures; it owns no part of the gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mode         string
	n            int
	carriersFlag string
	carriers     []string
	receiptDelay time.Duration
	json         bool
	jsonOut      string
	keep         bool
	cpuprofile   string
	rules        string
	smsgwBin     string
	binds        int
	window       int
	rate         float64
	half         bool
	halfLen      time.Duration
	seed         int64
	timeout      time.Duration
	sweepN       int
	metricsOut   string
	allocsOut    string
	kannelConc   int
	kannelDLRs   int
	kannelText   string
	kannelLinks  int
	noStatus     bool
	gwProfile    string
	gwProfileLen time.Duration
	ledger       string // PostgreSQL DSN; "": an SQLite file in the run's directory
	instances    int    // smsgw processes sharing the ledger and the consumer group
}

// maxInstances bounds -instances: each is a whole gateway with its own
// binds, and they share this machine's cores.
const maxInstances = 8

// checkInstances refuses an -instances the run cannot honour: several
// gateways need a ledger they can share (PostgreSQL; SQLite is one
// process's file), run as processes (-cpuprofile runs the one gateway
// in this process), and only gateway mode, or the gateway half of both,
// runs them.
func checkInstances(o *options) error {
	switch {
	case o.instances < 1 || o.instances > maxInstances:
		return fmt.Errorf("-instances %d: want 1..%d", o.instances, maxInstances)
	case o.instances == 1:
		return nil
	case o.mode != "gateway" && o.mode != "both":
		return fmt.Errorf("-instances %d: -mode %s runs one gateway (or none); several run in gateway mode (and in both's gateway half)", o.instances, o.mode)
	case o.ledger == "":
		return fmt.Errorf("-instances %d needs -ledger DSN: the instances share one PostgreSQL ledger (the SQLite ledger is one process's file)", o.instances)
	case o.cpuprofile != "":
		return fmt.Errorf("-instances %d with -cpuprofile: the profiled gateway runs inside this process, and there is one of it", o.instances)
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "smsbench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o := &options{}
	fs := flag.NewFlagSet("smsbench", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "gateway", "gateway, kannel, both or sweep")
	fs.IntVar(&o.n, "n", 50000, "messages (one event each) for gateway and kannel")
	fs.StringVar(&o.carriersFlag, "carriers", "china_mobile", "carriers, comma-separated (one simulator and one SMPP account each)")
	fs.DurationVar(&o.receiptDelay, "receipt-delay", 100*time.Millisecond, "simulator delay from submit_sm to its receipt")
	fs.BoolVar(&o.json, "json", false, "print the figures as JSON after the table")
	fs.StringVar(&o.jsonOut, "json-out", "", "also write the JSON to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directories (configs, logs, ledger)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the gateway: runs it in this process (smsgw has no pprof endpoint)")
	fs.StringVar(&o.rules, "rules", "rules", "rules directory (copied; quiet hours are switched off in the copy)")
	fs.StringVar(&o.smsgwBin, "smsgw", "", "smsgw binary to run (default: go build ./cmd/smsgw)")
	fs.IntVar(&o.binds, "binds", 1, "SMPP binds per carrier for smsgw (Kannel: one link per carrier)")
	fs.IntVar(&o.window, "window", 100, "SMPP window per bind (Kannel: max-pending-submits)")
	fs.Float64Var(&o.rate, "rate", 0, "publish at this many events (sendsms requests) per second; 0: as fast as possible")
	fs.BoolVar(&o.half, "half", true, "after the full-rate run, measure latency at half the measured rate")
	fs.DurationVar(&o.halfLen, "half-seconds", 15*time.Second, "length of the half-rate pass")
	fs.Int64Var(&o.seed, "seed", 12123, "random seed")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up waiting for receipts after this long")
	fs.IntVar(&o.sweepN, "sweep-n", 1_000_000, "events of the sweep mode")
	fs.StringVar(&o.gwProfile, "gateway-profile", "", "fetch a CPU profile from the gateway process's /debug/pprof/profile into this file (if it serves one)")
	fs.DurationVar(&o.gwProfileLen, "gateway-profile-seconds", 5*time.Second, "length of that profile, from the first publish")
	fs.StringVar(&o.metricsOut, "metrics-out", "", "save the gateway's /metrics here at the end")
	fs.StringVar(&o.allocsOut, "allocs-out", "", "save the gateway's allocation profile (/debug/pprof/allocs) here at the end")
	fs.IntVar(&o.kannelDLRs, "kannel-dlrs", 1, "delivery reports Kannel sends per message (0: one per segment)")
	fs.IntVar(&o.kannelLinks, "kannel-links", 1, "SMPP links per carrier for Kannel (give it -binds for a like-for-like run)")
	fs.StringVar(&o.kannelText, "kannel-text", "", "kannel mode only: send this text instead of the rules' (e.g. one segment)")
	fs.BoolVar(&o.noStatus, "no-status", false, "run smsgw without its status topic (kafka.status_topic empty)")
	fs.StringVar(&o.ledger, "ledger", "", "gateway mode: a PostgreSQL DSN (a fresh schema is made in it and dropped after); the database's CPU is reported when it runs on this machine. Default: an SQLite file")
	fs.IntVar(&o.kannelConc, "kannel-conc", 32, "concurrent sendsms HTTP requests")
	fs.IntVar(&o.instances, "instances", 1, "gateway mode: run this many smsgw processes sharing the -ledger PostgreSQL schema and the Kafka consumer group (own HTTP port, binds and instance name each); more than 1 needs -ledger")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkInstances(o); err != nil {
		return err
	}
	var err error
	if o.carriers, err = parseCarriers(o.carriersFlag); err != nil {
		return err
	}
	if o.n <= 0 || o.n > 5_000_000 || o.sweepN <= 0 || o.sweepN > 50_000_000 {
		return errors.New("-n must be in 1..5,000,000 and -sweep-n in 1..50,000,000")
	}
	rep := &Report{
		Date:       time.Now().UTC().Format(time.RFC3339),
		Machine:    fmt.Sprintf("%s/%s %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel()),
		LoadBefore: loadAvg(),
		Commit:     commit(),
		Mode:       o.mode, N: o.n, Carriers: o.carriers, ReceiptDelay: o.receiptDelay.String(),
	}
	if o.mode != "kannel" {
		rep.Instances = o.instances
	}
	switch o.mode {
	case "gateway":
		r, err := runGateway(ctx, o)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
	case "kannel":
		r, err := runKannel(ctx, o)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
	case "both":
		g, err := runGateway(ctx, o)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, g)
		k, err := runKannel(ctx, o)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, k)
		if k.MessagesPerSec > 0 {
			rep.Ratio = g.MessagesPerSec / k.MessagesPerSec
		}
	case "sweep":
		rep.N = o.sweepN
		s, err := runSweep(ctx, o)
		if err != nil {
			return err
		}
		rep.Sweep = s
	default:
		return fmt.Errorf("-mode %q: want gateway, kannel, both or sweep", o.mode)
	}
	if o.smsgwBin != "" {
		rep.Commit = "binary " + o.smsgwBin
	}
	rep.LoadAfter = loadAvg()
	writeTable(stdout, rep)
	if o.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	}
	if o.jsonOut != "" {
		f, err := os.Create(o.jsonOut)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeJSON(f, rep)
	}
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

// loadAvg is the 1-, 5- and 15-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commit names the source tree: HEAD, and "+dirty" when cmd, internal or
// pkg have uncommitted changes (what `go build ./cmd/smsgw` compiles).
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--", "cmd", "internal", "pkg").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}
