package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/rules"
)

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]float64
	}{
		{"plain", "# HELP x y\n# TYPE x counter\nx 3\n", map[string]float64{"x": 3}},
		{"labels summed", "smsgw_receipts_total{carrier=\"a\",stat=\"DELIVRD\"} 2\nsmsgw_receipts_total{carrier=\"b\",stat=\"UNDELIV\"} 5\n", map[string]float64{"smsgw_receipts_total": 7}},
		{"label with space and brace", "m{l=\"a b}\"} 1.5e3\n", map[string]float64{"m": 1500}},
		{"garbage skipped", "novalue\nm 1\n", map[string]float64{"m": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMetrics(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestLatency(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := latency(ds)
	if l.N != 100 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 {
		t.Errorf("latency = %+v", l)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("latency sorted its input in place")
	}
	if (latency(nil) != Latency{}) {
		t.Error("empty input")
	}
}

// TestMakeItems checks the benchmark's events against the shipped rules:
// one message due now per event, distinct numbers, carriers in turn.
func TestMakeItems(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	if err := copyRules("../../rules", dir); err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadDir(dir, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// 23:00 Beijing time is inside the shipped quiet hours: the copy must
	// not defer anything.
	now := time.Date(2026, 11, 27, 23, 0, 0, 0, time.FixedZone("CST", 8*3600))
	carriers := []string{"china_mobile", "china_unicom", "china_telecom", "china_broadnet"}
	items, err := makeItems(set, 200, carriers, 1, 0, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, it := range items {
		if seen[it.Phone] {
			t.Fatalf("phone %s twice", it.Phone)
		}
		seen[it.Phone] = true
		if it.Carrier != carriers[i%4] || !strings.HasPrefix(it.Phone, carrierPrefixes[it.Carrier]) {
			t.Errorf("item %d: carrier %s phone %s", i, it.Carrier, it.Phone)
		}
		if it.Segments < 1 || !strings.HasPrefix(it.Text, "【交管12123】") {
			t.Errorf("item %d: %d segments, text %q", i, it.Segments, it.Text)
		}
		ev, err := event.Decode(it.Value)
		if err != nil {
			t.Fatalf("item %d does not decode: %v", i, err)
		}
		res, err := set.Evaluate(ev, now)
		if err != nil || len(res.Decisions) != 1 || res.Decisions[0].NotBefore.After(now) || res.Decisions[0].Recipient != it.Phone {
			t.Fatalf("item %d: %+v %v", i, res, err)
		}
	}
	// a second phase must not collide with the first
	more, err := makeItems(set, 50, carriers, 2, 0, 7, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range more {
		if seen[it.Phone] {
			t.Fatalf("phase 2 reuses %s", it.Phone)
		}
	}
}

func TestCopyRulesKeepsEverythingButQuietHours(t *testing.T) {
	dir := t.TempDir()
	if err := copyRules("../../rules", dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "settings.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "00:00") || strings.Contains(string(b), "21:00") {
		t.Errorf("settings.yaml quiet hours not switched off:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "violation.yaml")); err != nil {
		t.Error(err)
	}
}

func TestProcFigures(t *testing.T) {
	for i := 0; i < 2_000_000; i++ { // burn a little CPU
		_ = strings.Repeat("x", i%7)
	}
	c, err := cpuSeconds(os.Getpid())
	if err != nil || c <= 0 {
		t.Errorf("cpuSeconds = %v, %v", c, err)
	}
	r, err := peakRSSMB(os.Getpid())
	if err != nil || r <= 1 {
		t.Errorf("peakRSSMB = %v, %v", r, err)
	}
}

// TestInstancesFlag: several gateways only where they can share a ledger
// and run as processes; the refusal comes before anything starts.
func TestInstancesFlag(t *testing.T) {
	const dsn = "postgres://u@127.0.0.1:1/db"
	for _, tc := range []struct {
		name string
		o    options
		want string // part of the error; "" for none
	}{
		{"one without ledger", options{mode: "gateway", instances: 1}, ""},
		{"two with postgres", options{mode: "gateway", instances: 2, ledger: dsn}, ""},
		{"two in both mode", options{mode: "both", instances: 2, ledger: dsn}, ""},
		{"two on sqlite", options{mode: "gateway", instances: 2}, "needs -ledger"},
		{"zero", options{mode: "gateway", instances: 0}, "want 1..8"},
		{"too many", options{mode: "gateway", instances: 9, ledger: dsn}, "want 1..8"},
		{"kannel", options{mode: "kannel", instances: 2, ledger: dsn}, "-mode kannel runs one"},
		{"sweep", options{mode: "sweep", instances: 2, ledger: dsn}, "-mode sweep runs one"},
		{"in-process profile", options{mode: "gateway", instances: 2, ledger: dsn, cpuprofile: "x.pprof"}, "-cpuprofile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkInstances(&tc.o)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkInstances: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkInstances = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// run parses -instances and refuses before it starts a broker or
	// builds anything.
	for _, args := range [][]string{
		{"-instances", "2", "-n", "10"},
		{"-mode", "kannel", "-instances", "2", "-ledger", dsn},
	} {
		var out strings.Builder
		if err := run(context.Background(), args, &out); err == nil || !strings.Contains(err.Error(), "-instances 2") || out.Len() > 0 {
			t.Errorf("run %v: %v, output %q", args, err, out.String())
		}
	}
}

func TestInstanceNames(t *testing.T) {
	if got := instanceFile("/tmp/m.txt", 0, 1); got != "/tmp/m.txt" {
		t.Errorf("one instance: %s", got)
	}
	if got := instanceFile("/tmp/m.txt", 1, 2); got != "/tmp/m-2.txt" {
		t.Errorf("second of two: %s", got)
	}
	if got := instanceFile("metrics", 0, 2); got != "metrics-1" {
		t.Errorf("no extension: %s", got)
	}
}

func TestTableShowsInstances(t *testing.T) {
	rep := &Report{Mode: "gateway", Instances: 2, N: 10, Carriers: []string{"china_mobile"}, Results: []*Result{{
		System: "smsgw", Messages: 10, Instances: 2, CPUSeconds: 3, PeakRSSMB: 120,
		InstanceCPUSeconds: []float64{1, 2}, InstancePeakRSSMB: []float64{110, 120}, InstanceParts: []int{9, 11},
	}}}
	var b strings.Builder
	writeTable(&b, rep)
	for _, want := range []string{"n=10  instances=2  carriers=", "#1 cpu 1.0 s, peak RSS 110.0 MB, 9 parts submitted; #2 cpu 2.0 s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
