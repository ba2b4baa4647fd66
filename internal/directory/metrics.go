package directory

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the directory writer's Prometheus metrics.
type Metrics struct {
	known        prometheus.Counter
	written      prometheus.Counter
	pending      prometheus.Gauge
	waits        prometheus.Counter
	errors       prometheus.Counter
	flushSeconds prometheus.Histogram
}

// NewMetrics registers the writer's metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		known:   f.NewCounter(prometheus.CounterOpts{Name: "smsgw_contacts_known_total", Help: "Contacts of events skipped because this process stored them already."}),
		written: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_contacts_written_total", Help: "Contacts written to the directory (new, or no longer remembered)."}),
		pending: f.NewGauge(prometheus.GaugeOpts{Name: "smsgw_contacts_pending", Help: "Contacts queued or being written to the directory."}),
		waits:   f.NewCounter(prometheus.CounterOpts{Name: "smsgw_contacts_queue_full_total", Help: "Times the pipeline waited because the contacts queue was full."}),
		errors:  f.NewCounter(prometheus.CounterOpts{Name: "smsgw_contacts_write_errors_total", Help: "Failed directory writes (retried)."}),
		flushSeconds: f.NewHistogram(prometheus.HistogramOpts{Name: "smsgw_contacts_write_duration_seconds", Help: "Duration of one directory transaction.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
}
