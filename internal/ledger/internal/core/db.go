package core

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/traffic12123/gateway/internal/ledger"
)

// Rows is what a query returns (database/sql and pgx rows both fit with a
// thin adapter).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Q runs statements. SQL uses $1, $2 … placeholders, which SQLite (modernc)
// and PostgreSQL both bind by position.
type Q interface {
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// DB is an implementation's connection handling.
type DB interface {
	// Write runs fn in one write transaction (serialised for SQLite).
	Write(ctx context.Context, fn func(Q) error) error
	// Read returns a Q for reads outside any transaction.
	Read() Q
	Close() error
}

// OutRow is one status outbox row: a change of the message, or of its
// call (Channel ledger.ChannelVoice, CallID).
type OutRow struct {
	MessageID int64
	State     string
	Reason    string
	At        int64
	Channel   string // "" is ledger.ChannelSMS
	CallID    int64
}

// Chan returns the row's channel ("" is ledger.ChannelSMS).
func (r OutRow) Chan() string {
	if r.Channel == "" {
		return ledger.ChannelSMS
	}
	return r.Channel
}

// Inserted is a row Insert created.
type Inserted struct {
	ID  int64
	Key string
}

// Dialect holds what differs between the databases.
type Dialect struct {
	// InsertMessages inserts msgs (ON CONFLICT (key) DO NOTHING) and
	// returns the rows created.
	InsertMessages func(ctx context.Context, q Q, args [][]any) ([]Inserted, error)
	// InsertOutbox appends outbox rows.
	InsertOutbox func(ctx context.Context, q Q, rows []OutRow) error
	// Values renders rows (all of one shape: int64 or string values) as
	// a row source usable as "FROM <src> AS v", with columns v.column1 …
	// and placeholders from $1.
	Values func(rows [][]any) (src string, args []any)
	// InSubquery renders "col IN (sub)" in the form the planner handles
	// best (PostgreSQL: col = ANY(ARRAY(sub)), an index lookup per id).
	InSubquery func(col, sub string) string
	// LockKeys, when set, takes transaction-scoped locks on carrier ids
	// (PostgreSQL advisory locks), so that Submitted storing an id and
	// Receipts finding it missing cannot interleave.
	LockKeys func(ctx context.Context, q Q, carrier string, ids []string) error
	// OutboxLock, when set, runs before a transaction appends status
	// changes and holds until it commits, so outbox ids are taken in commit
	// order and a reader acknowledging up to an id never skips a change
	// that commits later with a smaller one (PostgreSQL; SQLite writes are
	// serial anyway).
	OutboxLock string
	// ForUpdate is appended to the reads of a receipt batch, so that two
	// PostgreSQL instances applying the same receipt take turns.
	ForUpdate string
	// SkipLocked is appended to the claim's row selection
	// (" FOR UPDATE SKIP LOCKED" on PostgreSQL).
	SkipLocked string
	// SummarySQL returns rows of (carrier, state, reason of suppressed
	// messages or '', submitted 0/1, messages, segments); default
	// GroupBySummary.
	SummarySQL string
	// Greatest is the two-argument maximum function.
	Greatest string
	// Strings and Ints render "col IN (…)" for the list starting at
	// placeholder $pos and return the arguments to append.
	Strings func(col string, pos int, vals []string) (string, []any)
	Ints    func(col string, pos int, vals []int64) (string, []any)
	// MaxList is the largest list Strings/Ints should be given.
	MaxList int
}

// ExpandStrings renders an IN list with one placeholder per value. The list
// is padded (repeating the last value) to a power of two so that few
// distinct statement texts are prepared.
func ExpandStrings(col string, pos int, vals []string) (string, []any) {
	n := padded(len(vals))
	args := make([]any, n)
	for i := range args {
		args[i] = vals[min(i, len(vals)-1)]
	}
	return inList(col, pos, n), args
}

// ExpandInts is ExpandStrings for integers.
func ExpandInts(col string, pos int, vals []int64) (string, []any) {
	n := padded(len(vals))
	args := make([]any, n)
	for i := range args {
		args[i] = vals[min(i, len(vals)-1)]
	}
	return inList(col, pos, n), args
}

// padded rounds n up to a power of two (0 stays 0).
func padded(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	if n == 0 {
		return 0
	}
	return p
}

// The SQL fragments built per call (IN lists, VALUES tuples) come in few
// shapes: the batch sizes, padded or chunked. Each shape is built once.
type fragKey struct {
	kind byte // 'i' inList, 'p' Placeholders, 't' Tuples, 'v' ValuesList
	col  string
	a, b int
}

var (
	fragMu sync.RWMutex
	frags  = make(map[fragKey]string)
)

// maxFrags bounds the cache; beyond it fragments are built every time.
const maxFrags = 4096

func cachedFrag(k fragKey) (string, bool) {
	fragMu.RLock()
	f, ok := frags[k]
	fragMu.RUnlock()
	return f, ok
}

func storeFrag(k fragKey, f string) string {
	fragMu.Lock()
	if len(frags) < maxFrags {
		frags[k] = f
	}
	fragMu.Unlock()
	return f
}

// inList returns "col IN ($pos, …)" with n placeholders.
func inList(col string, pos, n int) string {
	k := fragKey{kind: 'i', col: col, a: pos, b: n}
	if f, ok := cachedFrag(k); ok {
		return f
	}
	return storeFrag(k, col+" IN ("+Placeholders(pos, n)+")")
}

// Placeholders returns "$pos, $pos+1, …" n times.
func Placeholders(pos, n int) string {
	k := fragKey{kind: 'p', a: pos, b: n}
	if f, ok := cachedFrag(k); ok {
		return f
	}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(pos + i))
	}
	return storeFrag(k, b.String())
}

// Tuples returns n parenthesised groups of width placeholders from $1.
func Tuples(n, width int) string {
	k := fragKey{kind: 't', a: n, b: width}
	if f, ok := cachedFrag(k); ok {
		return f
	}
	var b strings.Builder
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range width {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p + j))
		}
		b.WriteByte(')')
		p += width
	}
	return storeFrag(k, b.String())
}

// GroupBySummary computes the summary rows from the messages table.
const GroupBySummary = `SELECT carrier, state, CASE WHEN state = 'suppressed' THEN reason ELSE '' END,
		CASE WHEN submitted_at > 0 THEN 1 ELSE 0 END, count(*), CAST(COALESCE(sum(segments), 0) AS BIGINT)
	FROM messages GROUP BY 1, 2, 3, 4`

// ValuesList renders rows as a VALUES list (SQLite).
func ValuesList(rows [][]any) (string, []any) {
	if len(rows) == 0 {
		return "(VALUES (NULL))", nil
	}
	w := len(rows[0])
	args := make([]any, 0, w*len(rows))
	for _, r := range rows {
		args = append(args, r...)
	}
	k := fragKey{kind: 'v', a: len(rows), b: w}
	if f, ok := cachedFrag(k); ok {
		return f, args
	}
	return storeFrag(k, "(VALUES "+Tuples(len(rows), w)+")"), args
}

// InList renders "col IN (sub)".
func InList(col, sub string) string { return col + " IN (" + sub + ")" }
