// Package postgres is the shared ledger: the ledger.Store on PostgreSQL
// (github.com/jackc/pgx/v5 pool) for several gateway instances. Claims use
// FOR UPDATE SKIP LOCKED so instances share the due messages without
// blocking each other; batches are inserted with unnest arrays. The SQL and
// the store logic are shared with ledger/sqlite (internal/core).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
)

// Store is the PostgreSQL ledger.
type Store struct {
	*core.Store
	db *db

	mu          sync.Mutex // guards lastCompact
	lastCompact time.Time
}

// compactEvery is how often Summary folds the counter deltas together.
const compactEvery = 5 * time.Second

// counterLock is the advisory lock key of the counter compaction.
const counterLock = 0x12124

// outboxLock is the advisory lock key that orders status outbox ids by
// commit (core.Dialect.OutboxLock).
const outboxLock = 0x12125

// Summary implements ledger.Store. Now and then it first folds the counter
// deltas into one row per bucket (one instance at a time; the others skip),
// so the sum stays small however many messages there are.
func (s *Store) Summary(ctx context.Context) (ledger.Summary, error) {
	s.mu.Lock()
	due := time.Since(s.lastCompact) >= compactEvery
	if due {
		s.lastCompact = time.Now()
	}
	s.mu.Unlock()
	if due {
		err := s.db.Write(ctx, func(q core.Q) error {
			rows, err := q.Query(ctx, "SELECT pg_try_advisory_xact_lock("+strconv.Itoa(counterLock)+")")
			if err != nil {
				return err
			}
			var locked bool
			if rows.Next() {
				err = rows.Scan(&locked)
			}
			rows.Close()
			if err != nil || !locked {
				return err
			}
			_, err = q.Exec(ctx, `WITH d AS (DELETE FROM counter_deltas RETURNING *)
				INSERT INTO counter_deltas (carrier, state, reason, submitted, messages, segments)
				SELECT carrier, state, reason, submitted, sum(messages), sum(segments) FROM d
				GROUP BY 1, 2, 3, 4 HAVING sum(messages) <> 0 OR sum(segments) <> 0`)
			return err
		})
		if err != nil {
			return ledger.Summary{}, fmt.Errorf("ledger summary: compact counters: %w", err)
		}
	}
	return s.Store.Summary(ctx)
}

var (
	_ ledger.Store     = (*Store)(nil)
	_ ledger.CallStore = (*Store)(nil)
)

// schemaLock is the advisory lock key that serialises the migrations
// between instances starting together.
const schemaLock = 0x12123

// Open connects to dsn (a postgres:// URL or key=value string; pool options
// such as pool_max_conns are accepted) and brings the schema to the
// version this binary knows (migrations.go); a ledger at a newer version is
// refused with ledger.ErrSchemaNewer.
func Open(ctx context.Context, dsn string, opts ledger.Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger postgres config: %w", err)
	}
	// pgx prepares every statement; after five runs PostgreSQL may keep a
	// generic plan, made while the tables were small (a new ledger, just
	// after a large prune). Such a plan scanned parts for every receipt:
	// a 20,000-message run took 37-47 s, 2 s of database CPU per 1,000
	// messages, instead of 12 s (bench/README.md, 2026-12-03). Custom
	// plans unless the DSN says otherwise.
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ledger postgres connect: %w", err)
	}
	o := opts.WithDefaults()
	mig, err := migrate(ctx, pool, migrations, o.Now().UnixNano())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("ledger postgres schema: %w", err)
	}
	mig.Log(o.Logger, "postgres")
	d := &db{pool: pool}
	return &Store{Store: core.NewStore(d, dialect, opts), db: d}, nil
}

// tablesSQL lists the tables of the schema the connection uses
// (core.Migrate).
const tablesSQL = `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()`

// migrate brings the schema to the last of migs in one transaction under
// the schema advisory lock, so instances starting together migrate one
// after the other (the later ones find nothing to do).
func migrate(ctx context.Context, pool *pgxpool.Pool, migs []core.Migration, now int64) (core.Migrated, error) {
	var res core.Migrated
	err := pgx.BeginFunc(ctx, poolBeginner{pool}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(schemaLock)+")"); err != nil {
			return err
		}
		var err error
		res, err = core.Migrate(ctx, pgQ{tx}, tablesSQL, migs, now)
		return err
	})
	return res, err
}

type poolBeginner struct{ p *pgxpool.Pool }

func (b poolBeginner) Begin(ctx context.Context) (pgx.Tx, error) { return b.p.Begin(ctx) }

var dialect = &core.Dialect{
	InsertMessages: insertMessages,
	InsertOutbox:   insertOutbox,
	Values:         values,
	InSubquery:     func(col, sub string) string { return col + " = ANY(ARRAY(" + sub + "))" },
	SkipLocked:     " FOR UPDATE SKIP LOCKED",
	ForUpdate:      " FOR UPDATE",
	LockKeys:       lockKeys,
	OutboxLock:     "SELECT pg_advisory_xact_lock(" + strconv.Itoa(outboxLock) + ")",
	Greatest:       "GREATEST",
	SummarySQL: `SELECT carrier, state, reason, submitted, CAST(sum(messages) AS BIGINT), CAST(sum(segments) AS BIGINT)
		FROM counter_deltas GROUP BY 1, 2, 3, 4 HAVING sum(messages) <> 0`,
	Strings: func(col string, pos int, vals []string) (string, []any) {
		return col + " = ANY($" + strconv.Itoa(pos) + "::text[])", []any{vals}
	},
	Ints: func(col string, pos int, vals []int64) (string, []any) {
		return col + " = ANY($" + strconv.Itoa(pos) + "::bigint[])", []any{vals}
	},
	MaxList: 5000,
}

// columnArrays turns rows into one typed array per column (text[] or
// bigint[]) for unnest.
func columnArrays(rows [][]any) (arrays []any, types []string) {
	if len(rows) == 0 {
		return nil, nil
	}
	for c := range rows[0] {
		switch rows[0][c].(type) {
		case int64:
			a := make([]int64, len(rows))
			for r := range rows {
				a[r] = rows[r][c].(int64)
			}
			arrays, types = append(arrays, a), append(types, "bigint[]")
		default:
			a := make([]string, len(rows))
			for r := range rows {
				a[r] = rows[r][c].(string)
			}
			arrays, types = append(arrays, a), append(types, "text[]")
		}
	}
	return arrays, types
}

func unnest(types []string) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = "$" + strconv.Itoa(i+1) + "::" + t
	}
	return "unnest(" + strings.Join(parts, ", ") + ")"
}

// lockKeys takes a transaction advisory lock per carrier id, in a fixed
// order.
func lockKeys(ctx context.Context, q core.Q, carrier string, ids []string) error {
	_, err := q.Exec(ctx, `SELECT count(pg_advisory_xact_lock(k)) FROM (
		SELECT DISTINCT hashtextextended($1 || ':' || x, 0) AS k FROM unnest($2::text[]) AS x ORDER BY 1) s`, carrier, ids)
	return err
}

// values renders rows as unnest of typed arrays with columns column1 ….
func values(rows [][]any) (string, []any) {
	arrays, types := columnArrays(rows)
	cols := make([]string, len(types))
	for i := range cols {
		cols[i] = "column" + strconv.Itoa(i+1)
	}
	return "(SELECT * FROM " + unnest(types) + " AS u(" + strings.Join(cols, ", ") + "))", arrays
}

func insertMessages(ctx context.Context, q core.Q, args [][]any) ([]core.Inserted, error) {
	arrays, types := columnArrays(args)
	rows, err := q.Query(ctx, `INSERT INTO messages (`+strings.Join(core.InsertCols, ", ")+`)
		SELECT * FROM `+unnest(types)+` ON CONFLICT (key) DO NOTHING RETURNING id, key`, arrays...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]core.Inserted, 0, len(args))
	for rows.Next() {
		var r core.Inserted
		if err := rows.Scan(&r.ID, &r.Key); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func insertOutbox(ctx context.Context, q core.Q, rows []core.OutRow) error {
	n := len(rows)
	ids, states, reasons, ats := make([]int64, n), make([]string, n), make([]string, n), make([]int64, n)
	chans, calls := make([]string, n), make([]int64, n)
	for i, r := range rows {
		ids[i], states[i], reasons[i], ats[i] = r.MessageID, r.State, r.Reason, r.At
		chans[i], calls[i] = r.Chan(), r.CallID
	}
	_, err := q.Exec(ctx, `INSERT INTO status_outbox (message_id, state, reason, at, channel, call_id)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])`,
		ids, states, reasons, ats, chans, calls)
	return err
}

// db adapts a pgx pool to core.DB.
type db struct{ pool *pgxpool.Pool }

// Write runs fn in a READ COMMITTED transaction, retried a few times on a
// deadlock or serialisation failure between instances.
func (d *db) Write(ctx context.Context, fn func(core.Q) error) error {
	var err error
	for range 5 {
		err = pgx.BeginFunc(ctx, poolBeginner{d.pool}, func(tx pgx.Tx) error { return fn(pgQ{tx}) })
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			continue
		}
		return err
	}
	return err
}

func (d *db) Read() core.Q { return pgQ{d.pool} }

func (d *db) Close() error {
	d.pool.Close()
	return nil
}

type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgQ struct{ q querier }

func (q pgQ) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q pgQ) Query(ctx context.Context, sql string, args ...any) (core.Rows, error) {
	return q.q.Query(ctx, sql, args...)
}
