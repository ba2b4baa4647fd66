package smpp_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smpp"
)

// One registry holds pkg/smpp's and pkg/cnsms's metrics, in either order:
// same names, help and labels, the second reuses the first's collectors,
// and the protocol label tells the carriers' protocols apart.
func TestMetricsShareRegistryWithCNSMS(t *testing.T) {
	for _, smppFirst := range []bool{true, false} {
		reg := prometheus.NewPedanticRegistry()
		var s *smpp.Metrics
		var c *cnsms.Metrics
		if smppFirst {
			s, c = smpp.NewMetrics(reg), cnsms.NewMetrics(reg)
		} else {
			c, s = cnsms.NewMetrics(reg), smpp.NewMetrics(reg)
		}
		again := smpp.NewMetrics(reg) // a second NewMetrics on one registry reuses too
		if s.Submits != c.Submits || s.BindsUp != c.BindsUp || s.MOPending != c.MOPending || again.Receipts != s.Receipts {
			t.Fatalf("smppFirst=%v: collectors not shared", smppFirst)
		}
		s.Submits.WithLabelValues("broadnet", smpp.Protocol, "ok").Inc()
		c.For("cmpp", "china_mobile").Submit("ok", 0.01)
		c.For("sgip", "china_unicom").Submit("ok", -1)
		if n := testutil.CollectAndCount(reg, "smpp_submits_total"); n != 3 {
			t.Fatalf("smppFirst=%v: %d smpp_submits_total series, want 3", smppFirst, n)
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("smppFirst=%v: gather: %v", smppFirst, err)
		}
	}
}

// A name registered with another label set is a programming error: it
// panics, as MustRegister does, rather than recording into nothing.
func TestMetricsClashPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smpp_submits_total", Help: "old"}, []string{"carrier", "result"}))
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a clashing registration")
		}
	}()
	smpp.NewMetrics(reg)
}
