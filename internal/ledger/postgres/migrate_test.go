package postgres_test

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
	"github.com/traffic12123/gateway/internal/message"
)

// rawConn connects to the schema of dsn directly, for what the Store API
// does not show (the schema, schema_migrations) and for writing as an
// older release did.
func rawConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	return c
}

func openStore(t *testing.T, dsn string) ledger.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, ledger.Options{Now: func() time.Time { return ledgertest.T0 }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// readSchema reads the schema of the connection's current schema back from
// information_schema, pg_indexes and pg_index, normalised as core.Table.
func readSchema(t *testing.T, c *pgx.Conn) []core.Table {
	t.Helper()
	var out []core.Table
	for _, name := range queryStrings(t, c, `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`) {
		tb := core.Table{Name: name}
		rows, err := c.Query(t.Context(), `SELECT column_name::text, data_type::text, is_nullable = 'NO', COALESCE(column_default, '')
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var col core.Column
			var typ, dflt string
			if err := rows.Scan(&col.Name, &typ, &col.NotNull, &dflt); err != nil {
				t.Fatal(err)
			}
			col.Type = pgType(typ)
			if strings.HasPrefix(dflt, "nextval(") {
				col.Auto = true
			} else {
				col.Default, _, _ = strings.Cut(dflt, "::")
			}
			tb.Columns = append(tb.Columns, col)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows, err = c.Query(t.Context(), `SELECT i.indexname::text, x.indisprimary, x.indisunique,
				EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.contype = 'u'),
				COALESCE(pg_get_expr(x.indpred, x.indrelid), ''),
				ARRAY(SELECT pg_get_indexdef(x.indexrelid, n, true) || CASE WHEN x.indoption[n-1] & 1 = 1 THEN ' DESC' ELSE '' END
					FROM generate_series(1, x.indnkeyatts) n ORDER BY n)
			FROM pg_indexes i
			JOIN pg_class ic ON ic.relname = i.indexname
			JOIN pg_namespace ns ON ns.oid = ic.relnamespace AND ns.nspname = i.schemaname
			JOIN pg_index x ON x.indexrelid = ic.oid
			WHERE i.schemaname = current_schema() AND i.tablename = $1 ORDER BY 1`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ix core.Index
			var primary, constraint bool
			if err := rows.Scan(&ix.Name, &primary, &ix.Unique, &constraint, &ix.Where, &ix.Columns); err != nil {
				t.Fatal(err)
			}
			switch {
			case primary:
				tb.Key = ix.Columns
			case constraint:
				tb.Unique = append(tb.Unique, ix.Columns)
			default:
				tb.Indexes = append(tb.Indexes, ix)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		tb.Triggers = queryStrings(t, c, `SELECT DISTINCT trigger_name::text FROM information_schema.triggers
			WHERE event_object_schema = current_schema() AND event_object_table = $1 ORDER BY 1`, name)
		out = append(out, tb)
	}
	return out
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

func queryStrings(t *testing.T, c *pgx.Conn, query string, args ...any) []string {
	t.Helper()
	rows, err := c.Query(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSchema compares the schema of the database with core.Schema and
// checks that schema_migrations holds versions 1 … Schema.Version, applied
// at T0.
func checkSchema(t *testing.T, c *pgx.Conn) {
	t.Helper()
	for _, d := range core.Diff(core.Schema.For("postgres"), readSchema(t, c)) {
		t.Errorf("postgres schema differs from core.Schema: %s", d)
	}
	got := queryStrings(t, c, `SELECT version || ' at ' || applied_at FROM schema_migrations ORDER BY version`)
	var want []string
	for v := 1; v <= core.Schema.Version; v++ {
		want = append(want, strconv.Itoa(v)+" at "+strconv.FormatInt(ledgertest.T0.UnixNano(), 10))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations %q, want %q", got, want)
	}
}

// TestSchemaAgrees: a new ledger has the schema core.Schema describes
// (ledger/sqlite checks the same description), and its version.
func TestSchemaAgrees(t *testing.T) {
	d := schemaDSN(t)
	s := openStore(t, d)
	defer s.Close()
	if len(postgres.Migrations) != core.Schema.Version {
		t.Errorf("%d migrations, core.Schema is version %d", len(postgres.Migrations), core.Schema.Version)
	}
	checkSchema(t, rawConn(t, d))
}

// TestOpenTwice: opening a ledger again migrates nothing and keeps the
// version and its time.
func TestOpenTwice(t *testing.T) {
	d := schemaDSN(t)
	s := openStore(t, d)
	if err := s.Insert(t.Context(), []*message.Message{ledgertest.Msg("ev", "r", 1), ledgertest.Msg("ev", "r", 2), ledgertest.Msg("ev", "r", 3)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, d)
	defer s.Close()
	c := rawConn(t, d)
	checkSchema(t, c)
	if n := queryStrings(t, c, `SELECT count(*)::text FROM messages`); !slices.Equal(n, []string{"3"}) {
		t.Errorf("%v messages after reopening, want 3", n)
	}
}

// TestUpgradeFromV1 opens a ledger written by the last release before
// versioned migrations (testdata/ledger_v1.sql, that release's schema as it
// ran it at every open) with rows in every state: it is recognised as
// version 1, migrated, agrees with core.Schema, and its rows read and work
// through the Store API, before and after a second open.
func TestUpgradeFromV1(t *testing.T) {
	d := schemaDSN(t)
	ddl, err := os.ReadFile("testdata/ledger_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := rawConn(t, d)
	if _, err := old.Exec(t.Context(), string(ddl)); err != nil {
		t.Fatalf("v1 schema: %v", err)
	}
	for _, st := range ledgertest.V1Rows() {
		if _, err := old.Exec(t.Context(), st); err != nil {
			t.Fatalf("v1 rows: %v\n%s", err, st)
		}
	}

	res, err := postgres.Migrate(t.Context(), d, postgres.Migrations, ledgertest.T0.UnixNano())
	if err != nil || res != (core.Migrated{From: 1, To: core.Schema.Version, Legacy: true}) {
		t.Fatalf("migrate: %+v %v, want from 1 (legacy) to %d", res, err, core.Schema.Version)
	}
	s := openStore(t, d)
	checkSchema(t, old)
	ledgertest.CheckV1Rows(t, s)
	s.Close()

	s = openStore(t, d)
	defer s.Close()
	checkSchema(t, old)
	ledgertest.CheckV1Rows(t, s)
	ledgertest.CheckV1Writes(t, s)
}

// testV2 is a version 2 this binary does not know: a table and a row.
var testV2 = core.Migration{Version: 2, Statements: []string{
	`CREATE TABLE carrier_quotas (carrier TEXT PRIMARY KEY, per_day BIGINT NOT NULL DEFAULT 0)`,
	`INSERT INTO carrier_quotas (carrier, per_day) VALUES ('cmcc', 100)`,
}}

// TestNewerVersionRefused: a ledger a newer release migrated is refused,
// with an error that names both versions, and left as it was.
func TestNewerVersionRefused(t *testing.T) {
	d := schemaDSN(t)
	openStore(t, d).Close()
	res, err := postgres.Migrate(t.Context(), d, append(slices.Clone(postgres.Migrations), testV2), 1)
	if err != nil || res.From != 1 || res.To != 2 {
		t.Fatalf("migrate to 2: %+v %v", res, err)
	}
	_, err = postgres.Open(t.Context(), d, ledger.Options{})
	if !errors.Is(err, ledger.ErrSchemaNewer) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "up to 1") {
		t.Fatalf("open a version 2 ledger: %v, want ErrSchemaNewer naming versions 2 and 1", err)
	}
	t.Log(err)
	if v := queryStrings(t, rawConn(t, d), `SELECT version::text FROM schema_migrations ORDER BY version`); !slices.Equal(v, []string{"1", "2"}) {
		t.Errorf("versions %v after the refused open, want [1 2]", v)
	}
}

// TestMigrateSteps: versions apply in order, each once; a failing one
// changes nothing.
func TestMigrateSteps(t *testing.T) {
	d := schemaDSN(t)
	v3 := core.Migration{Version: 3, Statements: []string{`ALTER TABLE carrier_quotas ADD COLUMN per_hour BIGINT NOT NULL DEFAULT 0`}}
	res, err := postgres.Migrate(t.Context(), d, []core.Migration{postgres.Migrations[0], testV2, v3}, 1)
	if err != nil || res != (core.Migrated{From: 0, To: 3}) {
		t.Fatalf("migrate an empty schema: %+v %v", res, err)
	}
	res, err = postgres.Migrate(t.Context(), d, []core.Migration{postgres.Migrations[0], testV2, v3}, 2)
	if err != nil || res != (core.Migrated{From: 3, To: 3}) {
		t.Fatalf("migrate again: %+v %v", res, err)
	}
	bad := core.Migration{Version: 4, Statements: []string{`CREATE TABLE t4 (x BIGINT)`, `INSERT INTO no_such_table VALUES (1)`}}
	_, err = postgres.Migrate(t.Context(), d, []core.Migration{postgres.Migrations[0], testV2, v3, bad}, 3)
	if err == nil || !strings.Contains(err.Error(), "migration 4, statement 2") {
		t.Fatalf("failing migration: %v, want an error naming migration 4, statement 2", err)
	}
	c := rawConn(t, d)
	if v := queryStrings(t, c, `SELECT version || ':' || applied_at FROM schema_migrations ORDER BY version`); !slices.Equal(v, []string{"1:1", "2:1", "3:1"}) {
		t.Errorf("versions %v, want 1, 2, 3 applied once, at the first open", v)
	}
	if n := queryStrings(t, c, `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename = 't4'`); len(n) != 0 {
		t.Error("the failed migration's first statement stayed")
	}
}
