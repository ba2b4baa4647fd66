package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
)

// rawDB opens the database file at path directly, for what the Store API
// does not show (the schema, schema_migrations) and for writing as an
// older release did.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openStore(t *testing.T, path string) ledger.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, ledger.Options{Now: func() time.Time { return ledgertest.T0 }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// readSchema reads the schema back from sqlite_master and the table and
// index pragmas, normalised as core.Table.
func readSchema(t *testing.T, db *sql.DB) []core.Table {
	t.Helper()
	ctx := t.Context()
	var out []core.Table
	tables := queryStrings(t, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	for _, name := range tables {
		tb := core.Table{Name: name}
		var ddl string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, name)
		if err != nil {
			t.Fatal(err)
		}
		type keyCol struct {
			name string
			pos  int
		}
		var key []keyCol
		for rows.Next() {
			var c core.Column
			var typ string
			var notNull bool
			var dflt sql.NullString
			var pk int
			if err := rows.Scan(&c.Name, &typ, &notNull, &dflt, &pk); err != nil {
				t.Fatal(err)
			}
			c.Type = sqliteType(typ)
			c.NotNull = notNull || pk > 0 // a key column never holds NULL in the ledger
			c.Default = dflt.String
			c.Auto = pk > 0 && strings.EqualFold(typ, "INTEGER") && strings.Contains(ddl, "AUTOINCREMENT")
			if pk > 0 {
				key = append(key, keyCol{c.Name, pk})
			}
			tb.Columns = append(tb.Columns, c)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(key, func(a, b keyCol) int { return a.pos - b.pos })
		for _, k := range key {
			tb.Key = append(tb.Key, k.name)
		}
		tb.Unique, tb.Indexes = readIndexes(t, db, name)
		tb.Triggers = queryStrings(t, db, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name`, name)
		out = append(out, tb)
	}
	return out
}

func readIndexes(t *testing.T, db *sql.DB, table string) (unique [][]string, idx []core.Index) {
	t.Helper()
	type li struct {
		name, origin string
		unique       bool
	}
	var list []li
	rows, err := db.QueryContext(t.Context(), `SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name`, table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l li
		if err := rows.Scan(&l.name, &l.unique, &l.origin); err != nil {
			t.Fatal(err)
		}
		list = append(list, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		cols := queryStrings(t, db, `SELECT name || CASE WHEN "desc" THEN ' DESC' ELSE '' END FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, l.name)
		switch l.origin {
		case "pk": // the key of a WITHOUT ROWID table: read from table_info
		case "u":
			unique = append(unique, cols)
		default:
			var ddl string
			if err := db.QueryRowContext(t.Context(), `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, l.name).Scan(&ddl); err != nil {
				t.Fatal(err)
			}
			var where string
			if _, w, ok := strings.Cut(ddl, " WHERE "); ok {
				where = w
			}
			idx = append(idx, core.Index{Name: l.name, Columns: cols, Unique: l.unique, Where: where})
		}
	}
	return unique, idx
}

func sqliteType(t string) core.Type {
	switch u := strings.ToUpper(t); {
	case strings.Contains(u, "INT"):
		return core.Int
	case u == "TEXT":
		return core.Text
	default:
		return core.Type(strings.ToLower(t))
	}
}

func queryStrings(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkSchema compares the schema of the database with core.Schema and
// checks that schema_migrations holds versions 1 … Schema.Version, applied
// at T0.
func checkSchema(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, d := range core.Diff(core.Schema.For("sqlite"), readSchema(t, db)) {
		t.Errorf("sqlite schema differs from core.Schema: %s", d)
	}
	got := queryStrings(t, db, `SELECT version || ' at ' || applied_at FROM schema_migrations ORDER BY version`)
	var want []string
	for v := 1; v <= core.Schema.Version; v++ {
		want = append(want, strconv.Itoa(v)+" at "+strconv.FormatInt(ledgertest.T0.UnixNano(), 10))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations %q, want %q", got, want)
	}
}

// TestSchemaAgrees: a new ledger has the schema core.Schema describes
// (ledger/postgres checks the same description), and its version.
func TestSchemaAgrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s := openStore(t, path)
	defer s.Close()
	if len(sqlite.Migrations) != core.Schema.Version {
		t.Errorf("%d migrations, core.Schema is version %d", len(sqlite.Migrations), core.Schema.Version)
	}
	checkSchema(t, rawDB(t, path))
}

// TestOpenTwice: opening a ledger again migrates nothing and keeps the
// version and its time.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s := openStore(t, path)
	if err := s.Insert(t.Context(), []*message.Message{ledgertest.Msg("ev", "r", 1), ledgertest.Msg("ev", "r", 2), ledgertest.Msg("ev", "r", 3)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	defer s.Close()
	db := rawDB(t, path)
	checkSchema(t, db)
	if n := queryStrings(t, db, `SELECT count(*) FROM messages`); !slices.Equal(n, []string{"3"}) {
		t.Errorf("%v messages after reopening, want 3", n)
	}
}

// TestUpgradeFromV1 opens a ledger written by the last release before
// versioned migrations (testdata/ledger_v1.sql, that release's schema as it
// ran it at every open) with rows in every state: it is recognised as
// version 1, migrated, agrees with core.Schema, and its rows read and work
// through the Store API, before and after a second open.
func TestUpgradeFromV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ddl, err := os.ReadFile("testdata/ledger_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := rawDB(t, path)
	if _, err := old.ExecContext(t.Context(), string(ddl)); err != nil {
		t.Fatalf("v1 schema: %v", err)
	}
	for _, st := range ledgertest.V1Rows() {
		if _, err := old.ExecContext(t.Context(), st); err != nil {
			t.Fatalf("v1 rows: %v\n%s", err, st)
		}
	}
	old.Close()

	res, err := sqlite.Migrate(t.Context(), path, sqlite.Migrations, ledgertest.T0.UnixNano())
	if err != nil || res != (core.Migrated{From: 1, To: core.Schema.Version, Legacy: true}) {
		t.Fatalf("migrate: %+v %v, want from 1 (legacy) to %d", res, err, core.Schema.Version)
	}
	s := openStore(t, path)
	checkSchema(t, rawDB(t, path))
	ledgertest.CheckV1Rows(t, s)
	s.Close()

	s = openStore(t, path)
	defer s.Close()
	checkSchema(t, rawDB(t, path))
	ledgertest.CheckV1Rows(t, s)
	ledgertest.CheckV1Writes(t, s)
}

// testV2 is a version 2 this binary does not know: a table and an index.
var testV2 = core.Migration{Version: 2, Statements: []string{
	`CREATE TABLE carrier_quotas (carrier TEXT PRIMARY KEY, per_day INTEGER NOT NULL DEFAULT 0)`,
	`INSERT INTO carrier_quotas (carrier, per_day) VALUES ('cmcc', 100)`,
}}

// TestNewerVersionRefused: a ledger a newer release migrated is refused,
// with an error that names both versions, and left as it was.
func TestNewerVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	openStore(t, path).Close()
	res, err := sqlite.Migrate(t.Context(), path, append(slices.Clone(sqlite.Migrations), testV2), 1)
	if err != nil || res.From != 1 || res.To != 2 {
		t.Fatalf("migrate to 2: %+v %v", res, err)
	}
	_, err = sqlite.Open(t.Context(), path, ledger.Options{})
	if !errors.Is(err, ledger.ErrSchemaNewer) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "up to 1") {
		t.Fatalf("open a version 2 ledger: %v, want ErrSchemaNewer naming versions 2 and 1", err)
	}
	t.Log(err)
	db := rawDB(t, path)
	if v := queryStrings(t, db, `SELECT version FROM schema_migrations ORDER BY version`); !slices.Equal(v, []string{"1", "2"}) {
		t.Errorf("versions %v after the refused open, want [1 2]", v)
	}
}

// TestMigrateSteps: versions apply in order, each once; a failing one
// changes nothing; a list out of order is refused.
func TestMigrateSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	v3 := core.Migration{Version: 3, Statements: []string{`ALTER TABLE carrier_quotas ADD COLUMN per_hour INTEGER NOT NULL DEFAULT 0`}}
	res, err := sqlite.Migrate(t.Context(), path, []core.Migration{sqlite.Migrations[0], testV2, v3}, 1)
	if err != nil || res != (core.Migrated{From: 0, To: 3}) {
		t.Fatalf("migrate an empty database: %+v %v", res, err)
	}
	res, err = sqlite.Migrate(t.Context(), path, []core.Migration{sqlite.Migrations[0], testV2, v3}, 2)
	if err != nil || res != (core.Migrated{From: 3, To: 3}) {
		t.Fatalf("migrate again: %+v %v", res, err)
	}
	bad := core.Migration{Version: 4, Statements: []string{`CREATE TABLE t4 (x INTEGER)`, `INSERT INTO no_such_table VALUES (1)`}}
	_, err = sqlite.Migrate(t.Context(), path, []core.Migration{sqlite.Migrations[0], testV2, v3, bad}, 3)
	if err == nil || !strings.Contains(err.Error(), "migration 4, statement 2") {
		t.Fatalf("failing migration: %v, want an error naming migration 4, statement 2", err)
	}
	db := rawDB(t, path)
	if v := queryStrings(t, db, `SELECT version || ':' || applied_at FROM schema_migrations ORDER BY version`); !slices.Equal(v, []string{"1:1", "2:1", "3:1"}) {
		t.Errorf("versions %v, want 1, 2, 3 applied once, at the first open", v)
	}
	if n := queryStrings(t, db, `SELECT name FROM sqlite_master WHERE name = 't4'`); len(n) != 0 {
		t.Error("the failed migration's first statement stayed")
	}
	if _, err := sqlite.Migrate(t.Context(), path, []core.Migration{sqlite.Migrations[0], v3}, 4); err == nil {
		t.Error("a list with version 3 second was accepted")
	}
}
