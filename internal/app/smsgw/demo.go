package smsgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	Events       int
	Seed         int64
	Now          time.Time // the demo clock starts here; zero: today 10:00 Beijing time
	DataDir      string    // kept when set; a temporary directory otherwise
	RulesDir     string
	BadFraction  float64 // share of malformed records published (they go to the DLQ)
	ReceiptDelay time.Duration
	Outcomes     map[string]float64 // receipt outcome mix of the simulators
	Timeout      time.Duration
	Progress     io.Writer // progress lines; nil: none
	Logger       *slog.Logger
	Registry     *prometheus.Registry // the gateway's metrics; nil: a private one
	// During, when set, runs once the gateway is started, alongside the
	// load (tests reload rules or inject faults from it); the demo waits
	// for it before it finishes.
	During func(ctx context.Context, a *App)
	// Configure, when set, adjusts the gateway's configuration before it
	// starts.
	Configure func(*config.Config)
	// Hold, when set, is called once the demo is complete, with the
	// context Demo was given (not bounded by Timeout); the gateway keeps
	// running until Hold returns (`smsgw demo --console` waits for
	// Ctrl-C in it).
	Hold func(ctx context.Context, a *App, s *Summary)
	// Native runs China Mobile on CMPP 3.0, Unicom on SGIP 1.2 and
	// Telecom on SMGP 3.0 against their protocols' simulators (Broadnet
	// stays on SMPP); their reports all say DELIVRD (Outcomes is the SMPP
	// simulators' mix).
	Native bool
	// FinalAdvisories, with Hold, are advisories published once the run
	// is complete, when the directory knows the demo's phones (during the
	// run an advisory may come before any contact of its regions): with a
	// small safety.max_audience they are held for an operator.
	FinalAdvisories int
	// Voice, when set, starts a trunk simulator (pkg/ivr/trunksim) that
	// answers the fallback calls by Voice.Mix, and the gateway's voice
	// stage calls through it; the demo also waits for every call to end.
	Voice *DemoVoice
}

// DemoCarriers are the simulated carriers and their message-id formats.
var DemoCarriers = []struct{ Name, IDFormat string }{
	{"china_mobile", smsc.IDHex},
	{"china_unicom", smsc.IDDecimal},
	{"china_telecom", smsc.IDUUID},
	{"china_broadnet", smsc.IDHex},
}

// Summary is what a demo (or a benchmark) run did.
type Summary struct {
	Events         int64                     `json:"events"`        // records consumed
	DeadLettered   int64                     `json:"dead_lettered"` // of which went to the DLQ
	RulesFired     int64                     `json:"rules_fired"`
	Messages       int                       `json:"messages"` // to send now: neither suppressed, scheduled for later nor cancelled
	Segments       int                       `json:"segments"`
	Submitted      int                       `json:"submitted"`
	Delivered      int                       `json:"delivered"`
	Failed         int                       `json:"failed"` // failed or expired after submit (negative receipt)
	Unknown        int                       `json:"unknown"`
	Pending        int                       `json:"pending"` // still queued, sending or submitted
	Unroutable     int                       `json:"unroutable"`
	Scheduled      int                       `json:"scheduled"` // due later (timing rules); not part of messages
	Cancelled      int                       `json:"cancelled"`
	Resolved       int64                     `json:"resolved"`   // of which cancelled at send time: the rule's still_due no longer held
	Suppressed     map[string]int            `json:"suppressed"` // by reason
	Receipts       map[string]int64          `json:"receipts"`   // by status
	ByCarrier      map[string]CarrierSummary `json:"by_carrier"`
	SMSCSubmits    map[string]int64          `json:"smsc_submits"` // submit_sm the simulators accepted, per carrier
	Seconds        float64                   `json:"seconds"`
	MessagesPerSec float64                   `json:"messages_per_second"`
	Complete       bool                      `json:"complete"` // every message reached a final receipt
	// Calls counts the fallback calls by state (demo --voice), Trunk
	// what the trunk simulator saw.
	Calls map[string]int   `json:"calls,omitempty"`
	Trunk map[string]int64 `json:"trunk,omitempty"`
}

// CarrierSummary is one carrier's share of a Summary.
type CarrierSummary struct {
	Messages  int `json:"messages"`
	Segments  int `json:"segments"`
	Submitted int `json:"submitted"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// Demo runs the whole SMS path in one process on embedded defaults: a
// kfake broker with a data directory, four SMSC simulators on loopback, a
// SQLite ledger and the rules in RulesDir; it publishes Events generated
// events and waits until every message has reached a final receipt.
func Demo(ctx context.Context, o DemoOptions) (*Summary, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Now.IsZero() {
		loc := policy.Shanghai()
		y, m, d := time.Now().In(loc).Date()
		o.Now = time.Date(y, m, d, 10, 0, 0, 0, loc)
	}
	start := time.Now()
	clock := func() time.Time { return o.Now.Add(time.Since(start)) }
	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "smsgw-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	topics := map[string]int{"events.dlq": 1, "sms.status": 4, "ivr.cdr": 1}
	for _, t := range eventgen.TopicNames() {
		topics[t] = 4
	}
	b, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Topics: topics, Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo: broker: %w", err)
	}
	defer b.Close()

	cfg := config.Default()
	cfg.Instance = "demo"
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Kafka.GroupID = "smsgw-demo"
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(dir, "ledger.db")
	cfg.Rules.Dir = o.RulesDir
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.Sender.UnknownGrace = config.Duration(10 * time.Second)
	cfg.Sender.RetryBackoff = config.Duration(200 * time.Millisecond)
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	sims := map[string]func() int64{} // submits accepted, per carrier
	for i, c := range DemoCarriers {
		if _, ok := NativeProtocols[c.Name]; ok && o.Native {
			ns, err := nativeSim(c.Name, o.ReceiptDelay, o.Seed+int64(i), o.Logger)
			if err != nil {
				return nil, fmt.Errorf("demo: %s: %w", c.Name, err)
			}
			defer func() {
				if err := ns.close(); err != nil {
					o.Logger.Warn("demo: closing a simulator", "carrier", c.Name, "err", err)
				}
			}()
			sims[c.Name] = ns.submits
			cfg.Carriers = append(cfg.Carriers, ns.carrier)
			continue
		}
		s := smsc.New(smsc.Config{
			Name: c.Name, SystemID: "12123", Password: "demo", IDFormat: c.IDFormat,
			ReceiptDelay: o.ReceiptDelay, Outcomes: o.Outcomes, Seed: o.Seed + int64(i),
			Logger: o.Logger.With("carrier", c.Name), // the simulator adds component=smsc
		})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("demo: smsc %s: %w", c.Name, err)
		}
		defer s.Close()
		sims[c.Name] = func() int64 { return int64(s.Stats().Submits) }
		cfg.Carriers = append(cfg.Carriers, config.Carrier{
			Name: c.Name, Addr: s.Addr(), Password: "demo", Binds: 2, Window: 128,
			ResponseTimeout: config.Duration(10 * time.Second),
			Sections:        carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(30 * time.Second)}),
		})
	}
	var trunk *trunksim.Sim
	if o.Voice != nil {
		if trunk, err = demoTrunk(&cfg, o, dir); err != nil {
			return nil, err
		}
		defer trunk.Close()
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	gen := eventgen.New(o.Seed, o.Now)
	if err := eventgen.Publish(ctx, b.Addrs(), gen, o.Events, eventgen.PublishOptions{MalformedFraction: o.BadFraction}); err != nil {
		return nil, fmt.Errorf("demo: publish: %w", err)
	}

	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	duringDone := make(chan struct{})
	opts := Options{Config: &cfg, Now: clock, Logger: o.Logger, Registry: reg}
	if o.During != nil {
		opts.Ready = func(a *App) { go func() { defer close(duringDone); o.During(runCtx, a) }() }
	} else {
		close(duringDone)
	}
	a, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(runCtx) }()

	topicList := eventgen.TopicNames()
	sum := &Summary{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var waitErr error
	var settledAt time.Time
	for {
		select {
		case err := <-runErr:
			runErr <- err
			waitErr = fmt.Errorf("demo: gateway stopped early: %w", err)
		case <-ctx.Done():
			waitErr = fmt.Errorf("demo: not complete after %v", o.Timeout)
		case <-tick.C:
		}
		lag, lerr := ingest.GroupLag(ctx, b.Addrs(), cfg.Kafka.GroupID, topicList)
		s, serr := a.Store().Summary(ctx)
		if lerr == nil && serr == nil {
			fill(sum, s, reg, sims)
			callsDone := fillCalls(sum, s, trunk)
			sum.Seconds = time.Since(start).Seconds()
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%5.0fs  events %d/%d  messages %d  submitted %d  delivered %d  failed %d  pending %d  suppressed %d\n",
					sum.Seconds, sum.Events, o.Events, sum.Messages, sum.Submitted, sum.Delivered, sum.Failed, sum.Pending, total(sum.Suppressed))
			}
			if lag == 0 && sum.Pending == 0 && sum.Unknown == 0 && sum.Events >= int64(o.Events) && closed(duringDone) && callsDone {
				// A message is final at its first negative receipt;
				// the receipts of its other parts (sent after it, one
				// by one) may still be on their way: give them 10 s.
				if settledAt.IsZero() {
					settledAt = time.Now()
				}
				var receipts int64
				for _, n := range sum.Receipts {
					receipts += n
				}
				if receipts >= int64(sum.Segments) || time.Since(settledAt) > 10*time.Second {
					sum.Complete = true
					break
				}
			}
		}
		if waitErr != nil {
			break
		}
	}
	if sum.Complete && o.Hold != nil {
		if sum.Seconds > 0 {
			sum.MessagesPerSec = float64(sum.Messages) / sum.Seconds
		}
		if o.FinalAdvisories > 0 {
			if err := finalAdvisories(ctx, b.Addrs(), a, o.Seed+1, clock(), o.FinalAdvisories); err != nil {
				o.Logger.Warn("demo: final advisories", "err", err)
			}
		}
		o.Hold(outer, a, sum)
	}
	stop()
	<-duringDone
	if err := <-runErr; err != nil && waitErr == nil {
		waitErr = err
	}
	if sum.Seconds > 0 {
		sum.MessagesPerSec = float64(sum.Messages) / sum.Seconds
	}
	return sum, waitErr
}

// finalAdvisories publishes n generated advisories and waits (up to 15 s)
// until the gateway has stored messages for them.
func finalAdvisories(ctx context.Context, brokers []string, a *App, seed int64, now time.Time, n int) error {
	g := eventgen.New(seed, now)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	var ids []string
	for i := 0; i < 100_000 && len(msgs) < n; i++ {
		topic, key, ev := g.Next()
		if ev.AdvisoryPublished == nil {
			continue
		}
		v, err := event.Encode(ev)
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Key: key, Value: v})
		ids = append(ids, ev.ID)
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		es, err := a.Store().Trace(ctx, ledger.TraceQuery{EventID: ids[len(ids)-1]})
		if err == nil && len(es) > 0 {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no message stored for advisory %s after 15 s", ids[len(ids)-1])
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// fill copies the ledger summary and the metrics into sum.
func fill(sum *Summary, s ledger.Summary, reg *prometheus.Registry, sims map[string]func() int64) {
	st := s.States
	sum.Delivered = st[message.StateDelivered]
	sum.Unknown = st[message.StateUnknown]
	sum.Pending = st[message.StateQueued] + st[message.StateSending] + st[message.StateSubmitted]
	sum.Scheduled = st[message.StateScheduled]
	sum.Cancelled = st[message.StateCancelled]
	sum.Suppressed = s.Suppressed
	sum.ByCarrier = map[string]CarrierSummary{}
	sum.Segments, sum.Submitted, sum.Failed, sum.Unroutable = 0, 0, 0, 0
	for name, c := range s.Carriers {
		if name == "" {
			sum.Unroutable = c.Messages
			continue
		}
		sum.ByCarrier[name] = CarrierSummary(c)
		sum.Segments += c.Segments
		sum.Submitted += c.Submitted
		sum.Failed += c.Failed
	}
	sum.Messages = 0
	for state, n := range st {
		switch state {
		case message.StateSuppressed, message.StateScheduled, message.StateCancelled:
		default:
			sum.Messages += n
		}
	}
	sum.Messages -= sum.Unroutable
	mf := gather(reg)
	sum.Events = int64(mf["ingest_records_total"])
	sum.DeadLettered = int64(mf["ingest_dead_lettered_total"])
	sum.RulesFired = int64(mf["smsgw_rules_fired_total"])
	sum.Resolved = int64(mf["smsgw_messages_resolved_total"])
	sum.Receipts = map[string]int64{}
	for k, v := range mf {
		if stat, ok := strings.CutPrefix(k, "smsgw_receipts_total/"); ok {
			sum.Receipts[stat] += int64(v)
		}
	}
	sum.SMSCSubmits = map[string]int64{}
	for name, submits := range sims {
		sum.SMSCSubmits[name] = submits()
	}
}

// gather sums each counter family, and smsgw_receipts_total also per stat
// under "smsgw_receipts_total/STAT".
func gather(reg *prometheus.Registry) map[string]float64 {
	out := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue()
			out[mf.GetName()] += v
			if mf.GetName() == "smsgw_receipts_total" {
				for _, l := range m.GetLabel() {
					if l.GetName() == "stat" {
						out["smsgw_receipts_total/"+l.GetValue()] += v
					}
				}
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// WriteSummary prints s as one JSON object or as a table.
func WriteSummary(w io.Writer, s *Summary, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		return enc.Encode(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "events consumed      %d (dead-lettered %d)\n", s.Events, s.DeadLettered)
	fmt.Fprintf(&b, "rules fired          %d\n", s.RulesFired)
	fmt.Fprintf(&b, "messages             %d (%d segments)  scheduled later %d  cancelled %d (resolved at send time %d)  unroutable %d\n",
		s.Messages, s.Segments, s.Scheduled, s.Cancelled, s.Resolved, s.Unroutable)
	fmt.Fprintf(&b, "submitted            %d  delivered %d  failed %d  unknown %d  pending %d\n", s.Submitted, s.Delivered, s.Failed, s.Unknown, s.Pending)
	fmt.Fprintf(&b, "receipts             %s\n", kv(s.Receipts))
	fmt.Fprintf(&b, "suppressed           %s\n", kvi(s.Suppressed))
	fmt.Fprintf(&b, "%-16s %9s %9s %9s %9s %9s %9s\n", "carrier", "messages", "segments", "submitted", "delivered", "failed", "smsc")
	names := make([]string, 0, len(s.ByCarrier))
	for n := range s.ByCarrier {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := s.ByCarrier[n]
		fmt.Fprintf(&b, "%-16s %9d %9d %9d %9d %9d %9d\n", n, c.Messages, c.Segments, c.Submitted, c.Delivered, c.Failed, s.SMSCSubmits[n])
	}
	if s.Calls != nil {
		fmt.Fprintf(&b, "fallback calls       %s\n", kvi(s.Calls))
		fmt.Fprintf(&b, "trunk simulator      %s\n", kv(s.Trunk))
	}
	fmt.Fprintf(&b, "%.1f s, %.0f messages/s, complete: %v\n", s.Seconds, s.MessagesPerSec, s.Complete)
	_, err := io.WriteString(w, b.String())
	return err
}

func kv(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func kvi(m map[string]int) string {
	m64 := make(map[string]int64, len(m))
	for k, v := range m {
		m64[k] = int64(v)
	}
	return kv(m64)
}

// ErrIncomplete is returned by callers when a demo did not complete.
var ErrIncomplete = errors.New("demo incomplete: not every message reached a final receipt")
