package ingest

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/event"
)

// Metrics are the consumer's Prometheus metrics. One Metrics may be shared
// by several consumers of a process.
type Metrics struct {
	Records      *prometheus.CounterVec // by topic: records fetched
	DeadLettered *prometheus.CounterVec // by reason: records written to the DLQ
	Batches      prometheus.Counter
	BatchSize    prometheus.Histogram
	Handle       prometheus.Histogram // handler latency per attempt
	HandleErrors prometheus.Counter
	DLQErrors    prometheus.Counter
	CommitErrors prometheus.Counter
	Lag          *prometheus.GaugeVec // by topic: records behind the partitions' high-water marks
	// CommittedLag is read from the brokers every LagEvery, so it stays
	// right while the consumer is stalled.
	CommittedLag  *prometheus.GaugeVec // by topic: records the group has not committed
	LastProgress  prometheus.Gauge     // time of the last commit (or of the last look that found no lag)
	Stalled       prometheus.Gauge     // 1 while there is committed lag and nothing was committed for StallAfter
	BrokerUp      prometheus.Gauge     // 1 when the last look at the brokers worked
	DLQTruncated  prometheus.Counter   // dead-letter copies written without their value after the broker refused them
	DLQDropped    prometheus.Counter   // dead-letter copies refused even without their value (logged, skipped)
	Unprocessable prometheus.Counter   // records the handler failed on alone while healthy (dead-lettered)
}

// NewMetrics builds the metrics and registers them with reg (nil: not
// registered, for tests that read them directly).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_records_total", Help: "Kafka records fetched, per topic.",
		}, []string{"topic"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ingest_dead_lettered_total", Help: "Records refused by the event decoder and written to the dead-letter topic, per reason.",
		}, []string{"reason"}),
		Batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_batches_total", Help: "Batches handled and committed.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingest_batch_records", Help: "Records per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
		Handle: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingest_handle_duration_seconds", Help: "Time the handler took per batch attempt.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		HandleErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_handle_errors_total", Help: "Handler failures; the same batch is retried after a backoff.",
		}),
		DLQErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_dlq_errors_total", Help: "Failed writes to the dead-letter topic; retried after a backoff.",
		}),
		CommitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_commit_errors_total", Help: "Failed offset commits (the records will be redelivered).",
		}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ingest_lag_records", Help: "Records between the last fetched offset and the high-water mark, summed per topic over the partitions this process reads.",
		}, []string{"topic"}),
		CommittedLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ingest_committed_lag_records", Help: "Records of each topic the consumer group has not committed, read from the brokers every few seconds (right also while consumption is stalled).",
		}, []string{"topic"}),
		LastProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_last_progress_timestamp_seconds", Help: "Time of the last offset commit, or of the last look that found the group without lag.",
		}),
		Stalled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_stalled", Help: "1 while the group has committed lag and this consumer committed nothing for stall_after.",
		}),
		BrokerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ingest_broker_up", Help: "1 when the last look at the brokers (metadata, offsets) worked.",
		}),
		DLQTruncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_dlq_stripped_total", Help: "Dead-letter copies the broker refused as records, written again without value and original headers.",
		}),
		DLQDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_dlq_dropped_total", Help: "Dead-letter copies refused even without their value; logged with topic, partition, offset and SHA-256, then skipped.",
		}),
		Unprocessable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingest_unprocessable_total", Help: "Records the handler failed on alone, repeatedly, while its probe was healthy; dead-lettered as unprocessable.",
		}),
	}
	for _, r := range append(slices.Clone(event.Reasons), ReasonUnprocessable) {
		m.DeadLettered.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.Records, m.DeadLettered, m.Batches, m.BatchSize, m.Handle,
			m.HandleErrors, m.DLQErrors, m.CommitErrors, m.Lag, m.CommittedLag, m.LastProgress,
			m.Stalled, m.BrokerUp, m.DLQTruncated, m.DLQDropped, m.Unprocessable)
	}
	return m
}
