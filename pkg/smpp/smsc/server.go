package smsc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is an SMSC simulator. Create it with New, start it with Listen and
// stop it with Close. All methods are safe for concurrent use.
type Server struct {
	cfg     *config
	log     *slog.Logger
	metrics *Metrics
	ids     *idGen
	store   *store
	faults  atomic.Pointer[Faults]
	done    chan struct{}
	wg      sync.WaitGroup
	sched   *scheduler
	pending atomic.Int64 // receipts created and not yet settled
	cfgErr  error
	bindSeq atomic.Uint64
	moRef   atomic.Uint32

	mu        sync.Mutex
	ln        net.Listener
	addr      string
	listening bool
	closed    bool
	down      bool
	conns     map[*conn]struct{}
	systems   map[string]*system

	st struct {
		bindsTotal, bindsRefused                                 atomic.Uint64
		submits, accepted, throttled, queueFull, rejected, unans atomic.Uint64
		receiptsSent, redelivered, duplicated, failed, dropped   atomic.Uint64
		connsDropped, moDelivered                                atomic.Uint64
		late, lost, unbinds, idRestarts                          atomic.Uint64
		mu                                                       sync.Mutex
		receipts                                                 map[string]uint64
	}
}

// system groups the binds of one system_id and the receipts waiting for
// any of its receiver binds.
type system struct {
	conns map[*conn]struct{}
	q     *rqueue
}

// New creates a simulator. Configuration errors are returned by Listen.
func New(cfg Config) *Server {
	s := &Server{
		done:    make(chan struct{}),
		conns:   map[*conn]struct{}{},
		systems: map[string]*system{},
	}
	s.st.receipts = map[string]uint64{}
	c, err := cfg.compile()
	if err != nil {
		s.cfgErr = err
		c, _ = Config{}.compile()
	}
	if c.Seed == 0 {
		c.Seed = rand.Int64()
	}
	s.cfg = c
	s.log = c.Logger.With("component", "smsc")
	s.metrics = NewMetrics(c.Registerer)
	r := rand.New(rand.NewPCG(uint64(c.Seed), 0x5eed))
	s.ids = newIDGen(c.IDFormat, r.Uint64)
	s.store = newStore(c.MaxRecords)
	f := c.Faults
	s.faults.Store(&f)
	s.sched = newScheduler(s)
	return s
}

// Listen starts serving on addr (for example "127.0.0.1:0") in background
// goroutines until Close.
func (s *Server) Listen(addr string) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.listening:
		return ErrListening
	}
	ln, err := s.listen(addr)
	if err != nil {
		return fmt.Errorf("smsc: listen: %w", err)
	}
	s.ln, s.addr, s.listening = ln, ln.Addr().String(), true
	s.wg.Go(func() { s.accept(ln) })
	s.wg.Go(s.sched.run)
	s.log.Info("listening", "addr", s.addr, "id_format", s.cfg.IDFormat, "tps", s.cfg.TPS, "receipt_delay", s.cfg.ReceiptDelay)
	if d := s.faults.Load().Down; d > 0 {
		s.goDownLocked(d)
	}
	return nil
}

// Serve listens on addr, serves until ctx is done, then closes (unbinding
// every ESME).
func (s *Server) Serve(ctx context.Context, addr string) error {
	if err := s.Listen(addr); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

func (s *Server) listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || s.cfg.TLS == nil {
		return ln, err
	}
	return tls.NewListener(ln, s.cfg.TLS), nil
}

// Addr is the address the simulator listens on (kept while it is down).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) accept(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // Close or an outage
			}
			// Out of file descriptors and the like: wait, keep serving.
			s.log.Warn("accept", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
				continue
			case <-s.done:
				return
			}
		}
		s.mu.Lock()
		if s.closed || s.down {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.conns[c] = struct{}{}
		s.wg.Go(c.serve)
		s.mu.Unlock()
	}
}

// Close unbinds every ESME (waiting briefly for unbind_resp), stops
// listening and waits for every goroutine.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	var err error
	if s.ln != nil {
		err = s.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.unbind(time.Second) })
	}
	wg.Wait()
	s.wg.Wait()
	s.log.Info("closed", "submits", s.st.submits.Load(), "receipts_sent", s.st.receiptsSent.Load())
	return err
}

// SetFaults replaces the injected faults. A positive Down starts an
// outage at once.
func (s *Server) SetFaults(f Faults) error {
	if err := validateFaults(f); err != nil {
		return err
	}
	s.faults.Store(&f)
	s.log.Info("faults set", "queue_full", f.QueueFull, "slow", f.SlowResponse, "no_response", f.NoResponse,
		"drop_after", f.DropAfter, "receipt_first", f.ReceiptFirst, "receipt_other_bind", f.ReceiptOtherBind,
		"duplicate_receipts", f.DuplicateReceipts, "refuse_binds", f.RefuseBinds, "down", f.Down,
		"throttle", f.Throttle, "late", f.Late, "late_by", f.LateBy, "empty_receipt_text", f.EmptyReceiptText,
		"receipt_id_padded", f.ReceiptIDPadded, "unbind_after", f.UnbindAfter, "restart_ids_every", f.RestartIDsEvery,
		"lose_receipts", f.LoseReceipts)
	if f.Down > 0 {
		s.mu.Lock()
		if s.listening && !s.closed {
			s.goDownLocked(f.Down)
		}
		s.mu.Unlock()
	}
	return nil
}

// goDownLocked drops every bind, closes the listener and reopens it after d.
func (s *Server) goDownLocked(d time.Duration) {
	if s.down {
		return
	}
	s.down = true
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.close()
	}
	s.log.Warn("SMSC down", "for", d)
	s.wg.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		for {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			ln, err := s.listen(s.addr)
			if err == nil {
				s.ln, s.down = ln, false
				s.wg.Go(func() { s.accept(ln) })
				s.mu.Unlock()
				s.log.Info("SMSC up again", "addr", s.addr)
				return
			}
			s.mu.Unlock()
			s.log.Warn("relisten failed, retrying", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.done:
				return
			}
		}
	})
}

// Submits returns the recorded submit_sm, oldest first (at most
// Config.MaxRecords, the latest).
func (s *Server) Submits() []Submit {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return s.store.submits.list()
}

// Messages returns what the handsets received: one entry per complete
// message, concatenated parts joined, oldest first (at most MaxRecords
// accepted ones). A message with a part whose outcome is a failure
// (Config.Outcomes) is not on the handset: see Accepted.
func (s *Server) Messages() []Delivered {
	all := s.Accepted()
	out := all[:0]
	for _, d := range all {
		if d.OnHandset() {
			out = append(out, d)
		}
	}
	return out
}

// Accepted returns every complete message the SMSC accepted, whatever
// its parts' outcomes (Delivered.Stats), oldest first (at most
// MaxRecords).
func (s *Server) Accepted() []Delivered {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return s.store.messages.list()
}

// Stats are the simulator's counters since start.
type Stats struct {
	Binds        int    // binds up now
	BindsTotal   uint64 // binds accepted
	BindsRefused uint64 // binds refused: credentials, RefuseBinds

	Submits    uint64 // submit_sm received on a transmit-capable bind
	Accepted   uint64 // answered (or silently accepted) with a message id
	Throttled  uint64 // answered ESME_RTHROTTLED
	QueueFull  uint64 // answered ESME_RMSGQFUL (fault, or MaxPendingReceipts reached)
	Rejected   uint64 // answered another error (bad destination, malformed)
	Unanswered uint64 // accepted but never answered (NoResponse fault)
	// Messages counts complete messages accepted (concatenated parts
	// joined; on the handset or not, see Server.Messages);
	// Incomplete counts concatenated messages evicted before completion.
	Messages, Incomplete uint64

	// Receipts counts receipts acknowledged with status 0, by stat.
	Receipts        map[string]uint64
	ReceiptsSent    uint64 // deliver_sm written, redeliveries and duplicates included
	Redelivered     uint64 // resent after an error status, a timeout or a lost bind
	Duplicated      uint64 // sent twice on purpose (DuplicateReceipts)
	ReceiptsFailed  uint64 // given up after MaxRedeliveries
	ReceiptsDropped uint64 // not created: MaxPendingReceipts overshot (duplicates, races)
	ReceiptsPending int64  // created and not yet acknowledged or given up

	ConnsDropped uint64 // connections dropped by DropAfter
	MODelivered  uint64 // mobile-originated parts acknowledged (Deliver)

	Late       uint64 // responses written LateBy late (Late)
	Lost       uint64 // receipts never created (LoseReceipts)
	Unbinds    uint64 // unbinds sent with a submit in flight (UnbindAfter)
	IDRestarts uint64 // times the message ids started again (RestartIDsEvery, RestartIDs)
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	binds := 0
	for c := range s.conns {
		if c.bound.Load() {
			binds++
		}
	}
	s.mu.Unlock()
	st := Stats{
		Binds:           binds,
		BindsTotal:      s.st.bindsTotal.Load(),
		BindsRefused:    s.st.bindsRefused.Load(),
		Submits:         s.st.submits.Load(),
		Accepted:        s.st.accepted.Load(),
		Throttled:       s.st.throttled.Load(),
		QueueFull:       s.st.queueFull.Load(),
		Rejected:        s.st.rejected.Load(),
		Unanswered:      s.st.unans.Load(),
		ReceiptsSent:    s.st.receiptsSent.Load(),
		Redelivered:     s.st.redelivered.Load(),
		Duplicated:      s.st.duplicated.Load(),
		ReceiptsFailed:  s.st.failed.Load(),
		ReceiptsDropped: s.st.dropped.Load(),
		ReceiptsPending: s.pending.Load(),
		ConnsDropped:    s.st.connsDropped.Load(),
		MODelivered:     s.st.moDelivered.Load(),
		Late:            s.st.late.Load(),
		Lost:            s.st.lost.Load(),
		Unbinds:         s.st.unbinds.Load(),
		IDRestarts:      s.st.idRestarts.Load(),
		Receipts:        map[string]uint64{},
	}
	s.st.mu.Lock()
	for k, v := range s.st.receipts {
		st.Receipts[k] = v
	}
	s.st.mu.Unlock()
	s.store.mu.Lock()
	st.Messages, st.Incomplete = s.store.delivered, s.store.evicted
	s.store.mu.Unlock()
	return st
}

// register adds a bound conn to its system; unregister removes it and
// returns the receipts that were queued for it.
func (s *Server) register(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sys := s.systemLocked(c.systemID)
	sys.conns[c] = struct{}{}
	c.sys = sys
}

func (s *Server) systemLocked(id string) *system {
	sys := s.systems[id]
	if sys == nil {
		sys = &system{conns: map[*conn]struct{}{}, q: newRQueue()}
		s.systems[id] = sys
	}
	return sys
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.sys != nil {
		delete(c.sys.conns, c)
	}
	s.mu.Unlock()
}

func (s *Server) nextBind() uint64 { return s.bindSeq.Add(1) }

// RestartIDs makes message ids start again from the first one, as an
// SMSC that restarts without keeping its counter does.
func (s *Server) RestartIDs() {
	s.ids.restart()
	s.st.idRestarts.Add(1)
}

// PartKey names one part of what a handset received: the concatenation
// reference and part number (Total 0: a single message).
type PartKey struct {
	Source, Dest string
	Ref          uint16
	Total, Seq   int
	Text         string // single messages only (they carry no reference)
}

// Received counts, per part, how often a handset received it (accepted
// submit_sm whose outcome is not a failure, Submit.OnHandset; a single
// message counts under Total 0 and its text). Parts with a count above 1
// reached the handset twice. It reads the submit record, so it covers
// the latest Config.MaxRecords submits.
func (s *Server) Received() map[PartKey]int {
	out := map[PartKey]int{}
	for _, sub := range s.Submits() {
		if !sub.OnHandset() {
			continue
		}
		k := PartKey{Source: sub.Source, Dest: sub.Dest, Ref: sub.Ref, Total: sub.Total, Seq: sub.Seq}
		if sub.Total <= 1 {
			k.Ref, k.Total, k.Seq, k.Text = 0, 0, 0, sub.Text
		}
		out[k]++
	}
	return out
}
