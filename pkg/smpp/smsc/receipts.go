package smsc

import (
	"container/heap"
	"sync"
	"time"
)

// receipt is a delivery receipt on its way to an ESME.
type receipt struct {
	id        string
	systemID  string
	origin    *conn // the bind that submitted; preferred for delivery
	stat      string
	submitted time.Time
	done      time.Time
	text      string // receipt text: field of the original, printable ASCII
	handset   addr   // source of the deliver_sm: the submit's destination
	esme      addr   // destination of the deliver_sm: the submit's source
	attempts  int    // deliveries tried so far
	due       time.Time
	mo        *moPart // set: a mobile-originated message, not a receipt
}

type addr struct {
	ton, npi uint8
	number   string
}

// rqueue is an unbounded FIFO of receipts (the total is bounded by
// Config.MaxPendingReceipts) with a wake-up signal for one waiting sender.
type rqueue struct {
	mu     sync.Mutex
	items  []*receipt
	head   int
	closed bool
	sig    chan struct{}
}

func newRQueue() *rqueue { return &rqueue{sig: make(chan struct{}, 1)} }

func (q *rqueue) push(r *receipt) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, r)
	q.mu.Unlock()
	q.wake()
	return true
}

func (q *rqueue) wake() {
	select {
	case q.sig <- struct{}{}:
	default:
	}
}

func (q *rqueue) pop() *receipt {
	q.mu.Lock()
	if q.head == len(q.items) {
		q.mu.Unlock()
		return nil
	}
	r := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	more := q.head < len(q.items)
	if !more {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 1024 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.mu.Unlock()
	if more {
		q.wake() // chain: another sender may take the next one
	}
	return r
}

// drain closes the queue and returns what it held.
func (q *rqueue) drain() []*receipt {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	out := append([]*receipt(nil), q.items[q.head:]...)
	q.items, q.head = nil, 0
	return out
}

// scheduler holds receipts until they are due, then routes them.
type scheduler struct {
	s    *Server
	mu   sync.Mutex
	h    receiptHeap
	wake chan struct{}
}

func newScheduler(s *Server) *scheduler {
	return &scheduler{s: s, wake: make(chan struct{}, 1)}
}

func (sc *scheduler) add(r *receipt) {
	sc.mu.Lock()
	heap.Push(&sc.h, r)
	first := sc.h[0] == r
	sc.mu.Unlock()
	if first {
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
}

func (sc *scheduler) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var due []*receipt
	for {
		now := time.Now()
		sc.mu.Lock()
		for len(sc.h) > 0 && !sc.h[0].due.After(now) {
			due = append(due, heap.Pop(&sc.h).(*receipt))
		}
		wait := time.Hour
		if len(sc.h) > 0 {
			wait = sc.h[0].due.Sub(now)
		}
		sc.mu.Unlock()
		for i, r := range due {
			sc.s.route(r)
			due[i] = nil
		}
		due = due[:0]
		t.Reset(wait)
		select {
		case <-t.C:
		case <-sc.wake:
		case <-sc.s.done:
			return
		}
	}
}

type receiptHeap []*receipt

func (h receiptHeap) Len() int           { return len(h) }
func (h receiptHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h receiptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *receiptHeap) Push(x any)        { *h = append(*h, x.(*receipt)) }
func (h *receiptHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// schedule sends r when it is due: at once if it already is.
func (s *Server) schedule(r *receipt) {
	if r.due.After(time.Now()) {
		s.sched.add(r)
		return
	}
	s.route(r)
}

// route hands a due receipt to a bind: the one that submitted when it can
// receive (another one under the ReceiptOtherBind fault), else the queue
// every receiver bind of the system_id draws from. With no receiver bound
// the receipt waits there, as an SMSC stores it.
func (s *Server) route(r *receipt) {
	f := s.faults.Load()
	s.mu.Lock()
	sys := s.systemLocked(r.systemID)
	var target *conn
	if f.ReceiptOtherBind {
		for c := range sys.conns {
			if c != r.origin && c.receiver {
				target = c
				break
			}
		}
	}
	if target == nil && r.origin != nil && r.origin.receiver && !f.ReceiptOtherBind {
		target = r.origin
	}
	s.mu.Unlock()
	if target != nil && target.q.push(r) {
		return
	}
	sys.q.push(r) // never closed
}

// settle finishes a receipt the ESME acknowledged.
func (s *Server) settle(r *receipt) {
	s.pending.Add(-1)
	if r.mo != nil {
		s.st.moDelivered.Add(1)
		return
	}
	s.st.mu.Lock()
	s.st.receipts[r.stat]++
	s.st.mu.Unlock()
	s.metrics.Receipts.WithLabelValues(r.stat).Inc()
}

// redeliver schedules r again after an error status, a timeout or a lost
// bind, or gives it up after MaxRedeliveries.
func (s *Server) redeliver(r *receipt, why string) {
	if r.attempts > s.cfg.MaxRedeliveries {
		s.pending.Add(-1)
		s.st.failed.Add(1)
		s.metrics.Failed.Inc()
		s.log.Warn("delivery given up", "id", r.id, "mo", r.mo != nil, "attempts", r.attempts, "reason", why)
		return
	}
	s.st.redelivered.Add(1)
	s.metrics.Redelivered.Inc()
	r.due = time.Now().Add(s.cfg.RedeliveryDelay)
	s.sched.add(r)
}
