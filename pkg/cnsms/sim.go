package cnsms

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// This file is what the protocols' gateway simulators (pkg/cmpp/ismg,
// pkg/smgp/smgw, pkg/sgip/smg) share: the handsets' record, the fault
// dice, the per-account queue of status reports with redelivery, and
// the faults that need the session: a Terminate with a submit in flight,
// a report ahead of its submit's answer.

// HandsetMessage is what a handset received: one entry per message, the
// parts of a long one joined. ID is the protocol's id of a part.
type HandsetMessage[ID any] struct {
	Account, Src, Dest, Text string
	Format                   byte
	Parts                    int
	IDs                      []ID // per part, in part order
	Incomplete               bool // a long message still missing parts
}

// HandsetPart is one accepted part, in arrival order: the record a test
// holds the sender's ledger against. Undelivered: its report says the
// handset never got it (the simulator's report outcome is a failure).
type HandsetPart[ID any] struct {
	Account, Src, Dest string
	ID                 ID
	Ref                uint16 // concatenation reference; 0 for a single message
	Seq, Total         uint8  // part number and count; 1, 1 for a single message
	Undelivered        bool
}

type handsetKey struct {
	account, src, dest string
	ref                uint16
	total              uint8
}

type handsetPending[ID any] struct {
	msg   HandsetMessage[ID]
	parts map[uint8][]byte
	ids   map[uint8]ID
}

// Handsets records what each handset received, joining the parts of a
// long message by (account, source, destination, reference, total) in
// part order; a part received twice is counted, not recorded again.
type Handsets[ID any] struct {
	mu         sync.Mutex
	received   map[string][]HandsetMessage[ID]
	partial    map[handsetKey]*handsetPending[ID]
	parts      []HandsetPart[ID]
	maxParts   int
	duplicates int
}

// MaxHandsetParts bounds the part log of Handsets (Parts): beyond it the
// oldest parts are forgotten (the joined messages are kept).
const MaxHandsetParts = 1 << 20

// NewHandsets returns an empty record.
func NewHandsets[ID any]() *Handsets[ID] {
	return &Handsets[ID]{received: map[string][]HandsetMessage[ID]{}, partial: map[handsetKey]*handsetPending[ID]{}, maxParts: MaxHandsetParts}
}

// Parts returns every part recorded, in arrival order, a duplicate
// included (the log keeps the last MaxHandsetParts).
func (h *Handsets[ID]) Parts() []HandsetPart[ID] {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HandsetPart[ID](nil), h.parts...)
}

// Record records a submitted part, with id, for each of dests. content is
// as submitted: with udhi it starts with a UDH (one that does not parse
// is taken as text).
func (h *Handsets[ID]) Record(account, src string, dests []string, format byte, content []byte, udhi bool, id ID) {
	h.RecordOutcome(account, src, dests, format, content, udhi, id, true)
}

// RecordOutcome is Record for a part whose outcome the simulator decided:
// delivered false (its report is a failure) logs it in Parts as
// Undelivered and leaves it off the handset (Received, Dests).
func (h *Handsets[ID]) RecordOutcome(account, src string, dests []string, format byte, content []byte, udhi bool, id ID, delivered bool) {
	data := content
	var u coding.UDH
	if udhi {
		var err error
		if u, data, err = coding.SplitUDH(content); err != nil {
			u, data = coding.UDH{}, content
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, dest := range dests {
		hp := HandsetPart[ID]{Account: account, Src: src, Dest: dest, ID: id, Seq: 1, Total: 1}
		if u.Concat && u.Total > 1 {
			hp.Ref, hp.Seq, hp.Total = u.Ref, u.Seq, u.Total
		}
		if len(h.parts) >= h.maxParts {
			h.parts = append(h.parts[:0], h.parts[len(h.parts)-h.maxParts/2:]...)
		}
		hp.Undelivered = !delivered
		h.parts = append(h.parts, hp)
		if !delivered {
			continue
		}
		m := HandsetMessage[ID]{Account: account, Src: src, Dest: dest, Format: format, Parts: 1, IDs: []ID{id}}
		if !u.Concat || u.Total <= 1 {
			m.Text, _ = DecodeText(format, data)
			h.received[dest] = append(h.received[dest], m)
			continue
		}
		k := handsetKey{account: account, src: src, dest: dest, ref: u.Ref, total: u.Total}
		p := h.partial[k]
		if p == nil {
			p = &handsetPending[ID]{msg: m, parts: map[uint8][]byte{}, ids: map[uint8]ID{}}
			h.partial[k] = p
		}
		if _, dup := p.parts[u.Seq]; dup {
			h.duplicates++
			continue
		}
		p.parts[u.Seq] = append([]byte(nil), data...)
		p.ids[u.Seq] = id
		if len(p.parts) < int(u.Total) {
			continue
		}
		delete(h.partial, k)
		var all []byte
		m.IDs = m.IDs[:0]
		for i := uint8(1); i <= u.Total; i++ {
			all = append(all, p.parts[i]...)
			m.IDs = append(m.IDs, p.ids[i])
		}
		m.Parts = int(u.Total)
		m.Text, _ = DecodeText(format, all)
		h.received[dest] = append(h.received[dest], m)
	}
}

// Received returns what dest's handset got, in arrival order, followed by
// long messages still missing parts (Incomplete, Parts = parts held),
// ordered by text.
func (h *Handsets[ID]) Received(dest string) []HandsetMessage[ID] {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]HandsetMessage[ID](nil), h.received[dest]...)
	var inc []HandsetMessage[ID]
	for k, p := range h.partial {
		if k.dest == dest {
			m := p.msg
			m.Incomplete, m.Parts = true, len(p.parts)
			inc = append(inc, m)
		}
	}
	sort.Slice(inc, func(i, j int) bool { return inc[i].Text < inc[j].Text })
	return append(out, inc...)
}

// Dests returns every destination that received something, sorted.
func (h *Handsets[ID]) Dests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.received))
	for d := range h.received {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Duplicates is the number of parts received twice.
func (h *Handsets[ID]) Duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.duplicates
}

// Dice decides faults: seeded, safe for concurrent use.
type Dice struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

// NewDice returns dice seeded with seed.
func NewDice(seed uint64) *Dice {
	return &Dice{rnd: rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))}
}

// Chance is true with probability p (never for p ≤ 0).
func (d *Dice) Chance(p float64) bool {
	if p <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rnd.Float64() < p
}

// ReportQueue holds a simulator's status reports per account until a
// connection of that account sends them; one not acknowledged is queued
// again after RetryDelay, up to MaxAttempts sends.
type ReportQueue[R any] struct {
	q           map[string]chan *queuedReport[R]
	retryDelay  time.Duration
	maxAttempts int
	log         *slog.Logger
}

type queuedReport[R any] struct {
	account string
	r       R
	tries   int
}

// NewReportQueue returns a queue for each account (1<<16 reports each).
func NewReportQueue[R any](accounts map[string]string, retryDelay time.Duration, maxAttempts int, log *slog.Logger) *ReportQueue[R] {
	q := &ReportQueue[R]{q: map[string]chan *queuedReport[R]{}, retryDelay: retryDelay, maxAttempts: maxAttempts, log: log}
	for a := range accounts {
		q.q[a] = make(chan *queuedReport[R], 1<<16)
	}
	return q
}

// Add queues r for account after delay (0: now). A full queue drops it.
func (q *ReportQueue[R]) Add(account string, r R, delay time.Duration) {
	qr := &queuedReport[R]{account: account, r: r}
	if delay > 0 {
		time.AfterFunc(delay, func() { q.put(qr) })
		return
	}
	q.put(qr)
}

func (q *ReportQueue[R]) put(qr *queuedReport[R]) {
	select {
	case q.q[qr.account] <- qr:
	default:
		q.log.Warn("report queue full, report dropped", "account", qr.account)
	}
}

// Serve sends account's reports with send until done is closed. send
// says whether the peer acknowledged the report and whether the
// connection is gone (then Serve returns after queueing it again).
func (q *ReportQueue[R]) Serve(account string, done <-chan struct{}, send func(R) (acked, gone bool)) {
	ch := q.q[account]
	for {
		var qr *queuedReport[R]
		select {
		case qr = <-ch:
		case <-done:
			return
		}
		acked, gone := send(qr.r)
		if acked {
			continue
		}
		qr.tries++
		if qr.tries >= q.maxAttempts {
			q.log.Warn("report given up", "account", qr.account, "tries", qr.tries)
			continue
		}
		time.AfterFunc(q.retryDelay, func() { q.put(qr) })
		if gone {
			return
		}
	}
}

// SendFirst sends r on s now, ahead of the answer the handler calling it
// is about to return (the ReportFirst fault): the request (cmd, body) is
// queued before SendFirst returns. Its answer is awaited on a goroutine
// of its own; acked says whether it acknowledges the report. A report
// not acknowledged, or one s no longer takes, goes to account's queue.
// The handler must not run on the read loop (SessionConfig.Inline): with
// the window full it waits for an answer only that loop can read.
func (q *ReportQueue[R]) SendFirst(ctx context.Context, s *Session, account string, r R, cmd uint32, body []byte, acked func(Frame) bool) {
	wait, err := s.Start(ctx, cmd, body)
	if err != nil {
		q.Add(account, r, 0)
		return
	}
	go func() {
		if f, err := wait(); err == nil && acked(f) {
			return
		}
		q.Add(account, r, q.retryDelay)
	}()
}

// UnbindAfter is the UnbindAfter fault on one connection of a simulator:
// count is the connection's submits read so far. On every every-th
// submit it ends s with that submit in flight (Session.TerminateNow:
// TERMINATE, Exit, UNBIND go out ahead of the submit's answer, which the
// handler then returns as usual) and reports true. every ≤ 0: never.
func UnbindAfter(s *Session, count *atomic.Int64, every int) bool {
	if every <= 0 || s == nil || count.Add(1)%int64(every) != 0 {
		return false
	}
	return s.TerminateNow()
}

// RepeatingIDs issues a simulator's message ids from fresh; after
// RepeatAfter ids (when positive) the counter "restarts" and the same ids
// come again, in order — a gateway whose ids repeat.
type RepeatingIDs[ID any] struct {
	mu          sync.Mutex
	repeatAfter int
	fresh       func() ID
	issued      []ID
	count       int
}

// NewRepeatingIDs returns ids from fresh, repeating after repeatAfter
// (≤ 0: never).
func NewRepeatingIDs[ID any](repeatAfter int, fresh func() ID) *RepeatingIDs[ID] {
	return &RepeatingIDs[ID]{repeatAfter: repeatAfter, fresh: fresh}
}

// Next returns the next id.
func (g *RepeatingIDs[ID]) Next() ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := g.repeatAfter; n > 0 && g.count >= n {
		id := g.issued[g.count%n]
		g.count++
		return id
	}
	id := g.fresh()
	if g.repeatAfter > 0 {
		g.issued = append(g.issued, id)
	}
	g.count++
	return id
}
