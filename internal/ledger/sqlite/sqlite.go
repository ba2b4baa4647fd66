// Package sqlite is the embedded ledger: the ledger.Store on SQLite (pure Go,
// modernc.org/sqlite), the default for a single gateway instance.
//
// Writes are serialised on one connection (WAL, synchronous=NORMAL,
// BEGIN IMMEDIATE; concurrent writes share one transaction, group commit)
// with prepared statements and multi-row inserts; reads use
// a separate pool of read-only connections. The SQL and the
// store logic are shared with ledger/postgres (internal/core); this package
// holds the connection handling and the SQLite-specific statements.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
)

// Store is the SQLite ledger.
type Store struct {
	*core.Store
	db *dbConn
}

var (
	_ ledger.Store     = (*Store)(nil)
	_ ledger.CallStore = (*Store)(nil)
)

// Memory is the path of a private in-memory database.
const Memory = ":memory:"

// Open opens (creating if needed) the ledger database at path and brings
// its schema to the version this binary knows (migrations.go); a ledger at
// a newer version is refused with ledger.ErrSchemaNewer. For Memory (or
// ""), the database lives in a temporary file removed by Close: a private
// database that behaves exactly like a file one (WAL, separate readers).
func Open(ctx context.Context, path string, opts ledger.Options) (*Store, error) {
	var tmpDir string
	if path == Memory || path == "" {
		dir, err := os.MkdirTemp("", "ledger-*")
		if err != nil {
			return nil, fmt.Errorf("ledger sqlite temp dir: %w", err)
		}
		tmpDir, path = dir, filepath.Join(dir, "ledger.db")
	} else if err := prepareFiles(path); err != nil { // files.go: 0600 in a 0700 directory
		return nil, err
	}
	db, err := openDB(ctx, path, opts.WithDefaults())
	if err != nil {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
		return nil, err
	}
	db.tmpDir = tmpDir
	return &Store{Store: core.NewStore(db, dialect, opts), db: db}, nil
}

func openDB(ctx context.Context, path string, opts ledger.Options) (*dbConn, error) {
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	// Checkpoints run in the background (checkpointLoop), not in the
	// committing writer: wal_autocheckpoint is only the safety net for a
	// WAL that the background checkpoints cannot keep small. The writer's
	// page cache is 32 MB: 64 MB made the peak RSS 305-335 MB in the
	// benchmarks for no CPU saved (bench/README.md, issue 18).
	w, err := sql.Open("sqlite", u+"?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_pragma=cache_size(-32768)&_pragma=temp_store(MEMORY)"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(safetyCheckpointPages)+")")
	if err != nil {
		return nil, fmt.Errorf("ledger sqlite open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	wc, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger sqlite open: %w", err)
	}
	mig, err := migrate(ctx, wc, migrations, opts.Now().UnixNano())
	if err != nil {
		wc.Close()
		w.Close()
		return nil, fmt.Errorf("ledger sqlite schema: %w", err)
	}
	mig.Log(opts.Logger, "sqlite")
	r, err := sql.Open("sqlite", u+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		wc.Close()
		w.Close()
		return nil, fmt.Errorf("ledger sqlite open readers: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	ck, err := sql.Open("sqlite", u+"?_busy_timeout=10000")
	if err != nil {
		wc.Close()
		w.Close()
		r.Close()
		return nil, fmt.Errorf("ledger sqlite open checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	d := &dbConn{w: w, wc: wc, r: r, ck: ck, stmts: make(map[string]*cachedStmt), stop: make(chan struct{}), stopped: make(chan struct{})}
	go d.checkpointLoop(checkpointEvery)
	return d, nil
}

// tablesSQL lists the tables of the database (core.Migrate).
const tablesSQL = `SELECT name FROM sqlite_master WHERE type = 'table'`

// migrate brings the schema on the writer connection c to the last of migs
// in one BEGIN IMMEDIATE transaction, which also keeps another process
// opening the same file from migrating at the same time.
func migrate(ctx context.Context, c *sql.Conn, migs []core.Migration, now int64) (core.Migrated, error) {
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return core.Migrated{}, fmt.Errorf("begin: %w", err)
	}
	res, err := core.Migrate(ctx, &readQ{db: c}, tablesSQL, migs, now)
	if err != nil {
		_, rerr := c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return core.Migrated{}, errors.Join(err, rerr)
	}
	if _, err := c.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		_, rerr := c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return core.Migrated{}, errors.Join(fmt.Errorf("commit: %w", err), rerr)
	}
	return res, nil
}

// Background checkpoints: a PASSIVE checkpoint (it never blocks the writer
// or readers) every checkpointEvery copies committed WAL frames into the
// database file and syncs it, off the write path; the writer then reuses
// the WAL from its start. A commit checkpoints itself only when the WAL
// has grown past safetyCheckpointPages (a stalled checkpointer).
const (
	checkpointEvery       = 250 * time.Millisecond
	safetyCheckpointPages = 16384 // 64 MB of 4 KB pages
)

func (d *dbConn) checkpointLoop(every time.Duration) {
	defer close(d.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		// Errors (busy, a reader on an old snapshot) only postpone the
		// copy; the next tick tries again.
		_, _ = d.ck.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

var dialect = &core.Dialect{
	InsertMessages: insertMessages,
	InsertOutbox:   insertOutbox,
	Values:         core.ValuesList,
	InSubquery:     core.InList,
	Greatest:       "max",
	SummarySQL:     `SELECT carrier, state, reason, submitted, messages, segments FROM counters WHERE messages <> 0`,
	Strings:        core.ExpandStrings,
	Ints:           core.ExpandInts,
	MaxList:        500,
}

var (
	insertSQL     sync.Map // n -> string
	outboxSQLOnce sync.Map
)

func insertMessages(ctx context.Context, q core.Q, args [][]any) ([]core.Inserted, error) {
	n := len(args)
	sqlAny, ok := insertSQL.Load(n)
	if !ok {
		sqlAny = `INSERT INTO messages (` + strings.Join(core.InsertCols, ", ") + `) VALUES ` +
			core.Tuples(n, len(core.InsertCols)) + ` ON CONFLICT (key) DO NOTHING RETURNING id, key`
		insertSQL.Store(n, sqlAny)
	}
	flat := make([]any, 0, n*len(core.InsertCols))
	for _, a := range args {
		flat = append(flat, a...)
	}
	rows, err := q.Query(ctx, sqlAny.(string), flat...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]core.Inserted, 0, n)
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
	sqlAny, ok := outboxSQLOnce.Load(n)
	if !ok {
		sqlAny = `INSERT INTO status_outbox (message_id, state, reason, at, channel, call_id) VALUES ` + core.Tuples(n, 6)
		outboxSQLOnce.Store(n, sqlAny)
	}
	args := make([]any, 0, 6*n)
	for _, r := range rows {
		args = append(args, r.MessageID, r.State, r.Reason, r.At, r.Chan(), r.CallID)
	}
	_, err := q.Exec(ctx, sqlAny.(string), args...)
	return err
}

// dbConn is the writer connection with its prepared statements, and the
// reader pool. Write transactions are serialised by mu and run as
// BEGIN IMMEDIATE … COMMIT on the one writer connection, so statements
// prepared on it are reused across transactions; concurrent writes share
// one transaction (group commit, Write).
type dbConn struct {
	w, r   *sql.DB
	ck     *sql.DB // background checkpoints
	tmpDir string

	stop, stopped chan struct{} // checkpointLoop

	mu     sync.Mutex // serialises writes; guards wc, stmts, tick
	wc     *sql.Conn
	stmts  map[string]*cachedStmt
	tick   uint64 // statement uses, for least-recently-used eviction
	closed bool

	qmu     sync.Mutex // guards queue, spare, leading
	queue   []*writeReq
	spare   []*writeReq  // the last group's slice, for the next queue
	leading bool         // a group is being run
	commits atomic.Int64 // transactions run (tests)
}

type cachedStmt struct {
	st   *sql.Stmt
	used uint64 // tick of the last use
}

// maxStmts bounds the prepared statements kept. Batches of every size
// make statements of every size (a multi-row VALUES list per row count),
// and a prepared statement of a few hundred rows holds hundreds of KB of
// SQLite memory: 1000 of them made most of the gateway's RSS. Between
// transactions, beyond maxStmts the least recently used are closed until
// three quarters remain; the common sizes stay prepared.
const maxStmts = 256

// stmt returns the prepared statement for query; mu is held.
func (d *dbConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	d.tick++
	if c, ok := d.stmts[query]; ok {
		c.used = d.tick
		return c.st, nil
	}
	st, err := d.wc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.stmts[query] = &cachedStmt{st: st, used: d.tick}
	return st, nil
}

// evictStmts closes the least recently used statements beyond maxStmts;
// mu is held and no transaction is open.
func (d *dbConn) evictStmts() {
	if len(d.stmts) <= maxStmts {
		return
	}
	type kv struct {
		q    string
		used uint64
	}
	all := make([]kv, 0, len(d.stmts))
	for q, c := range d.stmts {
		all = append(all, kv{q, c.used})
	}
	slices.SortFunc(all, func(a, b kv) int { return cmp.Compare(a.used, b.used) })
	for _, e := range all[:len(all)-maxStmts*3/4] {
		d.stmts[e.q].st.Close()
		delete(d.stmts, e.q)
	}
}

// Group commit: concurrent Write calls (the ingest stage's Insert, the
// sender's Claim and Submitted, the receipt handler) share one
// transaction. A caller queues its work; the first caller finding no
// group in progress leads: it takes every queued request and runs them in
// one BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT, so that one
// caller's error (or panic) rolls back only its own work (ROLLBACK TO),
// and the group pays for one commit. Callers return only after the
// group's COMMIT (or its failure, reported to every member), so
// durability is what it was with one transaction per call. Requests that
// queue while a group runs form the next group, led by the first of them.

// writeReq is a queued Write.
type writeReq struct {
	ctx      context.Context
	fn       func(core.Q) error
	err      error
	panicVal any
	panicked bool
	// done receives true when the request's group has committed (or
	// failed), false when the request is to lead the next group.
	done chan bool
}

func (r *writeReq) result() error {
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}

func (d *dbConn) Write(ctx context.Context, fn func(core.Q) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan bool, 1)}
	d.qmu.Lock()
	d.queue = append(d.queue, r)
	lead := !d.leading
	d.leading = true
	d.qmu.Unlock()
	if !lead && <-r.done {
		return r.result()
	}
	d.qmu.Lock()
	group := d.queue
	d.queue = d.spare[:0]
	d.qmu.Unlock()
	d.mu.Lock()
	d.runGroup(group)
	d.mu.Unlock()
	d.commits.Add(1)
	for _, o := range group {
		if o != r {
			o.done <- true
		}
	}
	clear(group)
	d.qmu.Lock()
	d.spare = group[:0]
	if len(d.queue) > 0 {
		d.queue[0].done <- false // it leads the next group
	} else {
		d.leading = false
	}
	d.qmu.Unlock()
	return r.result()
}

// runGroup runs the requests in one transaction and sets their results;
// mu is held.
func (d *dbConn) runGroup(group []*writeReq) {
	fail := func(err error) {
		for _, r := range group {
			if r.err == nil && !r.panicked {
				r.err = err
			}
		}
	}
	if d.closed {
		fail(ledger.ErrClosed)
		return
	}
	d.evictStmts()
	bg := context.WithoutCancel(group[0].ctx)
	if _, err := d.wc.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("begin: %w", err))
		return
	}
	q := &txQ{d: d}
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if len(group) == 1 {
			// Alone: the transaction is its own, no savepoint needed.
			if d.runOne(r, q) {
				continue
			}
			_, rerr := d.wc.ExecContext(bg, "ROLLBACK")
			r.err = errors.Join(r.err, rerr)
			return
		}
		if _, err := d.wc.ExecContext(bg, "SAVEPOINT w"); err != nil {
			r.err = fmt.Errorf("savepoint: %w", err)
			continue
		}
		if d.runOne(r, q) {
			if _, err := d.wc.ExecContext(bg, "RELEASE w"); err != nil {
				d.abort(bg, group, fmt.Errorf("release savepoint: %w", err))
				return
			}
			continue
		}
		// Only this caller's work goes; the savepoint is then released
		// (empty) to leave the transaction as it was.
		_, err := d.wc.ExecContext(bg, "ROLLBACK TO w")
		if err == nil {
			_, err = d.wc.ExecContext(bg, "RELEASE w")
		}
		if err != nil {
			// An error that ended the whole transaction (SQLite rolls
			// back on some, e.g. a full disk): nothing of the group
			// stands.
			d.abort(bg, group, fmt.Errorf("roll back to savepoint: %w", err))
			return
		}
	}
	if _, err := d.wc.ExecContext(bg, "COMMIT"); err != nil {
		d.abort(bg, group, fmt.Errorf("commit: %w", err))
	}
}

// runOne runs r's fn and reports whether it succeeded; a panic is kept
// for the caller to raise again.
func (d *dbConn) runOne(r *writeReq, q *txQ) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.panicVal, r.panicked = p, true
			ok = false
		}
	}()
	r.err = r.fn(q)
	return r.err == nil
}

// abort rolls the group's transaction back and fails every member that
// had not failed on its own.
func (d *dbConn) abort(ctx context.Context, group []*writeReq, err error) {
	_, rerr := d.wc.ExecContext(ctx, "ROLLBACK")
	err = errors.Join(err, rerr)
	for _, r := range group {
		if r.err == nil && !r.panicked {
			r.err = err
		}
	}
}

func (d *dbConn) Read() core.Q { return &readQ{db: d.r} }

func (d *dbConn) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	close(d.stop)
	<-d.stopped
	for _, c := range d.stmts {
		c.st.Close()
	}
	d.stmts = nil
	err := errors.Join(d.ck.Close(), d.r.Close(), d.wc.Close(), d.w.Close())
	if d.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(d.tmpDir))
	}
	return err
}

// txQ runs statements in the group's transaction. A cancelled context
// stops a caller before its next statement but never interrupts one:
// SQLite rolls back the whole transaction, every caller's work in it,
// when an INSERT, UPDATE or DELETE is interrupted.
type txQ struct{ d *dbConn }

func (q *txQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	rw := rewrite(query)
	st, err := q.d.stmt(ctx, rw.sql)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, rw.args(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *txQ) Query(ctx context.Context, query string, args ...any) (core.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	rw := rewrite(query)
	st, err := q.d.stmt(ctx, rw.sql)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, rw.args(args)...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// readQ runs statements unprepared: on the reader pool, and on the writer
// connection for the migrations at open.
type readQ struct{ db sqlDB }

// sqlDB is what *sql.DB and *sql.Conn share.
type sqlDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (q *readQ) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	rw := rewrite(query)
	res, err := q.db.ExecContext(ctx, rw.sql, rw.args(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *readQ) Query(ctx context.Context, query string, args ...any) (core.Rows, error) {
	rw := rewrite(query)
	rows, err := q.db.QueryContext(ctx, rw.sql, rw.args(args)...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
