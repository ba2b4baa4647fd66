package ledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ledger's Prometheus metrics. Label values are bounded:
// op is a Store method name, outcome a receipt Outcome.
type Metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	rows     *prometheus.CounterVec
	receipts *prometheus.CounterVec
}

// NewMetrics registers the ledger metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smsgw_ledger_operation_duration_seconds",
			Help:    "Duration of ledger operations (one transaction each), by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_ledger_operation_errors_total",
			Help: "Ledger operations that failed, by operation.",
		}, []string{"op"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_ledger_rows_total",
			Help: "Messages handled by ledger operations (inserted, claimed, submitted …), by operation.",
		}, []string{"op"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsgw_ledger_receipts_total",
			Help: "Receipts applied, by outcome (matched, pending, duplicate).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.duration, m.errors, m.rows, m.receipts)
	return m
}

// Observe records one operation. A nil Metrics records nothing.
func (m *Metrics) Observe(op string, start time.Time, rows int, err error) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.WithLabelValues(op).Inc()
		return
	}
	m.rows.WithLabelValues(op).Add(float64(rows))
}

// Receipt counts receipt outcomes.
func (m *Metrics) Receipt(res []ReceiptResult) {
	if m == nil {
		return
	}
	for _, r := range res {
		m.receipts.WithLabelValues(string(r.Outcome)).Inc()
	}
}
