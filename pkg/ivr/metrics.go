package ivr

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the IVR's Prometheus collectors. Labels are bounded: menu
// names and option keys come from the loaded flow, the rest from constants.
type Metrics struct {
	CallsActive    prometheus.Gauge
	Calls          *prometheus.CounterVec // result: answered, cancelled, busy, untrusted, rate, media, failed
	Abandoned      prometheus.Counter
	MenuChoices    *prometheus.CounterVec // menu, choice (a key sequence, "invalid", "noinput")
	DTMF           *prometheus.CounterVec // method: rfc4733, info, inband
	DTMFDuplicates *prometheus.CounterVec // method: a press already taken by another method
	Verifications  *prometheus.CounterVec // result: ok, failed, locked, not_registered
	MediaErrors    *prometheus.CounterVec // kind: write, read, missing_audio, tts
	Transfers      *prometheus.CounterVec // result: ok, unavailable, error
	PromptLateness prometheus.Histogram
	FlowReloads    *prometheus.CounterVec // result: ok, error
	MalformedInfo  prometheus.Counter
	CDRErrors      prometheus.Counter
	SIPRejected    *prometheus.CounterVec // reason: version, via, from, to, call_id, cseq, cseq_method, max_forwards, contact, unparsable, response
	Panics         *prometheus.CounterVec // where: parse, handler, media
}

// NewMetrics registers the collectors with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		CallsActive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ivr_calls_active", Help: "Calls in progress."}),
		Calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_calls_total",
			Help: "INVITEs for new calls by result."}, []string{"result"}),
		Abandoned: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_calls_abandoned_total",
			Help: "Answered calls the caller hung up before the flow ended them."}),
		MenuChoices: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_menu_choices_total",
			Help: "Keys chosen per menu."}, []string{"menu", "choice"}),
		DTMF: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_dtmf_total",
			Help: "Keys received by method."}, []string{"method"}),
		DTMFDuplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_dtmf_duplicates_total",
			Help: "Keys dropped as the same press already taken by another method."}, []string{"method"}),
		Verifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_verifications_total",
			Help: "Caller verifications by result."}, []string{"result"}),
		MediaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_media_errors_total",
			Help: "Media errors by kind."}, []string{"kind"}),
		Transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_transfers_total",
			Help: "Agent hand-offs by result."}, []string{"result"}),
		PromptLateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ivr_prompt_lateness_seconds",
			Help:    "How much later than due the last frame of a playback went out.",
			Buckets: []float64{0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1}}),
		FlowReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_flow_reloads_total",
			Help: "Call flow reloads by result."}, []string{"result"}),
		MalformedInfo: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_info_malformed_total",
			Help: "SIP INFO requests without a usable key."}),
		CDRErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "ivr_cdr_errors_total",
			Help: "Call detail records that could not be stored."}),
		SIPRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_sip_rejected_total",
			Help: "SIP messages refused before any handler saw them (400/505 or dropped), by reason."}, []string{"reason"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ivr_panics_total",
			Help: "Panics recovered while handling SIP or media; the process kept serving."}, []string{"where"}),
	}
	if reg != nil {
		reg.MustRegister(m.CallsActive, m.Calls, m.Abandoned, m.MenuChoices, m.DTMF, m.Verifications,
			m.MediaErrors, m.Transfers, m.PromptLateness, m.FlowReloads, m.MalformedInfo, m.CDRErrors,
			m.SIPRejected, m.Panics, m.DTMFDuplicates)
	}
	return m
}
