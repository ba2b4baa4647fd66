package smsc

import "github.com/prometheus/client_golang/prometheus"

// Submit results, the bounded label values of smscsim_submits_total.
const (
	resultAccepted  = "accepted"
	resultThrottled = "throttled"
	resultQueueFull = "queue_full"
	resultRejected  = "rejected"
)

// Metrics are the simulator's Prometheus metrics.
type Metrics struct {
	Submits     *prometheus.CounterVec // result: accepted, throttled, queue_full, rejected
	Receipts    *prometheus.CounterVec // stat: receipts acknowledged by the ESME
	Redelivered prometheus.Counter
	Failed      prometheus.Counter // receipts given up or dropped
	Binds       prometheus.Gauge

	accepted, throttled, queueFull, rejected prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smscsim_submits_total", Help: "submit_sm received, by result.",
		}, []string{"result"}),
		Receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smscsim_receipts_total", Help: "Receipts acknowledged by an ESME, by stat.",
		}, []string{"stat"}),
		Redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smscsim_receipt_redeliveries_total", Help: "Receipts sent again after an error, a timeout or a lost bind.",
		}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smscsim_receipts_failed_total", Help: "Receipts given up after the last redelivery or dropped over the pending bound.",
		}),
		Binds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smscsim_binds", Help: "Binds up.",
		}),
	}
	m.accepted = m.Submits.WithLabelValues(resultAccepted)
	m.throttled = m.Submits.WithLabelValues(resultThrottled)
	m.queueFull = m.Submits.WithLabelValues(resultQueueFull)
	m.rejected = m.Submits.WithLabelValues(resultRejected)
	if reg != nil {
		reg.MustRegister(m.Submits, m.Receipts, m.Redelivered, m.Failed, m.Binds)
	}
	return m
}
