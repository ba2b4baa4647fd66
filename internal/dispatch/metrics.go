package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pipeline's Prometheus metrics. Label values are bounded:
// rule ids come from the operator's rules set, carriers from the four
// carriers, reasons and statuses from fixed lists.
type Metrics struct {
	fired           *prometheus.CounterVec
	skipped         *prometheus.CounterVec
	ruleErrors      prometheus.Counter
	created         *prometheus.CounterVec
	suppressed      *prometheus.CounterVec
	duplicates      prometheus.Counter
	cancelled       prometheus.Counter
	resolved        *prometheus.CounterVec
	submits         *prometheus.CounterVec
	segments        *prometheus.CounterVec
	inflight        *prometheus.GaugeVec
	submitSeconds   *prometheus.HistogramVec
	eventToSubmit   prometheus.Histogram
	receipts        *prometheus.CounterVec
	receiptLatency  *prometheus.HistogramVec
	receiptOutcomes *prometheus.CounterVec
	incoming        *prometheus.CounterVec
	optOuts         prometheus.Counter
	reconciled      *prometheus.CounterVec
	noReceipt       prometheus.Counter
	statusPublished prometheus.Counter
	lateResponses   *prometheus.CounterVec
	ledgerSeconds   *prometheus.HistogramVec
}

// NewMetrics registers the pipeline's metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		fired:      f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_rules_fired_total", Help: "Decisions made by rules, per rule (before policy)."}, []string{"rule"}),
		skipped:    f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_rules_skipped_total", Help: "Rules that matched but produced no message, per rule and reason."}, []string{"rule", "reason"}),
		ruleErrors: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_rule_errors_total", Help: "Rule evaluations that failed at run time (the batch is retried)."}),
		created:    f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_messages_created_total", Help: "Messages stored in the ledger, by initial state."}, []string{"state"}),
		suppressed: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_messages_suppressed_total", Help: "Messages not sent by policy, by reason."}, []string{"reason"}),
		duplicates: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_messages_duplicate_total", Help: "Messages of redelivered events that were already in the ledger."}),
		cancelled:  f.NewCounter(prometheus.CounterOpts{Name: "smsgw_messages_cancelled_total", Help: "Scheduled messages cancelled by later events."}),
		resolved:   f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_messages_resolved_total", Help: "Messages cancelled at send time because their rule's still_due no longer held, per rule."}, []string{"rule"}),
		submits:    f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_submits_total", Help: "Submit attempts per carrier and result (ok, retry, failed, unknown)."}, []string{"carrier", "result"}),
		segments:   f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_segments_submitted_total", Help: "Message parts accepted by the SMSC, per carrier."}, []string{"carrier"}),
		inflight:   f.NewGaugeVec(prometheus.GaugeOpts{Name: "smsgw_submits_in_flight", Help: "Submits waiting for their response, per carrier."}, []string{"carrier"}),
		submitSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Name: "smsgw_submit_duration_seconds", Help: "Time from Submit to the last submit_sm_resp, per carrier.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"carrier"}),
		eventToSubmit: f.NewHistogram(prometheus.HistogramOpts{Name: "smsgw_decision_to_submit_seconds", Help: "Time from a message's creation to its acceptance by the SMSC.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20)}),
		receipts: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_receipts_total", Help: "Delivery receipts stored, per carrier and status."}, []string{"carrier", "stat"}),
		receiptLatency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "smsgw_receipt_latency_seconds", Help: "A part's acceptance by the SMSC to its final receipt, per carrier.",
			Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}}, []string{"carrier"}),
		receiptOutcomes: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_receipt_outcomes_total", Help: "Receipts by what they matched: matched, pending (id not known yet), duplicate."}, []string{"outcome"}),
		incoming:        f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_incoming_messages_total", Help: "Mobile-originated messages, per carrier."}, []string{"carrier"}),
		optOuts:         f.NewCounter(prometheus.CounterOpts{Name: "smsgw_opt_outs_total", Help: "Recipients who replied to unsubscribe."}),
		noReceipt:       f.NewCounter(prometheus.CounterOpts{Name: "smsgw_no_receipt_total", Help: "Messages ended no_receipt: a part had no receipt after its validity plus receipt_grace."}),
		reconciled:      f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_unknown_settled_total", Help: "Unknown submit outcomes settled after the grace period: resent or failed."}, []string{"result"}),
		lateResponses:   f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_late_submit_responses_total", Help: "submit_sm_resp that came after their request timed out: recorded (message settled) or left to receipts."}, []string{"carrier", "result"}),
		statusPublished: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_status_published_total", Help: "Status changes published to Kafka."}),
		ledgerSeconds: f.NewHistogramVec(prometheus.HistogramOpts{Name: "smsgw_ledger_duration_seconds", Help: "Ledger call latency per operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"op"}),
	}
}
