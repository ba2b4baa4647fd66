package cnsms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Session defaults.
const (
	DefaultWindow         = 16
	DefaultRequestTimeout = 10 * time.Second
	DefaultActiveTest     = 30 * time.Second
	DefaultHandlerWorkers = 4
	DefaultInboundQueue   = 256
	DefaultLateTTL        = 10 * time.Minute
	DefaultLateMax        = 4096
	DefaultTerminateDrain = 2 * time.Second
)

// Session errors.
var (
	ErrClosed          = errors.New("cnsms: session closed")
	ErrClosing         = errors.New("cnsms: session closing, no new requests")
	ErrPeerTerminated  = errors.New("cnsms: peer terminated the session")
	ErrLinkDead        = errors.New("cnsms: keep-alive unanswered")
	ErrResponseTimeout = errors.New("cnsms: no response in time")
)

// RequestError is a request that got no response. Sent tells whether it
// was handed to the connection: if so the peer may have acted on it.
type RequestError struct {
	Cmd  uint32
	Seq  uint32
	Sent bool
	Err  error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("cnsms: request 0x%08x seq %d (sent %v): %v", e.Cmd, e.Seq, e.Sent, e.Err)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Dialect is what the session needs to know of a protocol.
type Dialect struct {
	Protocol       string  // "cmpp", "smgp", "sgip": the metric label
	Framing        Framing // header layout
	ActiveTest     uint32  // keep-alive command id; 0: the protocol has none (SGIP)
	ActiveTestResp []byte  // body of our answer to the peer's keep-alive
	Terminate      uint32  // orderly close command id (TERMINATE, EXIT)
	// Name returns a command's name for the inbound metric; nil: hex.
	Name func(cmd uint32) string
}

func (d Dialect) name(cmd uint32) string {
	if d.Name != nil {
		return d.Name(cmd)
	}
	return fmt.Sprintf("0x%08x", cmd)
}

// Handler answers a request of the peer: it returns the body of the
// response, which the session writes with the request's sequence id
// after Handler returns. It runs on HandlerWorkers goroutines, never on
// the read loop; ctx ends when the session closes. A nil body with
// drop true writes nothing (the peer will time out and resend).
type Handler func(ctx context.Context, f Frame) (body []byte, drop bool)

// SessionConfig configures one session.
type SessionConfig struct {
	Dialect Dialect
	// Window bounds the requests awaiting a response (keep-alive and
	// terminate excepted); the next one waits, bounded by its ctx.
	Window         int
	RequestTimeout time.Duration
	// ActiveTest is the keep-alive interval when nothing was read; one
	// unanswered within RequestTimeout closes the session with
	// ErrLinkDead. Negative disables.
	ActiveTest time.Duration
	Handler    Handler
	// Inline runs Handler on the read loop instead of the workers: for
	// handlers that never block (simulators), it saves a goroutine hop
	// per request. A handler that blocks stalls reading.
	Inline         bool
	HandlerWorkers int
	InboundQueue   int // requests read but not yet handled; when full, reading stops
	MaxFrame       int
	FirstSeq       uint32 // first sequence id to use (the login used the ones before)
	// Seq, when set, is the sequence counter shared by a client's
	// sessions (FirstSeq is then ignored): SGIP names a submitted part by
	// its sequence number, which must not repeat across connections.
	Seq *atomic.Uint32
	// NodeID is the first part of SGIP sequence numbers we send; the
	// second is the time (MMDDHHMMSS, China Standard Time).
	NodeID uint32
	// OnLate gets the response to a request that timed out (or whose ctx
	// ended after it was written) if its ctx carried a tag (WithLateTag).
	// It runs on the read loop and must not block. Such requests are
	// kept LateTTL, at most LateMax.
	OnLate  func(tag any, resp Frame)
	LateTTL time.Duration
	LateMax int
	// TerminateDrain bounds how long the peer's Terminate waits for the
	// responses to our requests in flight (and to requests that timed
	// out but may still be answered late) before it is answered; default
	// DefaultTerminateDrain. Some gateways answer a submit right after
	// their Terminate.
	TerminateDrain time.Duration
	Logger         *slog.Logger
	Metrics        *CarrierMetrics
}

func (c *SessionConfig) defaults() {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ActiveTest == 0 {
		c.ActiveTest = DefaultActiveTest
	}
	if c.Dialect.ActiveTest == 0 {
		c.ActiveTest = -1
	}
	if c.HandlerWorkers <= 0 {
		c.HandlerWorkers = DefaultHandlerWorkers
	}
	if c.InboundQueue <= 0 {
		c.InboundQueue = DefaultInboundQueue
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.LateTTL <= 0 {
		c.LateTTL = DefaultLateTTL
	}
	if c.LateMax <= 0 {
		c.LateMax = DefaultLateMax
	}
	if c.TerminateDrain <= 0 {
		c.TerminateDrain = DefaultTerminateDrain
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.FirstSeq == 0 {
		c.FirstSeq = 1
	}
}

type lateTagKey struct{}

// WithLateTag marks the requests made with ctx: if one times out, its
// response is still matched for LateTTL and handed to OnLate with tag.
func WithLateTag(ctx context.Context, tag any) context.Context {
	return context.WithValue(ctx, lateTagKey{}, tag)
}

type call struct {
	cmd   uint32
	ch    chan Frame
	tag   any
	timer *time.Timer
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan Frame, 1)} }}

type lateEntry struct {
	cmd uint32
	tag any
	at  time.Time
}

type outFrame struct {
	b          []byte
	closeAfter error // fail the session with it once written
}

// Session is one logged-in connection. Request may be called from any
// goroutine.
type Session struct {
	cfg    SessionConfig
	conn   net.Conn
	br     *bufio.Reader
	out    chan outFrame
	window chan struct{}
	seq    atomic.Uint32
	ctx    context.Context
	cancel context.CancelFunc

	inbound  chan Frame
	inflight atomic.Int32

	kaAnswered, kaReceived atomic.Int64
	lastRead               atomic.Int64

	mu        sync.Mutex
	pending   map[uint32]*call
	late      map[uint32]lateEntry
	lateOrder []uint32
	closing   bool
	peerTerm  bool // the peer sent Terminate: answered by answerTerminate
	err       error
	done      chan struct{}
	drained   chan struct{} // closed when closing and nothing is pending

	wg sync.WaitGroup
}

type sessionKey struct{}

// SessionOf is the session whose handler got ctx. A handler can run
// before NewSession has returned, so it must not reach the session
// through a variable NewSession's result is stored in.
func SessionOf(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

// NewSession starts a session on conn, whose login the caller has done;
// br is the reader the login used (nil: a new one).
func NewSession(conn net.Conn, br *bufio.Reader, cfg SessionConfig) *Session {
	cfg.defaults()
	if br == nil {
		br = bufio.NewReaderSize(conn, 32<<10)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		cfg: cfg, conn: conn, br: br,
		out:     make(chan outFrame, cfg.Window+cfg.InboundQueue+16),
		window:  make(chan struct{}, cfg.Window),
		inbound: make(chan Frame, cfg.InboundQueue),
		pending: make(map[uint32]*call, cfg.Window),
		late:    make(map[uint32]lateEntry),
		done:    make(chan struct{}),
		ctx:     ctx, cancel: cancel,
	}
	s.ctx = context.WithValue(ctx, sessionKey{}, s)
	s.seq.Store(cfg.FirstSeq - 1)
	s.lastRead.Store(time.Now().UnixNano())
	s.wg.Add(2 + cfg.HandlerWorkers)
	go s.readLoop()
	go s.writeLoop()
	for range cfg.HandlerWorkers {
		go s.worker()
	}
	if cfg.ActiveTest > 0 {
		s.wg.Add(1)
		go s.keepAlive()
	}
	return s
}

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil while it runs).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// InFlight is the number of requests awaiting a response.
func (s *Session) InFlight() int { return int(s.inflight.Load()) }

// KeepAlives returns how many of our keep-alives the peer answered and
// how many of the peer's we answered.
func (s *Session) KeepAlives() (answered, received int64) {
	return s.kaAnswered.Load(), s.kaReceived.Load()
}

// RemoteAddr is the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// NextSeq returns a fresh sequence id (never 0).
func (s *Session) NextSeq() uint32 {
	ctr := s.cfg.Seq
	if ctr == nil {
		ctr = &s.seq
	}
	for {
		if v := ctr.Add(1); v != 0 {
			return v
		}
	}
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	close(s.done)
	s.mu.Unlock()
	s.cancel()
	s.conn.Close()
}

// Closing reports whether the session refuses new requests: a
// Terminate started, from either side.
func (s *Session) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// TerminateNow sends the dialect's Terminate request at once, with
// requests in flight, as a gateway does that ends a session without
// waiting for its answers (the simulators' UnbindAfter fault): new
// requests are refused from then on, the Terminate is queued ahead of
// anything queued after TerminateNow returns (the answer a handler is
// about to return), and the session closes when the peer answers it or
// after RequestTimeout. False when the session was already closing or
// has ended.
func (s *Session) TerminateNow() bool {
	s.mu.Lock()
	if s.err != nil || s.closing {
		s.mu.Unlock()
		return false
	}
	s.closing = true
	s.mu.Unlock()
	p, err := s.start(s.ctx, s.cfg.Dialect.Terminate, nil)
	if err != nil {
		return false
	}
	go func() {
		_, _ = p.wait(s.ctx) // answered, timed out or the session ended: close either way
		s.fail(ErrClosed)
	}()
	return true
}

// Close ends the session at once. Pending requests fail with ErrClosed.
func (s *Session) Close() error {
	s.fail(ErrClosed)
	s.wg.Wait()
	return nil
}

func (s *Session) enqueue(of outFrame) error {
	select {
	case s.out <- of:
		return nil
	case <-s.done:
		return s.Err()
	}
}

// Request sends a request and waits for its response (same sequence id,
// command id with RespBit), at most RequestTimeout.
func (s *Session) Request(ctx context.Context, cmd uint32, body []byte) (Frame, error) {
	p, err := s.start(ctx, cmd, body)
	if err != nil {
		return Frame{}, err
	}
	return p.wait(ctx)
}

// Start sends a request as Request does but returns once it is queued,
// ahead of anything queued after Start returns (a handler's answer,
// say); wait waits for its response as Request would. wait must be
// called, once, to free the request's window slot.
func (s *Session) Start(ctx context.Context, cmd uint32, body []byte) (wait func() (Frame, error), err error) {
	p, err := s.start(ctx, cmd, body)
	if err != nil {
		return nil, err
	}
	return func() (Frame, error) { return p.wait(ctx) }, nil
}

// started is a request written to the out queue, awaiting its response.
type started struct {
	s      *Session
	c      *call
	cmd    uint32
	seq    uint32
	bypass bool // holds no window slot
}

// start takes a window slot, registers the request and queues it.
func (s *Session) start(ctx context.Context, cmd uint32, body []byte) (started, error) {
	d := s.cfg.Dialect
	p := started{s: s, cmd: cmd, bypass: (cmd == d.ActiveTest && d.ActiveTest != 0) || cmd == d.Terminate}
	if !p.bypass {
		select {
		case s.window <- struct{}{}:
		case <-ctx.Done():
			return p, &RequestError{Cmd: cmd, Err: ctx.Err()}
		case <-s.done:
			return p, &RequestError{Cmd: cmd, Err: s.Err()}
		}
	}
	p.seq = s.NextSeq()
	p.c = callPool.Get().(*call)
	p.c.cmd, p.c.tag = cmd, ctx.Value(lateTagKey{})
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		p.release()
		return p, &RequestError{Cmd: cmd, Seq: p.seq, Err: err}
	}
	if s.closing && cmd != d.Terminate {
		s.mu.Unlock()
		p.release()
		return p, &RequestError{Cmd: cmd, Seq: p.seq, Err: ErrClosing}
	}
	s.pending[p.seq] = p.c
	s.mu.Unlock()
	s.inflight.Add(1)
	s.cfg.Metrics.Window(1)
	fr := Frame{Cmd: cmd, Seq: p.seq, Body: body}
	if d.Framing == FramingSGIP {
		fr.Node, fr.Time = s.cfg.NodeID, SGIPTime(time.Now())
	}
	b := AppendFrameOf(make([]byte, 0, d.Framing.HeaderLen()+len(body)), fr, d.Framing)
	if err := s.enqueue(outFrame{b: b}); err != nil {
		if s.forget(p.seq, false) {
			<-p.c.ch // a peer answered what it never got: drain before reuse
		}
		p.done()
		return p, &RequestError{Cmd: cmd, Seq: p.seq, Err: err}
	}
	return p, nil
}

// done ends a registered request: no longer in flight, call and slot
// released.
func (p started) done() {
	p.s.cfg.Metrics.Window(-1)
	if p.s.inflight.Add(-1) == 0 {
		p.s.checkDrained()
	}
	p.release()
}

// release returns the call to its pool and frees the window slot. Once
// the request is over, the call is in no table and its channel is empty
// (see wait), so it can serve the next request.
func (p started) release() {
	p.c.tag = nil
	callPool.Put(p.c)
	if !p.bypass {
		<-p.s.window
	}
}

// wait waits for the response of a started request.
func (p started) wait(ctx context.Context) (Frame, error) {
	s, c, seq, cmd := p.s, p.c, p.seq, p.cmd
	defer p.done()
	// The pooled call's timer is reused: since Go 1.23 Reset and Stop
	// leave no stale tick in its channel.
	if c.timer == nil {
		c.timer = time.NewTimer(s.cfg.RequestTimeout)
	} else {
		c.timer.Reset(s.cfg.RequestTimeout)
	}
	t := c.timer
	defer t.Stop()
	var err error
	select {
	case f := <-c.ch:
		return f, nil
	case <-t.C:
		err = ErrResponseTimeout
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.done:
		if s.forget(seq, false) {
			// The read loop matched it just before the session ended.
			return <-c.ch, nil
		}
		return Frame{}, &RequestError{Cmd: cmd, Seq: seq, Sent: true, Err: s.Err()}
	}
	if s.forget(seq, true) {
		// Answered while we gave up: response() took it out of pending
		// and sends it right after, so wait for it rather than lose it.
		return <-c.ch, nil
	}
	return Frame{}, &RequestError{Cmd: cmd, Seq: seq, Sent: true, Err: err}
}

// forget removes a pending request; keepLate moves a tagged one to the
// late table. It reports whether the request was no longer pending (its
// response arrived meanwhile).
func (s *Session) forget(seq uint32, keepLate bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.pending[seq]
	if !ok {
		return true
	}
	delete(s.pending, seq)
	if keepLate && c.tag != nil && s.cfg.OnLate != nil && s.err == nil {
		s.late[seq] = lateEntry{cmd: c.cmd, tag: c.tag, at: time.Now()}
		s.lateOrder = append(s.lateOrder, seq)
		s.pruneLateLocked(time.Now())
	}
	return false
}

func (s *Session) pruneLateLocked(now time.Time) {
	for len(s.lateOrder) > 0 {
		seq := s.lateOrder[0]
		e, ok := s.late[seq]
		if ok && len(s.late) <= s.cfg.LateMax && now.Sub(e.at) < s.cfg.LateTTL {
			return
		}
		s.lateOrder = s.lateOrder[1:]
		if ok {
			delete(s.late, seq)
		}
	}
}

func (s *Session) checkDrained() {
	s.mu.Lock()
	if s.closing && s.drained != nil && len(s.pending) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.mu.Unlock()
}

// Terminate closes the session in order: no new requests, the ones in
// flight finish (bounded by ctx), then the dialect's Terminate request
// and its response, then the connection closes.
func (s *Session) Terminate(ctx context.Context) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.closing = true
	s.drained = make(chan struct{})
	if len(s.pending) == 0 {
		close(s.drained)
	}
	drained := s.drained
	s.mu.Unlock()
	select {
	case <-drained:
	case <-ctx.Done():
	case <-s.done:
	}
	_, err := s.Request(ctx, s.cfg.Dialect.Terminate, nil)
	s.fail(ErrClosed)
	s.wg.Wait()
	return err
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	for {
		f, err := ReadFrameOf(s.br, s.cfg.MaxFrame, s.cfg.Dialect.Framing)
		if err != nil {
			s.mu.Lock()
			peerTerm := s.peerTerm
			s.mu.Unlock()
			if peerTerm {
				// The peer hung up after its Terminate without waiting
				// for our answer: that is why the session ended.
				err = ErrPeerTerminated
			} else {
				err = fmt.Errorf("cnsms: read: %w", err)
			}
			s.fail(err)
			return
		}
		s.lastRead.Store(time.Now().UnixNano())
		if f.IsResponse() {
			if s.response(f) && f.Cmd == s.cfg.Dialect.Terminate|RespBit {
				// Our Terminate is answered: the session is over, whatever
				// the peer's hanging up makes of the read that follows.
				s.fail(ErrClosed)
				return
			}
			continue
		}
		d := s.cfg.Dialect
		switch f.Cmd {
		case d.ActiveTest:
			if d.ActiveTest == 0 {
				break
			}
			s.kaReceived.Add(1)
			b := AppendFrameOf(nil, Frame{Cmd: f.Cmd | RespBit, Seq: f.Seq, Node: f.Node, Time: f.Time, Body: d.ActiveTestResp}, d.Framing)
			if s.enqueue(outFrame{b: b}) != nil {
				return
			}
			continue
		case d.Terminate:
			// Send nothing new, but keep reading: the peer may still
			// answer our requests in flight (some gateways write those
			// answers right after their Terminate). Answer once they are
			// in, or the peer hangs up, or after TerminateDrain.
			s.cfg.Metrics.Inbound(d.name(f.Cmd))
			s.mu.Lock()
			first := !s.peerTerm
			s.closing, s.peerTerm = true, true
			inflight := len(s.pending)
			s.mu.Unlock()
			s.cfg.Logger.Info("terminate from peer", "in_flight", inflight)
			if first {
				s.wg.Add(1) // the read loop holds one: no race with Close's Wait
				go s.answerTerminate(f)
			}
			continue
		}
		s.cfg.Metrics.Inbound(d.name(f.Cmd))
		if s.cfg.Inline {
			s.answer(f)
			continue
		}
		select {
		case s.inbound <- f:
		case <-s.done:
			return
		}
	}
}

// answerTerminate waits until no request of ours awaits a response (or
// TerminateDrain passes, or the session ends), then answers the peer's
// Terminate t; the session ends once the answer is written.
func (s *Session) answerTerminate(t Frame) {
	defer s.wg.Done()
	deadline := time.Now().Add(s.cfg.TerminateDrain)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.late) // timed-out requests may still be answered
		for _, c := range s.pending {
			// Our own Terminate crossing the peer's waits for an answer
			// the peer gives only once we answer: not awaited.
			if c.cmd != s.cfg.Dialect.Terminate {
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 || !time.Now().Before(deadline) {
			if n > 0 {
				s.cfg.Logger.Warn("terminate: answering with requests still in flight", "in_flight", n)
			}
			break
		}
		select {
		case <-tick.C:
		case <-s.done:
			return
		}
	}
	d := s.cfg.Dialect
	b := AppendFrameOf(nil, Frame{Cmd: t.Cmd | RespBit, Seq: t.Seq, Node: t.Node, Time: t.Time}, d.Framing)
	_ = s.enqueue(outFrame{b: b, closeAfter: ErrPeerTerminated})
}

// response hands f to the request awaiting it (true) or to OnLate.
func (s *Session) response(f Frame) bool {
	s.mu.Lock()
	c, ok := s.pending[f.Seq]
	if ok && c.cmd|RespBit == f.Cmd {
		delete(s.pending, f.Seq)
		s.mu.Unlock()
		c.ch <- f
		return true
	}
	e, late := s.late[f.Seq]
	if late && e.cmd|RespBit == f.Cmd {
		delete(s.late, f.Seq)
	} else {
		late = false
	}
	s.mu.Unlock()
	s.cfg.Metrics.Late()
	if late {
		s.cfg.OnLate(e.tag, f)
		return false
	}
	s.cfg.Logger.Debug("unmatched response", "cmd", fmt.Sprintf("0x%08x", f.Cmd), "seq", f.Seq)
	return false
}

func (s *Session) writeLoop() {
	defer s.wg.Done()
	bw := bufio.NewWriterSize(s.conn, 32<<10)
	for {
		var of outFrame
		select {
		case of = <-s.out:
		case <-s.done:
			return
		}
		for {
			if _, err := bw.Write(of.b); err != nil {
				s.fail(fmt.Errorf("cnsms: write: %w", err))
				return
			}
			if of.closeAfter != nil {
				_ = bw.Flush()
				s.fail(of.closeAfter)
				return
			}
			select {
			case of = <-s.out:
				continue
			default:
			}
			// Let the goroutines that are about to write do so before
			// the flush: one syscall for a window of frames, not one per
			// frame.
			runtime.Gosched()
			select {
			case of = <-s.out:
				continue
			default:
			}
			break
		}
		if err := bw.Flush(); err != nil {
			s.fail(fmt.Errorf("cnsms: write: %w", err))
			return
		}
	}
}

func (s *Session) worker() {
	defer s.wg.Done()
	for {
		var f Frame
		select {
		case f = <-s.inbound:
		case <-s.done:
			return
		}
		if !s.answer(f) {
			return
		}
	}
}

// answer runs the handler for f and queues its response; false when the
// session has ended.
func (s *Session) answer(f Frame) bool {
	var body []byte
	drop := false
	if s.cfg.Handler != nil {
		body, drop = s.safeHandle(f)
	}
	if drop {
		return true
	}
	fr := s.cfg.Dialect.Framing
	b := AppendFrameOf(make([]byte, 0, fr.HeaderLen()+len(body)), Frame{Cmd: f.Cmd | RespBit, Seq: f.Seq, Node: f.Node, Time: f.Time, Body: body}, fr)
	return s.enqueue(outFrame{b: b}) == nil
}

func (s *Session) safeHandle(f Frame) (body []byte, drop bool) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logger.Error("handler panic", "cmd", fmt.Sprintf("0x%08x", f.Cmd), "panic", r)
			body, drop = nil, true
		}
	}()
	return s.cfg.Handler(s.ctx, f)
}

func (s *Session) keepAlive() {
	defer s.wg.Done()
	iv := s.cfg.ActiveTest
	t := time.NewTicker(min(iv, time.Second) + iv/4)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, s.lastRead.Load())) < iv {
			continue
		}
		_, err := s.Request(s.ctx, s.cfg.Dialect.ActiveTest, nil)
		if err == nil {
			s.kaAnswered.Add(1)
		}
		if err != nil {
			var re *RequestError
			if errors.As(err, &re) && errors.Is(re.Err, ErrResponseTimeout) {
				s.cfg.Logger.Warn("keep-alive unanswered, closing")
				s.fail(ErrLinkDead)
			}
			if s.Err() != nil {
				return
			}
		}
	}
}

// SGIPTime is the second part of an SGIP sequence number: MMDDHHMMSS in
// China Standard Time, as a number.
func SGIPTime(t time.Time) uint32 {
	t = t.In(cst)
	return uint32(t.Month())*100000000 + uint32(t.Day())*1000000 + uint32(t.Hour())*10000 +
		uint32(t.Minute())*100 + uint32(t.Second())
}

var cst = time.FixedZone("CST", 8*3600)
