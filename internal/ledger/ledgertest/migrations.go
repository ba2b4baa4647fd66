package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/message"
)

// MigrationEnv is what the migration tests need of a store: one new,
// empty database (a file, a PostgreSQL schema), and direct access to it
// for what the Store API does not show.
type MigrationEnv struct {
	Store      string           // "sqlite" or "postgres", for core.Schema.For
	Migrations []core.Migration // the list Open applies
	// V1DDL is the schema of the last release before versioned
	// migrations, as it ran it at every open (frozen testdata).
	V1DDL string
	// Open opens the Store on the database, as the gateway does.
	Open func(opts ledger.Options) (ledger.Store, error)
	// Migrate applies migs to the database as Open does.
	Migrate func(migs []core.Migration, now int64) (core.Migrated, error)
	// Exec runs a script (several statements) on the database.
	Exec func(script string) error
	// Strings runs a query returning one text column.
	Strings func(query string) ([]string, error)
	// Schema reads the schema back from the database's catalog.
	Schema func() ([]core.Table, error)
}

// RunMigrations runs the migration tests on fresh databases from newEnv.
func RunMigrations(t *testing.T, newEnv func(t *testing.T) *MigrationEnv) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, *MigrationEnv)
	}{
		{"SchemaAgrees", testSchemaAgrees},
		{"OpenTwice", testOpenTwice},
		{"UpgradeFromV1", testUpgradeFromV1},
		{"UpgradeFromV2", testUpgradeFromV2},
		{"NewerVersionRefused", testNewerVersionRefused},
		{"MigrateSteps", testMigrateSteps},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newEnv(t)) })
	}
	t.Run("V1Frozen", func(t *testing.T) { testV1Frozen(t, newEnv(t), newEnv(t)) })
}

// testV1Frozen: version 1 makes exactly the schema of the frozen copy of
// the release before versioned migrations. A released version is never
// edited: a ledger already at it would not see the change.
func testV1Frozen(t *testing.T, old, cur *MigrationEnv) {
	old.exec(t, old.V1DDL)
	if _, err := cur.Migrate(cur.Migrations[:1], 1); err != nil {
		t.Fatalf("migrate to 1: %v", err)
	}
	got := slices.DeleteFunc(cur.tables(t), func(tb core.Table) bool { return tb.Name == "schema_migrations" })
	for _, d := range core.Diff(old.tables(t), got) {
		t.Errorf("version 1 differs from the frozen testdata/ledger_v1.sql: %s", d)
	}
}

func (e *MigrationEnv) open(t *testing.T) ledger.Store {
	t.Helper()
	s, err := e.Open(ledger.Options{Now: func() time.Time { return T0 }})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func (e *MigrationEnv) strings(t *testing.T, query string) []string {
	t.Helper()
	out, err := e.Strings(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

func (e *MigrationEnv) exec(t *testing.T, script string) {
	t.Helper()
	if err := e.Exec(script); err != nil {
		t.Fatalf("%v\n%s", err, script)
	}
}

func (e *MigrationEnv) tables(t *testing.T) []core.Table {
	t.Helper()
	got, err := e.Schema()
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	return got
}

// checkSchema compares the database's schema with core.Schema, printing
// each difference, and checks that schema_migrations holds versions 1 …
// Schema.Version, applied at T0.
func (e *MigrationEnv) checkSchema(t *testing.T) {
	t.Helper()
	for _, d := range core.Diff(core.Schema.For(e.Store), e.tables(t)) {
		t.Errorf("%s schema differs from core.Schema: %s", e.Store, d)
	}
	got := e.strings(t, `SELECT version || ' at ' || applied_at FROM schema_migrations ORDER BY version`)
	var want []string
	for v := 1; v <= core.Schema.Version; v++ {
		want = append(want, strconv.Itoa(v)+" at "+strconv.FormatInt(T0.UnixNano(), 10))
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations %q, want %q", got, want)
	}
}

// testSchemaAgrees: a new ledger has the schema core.Schema describes
// (the other store checks the same description), and its version.
func testSchemaAgrees(t *testing.T, e *MigrationEnv) {
	s := e.open(t)
	defer s.Close()
	if len(e.Migrations) != core.Schema.Version {
		t.Errorf("%d migrations, core.Schema is version %d", len(e.Migrations), core.Schema.Version)
	}
	e.checkSchema(t)
}

// testOpenTwice: opening a ledger again migrates nothing and keeps the
// version, its time and the rows.
func testOpenTwice(t *testing.T, e *MigrationEnv) {
	s := e.open(t)
	if err := s.Insert(t.Context(), []*message.Message{Msg("ev", "r", 1), Msg("ev", "r", 2), Msg("ev", "r", 3)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = e.open(t)
	defer s.Close()
	e.checkSchema(t)
	if n := e.strings(t, `SELECT CAST(count(*) AS TEXT) FROM messages`); !slices.Equal(n, []string{"3"}) {
		t.Errorf("%v messages after reopening, want 3", n)
	}
}

// testUpgradeFromV1 opens a ledger written by the last release before
// versioned migrations (its frozen schema, V1Rows): it is recognised as
// version 1, migrated, agrees with core.Schema, and its rows read and work
// through the Store API, before and after a second open.
func testUpgradeFromV1(t *testing.T, e *MigrationEnv) {
	e.exec(t, e.V1DDL)
	for _, st := range V1Rows() {
		e.exec(t, st)
	}
	res, err := e.Migrate(e.Migrations, T0.UnixNano())
	if err != nil || res != (core.Migrated{From: 1, To: core.Schema.Version, Legacy: true}) {
		t.Fatalf("migrate: %+v %v, want from 1 (legacy) to %d", res, err, core.Schema.Version)
	}
	s := e.open(t)
	e.checkSchema(t)
	CheckV1Rows(t, s)
	s.Close()

	s = e.open(t)
	defer s.Close()
	e.checkSchema(t)
	CheckV1Rows(t, s)
	CheckV1Writes(t, s)
	CheckCallWrites(t, s)
}

// testUpgradeFromV2 opens a ledger at version 2 (the last before calls)
// holding V1Rows (they fit version 2 too): it is migrated from 2, agrees
// with core.Schema, its status rows read as the messages' and it takes
// calls.
func testUpgradeFromV2(t *testing.T, e *MigrationEnv) {
	if res, err := e.Migrate(e.Migrations[:2], T0.UnixNano()); err != nil || res.To != 2 {
		t.Fatalf("migrate to 2: %+v %v", res, err)
	}
	for _, st := range V1Rows() {
		e.exec(t, st)
	}
	res, err := e.Migrate(e.Migrations, T0.UnixNano())
	if err != nil || res != (core.Migrated{From: 2, To: core.Schema.Version}) {
		t.Fatalf("migrate: %+v %v, want from 2 to %d", res, err, core.Schema.Version)
	}
	s := e.open(t)
	defer s.Close()
	e.checkSchema(t)
	CheckV1Rows(t, s)
	CheckV1Writes(t, s)
	CheckCallWrites(t, s)
}

// testV2 is a version 2 the binary does not know: a table and a row (the
// same SQL on both databases).
var testV2 = core.Migration{Version: 2, Statements: []string{
	`CREATE TABLE carrier_quotas (carrier TEXT PRIMARY KEY, per_day BIGINT NOT NULL DEFAULT 0)`,
	`INSERT INTO carrier_quotas (carrier, per_day) VALUES ('cmcc', 100)`,
}}

// testNewerVersionRefused: a ledger a newer release migrated is refused,
// with an error that names both versions, and left as it was.
func testNewerVersionRefused(t *testing.T, e *MigrationEnv) {
	e.open(t).Close()
	known := len(e.Migrations)
	newer := testV2
	newer.Version = known + 1 // testV2's statements as the version after the binary's
	res, err := e.Migrate(append(slices.Clone(e.Migrations), newer), 1)
	if err != nil || res.From != known || res.To != newer.Version {
		t.Fatalf("migrate to %d: %+v %v", newer.Version, res, err)
	}
	s, err := e.Open(ledger.Options{})
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ledger.ErrSchemaNewer) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", newer.Version)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("up to %d", known)) {
		t.Fatalf("open a version %d ledger: %v, want ErrSchemaNewer naming versions %d and %d", newer.Version, err, newer.Version, known)
	}
	t.Log(err)
	var want []string
	for v := 1; v <= newer.Version; v++ {
		want = append(want, strconv.Itoa(v))
	}
	if v := e.strings(t, `SELECT CAST(version AS TEXT) FROM schema_migrations ORDER BY version`); !slices.Equal(v, want) {
		t.Errorf("versions %v after the refused open, want %v", v, want)
	}
}

// testMigrateSteps: versions apply in order, each once; a failing one
// changes nothing; a list out of order is refused.
func testMigrateSteps(t *testing.T, e *MigrationEnv) {
	v3 := core.Migration{Version: 3, Statements: []string{`ALTER TABLE carrier_quotas ADD COLUMN per_hour BIGINT NOT NULL DEFAULT 0`}}
	list := []core.Migration{e.Migrations[0], testV2, v3}
	res, err := e.Migrate(list, 1)
	if err != nil || res != (core.Migrated{From: 0, To: 3}) {
		t.Fatalf("migrate an empty database: %+v %v", res, err)
	}
	res, err = e.Migrate(list, 2)
	if err != nil || res != (core.Migrated{From: 3, To: 3}) {
		t.Fatalf("migrate again: %+v %v", res, err)
	}
	bad := core.Migration{Version: 4, Statements: []string{`CREATE TABLE t4 (x BIGINT)`, `INSERT INTO no_such_table VALUES (1)`}}
	_, err = e.Migrate(append(list, bad), 3)
	if err == nil || !strings.Contains(err.Error(), "migration 4, statement 2") {
		t.Fatalf("failing migration: %v, want an error naming migration 4, statement 2", err)
	}
	if v := e.strings(t, `SELECT version || ':' || applied_at FROM schema_migrations ORDER BY version`); !slices.Equal(v, []string{"1:1", "2:1", "3:1"}) {
		t.Errorf("versions %v, want 1, 2, 3 applied once, at the first open", v)
	}
	if slices.ContainsFunc(e.tables(t), func(tb core.Table) bool { return tb.Name == "t4" }) {
		t.Error("the failed migration's first statement stayed")
	}
	if _, err := e.Migrate([]core.Migration{e.Migrations[0], v3}, 4); err == nil {
		t.Error("a list with version 3 second was accepted")
	}
}
