package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
)

func factory(tb testing.TB, clock func() time.Time) ledger.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "ledger.db"), ledger.Options{Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { ledgertest.Run(t, factory) }

func BenchmarkLedger(b *testing.B) { ledgertest.Bench(b, factory) }

func TestMetricsAndNestedDir(t *testing.T) {
	reg := prometheus.NewRegistry()
	path := filepath.Join(t.TempDir(), "data", "sub", "ledger.db") // directories created
	s, err := sqlite.Open(t.Context(), path, ledger.Options{Metrics: ledger.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms := []*message.Message{ledgertest.Msg("ev", "r", 1), ledgertest.Msg("ev", "r", 2)}
	if err := s.Insert(t.Context(), ms); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receipts(t.Context(), []ledger.Receipt{{Carrier: "cmcc", MessageID: "1", Stat: "DELIVRD"}}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			}
		}
	}
	if got["smsgw_ledger_rows_total/insert"] != 2 || got["smsgw_ledger_receipts_total/pending"] != 1 {
		t.Fatalf("metrics %v", got)
	}
}
