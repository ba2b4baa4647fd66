// Package open opens a ledger.Store by DSN, choosing the implementation:
//
//	sqlite:///var/lib/smsgw/ledger.db   SQLite file (absolute path)
//	sqlite://ledger.db or sqlite:ledger.db   SQLite file (relative path)
//	sqlite::memory:                     private SQLite database, gone on Close
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL (also postgresql://)
//
// It lives apart from package ledger so that ledger does not import its
// implementations.
package open

import (
	"context"
	"fmt"
	"strings"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
)

// Open opens the ledger that dsn names.
func Open(ctx context.Context, dsn string, opts ledger.Options) (ledger.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn, opts)
	case strings.HasPrefix(dsn, "sqlite:"):
		path, err := SQLitePath(dsn)
		if err != nil {
			return nil, err
		}
		return sqlite.Open(ctx, path, opts)
	}
	return nil, fmt.Errorf("%w: %q (want sqlite:///path, sqlite::memory: or postgres://…)", ledger.ErrBadDSN, redact(dsn))
}

// SQLitePath returns the file path of a sqlite: DSN (sqlite.Memory for
// sqlite::memory:).
func SQLitePath(dsn string) (string, error) {
	rest, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		return "", fmt.Errorf("%w: %q", ledger.ErrBadDSN, dsn)
	}
	if rest == ":memory:" || rest == "//:memory:" {
		return sqlite.Memory, nil
	}
	rest = strings.TrimPrefix(rest, "//")
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		return "", fmt.Errorf("%w: %q has no path", ledger.ErrBadDSN, dsn)
	}
	return rest, nil
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	at := strings.LastIndexByte(dsn, '@')
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	return dsn[:scheme+3] + "…" + dsn[at:]
}
