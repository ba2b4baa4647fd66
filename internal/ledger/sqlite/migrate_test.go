package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
)

// TestMigrations: the schema agrees with core.Schema, a ledger of the
// release before versioned migrations upgrades, a newer one is refused.
func TestMigrations(t *testing.T) { ledgertest.RunMigrations(t, migrationEnv) }

// migrationEnv is a new database file, with a connection of its own for
// what the Store API does not show.
func migrationEnv(t *testing.T) *ledgertest.MigrationEnv {
	path := filepath.Join(t.TempDir(), "ledger.db")
	ddl, err := os.ReadFile("testdata/ledger_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &ledgertest.MigrationEnv{
		Store:      "sqlite",
		Migrations: sqlite.Migrations,
		V1DDL:      string(ddl),
		Open: func(opts ledger.Options) (ledger.Store, error) {
			return sqlite.Open(t.Context(), path, opts)
		},
		Migrate: func(migs []core.Migration, now int64) (core.Migrated, error) {
			return sqlite.Migrate(t.Context(), path, migs, now)
		},
		Exec: func(script string) error {
			_, err := db.ExecContext(t.Context(), script)
			return err
		},
		Strings: func(query string) ([]string, error) { return queryStrings(db, query) },
		Schema:  func() ([]core.Table, error) { return readSchema(db) },
	}
}

// readSchema reads the schema back from sqlite_master and the table and
// index pragmas, normalised as core.Table.
func readSchema(db *sql.DB) ([]core.Table, error) {
	tables, err := queryStrings(db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var out []core.Table
	for _, name := range tables {
		tb := core.Table{Name: name}
		if err := readColumns(db, &tb); err != nil {
			return nil, err
		}
		if tb.Unique, tb.Indexes, err = readIndexes(db, name); err != nil {
			return nil, err
		}
		if tb.Triggers, err = queryStrings(db, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? ORDER BY name`, name); err != nil {
			return nil, err
		}
		out = append(out, tb)
	}
	return out, nil
}

// readColumns fills the columns and the primary key of tb.
func readColumns(db *sql.DB, tb *core.Table) error {
	var ddl string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, tb.Name).Scan(&ddl); err != nil {
		return err
	}
	rows, err := db.Query(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, tb.Name)
	if err != nil {
		return err
	}
	defer rows.Close()
	key := map[int]string{} // position in the key → column
	for rows.Next() {
		var c core.Column
		var typ string
		var notNull bool
		var dflt sql.NullString
		var pk int
		if err := rows.Scan(&c.Name, &typ, &notNull, &dflt, &pk); err != nil {
			return err
		}
		c.Type = sqliteType(typ)
		c.NotNull = notNull || pk > 0 // a key column never holds NULL in the ledger
		c.Default = dflt.String
		c.Auto = pk > 0 && strings.EqualFold(typ, "INTEGER") && strings.Contains(ddl, "AUTOINCREMENT")
		if pk > 0 {
			key[pk] = c.Name
		}
		tb.Columns = append(tb.Columns, c)
	}
	for i := 1; i <= len(key); i++ {
		tb.Key = append(tb.Key, key[i])
	}
	return rows.Err()
}

// readIndexes returns the UNIQUE constraints and the named indexes of
// table (its key is read from table_info).
func readIndexes(db *sql.DB, table string) (unique [][]string, idx []core.Index, err error) {
	type entry struct {
		name, origin string
		unique       bool
	}
	var list []entry
	rows, err := db.Query(`SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name`, table)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var l entry
		if err := rows.Scan(&l.name, &l.unique, &l.origin); err != nil {
			rows.Close()
			return nil, nil, err
		}
		list = append(list, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, err
	}
	for _, l := range list {
		if l.origin == "pk" {
			continue
		}
		cols, err := queryStrings(db, `SELECT name || CASE WHEN "desc" THEN ' DESC' ELSE '' END FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, l.name)
		if err != nil {
			return nil, nil, err
		}
		if l.origin == "u" {
			unique = append(unique, cols)
			continue
		}
		var ddl string
		if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, l.name).Scan(&ddl); err != nil {
			return nil, nil, err
		}
		_, where, _ := strings.Cut(ddl, " WHERE ")
		idx = append(idx, core.Index{Name: l.name, Columns: cols, Unique: l.unique, Where: where})
	}
	return unique, idx, nil
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

func queryStrings(db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
