package smpp

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus metrics of SMPP clients. One Metrics serves
// every carrier: the carrier label is Config.Name, a bounded set chosen by
// configuration. Build it with NewMetrics from a Registerer you own; a nil
// *Metrics records nothing.
type Metrics struct {
	BindsUp        *prometheus.GaugeVec     // carrier
	BindAttempts   *prometheus.CounterVec   // carrier, result: ok|error
	Submits        *prometheus.CounterVec   // carrier, result: ok or a Reason
	SubmitDuration *prometheus.HistogramVec // carrier: submit_sm to submit_sm_resp, per part
	WindowInUse    *prometheus.GaugeVec     // carrier: requests awaiting a response
	Receipts       *prometheus.CounterVec   // carrier, stat: DELIVRD…, other, unparsed
	Inbound        *prometheus.CounterVec   // carrier, command: deliver_sm|data_sm|alert_notification|other
	LateResponses  *prometheus.CounterVec   // carrier: responses after their request timed out, or unmatched
	LateReported   *prometheus.CounterVec   // carrier, result: reported|dropped — late submit_sm_resp for a kept timed-out submit
	ThrottlePauses *prometheus.CounterVec   // carrier: account-wide pauses after ESME_RTHROTTLED / ESME_RMSGQFUL
	EffectiveTPS   *prometheus.GaugeVec     // carrier: the adaptive rate limit now (0: no limit configured)
	MOParts        *prometheus.CounterVec   // carrier, result: buffered|duplicate|complete|partial|dropped
	MOPending      *prometheus.GaugeVec     // carrier: multi-part MO messages awaiting parts
}

// NewMetrics builds and registers the metrics with reg (nil: not
// registered, e.g. for tests that read them directly).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BindsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_binds_up", Help: "SMPP binds currently bound, per carrier.",
		}, []string{"carrier"}),
		BindAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_bind_attempts_total", Help: "Connect-and-bind attempts, per carrier and result.",
		}, []string{"carrier", "result"}),
		Submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_submits_total", Help: "submit_sm parts sent, per carrier and result (ok or the retry reason).",
		}, []string{"carrier", "result"}),
		SubmitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "smpp_submit_duration_seconds", Help: "Time from submit_sm to its response, per part.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"carrier"}),
		WindowInUse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_window_in_use", Help: "Requests awaiting their response, summed over a carrier's binds.",
		}, []string{"carrier"}),
		Receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_receipts_total", Help: "Delivery receipts received, per carrier and stat.",
		}, []string{"carrier", "stat"}),
		Inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_inbound_total", Help: "Requests received from the SMSC, per carrier and command.",
		}, []string{"carrier", "command"}),
		LateResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_late_responses_total", Help: "Responses that matched no waiting request (late or unexpected).",
		}, []string{"carrier"}),
		LateReported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_late_reported_total", Help: "Late submit_sm_resp of timed-out submits handed to OnLate (reported) or not (dropped: OnLate queue full).",
		}, []string{"carrier", "result"}),
		ThrottlePauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_throttle_pauses_total", Help: "Account-wide submit pauses begun after ESME_RTHROTTLED or ESME_RMSGQFUL.",
		}, []string{"carrier"}),
		EffectiveTPS: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_effective_tps", Help: "Current adaptive submit rate limit of the account (0: none configured).",
		}, []string{"carrier"}),
		MOParts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smpp_mo_reassembly_total", Help: "Multi-part MO: parts buffered or duplicate, messages complete, partial (expired or evicted, delivered incomplete) or dropped (handler failed on a partial one).",
		}, []string{"carrier", "result"}),
		MOPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smpp_mo_pending", Help: "Multi-part MO messages awaiting their other parts.",
		}, []string{"carrier"}),
	}
	if reg != nil {
		reg.MustRegister(m.BindsUp, m.BindAttempts, m.Submits, m.SubmitDuration, m.WindowInUse, m.Receipts, m.Inbound, m.LateResponses,
			m.LateReported, m.ThrottlePauses, m.EffectiveTPS, m.MOParts, m.MOPending)
	}
	return m
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
		window: m.WindowInUse.WithLabelValues(name),
		late:   m.LateResponses.WithLabelValues(name),
		dur:    m.SubmitDuration.WithLabelValues(name),
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
	c.m.Inbound.WithLabelValues(c.carrier, name).Inc()
}

func (c *carrierMetrics) bindsUp(d float64) {
	if c != nil {
		c.m.BindsUp.WithLabelValues(c.carrier).Add(d)
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
	c.m.BindAttempts.WithLabelValues(c.carrier, r).Inc()
}

func (c *carrierMetrics) submit(result string, seconds float64) {
	if c == nil {
		return
	}
	c.m.Submits.WithLabelValues(c.carrier, result).Inc()
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
	c.m.Receipts.WithLabelValues(c.carrier, stat).Inc()
}
