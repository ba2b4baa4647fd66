package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/traffic12123/gateway/internal/ledger/internal/core"
)

// Migrations is the list Open applies.
var Migrations = migrations

// Migrate applies migs to the database at path as Open does.
func Migrate(ctx context.Context, path string, migs []core.Migration, now int64) (core.Migrated, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		return core.Migrated{}, err
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return core.Migrated{}, errors.Join(err, db.Close())
	}
	res, err := migrate(ctx, c, migs, now)
	return res, errors.Join(err, c.Close(), db.Close())
}

// Write runs fn through the store's writer (group commit).
func Write(ctx context.Context, s *Store, fn func(core.Q) error) error { return s.db.Write(ctx, fn) }

// Commits returns the number of write transactions run so far.
func Commits(s *Store) int64 { return s.db.commits.Load() }

// Queued returns the number of writes waiting for the next group.
func Queued(s *Store) int {
	s.db.qmu.Lock()
	defer s.db.qmu.Unlock()
	return len(s.db.queue)
}
