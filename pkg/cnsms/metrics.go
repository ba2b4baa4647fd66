package cnsms

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the carrier metrics of every protocol: the smpp_* names
// with a protocol label ("smpp", "cmpp", "smgp", "sgip") next to the
// carrier. pkg/smpp's Metrics is this type, so one dashboard shows every
// carrier. One Metrics serves every client; build it with NewMetrics from
// a Registerer you own. A nil *Metrics records nothing.
type Metrics struct {
	BindsUp        *prometheus.GaugeVec     // carrier, protocol
	BindAttempts   *prometheus.CounterVec   // carrier, protocol, result: ok|error
	Submits        *prometheus.CounterVec   // carrier, protocol, result: ok or a Reason
	SubmitDuration *prometheus.HistogramVec // carrier, protocol
	WindowInUse    *prometheus.GaugeVec     // carrier, protocol
	Receipts       *prometheus.CounterVec   // carrier, protocol, stat
	Inbound        *prometheus.CounterVec   // carrier, protocol, command
	LateResponses  *prometheus.CounterVec   // carrier, protocol
	LateReported   *prometheus.CounterVec   // carrier, protocol, result: reported|dropped
	ThrottlePauses *prometheus.CounterVec   // carrier, protocol
	EffectiveTPS   *prometheus.GaugeVec     // carrier, protocol
	MOParts        *prometheus.CounterVec   // carrier, protocol, result
	MOPending      *prometheus.GaugeVec     // carrier, protocol
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered). A collector reg already holds under the same name and
// labels (an earlier NewMetrics, here or through pkg/smpp) is reused,
// not an error: every protocol's clients can share one registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	cp := []string{"carrier", "protocol"}
	cpr := []string{"carrier", "protocol", "result"}
	return &Metrics{
		BindsUp: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_binds_up", Help: "Carrier connections logged in now, per carrier and protocol.",
		}, cp)),
		BindAttempts: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_bind_attempts_total", Help: "Connect-and-login attempts, per carrier, protocol and result.",
		}, cpr)),
		Submits: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_submits_total", Help: "Submit parts sent, per carrier, protocol and result (ok or the retry reason).",
		}, cpr)),
		SubmitDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smpp_submit_duration_seconds", Help: "Time from a submit to its response, per part.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, cp)),
		WindowInUse: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_window_in_use", Help: "Requests awaiting their response, summed over a carrier's connections.",
		}, cp)),
		Receipts: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_receipts_total", Help: "Status reports received, per carrier, protocol and stat.",
		}, []string{"carrier", "protocol", "stat"})),
		Inbound: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_inbound_total", Help: "Requests received from the carrier gateway, per carrier, protocol and command.",
		}, []string{"carrier", "protocol", "command"})),
		LateResponses: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_late_responses_total", Help: "Responses that matched no waiting request (late or unexpected).",
		}, cp)),
		LateReported: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_late_reported_total", Help: "Late submit responses of timed-out submits handed to OnLate (reported) or not (dropped).",
		}, cpr)),
		ThrottlePauses: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_throttle_pauses_total", Help: "Account-wide submit pauses begun after a traffic-too-high answer.",
		}, cp)),
		EffectiveTPS: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_effective_tps", Help: "Current adaptive submit rate limit of the account (0: none configured).",
		}, cp)),
		MOParts: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_mo_reassembly_total", Help: "Multi-part MO: parts buffered or duplicate, messages complete, partial or dropped.",
		}, cpr)),
		MOPending: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_mo_pending", Help: "Multi-part MO messages awaiting their other parts.",
		}, cp)),
	}
}

// register registers c with reg, or returns the collector reg already
// holds under c's description. Any other registration error is a
// programming error (a name with another label set) and panics, as
// MustRegister would.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

// CarrierMetrics are Metrics curried with one carrier and protocol; a
// nil *CarrierMetrics records nothing.
type CarrierMetrics struct {
	m                 *Metrics
	carrier, protocol string
}

// For returns the metrics of one carrier speaking protocol (nil if m is nil).
func (m *Metrics) For(protocol, carrier string) *CarrierMetrics {
	if m == nil {
		return nil
	}
	return &CarrierMetrics{m: m, carrier: carrier, protocol: protocol}
}

func okErr(ok bool) string {
	if ok {
		return "ok"
	}
	return "error"
}

// BindsUp adds d to the connections up.
func (c *CarrierMetrics) BindsUp(d float64) {
	if c != nil {
		c.m.BindsUp.WithLabelValues(c.carrier, c.protocol).Add(d)
	}
}

// BindAttempt counts a connect-and-login attempt.
func (c *CarrierMetrics) BindAttempt(ok bool) {
	if c != nil {
		c.m.BindAttempts.WithLabelValues(c.carrier, c.protocol, okErr(ok)).Inc()
	}
}

// Submit counts a part's outcome; seconds ≥ 0 is observed as its latency.
func (c *CarrierMetrics) Submit(result string, seconds float64) {
	if c != nil {
		c.m.Submits.WithLabelValues(c.carrier, c.protocol, result).Inc()
		if seconds >= 0 {
			c.m.SubmitDuration.WithLabelValues(c.carrier, c.protocol).Observe(seconds)
		}
	}
}

// Window adds d to the requests in flight.
func (c *CarrierMetrics) Window(d float64) {
	if c != nil {
		c.m.WindowInUse.WithLabelValues(c.carrier, c.protocol).Add(d)
	}
}

// Receipt counts a status report by stat.
func (c *CarrierMetrics) Receipt(stat string) {
	if c != nil {
		c.m.Receipts.WithLabelValues(c.carrier, c.protocol, stat).Inc()
	}
}

// Inbound counts a request of the peer.
func (c *CarrierMetrics) Inbound(cmd string) {
	if c != nil {
		c.m.Inbound.WithLabelValues(c.carrier, c.protocol, cmd).Inc()
	}
}

// Late counts a response that matched no waiting request.
func (c *CarrierMetrics) Late() {
	if c != nil {
		c.m.LateResponses.WithLabelValues(c.carrier, c.protocol).Inc()
	}
}

// LateReported counts a late submit response queued for OnLate or dropped.
func (c *CarrierMetrics) LateReported(result string) {
	if c != nil {
		c.m.LateReported.WithLabelValues(c.carrier, c.protocol, result).Inc()
	}
}

// ThrottlePause counts an account-wide pause.
func (c *CarrierMetrics) ThrottlePause() {
	if c != nil {
		c.m.ThrottlePauses.WithLabelValues(c.carrier, c.protocol).Inc()
	}
}

// EffectiveTPS sets the adaptive rate.
func (c *CarrierMetrics) EffectiveTPS(v float64) {
	if c != nil {
		c.m.EffectiveTPS.WithLabelValues(c.carrier, c.protocol).Set(v)
	}
}

// MOPart counts an MO reassembly event.
func (c *CarrierMetrics) MOPart(result string) {
	if c != nil {
		c.m.MOParts.WithLabelValues(c.carrier, c.protocol, result).Inc()
	}
}

// MOPending adds d to the MO messages awaiting parts.
func (c *CarrierMetrics) MOPending(d float64) {
	if c != nil {
		c.m.MOPending.WithLabelValues(c.carrier, c.protocol).Add(d)
	}
}
