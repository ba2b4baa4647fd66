package voice

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/traffic12123/gateway/internal/ledger"
)

// Metrics are the voice stage's collectors (the dialler has its own,
// ivr_outbound_*).
type Metrics struct {
	armed        *prometheus.CounterVec // result: queued, cancelled
	outcomes     *prometheus.CounterVec // outcome, next: final, retry
	released     *prometheus.CounterVec // why: hours, not_dialled, local_error, recovered
	reconciled   *prometheus.CounterVec // from: record, crash
	refused      prometheus.Counter
	ledgerErrors prometheus.Counter
	outsideHours prometheus.Gauge
}

// NewMetrics registers the collectors with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		armed: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_voice_armed_total",
			Help: "Fallback calls whose SMS settled: queued (the SMS failed or was late) or cancelled (delivered, cancelled or suppressed)."}, []string{"result"}),
		outcomes: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_voice_attempts_total",
			Help: "Ended call attempts by outcome and whether the call is retried or final."}, []string{"outcome", "next"}),
		released: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_voice_released_total",
			Help: "Claimed calls put back in the queue without dialling, by why."}, []string{"why"}),
		reconciled: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_voice_reconciled_total",
			Help: "Calls in progress at a crash, settled from their call record or as cut by the crash."}, []string{"from"}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_voice_guard_refused_total",
			Help: "Calls the ledger refused to let this instance dial (another instance recovered them)."}),
		ledgerErrors: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_voice_ledger_errors_total",
			Help: "Ledger operations of the voice stage that failed (retried, or reconciled at the next start)."}),
		outsideHours: f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_voice_outside_hours",
			Help: "1 while calling is outside the allowed hours (due calls wait)."}),
	}
	for _, r := range []string{"queued", "cancelled"} {
		m.armed.WithLabelValues(r)
	}
	for _, o := range []ledger.CallState{ledger.CallConfirmed, ledger.CallBusy, ledger.CallNoAnswer, ledger.CallFailed, ledger.CallUnconfirmed} {
		m.outcomes.WithLabelValues(string(o), "final")
		m.outcomes.WithLabelValues(string(o), "retry")
	}
	for _, f := range []string{"record", "crash"} {
		m.reconciled.WithLabelValues(f)
	}
	return m
}
