package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Latency is a percentile summary in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func latency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	return Latency{N: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// CarrierResult is one carrier's share of a run.
type CarrierResult struct {
	Messages       int     `json:"messages"`
	Segments       int     `json:"segments"`
	MessagesPerSec float64 `json:"messages_per_second"`
	EventToSubmit  Latency `json:"event_to_submit"`
	SubmitToStored Latency `json:"submit_to_receipt_stored"`
}

// Result is what one system did in one run.
type Result struct {
	System         string  `json:"system"` // "smsgw" or "kannel"
	Messages       int     `json:"messages"`
	Segments       int     `json:"segments"`
	Seconds        float64 `json:"seconds"` // first publish → last receipt stored
	MessagesPerSec float64 `json:"messages_per_second"`
	SegmentsPerSec float64 `json:"segments_per_second"`
	EventToSubmit  Latency `json:"event_to_submit"`
	SubmitToStored Latency `json:"submit_to_receipt_stored"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPer1000     float64 `json:"cpu_seconds_per_1000_messages"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	HarnessCPU     float64 `json:"harness_cpu_seconds"` // this process: broker, simulators, publisher, callback
	// Ledger is "sqlite" or "postgres"; DBCPUSeconds the PostgreSQL
	// server's processes' CPU during the run (when local), and
	// DBCPUPer1000 per 1,000 messages.
	Ledger       string  `json:"ledger,omitempty"`
	DBCPUSeconds float64 `json:"db_cpu_seconds,omitempty"`
	DBCPUPer1000 float64 `json:"db_cpu_seconds_per_1000_messages,omitempty"`
	// Instances is the number of smsgw processes of a gateway run (they
	// share the ledger and the consumer group): CPUSeconds is their sum,
	// PeakRSSMB the largest of their peaks, and each one's figures follow
	// (parts submitted: its smsgw_segments_submitted_total at the end).
	Instances          int                      `json:"instances,omitempty"`
	InstanceCPUSeconds []float64                `json:"instance_cpu_seconds,omitempty"`
	InstancePeakRSSMB  []float64                `json:"instance_peak_rss_mb,omitempty"`
	InstanceParts      []int                    `json:"instance_parts_submitted,omitempty"`
	Receipts           map[string]int           `json:"receipts"`   // final status by stat (or DLR type)
	Duplicates         int                      `json:"duplicates"` // messages the SMSC saw more than once
	Complete           bool                     `json:"complete"`
	ByCarrier          map[string]CarrierResult `json:"by_carrier"`
	// HalfRate is a second pass at half the measured rate, for latency.
	HalfRate *HalfRate `json:"half_rate,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
}

// HalfRate is the latency pass.
type HalfRate struct {
	Rate           float64 `json:"events_per_second"`
	Messages       int     `json:"messages"`
	EventToSubmit  Latency `json:"event_to_submit"`
	SubmitToStored Latency `json:"submit_to_receipt_stored"`
	Complete       bool    `json:"complete"`
}

// SweepResult is the sweep mode's figure.
type SweepResult struct {
	Events        int     `json:"events"`
	Fired         int     `json:"rules_fired"`
	Messages      int     `json:"messages_created"`
	Seconds       float64 `json:"seconds"` // gateway ready → every record consumed and committed
	EventsPerSec  float64 `json:"events_per_second"`
	PublishSecs   float64 `json:"publish_seconds"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	Complete      bool    `json:"complete"`
}

// Report is everything one invocation measured.
type Report struct {
	Date         string       `json:"date"`
	Machine      string       `json:"machine"`
	Commit       string       `json:"commit"`         // of the tree smsgw was built from; "+dirty" with uncommitted changes
	LoadBefore   string       `json:"loadavg_before"` // /proc/loadavg: other work on the machine skews every figure
	LoadAfter    string       `json:"loadavg_after"`
	Mode         string       `json:"mode"`
	Instances    int          `json:"instances,omitempty"` // smsgw processes (not set in kannel mode)
	N            int          `json:"n"`
	Carriers     []string     `json:"carriers"`
	ReceiptDelay string       `json:"receipt_delay"`
	Results      []*Result    `json:"results,omitempty"`
	Ratio        float64      `json:"ratio_smsgw_over_kannel,omitempty"`
	Sweep        *SweepResult `json:"sweep,omitempty"`
}

func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *Report) {
	var b strings.Builder
	inst := ""
	if r.Instances > 0 {
		inst = fmt.Sprintf("  instances=%d", r.Instances)
	}
	fmt.Fprintf(&b, "smsbench %s  n=%d%s  carriers=%s  receipt-delay=%s  %s  %s\n", r.Mode, r.N, inst, strings.Join(r.Carriers, ","), r.ReceiptDelay, r.Machine, r.Date)
	fmt.Fprintf(&b, "commit %s; load average before %s, after %s (other work on the machine skews every figure)\n", r.Commit, r.LoadBefore, r.LoadAfter)
	if len(r.Results) > 0 {
		fmt.Fprintf(&b, "%-8s %-16s %8s %8s %8s %9s %9s %23s %23s %9s %8s %5s %4s\n",
			"system", "carrier", "messages", "segments", "seconds", "msg/s", "seg/s",
			"event→submit p50/p99 ms", "submit→stored p50/p99", "cpu s/1k", "rss MB", "dups", "done")
		for _, x := range r.Results {
			fmt.Fprintf(&b, "%-8s %-16s %8d %8d %8.2f %9.0f %9.0f %23s %23s %9.3f %8.1f %5d %4v\n",
				x.System, "all", x.Messages, x.Segments, x.Seconds, x.MessagesPerSec, x.SegmentsPerSec,
				pp(x.EventToSubmit), pp(x.SubmitToStored), x.CPUPer1000, x.PeakRSSMB, x.Duplicates, x.Complete)
			names := make([]string, 0, len(x.ByCarrier))
			for n := range x.ByCarrier {
				names = append(names, n)
			}
			sort.Strings(names)
			if len(names) > 1 {
				for _, n := range names {
					c := x.ByCarrier[n]
					fmt.Fprintf(&b, "%-8s %-16s %8d %8d %8s %9.0f %9s %23s %23s\n",
						"", n, c.Messages, c.Segments, "", c.MessagesPerSec, "", pp(c.EventToSubmit), pp(c.SubmitToStored))
				}
			}
			if h := x.HalfRate; h != nil {
				fmt.Fprintf(&b, "%-8s %-16s %8d %8s %8s %9.0f %9s %23s %23s %9s %8s %5s %4v\n",
					"", "half rate", h.Messages, "", "", h.Rate, "", pp(h.EventToSubmit), pp(h.SubmitToStored), "", "", "", h.Complete)
			}
			if len(x.InstanceCPUSeconds) > 1 {
				fmt.Fprintf(&b, "%-8s %d instances (cpu s/1k is their sum, rss MB the largest):", "", len(x.InstanceCPUSeconds))
				for i, c := range x.InstanceCPUSeconds {
					sep := ";"
					if i == 0 {
						sep = ""
					}
					fmt.Fprintf(&b, "%s #%d cpu %.1f s", sep, i+1, c)
					if i < len(x.InstancePeakRSSMB) {
						fmt.Fprintf(&b, ", peak RSS %.1f MB", x.InstancePeakRSSMB[i])
					}
					if i < len(x.InstanceParts) {
						fmt.Fprintf(&b, ", %d parts submitted", x.InstanceParts[i])
					}
				}
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%-8s receipts %v; harness CPU %.1f s (broker, simulators, publisher; same 2 cores)\n", "", x.Receipts, x.HarnessCPU)
			if x.Ledger == "postgres" {
				fmt.Fprintf(&b, "%-8s ledger PostgreSQL: database CPU %.1f s, %.3f s per 1,000 messages (its processes on this machine)\n",
					"", x.DBCPUSeconds, x.DBCPUPer1000)
			}
			for _, n := range x.Notes {
				fmt.Fprintf(&b, "%-8s note: %s\n", "", n)
			}
		}
	}
	if r.Ratio > 0 {
		fmt.Fprintf(&b, "ratio smsgw/kannel (messages/s end to end): %.2f×\n", r.Ratio)
	}
	if s := r.Sweep; s != nil {
		fmt.Fprintf(&b, "sweep: %d events (%d fired, %d messages) in %.2f s = %.0f events/s; cpu %.1f s (%.2f s per million); peak RSS %.1f MB; complete %v (publish took %.2f s, not counted)\n",
			s.Events, s.Fired, s.Messages, s.Seconds, s.EventsPerSec, s.CPUSeconds, s.CPUPerMillion, s.PeakRSSMB, s.Complete, s.PublishSecs)
	}
	_, _ = io.WriteString(w, b.String())
}

func pp(l Latency) string {
	if l.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.1f", l.P50, l.P99)
}
