// Command smscsim runs the SMPP SMSC simulator of pkg/smpp/smsc on its own,
// as the carrier for the demo, manual tests and benchmarks:
//
//	smscsim -listen :2775 -receipt-delay 2s \
//	    -outcomes DELIVRD=0.95,UNDELIV=0.03,EXPIRED=0.01,REJECTD=0.01 -tps 500
//
// With -protocol cmpp|cmpp2|sgip|smgp it runs China Mobile's ISMG
// (pkg/cmpp/ismg; cmpp2 accepts CMPP 2.0 only), China Unicom's SMG
// (pkg/sgip/smg, which connects back to -sp-addr with reports and MO) or
// China Telecom's SMGW (pkg/smgp/smgw) instead, with the faults that
// protocol allows (a flag it cannot honour is an error):
//
//	smscsim -protocol cmpp -listen :7890 -system-id 901234 -password secret \
//	    -fault-throttle 0.05 -fault-late 0.02 -fault-late-by 2s -fault-restart-ids-every 1000 \
//	    -fault-unbind-after 500 -fault-receipt-first -fault-duplicate-receipts 0.01
//	smscsim -protocol sgip -listen :8801 -system-id sp -password pw \
//	    -sp-addr gateway:8802 -sp-login smg -sp-password pw2
//
// Their -http serves /stats, /handsets, /handsets/{dest} (what that
// handset shows, long messages joined), /parts (every accepted part) and
// POST /mo {"account","from","to","text"}.
//
// It logs its counters every -stats-every and exits cleanly (unbinding every
// ESME) on SIGINT or SIGTERM. With -http it also serves, for demos and
// manual tests:
//
//	GET  /metrics  Prometheus metrics
//	GET  /stats    the counters as JSON
//	POST /mo       a mobile-originated message: JSON {"system_id","from","to","text"}
//	PUT  /faults   replace the injected faults, e.g. {"queue_full":0.1} or
//	               {"down":"10s"}; fields: queue_full, slow_response,
//	               no_response, drop_after, receipt_first, receipt_other_bind,
//	               receipt_text_id_decimal, duplicate_receipts, refuse_binds, down
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "smscsim:", err)
		}
		os.Exit(2)
	}
}

// options are the command line.
type options struct {
	listen, metrics    string
	tlsCert, tlsKey    string
	cfg                smsc.Config
	statsEvery         time.Duration
	logLevel           slog.Level
	outcomes, idFormat string
	protocol           string
	native             nativeOpts
}

// faultsJSON is smsc.Faults as PUT /faults takes it.
type faultsJSON struct {
	QueueFull            float64  `json:"queue_full"`
	SlowResponse         duration `json:"slow_response"`
	NoResponse           float64  `json:"no_response"`
	DropAfter            int      `json:"drop_after"`
	ReceiptFirst         bool     `json:"receipt_first"`
	ReceiptOtherBind     bool     `json:"receipt_other_bind"`
	ReceiptTextIDDecimal bool     `json:"receipt_text_id_decimal"`
	DuplicateReceipts    float64  `json:"duplicate_receipts"`
	RefuseBinds          bool     `json:"refuse_binds"`
	Down                 duration `json:"down"`
	Throttle             float64  `json:"throttle"`
	Late                 float64  `json:"late"`
	LateBy               duration `json:"late_by"`
	EmptyReceiptText     bool     `json:"empty_receipt_text"`
	ReceiptIDPadded      bool     `json:"receipt_id_padded"`
	UnbindAfter          int      `json:"unbind_after"`
	RestartIDsEvery      int      `json:"restart_ids_every"`
	LoseReceipts         float64  `json:"lose_receipts"`
}

// duration reads "200ms", "10s" from JSON.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = duration(v)
	return err
}

// adminMux serves the metrics and the run-time controls.
func adminMux(s *smsc.Server, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats()) // the client went away: nothing to do
	})
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			SystemID string `json:"system_id"`
			From     string `json:"from"`
			To       string `json:"to"`
			Text     string `json:"text"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.Deliver(smsc.MO{SystemID: m.SystemID, From: m.From, To: m.To, Text: m.Text}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var f faultsJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := s.SetFaults(smsc.Faults{
			QueueFull: f.QueueFull, SlowResponse: time.Duration(f.SlowResponse), NoResponse: f.NoResponse,
			DropAfter: f.DropAfter, ReceiptFirst: f.ReceiptFirst, ReceiptOtherBind: f.ReceiptOtherBind,
			ReceiptTextIDDecimal: f.ReceiptTextIDDecimal, DuplicateReceipts: f.DuplicateReceipts,
			RefuseBinds: f.RefuseBinds, Down: time.Duration(f.Down),
			Throttle: f.Throttle, Late: f.Late, LateBy: time.Duration(f.LateBy),
			EmptyReceiptText: f.EmptyReceiptText, ReceiptIDPadded: f.ReceiptIDPadded,
			UnbindAfter: f.UnbindAfter, RestartIDsEvery: f.RestartIDsEvery, LoseReceipts: f.LoseReceipts,
		}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("smscsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.protocol, "protocol", protoSMPP, "protocol: smpp, cmpp (3.0, 2.0 accepted), cmpp2 (2.0 only), sgip (1.2), smgp (3.0)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:2775", "listen address")
	fs.StringVar(&o.metrics, "http", "", "serve /metrics, /stats, /mo and /faults on this address (empty: off)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate: accept SMPP over TLS only (with -tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for -tls-cert")
	fs.StringVar(&o.cfg.SystemID, "system-id", "", "accepted system_id (empty: any)")
	fs.StringVar(&o.cfg.Password, "password", "", "accepted password (empty: any)")
	fs.StringVar(&o.idFormat, "id-format", smsc.IDHex, "message id format: hex, decimal, padded or uuid")
	fs.DurationVar(&o.cfg.ReceiptDelay, "receipt-delay", time.Second, "delay between a submit and its receipt")
	fs.StringVar(&o.outcomes, "outcomes", "DELIVRD=1", "receipt outcome weights, e.g. DELIVRD=0.95,UNDELIV=0.03,EXPIRED=0.01,REJECTD=0.01")
	fs.IntVar(&o.cfg.TPS, "tps", 0, "submit_sm per second per bind before ESME_RTHROTTLED (0: unlimited)")
	fs.Int64Var(&o.cfg.Seed, "seed", 0, "random seed for outcomes and faults (0: random)")
	fs.DurationVar(&o.statsEvery, "stats-every", 10*time.Second, "log counters this often (0: never)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.Float64Var(&o.cfg.Faults.QueueFull, "fault-queue-full", 0, "fraction of submits answered ESME_RMSGQFUL")
	fs.Float64Var(&o.cfg.Faults.NoResponse, "fault-no-response", 0, "fraction of submits never answered (still delivered)")
	fs.DurationVar(&o.cfg.Faults.SlowResponse, "fault-slow", 0, "delay every submit_sm_resp by this much")
	fs.IntVar(&o.cfg.Faults.DropAfter, "fault-drop-after", 0, "drop a bind's connection after this many submits (0: never)")
	fs.Float64Var(&o.cfg.Faults.DuplicateReceipts, "fault-duplicate-receipts", 0, "fraction of receipts sent twice")
	fs.BoolVar(&o.cfg.Faults.ReceiptFirst, "fault-receipt-first", false, "send each receipt before its submit's response")
	fs.Float64Var(&o.cfg.Faults.Throttle, "fault-throttle", 0, "fraction of submits answered ESME_RTHROTTLED whatever the rate (mid-message too)")
	fs.Float64Var(&o.cfg.Faults.Late, "fault-late", 0, "fraction of accepted submits answered -fault-late-by late")
	fs.DurationVar(&o.cfg.Faults.LateBy, "fault-late-by", 0, "how late -fault-late responses come (above the client's response timeout)")
	fs.BoolVar(&o.cfg.Faults.EmptyReceiptText, "fault-empty-receipt-text", false, "write receipts with an empty text: field")
	fs.BoolVar(&o.cfg.Faults.ReceiptIDPadded, "fault-receipt-id-padded", false, "zero-pad the id: of the receipt text to 20 characters")
	fs.IntVar(&o.cfg.Faults.UnbindAfter, "fault-unbind-after", 0, "unbind a bind after every this many submits, answering the last one after the unbind (0: never)")
	fs.IntVar(&o.cfg.Faults.RestartIDsEvery, "fault-restart-ids-every", 0, "start message ids again after every this many accepted submits (0: never)")
	fs.Float64Var(&o.cfg.Faults.LoseReceipts, "fault-lose-receipts", 0, "fraction of receipts never sent")
	nativeFlags(fs, &o.native)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkProtocolFlags(fs, o.protocol); err != nil {
		return nil, err
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, err
		}
		o.cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	out, err := smsc.ParseOutcomes(o.outcomes)
	if err != nil {
		return nil, err
	}
	o.cfg.Outcomes, o.cfg.IDFormat = out, o.idFormat
	return o, nil
}

// run serves until ctx is done. ready, if set, gets the SMPP address once
// listening.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.cfg.Logger, o.cfg.Registerer = log, reg
	if o.protocol != protoSMPP {
		return runNative(ctx, o, log, reg, ready)
	}

	s := smsc.New(o.cfg)
	if err := s.Listen(o.listen); err != nil {
		return err
	}
	srv, err := serveHTTP(o.metrics, adminMux(s, reg), log)
	if err != nil {
		s.Close()
		return err
	}
	if ready != nil {
		ready(s.Addr())
	}
	var tick <-chan time.Time
	if o.statsEvery > 0 {
		t := time.NewTicker(o.statsEvery)
		defer t.Stop()
		tick = t.C
	}
	var last smsc.Stats
	lastAt := time.Now()
	for {
		select {
		case now := <-tick:
			st := s.Stats()
			secs := now.Sub(lastAt).Seconds()
			log.Info("stats", "binds", st.Binds, "submits", st.Submits,
				"submits_per_s", int(float64(st.Submits-last.Submits)/secs),
				"accepted", st.Accepted, "throttled", st.Throttled, "queue_full", st.QueueFull,
				"messages", st.Messages, "receipts_sent", st.ReceiptsSent,
				"receipts_per_s", int(float64(st.ReceiptsSent-last.ReceiptsSent)/secs),
				"receipts_pending", st.ReceiptsPending, "redelivered", st.Redelivered, "receipts_failed", st.ReceiptsFailed)
			last, lastAt = st, now
		case <-ctx.Done():
			log.Info("shutting down")
			stopHTTP(srv)
			return s.Close()
		}
	}
}

// serveHTTP serves h on addr ("": nothing, nil server) until stopHTTP.
func serveHTTP(addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // stopped by stopHTTP (ErrServerClosed)
	log.Info("http", "addr", ln.Addr().String())
	return srv, nil
}

// stopHTTP shuts srv down, best effort, within 2 s.
func stopHTTP(srv *http.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // best effort on exit
}
