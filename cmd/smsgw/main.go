// Command smsgw is the 12123 SMS gateway: Kafka events → rules → SMPP →
// delivery receipts. See the README for the two commands a newcomer needs.
//
//	smsgw run --config config/smsgw.yaml     production entry
//	smsgw demo [--events N] [--summary json] the whole path on embedded defaults
//	smsgw rules check|test|preview            operators' offline tools
//	smsgw trace --phone N | --event ID | --licence N | --plate P
//	smsgw held list|release|drop|decisions   held messages, via the admin API
//	smsgw version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Shanghai in minimal containers

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/traffic12123/gateway/internal/app/smsgw"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// Set by the build: go build -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

const usage = `usage: smsgw <command> [flags]

commands:
  run      --config FILE             run the gateway (production)
  demo     [--events N] [--summary text|json] [--now TIME] [--console] [--voice]
                                     the whole SMS path on embedded defaults; --console keeps
                                     it running with the operators' console until Ctrl-C;
                                     --voice calls urgent notices whose SMS failed through a
                                     trunk simulator
  rules    check [DIR] | test [DIR] [--now TIME] | preview --event FILE [--rules DIR] [--now TIME]
  trace    --phone N | --event ID | --licence N | --plate P  [--config FILE | --ledger DSN] [--unmask]
  broker   [--listen ADDR] [--data DIR] the embedded Kafka-protocol broker on its own
  held     list | release | drop | decisions   messages held by the content check or the
                                     audience limit, through the admin API (see smsgw held)
  console-account NAME ROLE          read a password on stdin, print a console accounts line
  version                            print version and commit
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "rules":
		err = cmdRules(rest, stdout, stderr)
	case "trace":
		err = cmdTrace(rest, stdout, stderr)
	case "broker":
		err = cmdBroker(rest, stdout, stderr)
	case "held":
		err = cmdHeld(rest, stdout, stderr)
	case "console-account":
		err = cmdConsoleAccount(rest, os.Stdin, stdout)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "smsgw: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "smsgw %s: %v\n", cmd, err)
	return 1
}

// exitCode ends the command with a status and no further message (the
// command printed what went wrong already).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func versionString() string {
	v, c := version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("smsgw %s (commit %s)", v, c)
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "config/smsgw.yaml", "configuration file")
	logFormat := fs.String("log-format", "", "text or json (overrides log.format)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	now := fs.String("now", "", "start the gateway's clock at this time (rehearsals and tests; default: the real clock)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	clock := time.Now
	if *now != "" {
		start, err := parseNow(*now)
		if err != nil {
			return err
		}
		real0 := time.Now()
		clock = func() time.Time { return start.Add(time.Since(real0)) }
	}
	cfg, err := smsgw.LoadConfig(*path)
	if err != nil {
		return err
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	log := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := smsgw.New(ctx, smsgw.Options{Config: cfg, Logger: log, Registry: reg, Now: clock})
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := a.Reload(); err == nil {
				log.Info("reloaded on SIGHUP")
			}
		}
	}()
	log.Info("starting", "version", versionString())
	return a.Run(ctx)
}

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	events := fs.Int("events", 2000, "events to publish")
	summary := fs.String("summary", "text", "summary format: text or json")
	now := fs.String("now", "", "demo clock start, RFC 3339 or 2006-01-02T15:04 Beijing time (default today 10:00)")
	seed := fs.Int64("seed", 12123, "random seed of the event generator and simulators")
	data := fs.String("data", "", "keep the broker and ledger data here (default: a temporary directory)")
	rulesDir := fs.String("rules", "rules", "rules directory")
	bad := fs.Float64("bad", 0.005, "share of malformed records (they go to the dead-letter topic)")
	delay := fs.Duration("receipt-delay", 100*time.Millisecond, "simulated time to delivery receipt")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after")
	verbose := fs.Bool("v", false, "log the gateway's own lines to stderr")
	native := fs.Bool("native", false, "China Mobile on CMPP 3.0, Unicom on SGIP 1.2, Telecom on SMGP 3.0 (Broadnet on SMPP) instead of SMPP for all")
	withConsole := fs.Bool("console", false, "after the demo, keep the gateway running with the operators' console until Ctrl-C")
	consoleAccounts := fs.String("console-accounts", "", "console accounts file (\"name role bcrypt-hash\" lines); default: a generated admin login")
	holdAudience := fs.Int("hold-audience", 2, "with --console: advisories reaching more recipients are held for an operator")
	withVoice := fs.Bool("voice", false, "call urgent notices whose SMS failed through a trunk simulator (pkg/ivr/trunksim)")
	voiceMix := fs.String("voice-mix", "confirm=6,busy=2,no_answer=1,hangup=1", "with --voice: the simulated callees, BEHAVIOUR=WEIGHT (confirm, silent, hangup, busy, no_answer)")
	prompts := fs.String("prompts", "prompts", "with --voice: prompt directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *summary != "text" && *summary != "json" {
		return fmt.Errorf("--summary %q: want text or json", *summary)
	}
	start, err := parseNow(*now)
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = newLogger(stderr, "text", "info")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := smsgw.DemoOptions{
		Events: *events, Seed: *seed, Now: start, DataDir: *data, RulesDir: *rulesDir,
		BadFraction: *bad, ReceiptDelay: *delay, Timeout: *timeout,
		Outcomes: map[string]float64{"DELIVRD": 0.94, "UNDELIV": 0.03, "EXPIRED": 0.02, "REJECTD": 0.01},
		Progress: stderr, Logger: log, Native: *native,
	}
	if *withVoice {
		mix, err := parseMix(*voiceMix)
		if err != nil {
			return err
		}
		opts.Voice = &smsgw.DemoVoice{Mix: mix, Prompts: *prompts}
	}
	if *withConsole {
		cleanup, err := demoConsole(&opts, *consoleAccounts, *holdAudience, stdout)
		if err != nil {
			return err
		}
		defer cleanup()
	}
	s, err := smsgw.Demo(ctx, opts)
	if s != nil && (!*withConsole || !s.Complete) {
		if werr := smsgw.WriteSummary(stdout, s, *summary); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !s.Complete {
		return smsgw.ErrIncomplete
	}
	return nil
}

// parseMix reads BEHAVIOUR=WEIGHT,... (--voice-mix).
func parseMix(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 || !slices.Contains(trunksim.Behaviours, k) {
			return nil, fmt.Errorf("--voice-mix %q: want BEHAVIOUR=WEIGHT with one of %v", kv, trunksim.Behaviours)
		}
		out[k] = n
	}
	return out, nil
}

// parseNow reads a --now flag: RFC 3339, or a local Beijing time.
func parseNow(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc := policy.Shanghai()
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--now %q: want RFC 3339 or 2006-01-02T15:04 (Beijing time)", s)
}
