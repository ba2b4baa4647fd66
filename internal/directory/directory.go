// Package directory writes the contacts directory — who can be reached in
// which region, for region-targeted advisories — off the event path, and
// reads it for advisory fan-out.
//
// Every daily snapshot names a (region, phone, entity) row, and almost all
// of them are already stored. The Writer remembers, in a bounded set of
// 64-bit hashes, the rows this process has stored, and skips them; the new
// ones are queued and written in the background by Run, sorted by primary
// key, at least every FlushEvery and as soon as FlushRows are queued. A
// full queue (MaxPending queued or being written) blocks Add
// (back-pressure); nothing is dropped.
//
// Large flushes: the keys are random, so n rows scattered over the table
// dirty about min(n, pages) B-tree pages, each written whole to the WAL.
// A row therefore costs less in a large sorted flush than written with its
// event batch, and about the same whether such a flush is one transaction
// or cut into transactions of consecutive keys (TxRows), which is what Run
// does, so that the ledger's single writer (SQLite) is held only a few
// milliseconds at a time: message inserts, claims and receipts get their
// turn between them. The figures (BenchmarkUpsertContacts in
// internal/ledger/sqlite, BenchmarkAdd, the sweep) are in bench/README.md.
//
// Durability: by default (Sync false) Add returns once its contacts are
// queued, so the events' offsets may be committed before their directory
// rows are stored. A crash then loses up to about one flush interval of
// rows (at most MaxPending); the directory is derived data, and the next
// snapshot of each person restores them. With Sync, Handle waits for the
// flush that holds its batch's new contacts (and only when it had some),
// so nothing is lost, at the cost of one directory transaction per batch
// on the event path. Either way an advisory in this process sees every
// contact queued before it (ContactsInRegions flushes first); other
// instances (PostgreSQL) see them after their flush.
//
// The ledger owns the table and its SQL; this package owns only when and
// what is written.
package directory

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
)

// Store is the part of the ledger the directory uses. UpsertContacts must
// not keep cs after it returns (the writer reuses it).
type Store interface {
	UpsertContacts(ctx context.Context, cs []ledger.Contact) error
	ContactsInRegions(ctx context.Context, regions []string, fn func(phone string) error) error
}

// Defaults of Config.
const (
	DefaultFlushEvery   = time.Second
	DefaultFlushRows    = 50_000
	DefaultTxRows       = 2_000
	DefaultMaxPending   = 2 * DefaultFlushRows
	DefaultStopTimeout  = 10 * time.Second
	defaultRetryBackoff = 100 * time.Millisecond
	maxRetryBackoff     = 5 * time.Second
)

// ErrStopped is returned by Add and Flush once Run has returned.
var ErrStopped = errors.New("directory: writer stopped")

// Config wires a Writer.
type Config struct {
	Store Store
	// KnownMB is the memory of the set of stored contacts' hashes
	// (8 bytes each); 0 remembers nothing (every contact is written).
	KnownMB     int
	FlushEvery  time.Duration // default DefaultFlushEvery
	FlushRows   int           // a flush starts when this many are queued; default DefaultFlushRows, at most MaxPending/2
	TxRows      int           // rows per transaction of a flush; default DefaultTxRows
	MaxPending  int           // queued and in-flight contacts before Add blocks; default DefaultMaxPending
	Sync        bool          // Wait waits until the contacts are stored
	StopTimeout time.Duration // for the last flush when Run stops; default DefaultStopTimeout
	Logger      *slog.Logger
	Metrics     *Metrics
}

// Writer queues new contacts and stores them in the background (Run).
type Writer struct {
	cfg  Config
	kick chan struct{} // wakes Run for an early flush

	mu       sync.Mutex
	known    *knownSet
	pending  []entry
	spare    []entry          // the last flushed slice, reused
	rows     []ledger.Contact // Run's, reused
	order    []sortKey        // Run's, reused
	inflight int              // contacts taken by the flush in progress
	taken    uint64           // flushes started
	stored   uint64           // flushes done (in order)
	flushed  chan struct{}    // closed and replaced when a flush ends, well or not
	stopped  bool
}

type entry struct {
	c ledger.Contact
	h uint64
}

// Ticket names the flush that stores the contacts of one Add; the zero
// Ticket needs none.
type Ticket uint64

// New returns a writer; Run must run for queued contacts to be stored.
func New(cfg Config) *Writer {
	cfg.FlushEvery = cmp.Or(cfg.FlushEvery, DefaultFlushEvery)
	cfg.MaxPending = cmp.Or(cfg.MaxPending, DefaultMaxPending)
	cfg.FlushRows = min(cmp.Or(cfg.FlushRows, DefaultFlushRows), max(cfg.MaxPending/2, 1)) // room to queue during a flush
	cfg.TxRows = cmp.Or(cfg.TxRows, DefaultTxRows)
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, DefaultStopTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	return &Writer{
		cfg:     cfg,
		kick:    make(chan struct{}, 1),
		known:   newKnownSet(cfg.KnownMB << 20),
		flushed: make(chan struct{}),
	}
}

// Add queues the contacts this process has not stored yet. It blocks while
// MaxPending contacts are queued or being written (until ctx is done). The
// Ticket is for Wait.
func (w *Writer) Add(ctx context.Context, cs []ledger.Contact) (Ticket, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	hs := make([]uint64, len(cs))
	for i := range cs {
		hs[i] = w.known.hash(&cs[i]) // the seed never changes: no lock
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := 0
	for i, h := range hs {
		if w.known.has(h) {
			hs[i] = 0
		} else {
			fresh++
		}
	}
	w.cfg.Metrics.known.Add(float64(len(cs) - fresh))
	if fresh == 0 {
		return 0, nil
	}
	for {
		if w.stopped {
			return 0, ErrStopped
		}
		queued := len(w.pending) + w.inflight
		if queued == 0 || queued+fresh <= w.cfg.MaxPending {
			break
		}
		w.cfg.Metrics.waits.Inc()
		w.wake()
		if err := w.await(ctx, w.flushed); err != nil {
			return 0, err
		}
	}
	for i, h := range hs {
		if h != 0 {
			w.pending = append(w.pending, entry{compact(cs[i]), h})
		}
	}
	w.cfg.Metrics.pending.Set(float64(len(w.pending) + w.inflight))
	if w.cfg.Sync || len(w.pending) >= w.cfg.FlushRows {
		w.wake()
	}
	return Ticket(w.taken + 1), nil
}

// Wait returns once the contacts of t are stored, when the writer is Sync;
// otherwise at once.
func (w *Writer) Wait(ctx context.Context, t Ticket) error {
	if !w.cfg.Sync {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waitStored(ctx, uint64(t))
}

// Flush returns once every contact queued before it is stored.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target := w.taken // the flush in progress, if any
	if len(w.pending) > 0 {
		target++
		w.wake()
	}
	return w.waitStored(ctx, target)
}

// ContactsInRegions flushes the queue, so that an advisory reaches the
// contacts of events handled before it, then walks the stored directory
// (ledger.Store.ContactsInRegions).
func (w *Writer) ContactsInRegions(ctx context.Context, regions []string, fn func(phone string) error) error {
	if err := w.Flush(ctx); err != nil {
		return err
	}
	return w.cfg.Store.ContactsInRegions(ctx, regions, fn)
}

// waitStored waits, with w.mu held, until flush number target is done.
func (w *Writer) waitStored(ctx context.Context, target uint64) error {
	for w.stored < target {
		if w.stopped {
			return ErrStopped
		}
		if err := w.await(ctx, w.flushed); err != nil {
			return err
		}
	}
	return nil
}

// await releases w.mu until ch is closed or ctx is done.
func (w *Writer) await(ctx context.Context, ch chan struct{}) error {
	w.mu.Unlock()
	defer w.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type sortKey struct {
	k uint64 // prefixKey
	i int32  // index in the batch
}

// sorted returns the batch's contacts in primary-key order, without
// duplicates, in w.rows. It sorts 16-byte keys, not the entries: most
// comparisons are of prefixKey alone.
func (w *Writer) sorted(batch []entry) []ledger.Contact {
	order := w.order[:0]
	fast := true
	for i := range batch {
		k, ok := prefixKey(&batch[i].c)
		fast = fast && ok
		order = append(order, sortKey{k, int32(i)})
	}
	exact := func(a, b sortKey) int { return compareKeys(&batch[a.i].c, &batch[b.i].c) }
	if fast {
		slices.SortFunc(order, func(a, b sortKey) int {
			if a.k != b.k {
				return cmp.Compare(a.k, b.k)
			}
			return exact(a, b)
		})
	} else {
		slices.SortFunc(order, exact)
	}
	rows := w.rows[:0]
	for _, o := range order {
		if c := batch[o.i].c; len(rows) == 0 || c != rows[len(rows)-1] {
			rows = append(rows, c)
		}
	}
	w.order = order[:0]
	return rows
}

// prefixKey maps a 6-digit region and the first 10 characters of an
// all-digit phone to a number whose order is the order of the primary key
// (digit+1 per 4 bits, 0 past the end of the phone). ok is false for keys
// of another shape.
func prefixKey(c *ledger.Contact) (k uint64, ok bool) {
	if len(c.Region) != 6 {
		return 0, false
	}
	for i := range 16 {
		var ch byte
		switch j := i - 6; {
		case i < 6:
			ch = c.Region[i]
		case j < len(c.Phone):
			ch = c.Phone[j]
		default:
			k <<= 4
			continue
		}
		if ch < '0' || ch > '9' {
			return 0, false
		}
		k = k<<4 | uint64(ch-'0'+1)
	}
	return k, true
}

// compareKeys orders contacts by the directory's primary key (region,
// phone, entity), comparing only as far as needed.
func compareKeys(a, b *ledger.Contact) int {
	if c := strings.Compare(a.Region, b.Region); c != 0 {
		return c
	}
	if c := strings.Compare(a.Phone, b.Phone); c != 0 {
		return c
	}
	return strings.Compare(a.Entity, b.Entity)
}

// compact copies c into one allocation: the event decoder's strings are
// slices of the whole record, which a queued contact would keep alive.
func compact(c ledger.Contact) ledger.Contact {
	s := c.Region + c.Phone + c.Entity
	r, p := len(c.Region), len(c.Region)+len(c.Phone)
	return ledger.Contact{Region: s[:r], Phone: s[r:p], Entity: s[p:]}
}

func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run stores queued contacts until ctx is done, then makes a last flush
// (within StopTimeout) and returns. A failed write is retried with backoff,
// its contacts kept; what the last flush cannot store is logged as lost.
func (w *Writer) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stop(ctx)
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush(ctx)
	}
}

func (w *Writer) stop(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.StopTimeout)
	defer cancel()
	w.flush(sctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if n := len(w.pending) + w.inflight; n > 0 {
		w.cfg.Logger.Error("contacts not stored at stop; the next snapshots restore them", "contacts", n)
	}
	close(w.flushed)
	w.flushed = make(chan struct{})
}

// flush stores everything queued, retrying until it is stored or ctx is
// done (the contacts then stay queued).
func (w *Writer) flush(ctx context.Context) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return
	}
	batch := w.pending
	w.pending, w.spare = w.spare[:0], nil
	w.inflight = len(batch)
	w.taken++
	w.mu.Unlock()

	rows := w.sorted(batch)
	err := w.write(ctx, rows)
	clear(rows)
	w.rows = rows[:0]

	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight = 0
	if err != nil { // ctx is done: put them back for the next try
		w.pending = append(batch, w.pending...)
		w.taken--
	} else {
		for i := range batch {
			w.known.add(batch[i].h)
		}
		w.stored++
		clear(batch)
		w.spare = batch[:0]
	}
	w.cfg.Metrics.pending.Set(float64(len(w.pending)))
	close(w.flushed)
	w.flushed = make(chan struct{})
}

// write stores sorted rows in transactions of TxRows consecutive keys,
// retrying each until it succeeds or ctx is done.
func (w *Writer) write(ctx context.Context, rows []ledger.Contact) error {
	m := w.cfg.Metrics
	for len(rows) > 0 {
		tx := rows[:min(len(rows), w.cfg.TxRows)]
		for attempt := 1; ; attempt++ {
			start := time.Now()
			err := w.cfg.Store.UpsertContacts(ctx, tx)
			if err == nil {
				m.flushSeconds.Observe(time.Since(start).Seconds())
				m.written.Add(float64(len(tx)))
				break
			}
			m.errors.Inc()
			if ctx.Err() != nil {
				return err
			}
			backoff := min(defaultRetryBackoff<<min(attempt-1, 6), maxRetryBackoff)
			w.cfg.Logger.Warn("storing contacts failed; retrying", "contacts", len(tx), "attempt", attempt, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		rows = rows[len(tx):]
	}
	return nil
}
