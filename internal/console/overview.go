package console

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The overview samples the gateway's own registry every few seconds and
// keeps an hour of samples, so the charts need no Prometheus server.

const keepSamples = 720 // an hour at 5 s

// point is one sample of one carrier (counters are running totals).
type point struct {
	At         time.Time
	BindsUp    float64
	TPS        float64 // smpp_effective_tps
	Window     float64 // smpp_window_in_use
	InFlight   float64
	Submits    float64 // smsgw_submits_total{result=ok}
	Segments   float64
	Receipts   float64 // every stat
	Delivered  float64 // stat DELIVRD
	LatencySum float64 // smpp_submit_duration_seconds sum (for the mean)
	LatencyN   float64
	RecLatSum  float64 // smsgw_receipt_latency_seconds sum: acceptance to final receipt
	RecLatN    float64
}

type global struct {
	At          time.Time
	Events      float64
	DeadLetters float64
	Lag         map[string]float64 // ingest_lag_records per topic
	Stalled     float64
	LedgerOK    float64
	RulesOK     float64
	RulesAt     float64
	Held        float64
}

type sampler struct {
	g        prometheus.Gatherer
	carriers []Carrier
	mu       sync.Mutex
	series   map[string][]point
	globals  []global
}

func newSampler(g prometheus.Gatherer, cs []Carrier) *sampler {
	return &sampler{g: g, carriers: cs, series: map[string][]point{}}
}

func (s *sampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// sample gathers once and appends a point per carrier to the series.
func (s *sampler) sample(now time.Time) {
	pts, gl, ok := s.gather(now)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, p := range pts {
		s.series[n] = appendCapped(s.series[n], *p)
	}
	s.globals = appendCapped(s.globals, gl)
}

// gather reads the registry once: a point per carrier and the globals.
func (s *sampler) gather(now time.Time) (map[string]*point, global, bool) {
	mfs, err := s.g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil, global{}, false
	}
	pts := map[string]*point{}
	for _, c := range s.carriers {
		pts[c.Name] = &point{At: now}
	}
	gl := global{At: now, Lag: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			p := pts[label(m, "carrier")]
			v := value(m)
			switch mf.GetName() {
			case "ingest_records_total":
				gl.Events += v
			case "ingest_dead_lettered_total":
				gl.DeadLetters += v
			case "ingest_lag_records":
				gl.Lag[label(m, "topic")] += v
			case "ingest_stalled":
				gl.Stalled += v
			case "smsgw_ledger_writable":
				gl.LedgerOK = v
			case "smsgw_rules_last_reload_successful":
				gl.RulesOK = v
			case "smsgw_rules_last_reload_success_timestamp_seconds":
				gl.RulesAt = v
			case "smsgw_messages_held":
				gl.Held = v
			}
			if p == nil {
				continue
			}
			switch mf.GetName() {
			case "smsgw_binds_up":
				p.BindsUp = v
			case "smpp_effective_tps":
				p.TPS = v
			case "smpp_window_in_use":
				p.Window = v
			case "smsgw_submits_in_flight":
				p.InFlight = v
			case "smsgw_submits_total":
				if label(m, "result") == "ok" {
					p.Submits += v
				}
			case "smsgw_segments_submitted_total":
				p.Segments += v
			case "smsgw_receipts_total":
				p.Receipts += v
				if label(m, "stat") == "DELIVRD" {
					p.Delivered += v
				}
			case "smpp_submit_duration_seconds":
				p.LatencySum += m.GetHistogram().GetSampleSum()
				p.LatencyN += float64(m.GetHistogram().GetSampleCount())
			case "smsgw_receipt_latency_seconds":
				p.RecLatSum += m.GetHistogram().GetSampleSum()
				p.RecLatN += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return pts, gl, true
}

func appendCapped[T any](xs []T, x T) []T {
	if len(xs) >= keepSamples {
		xs = append(xs[:0], xs[len(xs)-keepSamples+1:]...)
	}
	return append(xs, x)
}

// Rate is one chart point: per-second rates between two samples.
type Rate struct {
	At            time.Time `json:"at"`
	SubmitPerSec  float64   `json:"submit_per_sec"`
	ReceiptPerSec float64   `json:"receipt_per_sec"`
	DeliveryRate  float64   `json:"delivery_rate"`     // delivered / receipts in the interval; -1: no receipts
	LatencyMS     float64   `json:"submit_latency_ms"` // mean submit_sm round trip; -1: no submits
	ReceiptS      float64   `json:"receipt_latency_s"` // mean acceptance-to-final-receipt time of the receipts in the interval; -1: none
}

// CarrierView is one carrier's row and charts on the overview.
type CarrierView struct {
	Name          string  `json:"name"`
	BindsUp       float64 `json:"binds_up"`
	Binds         int     `json:"binds"`
	TPSConfigured int     `json:"tps_configured"`
	TPS           float64 `json:"tps"`
	Window        float64 `json:"window_in_use"`
	WindowMax     int     `json:"window"`
	InFlight      float64 `json:"in_flight"`
	Unsent        int     `json:"unsent"` // routed here, not (yet) accepted: queued, retrying, or failed before a submit (ledger)
	Submitted     float64 `json:"submitted"`
	Receipts      float64 `json:"receipts"`
	Delivered     float64 `json:"delivered"`
	Series        []Rate  `json:"series"`
}

// Overview is GET /api/overview.
type Overview struct {
	At         time.Time          `json:"at"`
	Ready      string             `json:"ready"` // "ready" or why not
	RulesHash  string             `json:"rules_hash"`
	RulesAt    time.Time          `json:"rules_loaded_at"`
	RulesOK    bool               `json:"rules_last_reload_ok"`
	Queue      map[string]int     `json:"queue"` // messages by state
	Held       int                `json:"held"`
	Events     float64            `json:"events"`
	DeadLetter float64            `json:"dead_lettered"`
	Lag        map[string]float64 `json:"ingest_lag"`
	Alerts     []string           `json:"alerts"`
	Carriers   []CarrierView      `json:"carriers"`
}

func rates(ps []point) []Rate {
	out := []Rate{}
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1], ps[i]
		dt := b.At.Sub(a.At).Seconds()
		if dt <= 0 {
			continue
		}
		r := Rate{At: b.At, SubmitPerSec: max(0, b.Submits-a.Submits) / dt, ReceiptPerSec: max(0, b.Receipts-a.Receipts) / dt, DeliveryRate: -1, LatencyMS: -1, ReceiptS: -1}
		if n := b.Receipts - a.Receipts; n > 0 {
			r.DeliveryRate = (b.Delivered - a.Delivered) / n
		}
		if n := b.LatencyN - a.LatencyN; n > 0 {
			r.LatencyMS = 1000 * (b.LatencySum - a.LatencySum) / n
		}
		if n := b.RecLatN - a.RecLatN; n > 0 {
			r.ReceiptS = (b.RecLatSum - a.RecLatSum) / n
		}
		out = append(out, r)
	}
	return out
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ *session) {
	// The table shows the registry now; the charts, the sampled series
	// (appended by Run only, so polling does not shorten the hour).
	cur, g, ok := c.sampler.gather(time.Now())
	sum, err := c.cfg.Ledger.Summary(r.Context())
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	ov := Overview{At: time.Now(), RulesHash: c.cfg.Rules.Hash(), Queue: map[string]int{}, Alerts: []string{}}
	for st, n := range sum.States {
		ov.Queue[string(st)] = n
	}
	ov.Held = sum.States["held"]
	if c.cfg.Ready != nil {
		ov.Ready = "ready"
		if err := c.cfg.Ready(); err != nil {
			ov.Ready = err.Error()
			ov.Alerts = append(ov.Alerts, "not ready: "+err.Error())
		}
	}
	c.sampler.mu.Lock()
	if ok {
		ov.Events, ov.DeadLetter, ov.Lag, ov.RulesOK = g.Events, g.DeadLetters, g.Lag, g.RulesOK == 1
		if g.RulesAt > 0 {
			ov.RulesAt = time.Unix(int64(g.RulesAt), 0)
		}
		if g.RulesOK != 1 {
			ov.Alerts = append(ov.Alerts, "the last rules reload failed; the previous rules are running")
		}
		if g.Stalled > 0 {
			ov.Alerts = append(ov.Alerts, "ingest stalled")
		}
		if g.Held > 0 {
			ov.Alerts = append(ov.Alerts, "messages held for an operator")
		}
	}
	for _, k := range c.cfg.Carriers {
		ps := c.sampler.series[k.Name]
		v := CarrierView{Name: k.Name, Binds: k.Binds, TPSConfigured: k.TPS, WindowMax: k.Window, Series: rates(ps)}
		if cs, ok := sum.Carriers[k.Name]; ok {
			v.Unsent = max(0, cs.Messages-cs.Submitted)
		}
		if p := cur[k.Name]; p != nil {
			v.BindsUp, v.TPS, v.Window, v.InFlight, v.Submitted, v.Receipts, v.Delivered = p.BindsUp, p.TPS, p.Window, p.InFlight, p.Submits, p.Receipts, p.Delivered
			if p.BindsUp == 0 {
				ov.Alerts = append(ov.Alerts, "carrier "+k.Name+": no bind up")
			}
		}
		ov.Carriers = append(ov.Carriers, v)
	}
	c.sampler.mu.Unlock()
	sort.Strings(ov.Alerts)
	writeJSON(w, ov)
}
