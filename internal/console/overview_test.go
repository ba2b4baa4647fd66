package console

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The sampler turns the registry's counters into per-second rates between
// samples, per carrier, and keeps at most an hour of samples.
func TestSamplerRates(t *testing.T) {
	reg := prometheus.NewRegistry()
	submits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_submits_total", Help: "h"}, []string{"carrier", "result"})
	receipts := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_receipts_total", Help: "h"}, []string{"carrier", "stat"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "smpp_submit_duration_seconds", Help: "h"}, []string{"carrier"})
	reg.MustRegister(submits, receipts, lat)
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
	s.sample(t0.Add(5 * time.Second))
	r := rates(s.series["cm"])
	if len(r) != 1 {
		t.Fatalf("rates %v", r)
	}
	got := r[0]
	if got.SubmitPerSec != 10 || got.ReceiptPerSec != 8 || got.DeliveryRate != 0.75 || math.Abs(got.LatencyMS-30) > 1e-9 {
		t.Fatalf("rates = %+v", got)
	}
	if cu := rates(s.series["cu"]); len(cu) != 1 || cu[0].DeliveryRate != -1 || cu[0].LatencyMS != -1 {
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
