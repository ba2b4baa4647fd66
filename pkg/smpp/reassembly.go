package smpp

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Reassembly defaults.
const (
	DefaultMOTTL        = 10 * time.Minute
	DefaultMOMaxPending = 1024
)

// Multi-part MO messages (deliver_sm / data_sm that are not receipts,
// with a concatenation UDH, 8- or 16-bit reference, or the sar_* TLVs)
// are put together before OnMessage sees them.
//
// Parts are keyed by (source, destination, reference, total) per Client,
// so parts arriving on different binds meet. Each part is acknowledged as
// soon as it is held in memory; OnMessage gets the whole message with the
// part that completes it, and that part alone is answered with
// OnMessage's error status, so on an error the SMSC redelivers it and the
// message completes again. Acking early is a choice: holding the
// deliver_sm_resp of parts 1..n-1 until the last one arrives would tie up
// the SMSC's window and our handler workers for as long as a handset
// takes to send its parts (possibly forever), and SMSCs redeliver unacked
// parts on their own timer, so we would see them again anyway. The price:
// a crash loses the parts buffered so far — the SMSC will not send again
// what we acked — and the handset's message never arrives whole.
//
// Memory is bounded: at most MOMaxPending messages wait for parts; a
// message still incomplete after MOTTL (or evicted, oldest first, to make
// room) is delivered as it is, with Incoming.Partial set and the parts
// received in order (a reply keyword in part 1 still counts). If
// OnMessage refuses a partial message it is dropped and counted
// (smpp_mo_reassembly_total{result="dropped"}): the SMSC cannot redeliver
// it. A part seen again (same number, same octets) is a duplicate and
// ignored, also for MOTTL after its message was delivered; a part with
// another number's octets under a delivered message's key starts a new
// message (some handsets reuse references).

type moKey struct {
	src, dst string
	ref      uint16
	total    uint8
}

type moPending struct {
	first time.Time // first part, or delivery of a tombstone
	parts [][]byte  // by seq-1; nil: missing
	have  int
	in    Incoming // the first part received, for addresses and data_coding
	done  bool     // delivered: kept as a tombstone to catch redeliveries
}

type reassembler struct {
	ttl     time.Duration
	max     int
	metrics *carrierMetrics

	mu sync.Mutex
	m  map[moKey]*moPending
}

func newReassembler(cfg *Config, m *carrierMetrics) *reassembler {
	r := &reassembler{ttl: cfg.MOTTL, max: cfg.MOMaxPending, metrics: m, m: make(map[moKey]*moPending)}
	if r.ttl <= 0 {
		r.ttl = DefaultMOTTL
	}
	if r.max <= 0 {
		r.max = DefaultMOMaxPending
	}
	return r
}

// moPart is what add needs about one part.
type moPart struct {
	key moKey
	seq uint8
	in  Incoming // Data without header
}

// add holds a part. It returns the whole message when this part completes
// it, and messages evicted incomplete to make room.
func (r *reassembler) add(p moPart, now time.Time) (whole *Incoming, evicted []Incoming) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[p.key]
	if e != nil && e.done {
		if old := e.parts[p.seq-1]; old != nil && bytes.Equal(old, p.in.Data) {
			r.metrics.mo("duplicate")
			return nil, nil
		}
		delete(r.m, p.key) // a new message under a reused reference
		e = nil
	}
	if e == nil {
		if len(r.m) >= r.max {
			if in, ok := r.evictOldest(); ok {
				evicted = append(evicted, in)
			}
		}
		e = &moPending{first: now, parts: make([][]byte, p.key.total), in: p.in}
		r.m[p.key] = e
	}
	if e.parts[p.seq-1] != nil {
		r.metrics.mo("duplicate")
		return nil, evicted
	}
	e.parts[p.seq-1] = bytes.Clone(p.in.Data)
	e.have++
	if e.have < len(e.parts) {
		r.metrics.mo("buffered")
		r.gauge()
		return nil, evicted
	}
	e.done, e.first = true, now
	in := e.assemble(p.key)
	r.metrics.mo("complete")
	r.gauge()
	return &in, evicted
}

// undo forgets part seq of a delivered message whose handler failed, so
// that the SMSC's redelivery of that part completes it again.
func (r *reassembler) undo(p moPart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.m[p.key]; e != nil && e.done {
		e.done = false
		e.parts[p.seq-1] = nil
		e.have--
		r.gauge()
	}
}

// expired removes messages incomplete for longer than ttl and returns
// them, and drops tombstones as old.
func (r *reassembler) expired(now time.Time) []Incoming {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Incoming
	for k, e := range r.m {
		if now.Sub(e.first) < r.ttl {
			continue
		}
		delete(r.m, k)
		if !e.done {
			out = append(out, e.assemble(k))
		}
	}
	r.gauge()
	return out
}

// flush removes and returns every incomplete message (shutdown).
func (r *reassembler) flush() []Incoming {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Incoming
	for k, e := range r.m {
		if !e.done {
			out = append(out, e.assemble(k))
		}
		delete(r.m, k)
	}
	r.gauge()
	return out
}

// evictOldest drops the oldest tombstone, else the oldest incomplete
// message, which is returned.
func (r *reassembler) evictOldest() (Incoming, bool) {
	var oldest moKey
	var oe *moPending
	for k, e := range r.m {
		if oe == nil || (e.done && !oe.done) || (e.done == oe.done && e.first.Before(oe.first)) {
			oldest, oe = k, e
		}
	}
	if oe == nil {
		return Incoming{}, false
	}
	delete(r.m, oldest)
	if oe.done {
		return Incoming{}, false
	}
	return oe.assemble(oldest), true
}

// pending counts messages awaiting parts (tombstones excluded).
func (r *reassembler) pendingLocked() int {
	n := 0
	for _, e := range r.m {
		if !e.done {
			n++
		}
	}
	return n
}

func (r *reassembler) gauge() {
	if r.metrics != nil {
		r.metrics.m.MOPending.WithLabelValues(r.metrics.carrier, Protocol).Set(float64(r.pendingLocked()))
	}
}

// assemble joins the parts present, in order. The text is decoded from
// the joined octets, so a character split across parts survives.
func (e *moPending) assemble(k moKey) Incoming {
	in := e.in
	var data []byte
	n := 0
	for _, p := range e.parts {
		if p != nil {
			data = append(data, p...)
			n++
		}
	}
	in.Data = data
	in.Parts = n
	in.Partial = n < len(e.parts)
	in.UDH = coding.UDH{Concat: true, Ref: k.ref, Total: k.total}
	in.Text, _ = coding.Decode(in.DataCoding, data)
	return in
}

// concatInfo reads the concatenation of an MO: the UDH, else the sar_*
// TLVs. ok is false for a message in one part (or with numbers that make
// no sense, which is then delivered as it is).
func concatInfo(sm *SM, h coding.UDH) (ref uint16, total, seq uint8, ok bool) {
	if h.Concat {
		ref, total, seq = h.Ref, h.Total, h.Seq
	} else {
		r, ok1 := sm.TLVs.Uint16(TagSARMsgRefNum)
		t, ok2 := sm.TLVs.Uint8(TagSARTotalSegments)
		s, ok3 := sm.TLVs.Uint8(TagSARSegmentSeqnum)
		if !ok1 || !ok2 || !ok3 {
			return 0, 0, 0, false
		}
		ref, total, seq = r, t, s
	}
	return ref, total, seq, total > 1 && seq >= 1 && seq <= total
}

// deliverMO hands an MO to OnMessage, through the reassembler when it is
// one part of several. It runs on a bind's handler worker; its error
// becomes the deliver_sm_resp status of this part.
func (c *Client) deliverMO(ctx context.Context, sm *SM, in Incoming) error {
	in.Parts = 1
	ref, total, seq, ok := concatInfo(sm, in.UDH)
	if !ok {
		return appErr(c.cfg.OnMessage(ctx, in))
	}
	p := moPart{key: moKey{src: in.Source.Addr, dst: in.Dest.Addr, ref: ref, total: total}, seq: seq, in: in}
	whole, evicted := c.reasm.add(p, time.Now())
	for _, e := range evicted {
		c.deliverPartial(ctx, e)
	}
	if whole == nil {
		return nil // held in memory: ack (see the comment at the top)
	}
	if err := c.cfg.OnMessage(ctx, *whole); err != nil {
		c.reasm.undo(p)
		return appErr(err)
	}
	return nil
}

// deliverPartial hands over an incomplete message; it was acked part by
// part, so a refusal can only be counted.
func (c *Client) deliverPartial(ctx context.Context, in Incoming) {
	if err := c.cfg.OnMessage(ctx, in); err != nil {
		c.metrics.mo("dropped")
		c.log.Error("partial MO refused by OnMessage: dropped", "from", MaskNumber(in.Source.Addr),
			"parts", in.Parts, "total", in.UDH.Total, "err", err)
		return
	}
	c.metrics.mo("partial")
}

// sweepMO delivers messages left incomplete for MOTTL until ctx ends, then
// those still incomplete (bounded by ShutdownTimeout): they were acked,
// nobody else has them.
func (c *Client) sweepMO(ctx context.Context) {
	if c.cfg.OnMessage == nil {
		return
	}
	t := time.NewTicker(min(max(c.reasm.ttl/4, time.Millisecond), 30*time.Second))
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			for _, in := range c.reasm.expired(now) {
				c.deliverPartial(ctx, in)
			}
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
			defer cancel()
			for _, in := range c.reasm.flush() {
				c.deliverPartial(dctx, in)
			}
			return
		}
	}
}

func (c *carrierMetrics) mo(result string) {
	if c != nil {
		c.m.MOParts.WithLabelValues(c.carrier, Protocol, result).Inc()
	}
}
