package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// cmdCallOut places one notice call by hand through a trunk and prints
// each state and the result as JSON.
func cmdCallOut(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call-out", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "take the outbound section (trunk, credentials, limits) from this ivr.yaml")
	trunk := fs.String("trunk", "", "trunk address host:port or sip: URI (overrides the config)")
	transport := fs.String("transport", "", "udp or tcp")
	bind := fs.String("bind", "127.0.0.1:0", "local SIP address (without --config)")
	user := fs.String("user", "", "digest username")
	passFile := fs.String("password-file", "", "file holding the digest password")
	prompts := fs.String("prompts", "prompts", "prompt directory (without --config)")
	to := fs.String("to", "", "number to call")
	id := fs.String("id", "", "notice id (default: call-out-<unix time>)")
	text := fs.String("text", "", "free text to speak with the TTS command (when no --say)")
	sayItems := fs.String("say", "", "comma-separated KIND:VALUE items: prompt, text, number, money, date, time, plate, digits")
	ring := fs.Duration("ring-timeout", 0, "CANCEL after ringing this long")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" {
		return errors.New("call-out: --to is required")
	}
	dc := ivr.DiallerConfig{Bind: *bind, Transport: *transport}
	var synth ivr.Synthesizer
	dir := *prompts
	if *config != "" {
		cfg, err := appivr.LoadConfig(*config)
		if err != nil {
			return err
		}
		if dc, err = cfg.Outbound.DiallerConfig(cfg.Location()); err != nil {
			return err
		}
		if *transport != "" {
			dc.Transport = *transport
		}
		dir = cfg.Prompts
		if len(cfg.TTS.Command) > 0 {
			synth = ivr.CommandSynth{Argv: cfg.TTS.Command}
		}
	}
	if *trunk != "" {
		dc.Trunk = *trunk
	}
	if *user != "" {
		dc.Username = *user
	}
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return err
		}
		dc.Password = strings.TrimSpace(string(b))
	}
	if *ring > 0 {
		dc.RingTimeout = *ring
	}
	n := ivr.Notice{ID: *id, Phone: *to, Text: *text}
	if n.ID == "" {
		n.ID = "call-out-" + strconv.FormatInt(time.Now().Unix(), 10)
	}
	for _, it := range ivr.ParseScript(*sayItems) {
		k, v, ok := strings.Cut(it, ":")
		if !ok {
			return fmt.Errorf("call-out: --say item %q is not KIND:VALUE", it)
		}
		n.Say = append(n.Say, ivr.SayItem{Kind: k, Value: v})
	}
	lib, err := ivr.LoadLibrary(dir)
	if err != nil {
		return err
	}
	d, err := ivr.NewDialler(ivr.DiallerOptions{
		DiallerConfig: dc, Library: lib, Synth: synth, Logger: logger(stderr, "warn"),
		OnState: func(t ivr.Transition) {
			fmt.Fprintf(stdout, "%s %s", t.At.Format("15:04:05.000"), t.State)
			if t.SIPStatus != 0 {
				fmt.Fprintf(stdout, " (%d)", t.SIPStatus)
			}
			fmt.Fprintln(stdout)
		},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Close()
	r, err := d.Call(ctx, n)
	if err != nil {
		return err
	}
	r.NoticeID = n.ID
	out := struct {
		ivr.Result
		Callee string
	}{r, ivr.MaskPhone(n.Phone)}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return nil
}

// cmdTrunksim runs the trunk simulator until interrupted.
func cmdTrunksim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("trunksim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := trunksim.Config{}
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:5090", "UDP address")
	mix := fs.String("mix", "confirm=6,busy=2,no_answer=1,hangup=1", "behaviour weights: "+strings.Join(trunksim.Behaviours, ", "))
	fs.StringVar(&cfg.Keys, "keys", "1", "keys confirming callees press (RFC 4733)")
	fs.DurationVar(&cfg.KeyDelay, "key-delay", 2*time.Second, "from answer to the first key")
	fs.StringVar(&cfg.KeyMethod, "key-method", "rfc4733", "rfc4733 or info (SIP INFO dtmf-relay)")
	fs.StringVar(&cfg.Username, "user", "", "digest username (with --password-file)")
	passFile := fs.String("password-file", "", "challenge INVITEs (401) and check them against this password")
	seed := fs.Uint64("seed", 0, "reproducible mix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Seed = *seed
	cfg.Mix = map[string]int{}
	for _, p := range ivr.ParseScript(*mix) {
		k, v, ok := strings.Cut(p, "=")
		w, err := strconv.Atoi(v)
		if !ok || err != nil {
			return fmt.Errorf("trunksim: --mix item %q is not NAME=WEIGHT", p)
		}
		cfg.Mix[k] = w
	}
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			return err
		}
		cfg.Password = strings.TrimSpace(string(b))
	}
	cfg.Logger = logger(stderr, "warn")
	s, err := trunksim.Start(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "trunk simulator on udp %s\n", s.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	st := s.Stats()
	keys := make([]string, 0, len(st.By))
	for k := range st.By {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "invites %d, challenged %d, answered %d, keys sent %d\n", st.Invites, st.Challenged, st.Answered, st.KeysSent)
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %s %d\n", k, st.By[k])
	}
	return nil
}
