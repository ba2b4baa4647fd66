package smsgw

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestDemoNative runs the demo with China Mobile on CMPP 3.0, Unicom on
// SGIP 1.2, Telecom on SMGP 3.0 and Broadnet on SMPP: every message
// reaches a final receipt, every carrier sent through its own protocol's
// simulator, and the carrier metrics of all four protocols share the
// gateway's registry under their protocol label.
func TestDemoNative(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	reg := prometheus.NewRegistry()
	s, err := Demo(context.Background(), DemoOptions{
		Events: 300, Seed: 17, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)), RulesDir: "../../../rules",
		ReceiptDelay: 20 * time.Millisecond, Outcomes: map[string]float64{"DELIVRD": 1}, Timeout: 3 * time.Minute,
		Native: true, Registry: reg,
	})
	if err != nil {
		t.Fatalf("demo: %v (summary %+v)", err, s)
	}
	if !s.Complete {
		t.Fatalf("incomplete: %+v", s)
	}
	for _, c := range DemoCarriers {
		if s.SMSCSubmits[c.Name] == 0 || s.ByCarrier[c.Name].Delivered == 0 {
			t.Errorf("%s: %d submits at its simulator, %+v", c.Name, s.SMSCSubmits[c.Name], s.ByCarrier[c.Name])
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	protocols := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "smpp_submits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			protocols[label(m, "carrier")] = label(m, "protocol")
		}
	}
	want := map[string]string{"china_mobile": "cmpp", "china_unicom": "sgip", "china_telecom": "smgp", "china_broadnet": "smpp"}
	for c, p := range want {
		if protocols[c] != p {
			t.Errorf("smpp_submits_total for %s under protocol %q, want %q (all: %v)", c, protocols[c], p, protocols)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
