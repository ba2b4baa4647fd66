package cnsms

import (
	"sync"
	"time"
)

// Reassembly defaults.
const (
	DefaultMOTTL        = 10 * time.Minute
	DefaultMOMaxPending = 1024
)

// MOKey identifies one multi-part MO message: parts are joined across
// connections, in any order.
type MOKey struct {
	Src, Dest string
	Ref       uint16
	Total     uint8
}

// MOPartial is a multi-part MO message given up on (MOTTL passed, or
// evicted): the parts received, joined in order.
type MOPartial struct {
	Key   MOKey
	Data  []byte
	Parts int
	Meta  any // what Add was given with the first part
}

type moEntry struct {
	parts map[uint8][]byte
	meta  any
	first time.Time
}

// Reassembler joins the parts of multi-part MO messages, as pkg/smpp's:
// each part is acked once held in memory; the part that completes the
// message gets the handler's answer. A message still incomplete after
// TTL, or evicted when MaxPending are waiting, is handed back by Expired.
// Duplicates of parts held, or of a message completed within TTL, are
// ignored, as are part numbers outside 1..Total.
type Reassembler struct {
	ttl     time.Duration
	max     int
	metrics *CarrierMetrics

	mu      sync.Mutex
	pending map[MOKey]*moEntry
	done    map[MOKey]time.Time
	evicted []MOPartial
}

// NewReassembler returns a Reassembler (ttl, maxPending ≤ 0: defaults).
func NewReassembler(ttl time.Duration, maxPending int, m *CarrierMetrics) *Reassembler {
	if ttl <= 0 {
		ttl = DefaultMOTTL
	}
	if maxPending <= 0 {
		maxPending = DefaultMOMaxPending
	}
	return &Reassembler{ttl: ttl, max: maxPending, metrics: m, pending: map[MOKey]*moEntry{}, done: map[MOKey]time.Time{}}
}

// Add holds part seq (from 1) of k. When it completes the message it
// returns the joined data, complete true and an undo func: if delivering
// the message fails, undo puts the other parts back so that the
// redelivered part completes it again. dup reports a part already held
// or a message already delivered within TTL.
func (r *Reassembler) Add(k MOKey, seq uint8, data []byte, meta any) (whole []byte, complete, dup bool, undo func()) {
	if seq == 0 || seq > k.Total {
		r.metrics.MOPart("duplicate")
		return nil, false, true, nil
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.done[k]; ok && now.Sub(t) < r.ttl {
		r.metrics.MOPart("duplicate")
		return nil, false, true, nil
	}
	e := r.pending[k]
	if e == nil {
		if len(r.pending) >= r.max {
			r.evictOldestLocked()
		}
		e = &moEntry{parts: map[uint8][]byte{}, meta: meta, first: now}
		r.pending[k] = e
		r.metrics.MOPending(1)
	}
	if _, ok := e.parts[seq]; ok {
		r.metrics.MOPart("duplicate")
		return nil, false, true, nil
	}
	e.parts[seq] = append([]byte(nil), data...)
	if len(e.parts) < int(k.Total) {
		r.metrics.MOPart("buffered")
		return nil, false, false, nil
	}
	for i := uint8(1); i <= k.Total; i++ {
		whole = append(whole, e.parts[i]...)
	}
	delete(r.pending, k)
	r.metrics.MOPending(-1)
	r.done[k] = now
	r.metrics.MOPart("complete")
	undo = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.done, k)
		delete(e.parts, seq)
		if _, again := r.pending[k]; !again {
			r.pending[k] = e
			r.metrics.MOPending(1)
		}
	}
	return whole, true, false, undo
}

func (r *Reassembler) evictOldestLocked() {
	var oldest MOKey
	var t time.Time
	for k, e := range r.pending {
		if t.IsZero() || e.first.Before(t) {
			oldest, t = k, e.first
		}
	}
	r.evicted = append(r.evicted, r.partialLocked(oldest))
}

func (r *Reassembler) partialLocked(k MOKey) MOPartial {
	e := r.pending[k]
	p := MOPartial{Key: k, Meta: e.meta, Parts: len(e.parts)}
	for i := uint8(1); i <= k.Total; i++ {
		p.Data = append(p.Data, e.parts[i]...)
	}
	delete(r.pending, k)
	r.metrics.MOPending(-1)
	return p
}

// Expired returns the messages evicted or older than TTL, removing them,
// and forgets completed messages older than TTL.
func (r *Reassembler) Expired(now time.Time) []MOPartial {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evicted
	r.evicted = nil
	for k, e := range r.pending {
		if now.Sub(e.first) >= r.ttl {
			out = append(out, r.partialLocked(k))
		}
	}
	for k, t := range r.done {
		if now.Sub(t) >= r.ttl {
			delete(r.done, k)
		}
	}
	return out
}

// Pending is the number of messages waiting for parts.
func (r *Reassembler) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
