package ivr

import "github.com/prometheus/client_golang/prometheus"

// OutboundMetrics are the dialler's Prometheus collectors.
type OutboundMetrics struct {
	Placed         prometheus.Counter     // INVITEs sent (one per call, whatever the outcome)
	Outcomes       *prometheus.CounterVec // outcome: confirmed, answered_unconfirmed, busy, no_answer, failed
	Active         prometheus.Gauge       // calls dialling or up
	Setup          prometheus.Histogram   // INVITE → final response
	PromptLateness prometheus.Histogram
	Keys           prometheus.Counter
	GuardRefused   prometheus.Counter
	CDRErrors      prometheus.Counter
	MediaErrors    *prometheus.CounterVec // kind: read, write, missing_audio, tts
	Panics         *prometheus.CounterVec // where: media (recovered; the call ended)
}

// NewOutboundMetrics registers the collectors with reg (nil: not registered).
func NewOutboundMetrics(reg prometheus.Registerer) *OutboundMetrics {
	m := &OutboundMetrics{
		Placed: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_outbound_calls_total",
			Help: "Outbound notice calls placed (INVITEs sent)."}),
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_outbound_outcomes_total",
			Help: "Outbound notice calls by outcome."}, []string{"outcome"}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ivr_outbound_calls_active",
			Help: "Outbound calls dialling or in progress."}),
		Setup: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ivr_outbound_setup_seconds",
			Help:    "From INVITE to its final response (answer, busy, no answer, failure).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60}}),
		PromptLateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ivr_outbound_prompt_lateness_seconds",
			Help:    "How much later than due the last frame of an outbound playback went out.",
			Buckets: []float64{0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}}),
		Keys: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_outbound_keys_total",
			Help: "Keys received on outbound calls."}),
		GuardRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_outbound_guard_refused_total",
			Help: "Calls not dialled because the dial guard (ledger) refused them."}),
		CDRErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_outbound_cdr_errors_total",
			Help: "Outbound call records that could not be stored."}),
		MediaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_outbound_media_errors_total",
			Help: "Media errors on outbound calls by kind."}, []string{"kind"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_outbound_panics_total",
			Help: "Panics recovered on outbound calls; the call ended, the process kept serving."}, []string{"where"}),
	}
	for _, o := range Outcomes {
		m.Outcomes.WithLabelValues(string(o))
	}
	if reg != nil {
		reg.MustRegister(m.Placed, m.Outcomes, m.Active, m.Setup, m.PromptLateness, m.Keys, m.GuardRefused, m.CDRErrors,
			m.MediaErrors, m.Panics)
	}
	return m
}
