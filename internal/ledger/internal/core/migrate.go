package core

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/traffic12123/gateway/internal/ledger"
)

// Migration is one version of a store's schema: statements run one by one,
// in order, in the transaction that records the version in
// schema_migrations. Each store keeps its list (sqlite/migrations.go,
// postgres/migrations.go); applied from the start, a list must produce the
// schema that Schema describes (TestMigrations/SchemaAgrees in both).
type Migration struct {
	Version    int
	Statements []string
}

// MigrationsTable records the versions applied to a ledger, with the time
// (Unix nanoseconds) each was applied. The same statement on both databases
// (BIGINT is an integer column on SQLite).
const MigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT NOT NULL PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// Migrated says what Migrate found and did.
type Migrated struct {
	// From is the version the ledger was at: 0 for an empty database, 1
	// for a ledger of a release before versioned migrations (recognised by
	// its messages table, without schema_migrations).
	From int
	// To is the version it is at now, the last of the list.
	To int
	// Legacy is set for a ledger of a release before versioned migrations.
	Legacy bool
}

// Migrate brings the schema to the last version of migs. The caller runs
// it inside one write transaction that no other instance can run at the
// same time (SQLite BEGIN IMMEDIATE, a PostgreSQL advisory lock), so a
// failure leaves the ledger as it was. tablesSQL lists the names of the
// tables that exist. A ledger at a version newer than migs knows is
// refused with ledger.ErrSchemaNewer, changing nothing.
//
// A ledger from before versioned migrations has tables but no
// schema_migrations: it is at version 1, whose statements those releases
// ran at every open. They are run once more (version 1 stays idempotent:
// IF NOT EXISTS, OR REPLACE, ON CONFLICT DO NOTHING), which also completes
// a ledger of a release older than version 1's last change, and the
// version is recorded.
func Migrate(ctx context.Context, q Q, tablesSQL string, migs []Migration, now int64) (Migrated, error) {
	for i, m := range migs {
		if m.Version != i+1 {
			return Migrated{}, fmt.Errorf("migration %d has version %d: versions are 1, 2, … in order", i+1, m.Version)
		}
	}
	latest := len(migs)
	tables, err := tableNames(ctx, q, tablesSQL)
	if err != nil {
		return Migrated{}, fmt.Errorf("list tables: %w", err)
	}
	var res Migrated
	switch {
	case tables["schema_migrations"]:
		err := queryEach(ctx, q, func(r Rows) error { return r.Scan(&res.From) },
			`SELECT CAST(COALESCE(max(version), 0) AS BIGINT) FROM schema_migrations`)
		if err != nil {
			return Migrated{}, fmt.Errorf("read schema version: %w", err)
		}
	case tables["messages"]:
		res.From, res.Legacy = 1, true
	}
	if res.From > latest {
		return Migrated{}, fmt.Errorf("%w: the ledger is at version %d, this binary knows versions up to %d; run a release that knows version %d",
			ledger.ErrSchemaNewer, res.From, latest, res.From)
	}
	res.To = latest
	if _, err := q.Exec(ctx, MigrationsTable); err != nil {
		return Migrated{}, fmt.Errorf("create schema_migrations: %w", err)
	}
	next := res.From
	if res.Legacy {
		next = 0 // version 1 again, then recorded
	}
	for _, m := range migs[next:] {
		for i, st := range m.Statements {
			if _, err := q.Exec(ctx, st); err != nil {
				return Migrated{}, fmt.Errorf("migration %d, statement %d: %w", m.Version, i+1, err)
			}
		}
		if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, int64(m.Version), now); err != nil {
			return Migrated{}, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
	}
	return res, nil
}

// Log reports a migration that changed the schema (or recorded the version
// of a ledger from before versioned migrations) on l.
func (m Migrated) Log(l *slog.Logger, store string) {
	if m.From != m.To || m.Legacy {
		l.Info("ledger schema migrated", "store", store, "from", m.From, "to", m.To, "legacy", m.Legacy)
	}
}

func tableNames(ctx context.Context, q Q, tablesSQL string) (map[string]bool, error) {
	names := map[string]bool{}
	err := queryEach(ctx, q, func(r Rows) error {
		var n string
		if err := r.Scan(&n); err != nil {
			return err
		}
		names[n] = true
		return nil
	}, tablesSQL)
	return names, err
}
