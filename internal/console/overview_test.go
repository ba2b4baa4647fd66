package console

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/event"
)

// The sampler turns the registry's counters into per-second rates between
// samples, per carrier, and keeps at most an hour of samples.
func TestSamplerRates(t *testing.T) {
	reg := prometheus.NewRegistry()
	submits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_submits_total", Help: "h"}, []string{"carrier", "result"})
	receipts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_receipts_total", Help: "h"}, []string{"carrier", "stat"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smpp_submit_duration_seconds", Help: "h"}, []string{"carrier"})
	recLat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smsgw_receipt_latency_seconds", Help: "h"}, []string{"carrier"})
	reg.MustRegister(submits, receipts, lat, recLat)
	s := newSampler(reg, []Carrier{{Name: "cm"}, {Name: "cu"}})
	t0 := time.Unix(1_800_000_000, 0)
	s.sample(t0)
	if r := rates(s.series["cm"]); r == nil || len(r) != 0 {
		t.Fatalf("one sample: rates %v, want an empty list", r)
	}
	submits.WithLabelValues("cm", "ok").Add(50)
	submits.WithLabelValues("cm", "retry").Add(7) // not a submit that went out
	receipts.WithLabelValues("cm", "DELIVRD").Add(30)
	receipts.WithLabelValues("cm", "UNDELIV").Add(10)
	lat.WithLabelValues("cm").Observe(0.020)
	lat.WithLabelValues("cm").Observe(0.040)
	recLat.WithLabelValues("cm").Observe(4)
	recLat.WithLabelValues("cm").Observe(8)
	s.sample(t0.Add(5 * time.Second))
	r := rates(s.series["cm"])
	if len(r) != 1 {
		t.Fatalf("rates %v", r)
	}
	got := r[0]
	if got.SubmitPerSec != 10 || got.ReceiptPerSec != 8 || got.DeliveryRate != 0.75 || math.Abs(got.LatencyMS-30) > 1e-9 || got.ReceiptS != 6 {
		t.Fatalf("rates = %+v", got)
	}
	if cu := rates(s.series["cu"]); len(cu) != 1 || cu[0].DeliveryRate != -1 || cu[0].LatencyMS != -1 || cu[0].ReceiptS != -1 {
		t.Fatalf("idle carrier = %+v", cu)
	}
	for i := range keepSamples + 10 {
		s.sample(t0.Add(time.Duration(10+i) * time.Second))
	}
	if n := len(s.series["cm"]); n != keepSamples {
		t.Fatalf("%d samples kept, want %d", n, keepSamples)
	}
	if n := len(s.globals); n != keepSamples {
		t.Fatalf("%d global samples kept", n)
	}
}

// Every event type has a form, and its fields are the JSON names the
// decoder reads (a path the event does not carry would be a dead input).
func TestSchemaFields(t *testing.T) {
	want := map[string]string{
		"violation.recorded":     "violation.points:number vehicle.phone:string violation.time:time violation.monitoring:bool",
		"advisory.published":     "regions:list valid_until:time kind:string",
		"licence.status_changed": "licence.number:string",
	}
	for typ, fs := range want {
		got := map[string]string{}
		for _, f := range fields(payloadOf(event.Type(typ)), "", nil) {
			got[f.Path] = f.Kind
		}
		for _, pk := range strings.Fields(fs) {
			p, k, _ := strings.Cut(pk, ":")
			if got[p] != k {
				t.Errorf("%s: %s is %q, want %q (fields %v)", typ, p, got[p], k, got)
			}
		}
	}
	for _, typ := range event.Types {
		if payloadOf(typ) == nil {
			t.Errorf("no form for %s", typ)
		}
	}
}
