package smpp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Protocol is the value of the protocol label on this package's metrics.
const Protocol = "smpp"

// Metrics are the Prometheus metrics of SMPP clients. One Metrics serves
// every carrier: the carrier label is Config.Name, a bounded set chosen by
// configuration; the protocol label is always "smpp". Build it with
// NewMetrics from a Registerer you own; a nil *Metrics records nothing.
//
// The names, help texts and label names are those of pkg/cnsms's Metrics
// (CMPP, SMGP, SGIP), so both register on one registry and one dashboard
// shows every carrier: whichever registers second reuses the first's
// collectors (TestMetricsShareRegistryWithCNSMS).
type Metrics struct {
	BindsUp        *prometheus.GaugeVec     // carrier, protocol
	BindAttempts   *prometheus.CounterVec   // carrier, protocol, result: ok|error
	Submits        *prometheus.CounterVec   // carrier, protocol, result: ok or a Reason
	SubmitDuration *prometheus.HistogramVec // carrier, protocol: submit_sm to submit_sm_resp, per part
	WindowInUse    *prometheus.GaugeVec     // carrier, protocol: requests awaiting a response
	Receipts       *prometheus.CounterVec   // carrier, protocol, stat: DELIVRD…, other, unparsed
	Inbound        *prometheus.CounterVec   // carrier, protocol, command: deliver_sm|data_sm|alert_notification|other
	LateResponses  *prometheus.CounterVec   // carrier, protocol: responses after their request timed out, or unmatched
	LateReported   *prometheus.CounterVec   // carrier, protocol, result: reported|dropped — late submit_sm_resp for a kept timed-out submit
	ThrottlePauses *prometheus.CounterVec   // carrier, protocol: account-wide pauses after ESME_RTHROTTLED / ESME_RMSGQFUL
	EffectiveTPS   *prometheus.GaugeVec     // carrier, protocol: the adaptive rate limit now (0: no limit configured)
	MOParts        *prometheus.CounterVec   // carrier, protocol, result: buffered|duplicate|complete|partial|dropped
	MOPending      *prometheus.GaugeVec     // carrier, protocol: multi-part MO messages awaiting parts
}

// NewMetrics builds and registers the metrics with reg (nil: not
// registered, e.g. for tests that read them directly). A collector that
// reg already holds under the same name and labels (pkg/cnsms's, or an
// earlier NewMetrics) is reused, not an error.
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

// carrierMetrics are Metrics curried with one carrier label; nil-safe.
type carrierMetrics struct {
	m       *Metrics
	carrier string
	window  prometheus.Gauge
	late    prometheus.Counter
	dur     prometheus.Observer
}

func (m *Metrics) forCarrier(name string) *carrierMetrics {
	if m == nil {
		return nil
	}
	return &carrierMetrics{
		m: m, carrier: name,
		window: m.WindowInUse.WithLabelValues(name, Protocol),
		late:   m.LateResponses.WithLabelValues(name, Protocol),
		dur:    m.SubmitDuration.WithLabelValues(name, Protocol),
	}
}

func (c *carrierMetrics) windowAdd(d float64) {
	if c != nil {
		c.window.Add(d)
	}
}

func (c *carrierMetrics) lateResponse() {
	if c != nil {
		c.late.Inc()
	}
}

func (c *carrierMetrics) inbound(cmd CommandID) {
	if c == nil {
		return
	}
	name := "other"
	switch cmd {
	case DeliverSM, DataSM, AlertNotification:
		name = cmd.String()
	}
	c.m.Inbound.WithLabelValues(c.carrier, Protocol, name).Inc()
}

func (c *carrierMetrics) bindsUp(d float64) {
	if c != nil {
		c.m.BindsUp.WithLabelValues(c.carrier, Protocol).Add(d)
	}
}

func (c *carrierMetrics) bindAttempt(ok bool) {
	if c == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	c.m.BindAttempts.WithLabelValues(c.carrier, Protocol, r).Inc()
}

func (c *carrierMetrics) submit(result string, seconds float64) {
	if c == nil {
		return
	}
	c.m.Submits.WithLabelValues(c.carrier, Protocol, result).Inc()
	if seconds >= 0 {
		c.dur.Observe(seconds)
	}
}

func (c *carrierMetrics) receipt(stat string) {
	if c == nil {
		return
	}
	if st := StateFromStat(stat); st != 0 {
		stat = st.Stat()
	} else if stat != "unparsed" {
		stat = "other"
	}
	c.m.Receipts.WithLabelValues(c.carrier, Protocol, stat).Inc()
}
