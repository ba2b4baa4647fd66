package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
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
