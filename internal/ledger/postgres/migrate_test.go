package postgres_test

import (
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
)

// TestMigrations: the schema agrees with core.Schema, a ledger of the
// release before versioned migrations upgrades, a newer one is refused.
func TestMigrations(t *testing.T) { ledgertest.RunMigrations(t, migrationEnv) }

// migrationEnv is a new PostgreSQL schema (dropped after the test), with
// a connection of its own for what the Store API does not show.
func migrationEnv(t *testing.T) *ledgertest.MigrationEnv {
	d := schemaDSN(t)
	ddl, err := os.ReadFile("testdata/ledger_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	return &ledgertest.MigrationEnv{
		Store:      "postgres",
		Migrations: postgres.Migrations,
		V1DDL:      string(ddl),
		Open: func(opts ledger.Options) (ledger.Store, error) {
			return postgres.Open(t.Context(), d, opts)
		},
		Migrate: func(migs []core.Migration, now int64) (core.Migrated, error) {
			return postgres.Migrate(t.Context(), d, migs, now)
		},
		Exec: func(script string) error {
			_, err := c.Exec(t.Context(), script)
			return err
		},
		Strings: func(query string) ([]string, error) { return queryStrings(t, c, query) },
		Schema:  func() ([]core.Table, error) { return readSchema(t, c) },
	}
}

// readSchema reads the schema of the connection's current schema back from
// information_schema, pg_indexes and pg_index, normalised as core.Table.
func readSchema(t *testing.T, c *pgx.Conn) ([]core.Table, error) {
	tables, err := queryStrings(t, c, `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	var out []core.Table
	for _, name := range tables {
		tb := core.Table{Name: name}
		if tb.Columns, err = readColumns(t, c, name); err != nil {
			return nil, err
		}
		if err := readIndexes(t, c, &tb); err != nil {
			return nil, err
		}
		if tb.Triggers, err = queryStrings(t, c, `SELECT DISTINCT trigger_name::text FROM information_schema.triggers
			WHERE event_object_schema = current_schema() AND event_object_table = $1 ORDER BY 1`, name); err != nil {
			return nil, err
		}
		out = append(out, tb)
	}
	return out, nil
}

func readColumns(t *testing.T, c *pgx.Conn, table string) ([]core.Column, error) {
	rows, err := c.Query(t.Context(), `SELECT column_name::text, data_type::text, is_nullable = 'NO', COALESCE(column_default, '')
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	var cols []core.Column
	var typ, dflt string
	var col core.Column
	_, err = pgx.ForEachRow(rows, []any{&col.Name, &typ, &col.NotNull, &dflt}, func() error {
		col.Type, col.Auto, col.Default = pgType(typ), false, ""
		if strings.HasPrefix(dflt, "nextval(") {
			col.Auto = true
		} else {
			col.Default, _, _ = strings.Cut(dflt, "::") // ''::text
		}
		cols = append(cols, col)
		return nil
	})
	return cols, err
}

// readIndexes fills the primary key, the UNIQUE constraints and the named
// indexes of tb.
func readIndexes(t *testing.T, c *pgx.Conn, tb *core.Table) error {
	rows, err := c.Query(t.Context(), `SELECT i.indexname::text, x.indisprimary, x.indisunique,
			EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype = 'u'),
			COALESCE(pg_get_expr(x.indpred, x.indrelid), ''),
			ARRAY(SELECT pg_get_indexdef(x.indexrelid, n, true) || CASE WHEN x.indoption[n-1] & 1 = 1 THEN ' DESC' ELSE '' END
				FROM generate_series(1, x.indnkeyatts) n ORDER BY n)
		FROM pg_indexes i
		JOIN pg_class ic ON ic.relname = i.indexname
		JOIN pg_namespace ns ON ns.oid = ic.relnamespace AND ns.nspname = i.schemaname
		JOIN pg_index x ON x.indexrelid = ic.oid
		WHERE i.schemaname = current_schema() AND i.tablename = $1 ORDER BY 1`, tb.Name)
	if err != nil {
		return err
	}
	var ix core.Index
	var primary, constraint bool
	_, err = pgx.ForEachRow(rows, []any{&ix.Name, &primary, &ix.Unique, &constraint, &ix.Where, &ix.Columns}, func() error {
		switch {
		case primary:
			tb.Key = ix.Columns
		case constraint:
			tb.Unique = append(tb.Unique, ix.Columns)
		default:
			tb.Indexes = append(tb.Indexes, ix)
		}
		ix.Columns = nil // a new slice for the next row
		return nil
	})
	return err
}

func pgType(t string) core.Type {
	switch t {
	case "bigint", "integer", "smallint":
		return core.Int
	case "text":
		return core.Text
	default:
		return core.Type(t)
	}
}

func queryStrings(t *testing.T, c *pgx.Conn, query string, args ...any) ([]string, error) {
	rows, err := c.Query(t.Context(), query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
