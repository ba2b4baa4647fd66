// Command ivr is the 12123 voice service: a SIP IVR that answers calls to
// 12123, verifies callers and reads back licence, vehicle and violation
// records kept current from Kafka.
//
//	ivr run --config config/ivr.yaml     production entry (SIGHUP reloads the call flow)
//	ivr demo                             embedded Kafka + sample records + SIP on 127.0.0.1:5060
//	ivr call --target URI --from N ...   a scripted test caller
//	ivr flows check [FILE]               validate a call flow offline
//	ivr call-out --trunk ADDR --to N     place one notice call through a trunk
//	ivr trunksim [--mix ...]             a SIP trunk simulator for call-out
//	ivr --version
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
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Asia/Shanghai in minimal containers

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
)

// Set by the build: go build -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

const usage = `usage: ivr <command> [flags]

commands:
  run    --config FILE                 run the IVR (SIGHUP reloads the call flow)
  demo   [--sip ADDR] [--events N]     embedded Kafka, sample records, SIP on 127.0.0.1:5060
  call   --target URI [--from N] [--transport udp|tcp] [--keys rfc4733|info|info-dtmf]
         [--script 'wait:main_menu,1,wait:enter_id,12345*#,wait:after_query'] [--record FILE.wav]
                                       a test caller: dials, presses keys, prints what it heard
  flows  check [FILE] [--prompts DIR]  validate a call flow offline
  call-out --to N [--config FILE | --trunk ADDR] [--user U --password-file F]
         [--say 'prompt:notice_see_sms,plate:京A12345,number:12'] [--text T]
                                       place one notice call, print states and the result
  trunksim [--listen ADDR] [--mix confirm=6,busy=2,no_answer=1,hangup=1]
         [--user U --password-file F]  a SIP trunk that answers by a mix
  version, --version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		err = cmdRun(rest, stderr)
	case "demo":
		err = cmdDemo(rest, stdout, stderr)
	case "call":
		err = cmdCall(rest, stdout, stderr)
	case "flows":
		err = cmdFlows(rest, stdout, stderr)
	case "call-out":
		err = cmdCallOut(rest, stdout, stderr)
	case "trunksim":
		err = cmdTrunksim(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ivr: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(stderr, "ivr: %v\n", err)
		return 1
	}
	return 0
}

func versionString() string {
	c := commit
	if bi, ok := debug.ReadBuildInfo(); ok && c == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("ivr %s (commit %s)", version, c)
}

func logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/ivr.yaml", "configuration file")
	level := fs.String("log-level", "info", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := appivr.LoadConfig(*path)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log := logger(stderr, *level)
	a, err := appivr.New(ctx, appivr.Options{Config: cfg, Logger: log, Registry: reg})
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = a.Reload() // logged; the running flow stays on error
			}
		}
	}()
	log.Info("ivr started", "udp", a.SIPAddr("udp"), "tcp", a.SIPAddr("tcp"), "http", a.HTTPAddr(), "version", versionString())
	return a.Run(ctx)
}

func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := appivr.DemoOptions{Out: stdout}
	fs.StringVar(&o.SIP, "sip", "127.0.0.1:5060", "SIP address (UDP and TCP)")
	fs.StringVar(&o.HTTP, "http", "127.0.0.1:9102", `HTTP address for /metrics, /healthz, /readyz ("-": none)`)
	fs.StringVar(&o.Prompts, "prompts", "prompts", "prompt directory")
	fs.StringVar(&o.Flows, "flows", "config/ivr-flows.yaml", "call flow file")
	fs.IntVar(&o.Events, "events", 2000, "generated events published besides the demo caller's")
	fs.StringVar(&o.DataDir, "data", "", "keep broker and store files here (default: a temporary directory)")
	level := fs.String("log-level", "warn", "debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.Logger = logger(stderr, *level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return appivr.Demo(ctx, o)
}

func cmdCall(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := ivr.CallerConfig{}
	fs.StringVar(&cfg.Target, "target", "sip:12123@127.0.0.1:5060", "SIP URI to call")
	fs.StringVar(&cfg.Transport, "transport", "udp", "udp or tcp")
	fs.StringVar(&cfg.From, "from", appivr.DemoPhone, "caller number (From)")
	fs.StringVar(&cfg.PAI, "pai", "", "P-Asserted-Identity number")
	codec := fs.String("codec", "PCMU", "PCMU or PCMA")
	method := fs.String("keys", ivr.KeysRFC4733, "how keys are sent: rfc4733, info (dtmf-relay) or info-dtmf")
	script := fs.String("script", "wait:main_menu,1,wait:enter_id,"+appivr.DemoIDKeys+",wait:after_query",
		"comma-separated steps: keys to press, wait:PROMPT (heard to the end), start:PROMPT (started), sleep:DURATION")
	prompts := fs.String("prompts", "prompts", "prompt directory, to name what was heard")
	record := fs.String("record", "", "write what was heard to this WAV file")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	follow := fs.Bool("follow-refer", false, "follow a REFER (agent transfer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.FollowRefer = *follow
	if strings.EqualFold(*codec, "PCMA") {
		cfg.Codec = ivr.PCMA
	}
	lib, err := ivr.LoadLibrary(*prompts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := ivr.NewCaller(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	call, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "connected to %s (%s)\n", cfg.Target, call.Codec())
	var stepErr error
	// Waits look for what comes after the last key press: the prompt it
	// triggers may start while the keys are still being sent.
	var before []string
	for _, s := range ivr.ParseScript(*script) {
		switch {
		case strings.HasPrefix(s, "wait:"):
			// The next occurrence: one more than heard so far.
			name := strings.TrimPrefix(s, "wait:")
			stepErr = call.WaitFor(ctx, lib, name, count(before, name, false)+1)
		case strings.HasPrefix(s, "start:"):
			name := strings.TrimPrefix(s, "start:")
			stepErr = call.WaitStarted(ctx, lib, name, count(before, name, true)+1)
		case strings.HasPrefix(s, "sleep:"):
			d, err := time.ParseDuration(strings.TrimPrefix(s, "sleep:"))
			if err != nil {
				stepErr = err
				break
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				stepErr = ctx.Err()
			}
		default:
			fmt.Fprintf(stdout, "  press %s (%s)\n", s, *method)
			before = call.Transcript(lib)
			stepErr = call.Send(ctx, s, *method)
		}
		if stepErr == nil && strings.Contains(s, ":") {
			fmt.Fprintf(stdout, "  %s ok\n", s)
		}
		if stepErr != nil {
			break
		}
	}
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	_ = call.Hangup(hctx)
	heard := call.Transcript(lib)
	fmt.Fprintf(stdout, "heard (%d clips): %s\n", len(heard), strings.Join(compact(heard), " "))
	if *record != "" {
		f, err := os.Create(*record)
		if err != nil {
			return err
		}
		if err := ivr.WriteWAV(f, ivr.Decode(call.Codec(), call.Heard())); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "recording: %s\n", *record)
	}
	if t, ok := call.Transferred(); t != "" {
		fmt.Fprintf(stdout, "transferred to %s (answered: %v)\n", t, ok)
	}
	return stepErr
}

func count(heard []string, name string, started bool) int {
	n := 0
	for _, h := range heard {
		if h == name || (started && h == name+"~") {
			n++
		}
	}
	return n
}

// compact joins runs of say units into one bracketed group for reading.
func compact(heard []string) []string {
	var out []string
	var units []string
	flush := func() {
		if len(units) > 0 {
			out = append(out, "["+strings.Join(units, " ")+"]")
			units = nil
		}
	}
	for _, h := range heard {
		if u, ok := strings.CutPrefix(h, "units/"); ok {
			units = append(units, u)
			continue
		}
		flush()
		out = append(out, h)
	}
	flush()
	return out
}

func cmdFlows(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, "usage: ivr flows check [FILE] [--prompts DIR]\n")
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("flows check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prompts := fs.String("prompts", "prompts", "prompt directory (\"\" skips the audio check)")
	file := "config/ivr-flows.yaml"
	rest := args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	var exists func(string) bool
	var lib *ivr.Library
	if *prompts != "" {
		var err error
		if lib, err = ivr.LoadLibrary(*prompts); err != nil {
			return err
		}
		exists = lib.HasPrompt
	}
	f, err := flow.Load(file, exists)
	if err != nil {
		return err
	}
	if lib != nil {
		if missing := ivr.MissingAudio(lib, f); len(missing) > 0 {
			return fmt.Errorf("%s: audio missing from %s: %s", file, *prompts, strings.Join(missing, ", "))
		}
	}
	fmt.Fprintf(stdout, "%s: ok (%d menus, start %q, %d prompts)\n", file, len(f.Menus), f.Start, len(f.Prompts()))
	return nil
}
