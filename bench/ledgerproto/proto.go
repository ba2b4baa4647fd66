// Package ledgerproto is a measuring prototype, not a ledger: the hot path
// of the gateway's ledger (Insert, Claim, Submitted, Receipts) on an LSM
// key-value store (github.com/cockroachdb/pebble/v2), to find out what a
// message's life costs there before the real ledger is redesigned (issue
// 18). It keeps the same records and indexes the SQLite ledger's hot path
// keeps, one write batch per call, committed without fsync (the SQLite
// ledger's synchronous=NORMAL: a process crash loses nothing, a power
// failure may lose the last commits); bench_test.go runs the ledger
// conformance suite's benchmark shapes on it.
//
// Left out, because they are not on the per-message path: expiry,
// scheduling, retries, unknown outcomes and reconciliation, calls, trace,
// summary, prune. It lives in its own module so that the gateway does not
// depend on pebble until a ledger built on it passes the conformance,
// crash and fault suites.
package ledgerproto

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// Key prefixes. Integers are big-endian so that keys sort by them.
const (
	pMsg      = 'm' // m id → message record (as inserted, with splitState)
	pState    = 't' // t id → state record (with splitState)
	pKey      = 'k' // k key → id (idempotency)
	pDue      = 'q' // q (255-priority) notBefore id → "" (the due queue)
	pRcpt     = 'c' // c recipient 0 created id → "" (caps, one in flight per recipient)
	pDedupe   = 'd' // d dedupeKey 0 created id → ""
	pEvent    = 'e' // e eventID 0 id → "" (trace)
	pEntity   = 'n' // n entity 0 id → "" (trace, re-check at send)
	pBusy     = 'f' // f recipient → id: a message to them is in flight
	pSending  = 's' // s owner 0 id → claimedAt (crash recovery)
	pAwaiting = 'a' // a submittedAt id → "" (no receipt within validity)
	pPart     = 'p' // p carrier 0 carrierID → id seq (insert-only)
	pPending  = 'u' // u carrier 0 carrierID → stat (receipt before its submit result)
	pReceipt  = 'r' // r id seq n → stat (receipt log, trace)
	pDone     = 'x' // x updatedAt id → "" (prune)
	pOutbox   = 'o' // o seq → id state at (status outbox)
)

// States, as the record stores them.
const (
	Queued byte = iota + 1
	Sending
	Submitted
	Delivered
	Failed
)

// Msg is a message as the hot path needs it.
type Msg struct {
	ID                                        uint64
	Key, EventID, Entity, RuleID, Recipient   string
	Carrier, DedupeKey, Body                  string
	Priority                                  uint8
	Segments                                  int
	State                                     byte
	Attempts                                  int
	NotBefore, CreatedAt, SubmittedAt, DoneAt int64
	Owner                                     string
	ClaimedAt                                 int64
	CarrierIDs                                []string // per part, after Submitted
	Stats                                     []string // per part, the last receipt's stat
}

// Submission is a send's outcome with every part accepted.
type Submission struct {
	ID         uint64
	Carrier    string
	CarrierIDs []string
	At         int64
}

// Receipt is a delivery receipt.
type Receipt struct {
	Carrier, CarrierID, Stat string
	Done                     int64
}

// Outcome of a receipt.
const (
	Matched   = "matched"
	Pending   = "pending"
	Duplicate = "duplicate"
)

// cacheBytes is the block cache: the SQLite ledger's writer page cache
// is 32 MB too.
const cacheBytes = 32 << 20

// memtableBytes is the memtable: a message that settles within one
// memtable's life reaches the disk's tables once, in its last state.
var memtableBytes uint64 = 4 << 20

// compress: Snappy-compress table blocks (pebble's default).
var compress = true

// lazyIndexes leaves out the keys only trace and prune read (event,
// entity, receipt log, done): what a store that builds them in the
// background, or from the outbox, would save on the hot path. A
// measurement only: nothing here builds them.
var lazyIndexes = false

// splitState: a transition rewrites a small state record (t) instead of
// the whole message (m, written once at insert).
var splitState = true

// Store is the prototype. One writer at a time, like the SQLite ledger.
type Store struct {
	db      *pebble.DB
	mu      sync.Mutex
	nextID  uint64
	nextOut uint64
	sync    *pebble.WriteOptions

	// With hot set, the state of every message not yet final is kept in
	// memory as well (live, and its parts and busy recipients), so the
	// hot path writes without reading: the design the issue calls "an
	// append-only record of transitions, with current state kept where
	// it is needed". Changes reach these maps only after their batch
	// committed.
	hot     bool
	lean    bool    // Lean, Bounded: the transient indexes only in memory
	bounded bool    // Bounded: submitted messages not in memory
	due     dueHeap // Lean: the due queue
	live    map[uint64]*Msg
	parts   map[string]partRef
	busy    map[string]uint64
	// pending receipts (few: those that came before their submit
	// result), so that the common case, none, needs no read.
	pending map[string]bool
}

// Mode says what the store keeps in memory.
type Mode int

// Modes.
const (
	// Plain reads every record it changes from the store.
	Plain Mode = iota
	// Hot keeps messages not yet final in memory too, so the hot path
	// writes without reading (except the idempotency key at insert).
	Hot
	// Lean is Hot without the transient indexes on disk (due queue,
	// busy recipients, sending, awaiting receipts): they are kept in
	// memory and rebuilt at Open from the records of messages not yet
	// final. The disk keeps records, permanent indexes and the outbox.
	Lean
	// Bounded is Lean that keeps only queued and sending messages in
	// memory: a submitted message, waiting for its receipts (for days,
	// if the handset is off), is read from disk when a receipt names it,
	// through the part index.
	Bounded
)

// dueItem is a queued message in Lean's due queue.
type dueItem struct {
	prio      uint8
	notBefore int64
	id        uint64
}

// dueHeap orders the due queue as the due index does: higher priority
// first, then earlier NotBefore, then id.
type dueHeap []dueItem

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	if a.notBefore != b.notBefore {
		return a.notBefore < b.notBefore
	}
	return a.id < b.id
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type partRef struct {
	id  uint64
	seq int
}

// op is one call's batch and the in-memory changes it commits.
type op struct {
	s     *Store
	b     *pebble.Batch
	msgs  map[uint64]*Msg    // changed in this batch
	parts map[string]partRef // added in this batch
	busy  map[string]uint64  // 0: freed in this batch
	pend  map[string]bool    // pending receipts added (true) or taken (false)
	due   []dueItem          // Lean: queued in this batch
}

func (s *Store) begin() *op {
	return &op{s: s, b: s.db.NewIndexedBatch(), msgs: map[uint64]*Msg{}, parts: map[string]partRef{}, busy: map[string]uint64{}, pend: map[string]bool{}}
}

// pendingStat returns the pending receipt's stat kept under uk.
func (o *op) pendingStat(uk []byte) (string, bool, error) {
	if o.s.hot {
		on, ok := o.pend[string(uk)]
		if !ok {
			on = o.s.pending[string(uk)]
		}
		if !on {
			return "", false, nil
		}
	}
	v, ok, err := get(o.b, uk)
	return string(v), ok, err
}

func (o *op) setPending(uk []byte, stat string) {
	if stat == "" {
		del(o.b, uk)
	} else {
		set(o.b, uk, []byte(stat))
	}
	o.pend[string(uk)] = stat != ""
}

// commit commits the batch, then the in-memory state.
func (o *op) commit() error {
	defer o.b.Close()
	if err := o.b.Commit(o.s.sync); err != nil {
		return err
	}
	s := o.s
	if !s.hot {
		return nil
	}
	for k, r := range o.parts {
		s.parts[k] = r
	}
	for id, m := range o.msgs {
		if m.State == Delivered || m.State == Failed || (s.bounded && m.State == Submitted) {
			delete(s.live, id)
			for _, cid := range m.CarrierIDs {
				delete(s.parts, string(partKey(m.Carrier, cid)))
			}
			continue
		}
		s.live[id] = m
	}
	for _, d := range o.due {
		heap.Push(&s.due, d)
	}
	for k, on := range o.pend {
		if on {
			s.pending[k] = true
		} else {
			delete(s.pending, k)
		}
	}
	for r, id := range o.busy {
		if id == 0 {
			delete(s.busy, r)
		} else {
			s.busy[r] = id
		}
	}
	return nil
}

// load returns message id, to be changed and put back; with full false
// the fields that never change may be missing (splitState).
func (o *op) load(id uint64, full bool) (*Msg, error) {
	if m, ok := o.msgs[id]; ok {
		return m, nil
	}
	if m, ok := o.s.live[id]; ok {
		c := *m
		c.CarrierIDs, c.Stats = slices.Clone(m.CarrierIDs), slices.Clone(m.Stats)
		return &c, nil
	}
	return o.s.load(o.b, id, full)
}

// put writes m's record.
func (o *op) put(m *Msg) {
	if splitState {
		set(o.b, u64([]byte{pState}, m.ID), encodeState(nil, m))
	} else {
		set(o.b, msgKey(m.ID), encode(nil, m))
	}
	o.msgs[m.ID] = m
}

// isBusy reports whether a message to recipient is in flight.
func (o *op) isBusy(recipient string) (bool, error) {
	if !o.s.hot {
		_, ok, err := get(o.b, key(nil, pBusy, recipient))
		return ok, err
	}
	if id, ok := o.busy[recipient]; ok {
		return id != 0, nil
	}
	_, ok := o.s.busy[recipient]
	return ok, nil
}

func (o *op) setBusy(recipient string, id uint64) {
	o.busy[recipient] = id
	if o.s.lean {
		return
	}
	k := key(nil, pBusy, recipient)
	if id == 0 {
		del(o.b, k)
	} else {
		set(o.b, k, u64(nil, id))
	}
}

// part returns the message and part a carrier id names.
func (o *op) part(pk []byte) (partRef, bool, error) {
	if r, ok := o.parts[string(pk)]; ok {
		return r, true, nil
	}
	if r, ok := o.s.parts[string(pk)]; ok {
		return r, true, nil
	}
	// Not in memory: a message already final (a duplicate receipt), or
	// an id not known yet.
	v, ok, err := get(o.b, pk)
	if !ok || err != nil {
		return partRef{}, false, err
	}
	return partRef{binary.BigEndian.Uint64(v), int(v[8])}, true, nil
}

// Open opens (or creates) a store in dir. fsync: commit with fsync.
func Open(dir string, fsync bool, mode Mode) (*Store, error) {
	hot := mode >= Hot
	opts := &pebble.Options{Logger: quiet{}, CacheSize: cacheBytes, MemTableSize: memtableBytes}
	for i := range opts.Levels {
		// Most point reads on the hot path miss (a new key, a receipt
		// that is not pending): a Bloom filter answers those without
		// reading a block.
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		if !compress {
			opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		}
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, sync: pebble.NoSync, hot: hot, lean: mode >= Lean, bounded: mode == Bounded, live: map[uint64]*Msg{}, parts: map[string]partRef{}, busy: map[string]uint64{}, pending: map[string]bool{}}
	if fsync {
		s.sync = pebble.Sync
	}
	if s.nextID, err = s.last(pMsg); err != nil {
		db.Close()
		return nil, err
	}
	if s.nextOut, err = s.last(pOutbox); err != nil {
		db.Close()
		return nil, err
	}
	if hot {
		if err := s.warm(); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

// warm loads the messages not yet final (the due, sending and awaiting
// indexes name them) into memory.
func (s *Store) warm() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pPending}, UpperBound: []byte{pPending + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		s.pending[string(it.Key())] = true
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if s.lean {
		return s.warmLean()
	}
	for _, p := range []byte{pDue, pSending, pAwaiting} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			m, err := s.Get(binary.BigEndian.Uint64(k[len(k)-8:]))
			if err != nil {
				it.Close()
				return err
			}
			s.live[m.ID] = m
			if m.State == Sending {
				s.busy[m.Recipient] = m.ID
			}
			for i, cid := range m.CarrierIDs {
				s.parts[string(partKey(m.Carrier, cid))] = partRef{m.ID, i}
			}
		}
		if err := errors.Join(it.Error(), it.Close()); err != nil {
			return err
		}
	}
	return nil
}

// warmLean rebuilds Lean's memory from the records of the messages not
// yet final. It reads every record: a store to keep would remember the
// oldest message not yet final and start there.
func (s *Store) warmLean() error {
	p := byte(pMsg)
	if splitState {
		p = pState
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var m Msg
		if splitState {
			err = decodeState(it.Value(), &m)
		} else {
			var d *Msg
			d, err = decode(it.Value())
			if d != nil {
				m = *d
			}
		}
		if err != nil {
			return err
		}
		if m.State == Delivered || m.State == Failed || (s.bounded && m.State == Submitted) {
			continue
		}
		full, err := s.Get(binary.BigEndian.Uint64(it.Key()[1:9]))
		if err != nil {
			return err
		}
		s.live[full.ID] = full
		switch full.State {
		case Queued:
			heap.Push(&s.due, dueItem{full.Priority, full.NotBefore, full.ID})
		case Sending:
			s.busy[full.Recipient] = full.ID
		}
		for i, cid := range full.CarrierIDs {
			s.parts[string(partKey(full.Carrier, cid))] = partRef{full.ID, i}
		}
	}
	return it.Error()
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// last returns the largest 8-byte number after prefix p (0: none).
func (s *Store) last(p byte) (uint64, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[1:9]), nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Insert stores new messages; one whose Key exists changes nothing and
// gets the stored ID.
func (s *Store) Insert(ms []*Msg, now int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin()
	b := o.b
	var kb []byte
	for _, m := range ms {
		kb = key(kb[:0], pKey, m.Key)
		if v, ok, err := get(b, kb); err != nil {
			b.Close()
			return err
		} else if ok {
			m.ID = binary.BigEndian.Uint64(v)
			continue
		}
		s.nextID++
		m.ID, m.State, m.CreatedAt = s.nextID, Queued, now
		if m.NotBefore == 0 {
			m.NotBefore = now
		}
		set(b, kb, u64(nil, m.ID))
		c := *m
		if splitState {
			set(b, msgKey(m.ID), encode(nil, m))
		}
		o.put(&c)
		if s.lean {
			o.due = append(o.due, dueItem{m.Priority, m.NotBefore, m.ID})
		} else {
			set(b, dueKey(m), nil)
		}
		set(b, idxKey(pRcpt, m.Recipient, m.CreatedAt, m.ID), nil)
		if m.DedupeKey != "" {
			set(b, idxKey(pDedupe, m.DedupeKey, m.CreatedAt, m.ID), nil)
		}
		if !lazyIndexes {
			set(b, append(key(nil, pEvent, m.EventID), u64([]byte{0}, m.ID)...), nil)
		}
		if m.Entity != "" && !lazyIndexes {
			set(b, append(key(nil, pEntity, m.Entity), u64([]byte{0}, m.ID)...), nil)
		}
		s.out(b, m.ID, Queued, now)
	}
	return o.commit()
}

// Claim moves up to limit due messages to sending, at most one per
// recipient and none while another to that recipient is in flight.
func (s *Store) Claim(now int64, limit int, owner string) ([]*Msg, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin()
	b := o.b
	var out []*Msg
	var err error
	if s.lean {
		var taken []dueItem
		out, taken, err = o.claimLean(now, limit, owner)
		if err == nil {
			err = o.commit()
		} else {
			b.Close()
		}
		if err != nil {
			for _, d := range taken {
				heap.Push(&s.due, d)
			}
			return nil, err
		}
		for i, m := range out {
			c := *m
			out[i] = &c
		}
		return out, nil
	}
	out, err = o.claim(now, limit, owner)
	if err != nil {
		b.Close()
		return nil, err
	}
	// The caller gets copies: the in-memory state is the store's.
	for i, m := range out {
		c := *m
		out[i] = &c
	}
	return out, o.commit()
}

// claimLean takes due messages off the in-memory queue; taken are those
// claimed (back on the queue if the commit fails), the others are back
// already.
func (o *op) claimLean(now int64, limit int, owner string) (out []*Msg, taken []dueItem, err error) {
	h := &o.s.due
	var skipped []dueItem
	defer func() {
		for _, d := range skipped {
			heap.Push(h, d)
		}
	}()
	for h.Len() > 0 && len(out) < limit {
		d := heap.Pop(h).(dueItem)
		if d.notBefore > now {
			skipped = append(skipped, d)
			continue
		}
		m, err := o.load(d.id, true)
		if err != nil {
			skipped = append(skipped, d)
			return nil, taken, err
		}
		if busy, _ := o.isBusy(m.Recipient); busy {
			skipped = append(skipped, d)
			continue
		}
		m.State, m.Attempts, m.Owner, m.ClaimedAt = Sending, m.Attempts+1, owner, now
		o.put(m)
		o.setBusy(m.Recipient, d.id)
		taken = append(taken, d)
		out = append(out, m)
	}
	return out, taken, nil
}

func (o *op) claim(now int64, limit int, owner string) ([]*Msg, error) {
	b := o.b
	it, err := o.s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pDue}, UpperBound: []byte{pDue + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*Msg
	var due [][]byte
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		k := it.Key()
		if int64(binary.BigEndian.Uint64(k[2:10])) > now {
			// The rest of this priority is not due: on to the next one.
			if k[1] == 255 || !it.SeekGE([]byte{pDue, k[1] + 1}) {
				break
			}
			it.Prev()
			continue
		}
		id := binary.BigEndian.Uint64(k[10:18])
		m, err := o.load(id, true)
		if err != nil {
			return nil, err
		}
		if busy, err := o.isBusy(m.Recipient); err != nil {
			return nil, err
		} else if busy {
			continue
		}
		m.State, m.Attempts, m.Owner, m.ClaimedAt = Sending, m.Attempts+1, owner, now
		o.put(m)
		o.setBusy(m.Recipient, id)
		set(b, append(key(nil, pSending, owner), u64([]byte{0}, id)...), u64(nil, uint64(now)))
		due = append(due, bytes.Clone(k))
		out = append(out, m)
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	for _, k := range due {
		if err := b.Delete(k, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Submitted records accepted sends: the parts' ids, and receipts that
// came before them.
func (s *Store) Submitted(subs []Submission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin()
	b := o.b
	for _, sub := range subs {
		m, err := o.load(sub.ID, false)
		if err != nil {
			b.Close()
			return err
		}
		if m.State != Sending {
			continue
		}
		m.State, m.SubmittedAt, m.CarrierIDs = Submitted, sub.At, sub.CarrierIDs
		m.Stats = make([]string, len(sub.CarrierIDs))
		for i, cid := range sub.CarrierIDs {
			pk := partKey(sub.Carrier, cid)
			set(b, pk, append(u64(nil, m.ID), byte(i)))
			o.parts[string(pk)] = partRef{m.ID, i}
			uk := append([]byte{pPending}, pk[1:]...)
			if v, ok, err := o.pendingStat(uk); err != nil {
				b.Close()
				return err
			} else if ok {
				m.Stats[i] = v
				o.setPending(uk, "")
			}
		}
		if !s.lean {
			del(b, append(key(nil, pSending, m.Owner), u64([]byte{0}, m.ID)...))
		}
		s.out(b, m.ID, Submitted, sub.At)
		// Every part accepted: the recipient may have the next one (the
		// SQLite ledger's Claim rule).
		o.setBusy(m.Recipient, 0)
		if !o.settle(m, sub.At) {
			if !s.lean {
				set(b, append(u64([]byte{pAwaiting}, uint64(sub.At)), u64(nil, m.ID)...), nil)
			}
		}
		o.put(m)
	}
	return o.commit()
}

// Receipts applies receipts in order: to a known part, or kept pending.
func (s *Store) Receipts(rs []Receipt, now int64) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin()
	b := o.b
	out := make([]string, len(rs))
	for i, r := range rs {
		pk := partKey(r.Carrier, r.CarrierID)
		ref, ok, err := o.part(pk)
		if err != nil {
			b.Close()
			return nil, err
		}
		if !ok {
			uk := append([]byte{pPending}, pk[1:]...)
			if _, ok, err := o.pendingStat(uk); err != nil {
				b.Close()
				return nil, err
			} else if ok {
				out[i] = Duplicate
				continue
			}
			o.setPending(uk, r.Stat)
			out[i] = Pending
			continue
		}
		m, err := o.load(ref.id, false)
		if err != nil {
			b.Close()
			return nil, err
		}
		if ref.seq >= len(m.Stats) || m.Stats[ref.seq] == r.Stat {
			out[i] = Duplicate
			continue
		}
		m.Stats[ref.seq] = r.Stat
		if !lazyIndexes {
			rk := append(u64([]byte{pReceipt}, ref.id), byte(ref.seq))
			set(b, u64(rk, uint64(now)), []byte(r.Stat))
		}
		if m.State == Submitted && o.settle(m, now) && !s.lean {
			del(b, append(u64([]byte{pAwaiting}, uint64(m.SubmittedAt)), u64(nil, m.ID)...))
		}
		o.put(m)
		out[i] = Matched
	}
	return out, o.commit()
}

// settle makes m final when every part has a final stat, and reports
// whether it did.
func (o *op) settle(m *Msg, now int64) bool {
	st := Delivered
	for _, x := range m.Stats {
		switch x {
		case "DELIVRD":
		case "":
			return false
		default:
			st = Failed
		}
	}
	m.State, m.DoneAt = st, now
	if !lazyIndexes {
		set(o.b, append(u64([]byte{pDone}, uint64(now)), u64(nil, m.ID)...), nil)
	}
	o.s.out(o.b, m.ID, st, now)
	return true
}

// Get returns the stored message id.
func (s *Store) Get(id uint64) (*Msg, error) {
	b := s.db.NewIndexedBatch()
	defer b.Close()
	return s.load(b, id, true)
}

// Outbox returns the status changes after seq, up to limit, as
// "id state".
func (s *Store) Outbox(after uint64, limit int) ([]string, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: u64([]byte{pOutbox}, after+1), UpperBound: []byte{pOutbox + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		v := it.Value()
		out = append(out, fmt.Sprintf("%d %d", binary.BigEndian.Uint64(v), v[8]))
	}
	return out, it.Error()
}

func (s *Store) out(b *pebble.Batch, id uint64, st byte, at int64) {
	s.nextOut++
	v := append(u64(nil, id), st)
	set(b, u64([]byte{pOutbox}, s.nextOut), u64(v, uint64(at)))
}

func (s *Store) load(b *pebble.Batch, id uint64, full bool) (*Msg, error) {
	m := &Msg{}
	if full || !splitState {
		v, ok, err := get(b, msgKey(id))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("message %d: not found", id)
		}
		if m, err = decode(v); err != nil {
			return nil, err
		}
	}
	if splitState {
		v, ok, err := get(b, u64([]byte{pState}, id))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("message %d: no state", id)
		}
		if err := decodeState(v, m); err != nil {
			return nil, err
		}
	}
	m.ID = id
	return m, nil
}

func get(b *pebble.Batch, k []byte) ([]byte, bool, error) {
	v, closer, err := b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = bytes.Clone(v)
	return v, true, closer.Close()
}

// del adds a deletion to a batch (which fails only as set does).
func del(b *pebble.Batch, k []byte) { _ = b.Delete(k, nil) }

// set adds to a batch; a batch's Set fails only once it is committed or
// closed, which these helpers never do.
func set(b *pebble.Batch, k, v []byte) { _ = b.Set(k, v, nil) }

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func key(b []byte, p byte, s string) []byte { return append(append(b, p), s...) }

func msgKey(id uint64) []byte { return u64([]byte{pMsg}, id) }

func dueKey(m *Msg) []byte {
	return u64(u64([]byte{pDue, 255 - m.Priority}, uint64(m.NotBefore)), m.ID)
}

func idxKey(p byte, s string, at int64, id uint64) []byte {
	return u64(u64(append(key(nil, p, s), 0), uint64(at)), id)
}

func partKey(carrier, cid string) []byte {
	return append(append(key(nil, pPart, carrier), 0), cid...)
}

// encode appends m's record: numbers as varints, strings and lists
// length-prefixed.
func encode(b []byte, m *Msg) []byte {
	b = append(b, m.State, m.Priority)
	for _, v := range []int64{int64(m.Segments), int64(m.Attempts), m.NotBefore, m.CreatedAt, m.SubmittedAt, m.DoneAt, m.ClaimedAt} {
		b = binary.AppendVarint(b, v)
	}
	for _, s := range []string{m.Key, m.EventID, m.Entity, m.RuleID, m.Recipient, m.Carrier, m.DedupeKey, m.Body, m.Owner} {
		b = appendString(b, s)
	}
	for _, l := range [][]string{m.CarrierIDs, m.Stats} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			b = appendString(b, s)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errRecord = errors.New("ledgerproto: bad record")

// encodeState appends what transitions change, and what settling needs.
func encodeState(b []byte, m *Msg) []byte {
	b = append(b, m.State)
	for _, v := range []int64{int64(m.Attempts), m.SubmittedAt, m.DoneAt, m.ClaimedAt} {
		b = binary.AppendVarint(b, v)
	}
	for _, s := range []string{m.Recipient, m.Carrier, m.Owner} {
		b = appendString(b, s)
	}
	return appendList(appendList(b, m.CarrierIDs), m.Stats)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// decodeState fills m's state from b.
func decodeState(b []byte, m *Msg) error {
	if len(b) < 1 {
		return errRecord
	}
	m.State = b[0]
	r := reader{b: b[1:]}
	var attempts int64
	for _, p := range []*int64{&attempts, &m.SubmittedAt, &m.DoneAt, &m.ClaimedAt} {
		*p = r.varint()
	}
	m.Attempts = int(attempts)
	m.Recipient, m.Carrier, m.Owner = r.str(), r.str(), r.str()
	m.CarrierIDs, m.Stats = r.list(), r.list()
	if r.bad {
		return errRecord
	}
	return nil
}

// reader decodes a record; bad is set at the first malformed field.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	l, n := binary.Uvarint(r.b)
	if n <= 0 || uint64(len(r.b)-n) < l {
		r.bad = true
		return ""
	}
	s := string(r.b[n : n+int(l)])
	r.b = r.b[n+int(l):]
	return s
}

func (r *reader) list() []string {
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	r.b = r.b[n:]
	if l == 0 {
		return nil
	}
	out := make([]string, l)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func decode(b []byte) (*Msg, error) {
	if len(b) < 2 {
		return nil, errRecord
	}
	m := &Msg{State: b[0], Priority: b[1]}
	b = b[2:]
	ints := []*int64{nil, nil, &m.NotBefore, &m.CreatedAt, &m.SubmittedAt, &m.DoneAt, &m.ClaimedAt}
	for i := range ints {
		v, n := binary.Varint(b)
		if n <= 0 {
			return nil, errRecord
		}
		b = b[n:]
		switch i {
		case 0:
			m.Segments = int(v)
		case 1:
			m.Attempts = int(v)
		default:
			*ints[i] = v
		}
	}
	str := func() (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return "", false
		}
		s := string(b[n : n+int(l)])
		b = b[n+int(l):]
		return s, true
	}
	for _, p := range []*string{&m.Key, &m.EventID, &m.Entity, &m.RuleID, &m.Recipient, &m.Carrier, &m.DedupeKey, &m.Body, &m.Owner} {
		s, ok := str()
		if !ok {
			return nil, errRecord
		}
		*p = s
	}
	for _, p := range []*[]string{&m.CarrierIDs, &m.Stats} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)) {
			return nil, errRecord
		}
		b = b[n:]
		if l == 0 {
			continue
		}
		*p = make([]string, l)
		for i := range *p {
			s, ok := str()
			if !ok {
				return nil, errRecord
			}
			(*p)[i] = s
		}
	}
	return m, nil
}
