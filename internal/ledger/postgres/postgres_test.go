package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
)

// dsn returns the test database, skipping when none is configured (failing
// under CI=true, where .ci/postgres.sh must have provided one).
func dsn(tb testing.TB) string {
	tb.Helper()
	d := os.Getenv("SMSGW_TEST_POSTGRES_DSN")
	if d == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("SMSGW_TEST_POSTGRES_DSN unset under CI: run .ci/postgres.sh")
		}
		tb.Skip("SMSGW_TEST_POSTGRES_DSN unset; eval \"$(.ci/postgres.sh)\" to run")
	}
	return d
}

// factory opens a store in a fresh schema, dropped after the test.
func factory(tb testing.TB, clock func() time.Time) ledger.Store {
	tb.Helper()
	base := dsn(tb)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "ledger_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(tb.Context(), u.String(), ledger.Options{Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { ledgertest.Run(t, factory) }

func BenchmarkLedger(b *testing.B) { ledgertest.Bench(b, factory) }
