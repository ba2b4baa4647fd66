package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cmpp/ismg"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

// Protocols smscsim speaks: SMPP (pkg/smpp/smsc) and the Chinese
// carriers' own (pkg/cmpp/ismg, pkg/sgip/smg, pkg/smgp/smgw).
const (
	protoSMPP  = "smpp"
	protoCMPP  = "cmpp"  // CMPP 3.0 (2.0 accepted)
	protoCMPP2 = "cmpp2" // an ISMG that speaks CMPP 2.0 only
	protoSGIP  = "sgip"
	protoSMGP  = "smgp"
)

// nativeOpts are the flags of the native simulators.
type nativeOpts struct {
	stat        string
	activeTest  time.Duration
	gatewayID   uint
	spAddr      string
	spLogin     string
	spPassword  string
	nodeID      uint
	reportState uint
}

// Which flags each protocol takes; the rest are refused, so that a fault
// asked for is never silently not simulated.
var (
	commonFlags = []string{"protocol", "listen", "http", "system-id", "password", "receipt-delay", "tps", "seed",
		"stats-every", "log-level", "fault-throttle", "fault-late", "fault-late-by", "fault-lose-receipts", "fault-drop-after",
		"fault-unbind-after", "fault-receipt-first", "fault-duplicate-receipts"}
	protocolFlags = map[string][]string{
		protoCMPP:  {"stat", "active-test", "gateway-id", "fault-restart-ids-every"},
		protoCMPP2: {"stat", "active-test", "gateway-id", "fault-restart-ids-every"},
		protoSMGP:  {"stat", "active-test", "gateway-id", "fault-restart-ids-every"},
		protoSGIP:  {"sp-addr", "sp-login", "sp-password", "node-id", "report-state"},
	}
)

// nativeFlags registers the native simulators' own flags.
func nativeFlags(fs *flag.FlagSet, n *nativeOpts) {
	fs.StringVar(&n.stat, "stat", "DELIVRD", "cmpp, smgp: Stat of every status report")
	fs.DurationVar(&n.activeTest, "active-test", 0, "cmpp, smgp: send the gateway's own keep-alive after this idle time (0: never)")
	fs.UintVar(&n.gatewayID, "gateway-id", 0, "cmpp, smgp: gateway code in message ids (0: the simulator's default)")
	fs.StringVar(&n.spAddr, "sp-addr", "", "sgip: the SP's listener, where the SMG connects (login type 2) with reports and MO")
	fs.StringVar(&n.spLogin, "sp-login", "", "sgip: login name for the SP's listener")
	fs.StringVar(&n.spPassword, "sp-password", "", "sgip: password for the SP's listener")
	fs.UintVar(&n.nodeID, "node-id", 0, "sgip: the SMG's node id (0: 2000012123)")
	fs.UintVar(&n.reportState, "report-state", 0, "sgip: State of every SGIP_REPORT (0 delivered, 2 failed)")
}

// checkProtocolFlags refuses flags the protocol's simulator cannot honour.
func checkProtocolFlags(fs *flag.FlagSet, protocol string) error {
	if protocol == protoSMPP {
		for _, fl := range nativeOnly() {
			if set(fs, fl) {
				return fmt.Errorf("-%s is not a flag of -protocol smpp", fl)
			}
		}
		return nil
	}
	own, ok := protocolFlags[protocol]
	if !ok {
		return fmt.Errorf("unknown -protocol %q (smpp, cmpp, cmpp2, sgip, smgp)", protocol)
	}
	allowed := map[string]bool{}
	for _, f := range append(append([]string(nil), commonFlags...), own...) {
		allowed[f] = true
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if !allowed[f.Name] && err == nil {
			err = fmt.Errorf("-%s is not simulated with -protocol %s", f.Name, protocol)
		}
	})
	if err == nil && protocol == protoSGIP && !set(fs, "sp-addr") {
		err = errors.New("-protocol sgip needs -sp-addr (the SP's listener)")
	}
	return err
}

func nativeOnly() []string {
	seen := map[string]bool{}
	for _, c := range commonFlags {
		seen[c] = true
	}
	var out []string
	for _, fl := range protocolFlags {
		for _, f := range fl {
			if !seen[f] && f != "fault-restart-ids-every" {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// nativeSim is what smscsim needs of a native simulator.
type nativeSim interface {
	Addr() string
	Close() error
	Handsets() []string
	stats() any
	received(dest string) any
	parts() any
	sendMO(ctx context.Context, account, from, to, text string) error
	closeAll(ctx context.Context) // the gateway's orderly close: TERMINATE, Exit, UNBIND
}

type cmppSim struct{ *ismg.Server }

func (s cmppSim) stats() any               { return s.Stats() }
func (s cmppSim) received(dest string) any { return s.Received(dest) }
func (s cmppSim) parts() any               { return s.Parts() }
func (s cmppSim) sendMO(ctx context.Context, account, from, to, text string) error {
	return s.SendMO(ctx, account, from, to, text)
}
func (s cmppSim) closeAll(ctx context.Context) { s.TerminateAll(ctx) }

type smgpSim struct{ *smgw.Server }

func (s smgpSim) stats() any               { return s.Stats() }
func (s smgpSim) received(dest string) any { return s.Received(dest) }
func (s smgpSim) parts() any               { return s.Parts() }
func (s smgpSim) sendMO(ctx context.Context, account, from, to, text string) error {
	return s.SendMO(ctx, account, from, to, text)
}
func (s smgpSim) closeAll(ctx context.Context) { s.ExitAll(ctx) }

type sgipSim struct{ *smg.Server }

func (s sgipSim) stats() any               { return s.Stats() }
func (s sgipSim) received(dest string) any { return s.Received(dest) }
func (s sgipSim) parts() any               { return s.Parts() }
func (s sgipSim) sendMO(ctx context.Context, _, from, to, text string) error {
	return s.SendMO(ctx, from, to, text)
}
func (s sgipSim) closeAll(ctx context.Context) { s.UnbindAll(ctx) }

// startNative starts the simulator o.protocol names.
func startNative(o *options, log *slog.Logger) (nativeSim, error) {
	c, n := &o.cfg, &o.native
	accounts := map[string]string{c.SystemID: c.Password}
	if c.SystemID == "" {
		return nil, fmt.Errorf("-protocol %s needs -system-id (the SP's account)", o.protocol)
	}
	seed := uint64(c.Seed)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	f := c.Faults
	switch o.protocol {
	case protoCMPP, protoCMPP2:
		cfg := ismg.Config{Addr: o.listen, Accounts: accounts, GatewayID: uint32(n.gatewayID), Stat: n.stat,
			ReceiptDelay: c.ReceiptDelay, ThrottleFraction: f.Throttle, TPS: float64(c.TPS), DropEvery: f.DropAfter,
			LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts, IDRepeatAfter: f.RestartIDsEvery,
			UnbindAfter: f.UnbindAfter, ReportFirst: f.ReceiptFirst, DuplicateReports: f.DuplicateReceipts,
			ActiveTest: n.activeTest, Seed: seed, Logger: log}
		if o.protocol == protoCMPP2 {
			cfg.MaxVersion = cmpp.V20
		}
		s, err := ismg.Start(cfg)
		if err != nil {
			return nil, err
		}
		return cmppSim{s}, nil
	case protoSMGP:
		s, err := smgw.Start(smgw.Config{Addr: o.listen, Accounts: accounts, GatewayID: uint32(n.gatewayID), Stat: n.stat,
			ReceiptDelay: c.ReceiptDelay, BusyFraction: f.Throttle, TPS: float64(c.TPS), DropEvery: f.DropAfter,
			LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts, IDRepeatAfter: f.RestartIDsEvery,
			UnbindAfter: f.UnbindAfter, ReportFirst: f.ReceiptFirst, DuplicateReports: f.DuplicateReceipts,
			ActiveTest: n.activeTest, Seed: seed, Logger: log})
		if err != nil {
			return nil, err
		}
		return smgpSim{s}, nil
	case protoSGIP:
		if n.reportState > 2 {
			return nil, fmt.Errorf("-report-state %d: 0 delivered, 1 waiting, 2 failed", n.reportState)
		}
		s, err := smg.Start(smg.Config{Addr: o.listen, Accounts: accounts, NodeID: uint32(n.nodeID),
			SPAddr: n.spAddr, SPLogin: n.spLogin, SPPassword: n.spPassword, ReportState: byte(n.reportState),
			ReportDelay: c.ReceiptDelay, BusyFraction: f.Throttle, TPS: float64(c.TPS), DropEvery: f.DropAfter,
			LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts,
			UnbindAfter: f.UnbindAfter, ReportFirst: f.ReceiptFirst, DuplicateReports: f.DuplicateReceipts, Seed: seed, Logger: log})
		if err != nil {
			return nil, err
		}
		return sgipSim{s}, nil
	}
	return nil, fmt.Errorf("unknown -protocol %q", o.protocol)
}

// nativeMux serves a native simulator's counters, handset record and MO.
//
//	GET  /metrics            the process's metrics
//	GET  /stats              the simulator's counters
//	GET  /handsets           the destinations that received something
//	GET  /handsets/{dest}    what dest's handset shows: one entry per message, parts joined
//	GET  /parts              every accepted part in arrival order (id, reference, part number)
//	POST /mo                 {"account","from","to","text"}: an MO from handset from to our number to
func nativeMux(s nativeSim, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { js(w, s.stats()) })
	mux.HandleFunc("GET /handsets", func(w http.ResponseWriter, _ *http.Request) { js(w, s.Handsets()) })
	mux.HandleFunc("GET /handsets/{dest}", func(w http.ResponseWriter, r *http.Request) { js(w, s.received(r.PathValue("dest"))) })
	mux.HandleFunc("GET /parts", func(w http.ResponseWriter, _ *http.Request) { js(w, s.parts()) })
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Account string `json:"account"`
			From    string `json:"from"`
			To      string `json:"to"`
			Text    string `json:"text"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil || m.From == "" || m.To == "" {
			http.Error(w, fmt.Sprintf("want {account, from, to, text}: %v", err), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := s.sendMO(ctx, m.Account, m.From, m.To, m.Text); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return mux
}

// runNative serves a native simulator until ctx is done.
func runNative(ctx context.Context, o *options, log *slog.Logger, reg *prometheus.Registry, ready func(addr string)) error {
	s, err := startNative(o, log)
	if err != nil {
		return err
	}
	log.Info("listening", "protocol", o.protocol, "addr", s.Addr())
	srv, err := serveHTTP(o.metrics, nativeMux(s, reg), log)
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
	for {
		select {
		case <-tick:
			log.Info("stats", "protocol", o.protocol, "counters", fmt.Sprintf("%+v", s.stats()))
		case <-ctx.Done():
			log.Info("shutting down")
			stopHTTP(srv)
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.closeAll(cctx)
			cancel()
			return s.Close()
		}
	}
}
