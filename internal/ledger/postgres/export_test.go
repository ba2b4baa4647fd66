package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/traffic12123/gateway/internal/ledger/internal/core"
)

// Migrations is the list Open applies.
var Migrations = migrations

// Migrate applies migs to the database at dsn as Open does.
func Migrate(ctx context.Context, dsn string, migs []core.Migration, now int64) (core.Migrated, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return core.Migrated{}, err
	}
	defer pool.Close()
	return migrate(ctx, pool, migs, now)
}
