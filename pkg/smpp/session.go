package smpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// BindMode is how a session binds.
type BindMode string

// Bind modes.
const (
	ModeTransceiver BindMode = "transceiver"
	ModeTransmitter BindMode = "transmitter"
	ModeReceiver    BindMode = "receiver"
	DefaultBindMode          = ModeTransceiver
)

func (m BindMode) command() (CommandID, error) {
	switch m {
	case ModeTransceiver, "":
		return BindTransceiver, nil
	case ModeTransmitter:
		return BindTransmitter, nil
	case ModeReceiver:
		return BindReceiver, nil
	}
	return 0, fmt.Errorf("smpp: unknown bind mode %q", string(m))
}

// Session defaults.
const (
	DefaultWindow         = 32
	DefaultRequestTimeout = 10 * time.Second
	DefaultEnquireLink    = 30 * time.Second
	DefaultHandlerWorkers = 4
	DefaultInboundQueue   = 256
	DefaultUnbindDrain    = 2 * time.Second
)

// Handler receives the requests an SMSC sends: deliver_sm, data_sm and
// alert_notification. The session answers deliver_sm and data_sm only
// after HandlePDU returns, with StatusOf(err) as command_status (return
// ErrTempAppError to have the SMSC try again later). Calls run on
// HandlerWorkers goroutines, never on the read loop; ctx ends when the
// session closes.
type Handler interface {
	HandlePDU(ctx context.Context, p *PDU) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, p *PDU) error

// HandlePDU calls f.
func (f HandlerFunc) HandlePDU(ctx context.Context, p *PDU) error { return f(ctx, p) }

// SessionConfig configures one bind.
type SessionConfig struct {
	Bind Bind     // credentials; InterfaceVersion 0 means 0x34
	Mode BindMode // default transceiver

	// Window bounds the requests awaiting a response; a request beyond
	// it waits (with its ctx) for a slot.
	Window int
	// RequestTimeout bounds the wait for each response. A response that
	// comes later is counted and dropped.
	RequestTimeout time.Duration
	// EnquireLink is the keep-alive interval when the link is idle; the
	// session closes with ErrLinkDead when one goes unanswered for
	// RequestTimeout. Negative disables.
	EnquireLink time.Duration

	Handler        Handler // nil: deliver_sm and data_sm are acked and dropped
	HandlerWorkers int     // goroutines calling Handler
	InboundQueue   int     // requests received but not yet handled; when full, reading stops
	MaxPDULen      int     // default DefaultMaxPDULen

	Logger  *slog.Logger // default: discard
	Metrics *Metrics
	Name    string // carrier label for metrics and logs

	// OnLate, when set, gets the response to a submit_sm that timed out
	// (or whose ctx ended after it was written) if that submit's ctx was
	// tagged by the Client (late.go). It runs on the read loop: it must
	// not block. Timed-out submits are kept LateTTL (default 10 min), at
	// most LateMax (default 4096) per session.
	OnLate  func(Late)
	LateTTL time.Duration
	LateMax int

	// UnbindDrain bounds how long an unbind from the SMSC waits for the
	// responses to requests in flight (and to submits that timed out but
	// may still be answered late) before it is answered; default
	// DefaultUnbindDrain.
	UnbindDrain time.Duration
}

func (c *SessionConfig) defaults() {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.EnquireLink == 0 {
		c.EnquireLink = DefaultEnquireLink
	}
	if c.HandlerWorkers <= 0 {
		c.HandlerWorkers = DefaultHandlerWorkers
	}
	if c.InboundQueue <= 0 {
		c.InboundQueue = DefaultInboundQueue
	}
	if c.MaxPDULen <= 0 {
		c.MaxPDULen = DefaultMaxPDULen
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Bind.InterfaceVersion == 0 {
		c.Bind.InterfaceVersion = InterfaceVersion34
	}
}

// Session is one bound SMPP connection as an ESME. It is safe for
// concurrent use. Requests and responses are pipelined up to the window;
// a response is matched to its request by sequence number and command id,
// so a deliver_sm that happens to carry the sequence number of a pending
// submit_sm is handled as the request it is.
type Session struct {
	cfg     SessionConfig
	conn    net.Conn
	log     *slog.Logger
	metrics *carrierMetrics
	mode    BindMode
	peerID  string

	seq     atomic.Uint32
	window  chan struct{}
	out     chan outFrame
	inbound chan *PDU

	mu      sync.Mutex
	pending map[uint32]*call
	late    lateTable // timed-out submits whose response may still come (late.go)
	closing bool      // Unbind started: refuse new requests
	// unbinding: the SMSC sent unbind; answered by answerUnbind
	unbinding bool

	lastRecv atomic.Int64 // unix nanos of the last PDU read

	ctx    context.Context // ends when the session closes; handlers get it
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // why the session ended; set before done is closed
	wg     sync.WaitGroup
}

type outFrame struct {
	b       []byte
	written chan error // nil, or buffered(1): the result of writing and flushing b
}

type call struct {
	cmd  CommandID
	seq  uint32
	resp chan *PDU // buffered(1)
	sent time.Time
	slot bool // holds a window slot
}

// Dial connects to addr over TCP and binds. ctx bounds the connect and
// the bind.
func Dial(ctx context.Context, addr string, cfg SessionConfig) (*Session, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smpp: dial: %w", err)
	}
	return Open(ctx, conn, cfg)
}

// Open binds over an established connection and starts the session's
// goroutines. On error conn is closed. Close (or Unbind) ends the session
// and waits for its goroutines.
func Open(ctx context.Context, conn net.Conn, cfg SessionConfig) (*Session, error) {
	cfg.defaults()
	bindCmd, err := cfg.Mode.command()
	if err != nil {
		conn.Close()
		return nil, err
	}
	mode := cfg.Mode
	if mode == "" {
		mode = DefaultBindMode
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		cfg:     cfg,
		conn:    conn,
		log:     cfg.Logger.With("component", "smpp", "carrier", cfg.Name),
		metrics: forCarrier(cfg.Metrics, cfg.Name),
		mode:    mode,
		window:  make(chan struct{}, cfg.Window),
		out:     make(chan outFrame, cfg.Window+cfg.HandlerWorkers+4),
		inbound: make(chan *PDU, cfg.InboundQueue),
		pending: make(map[uint32]*call),
		ctx:     sctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	s.lastRecv.Store(time.Now().UnixNano())
	s.wg.Go(s.writeLoop)
	s.wg.Go(s.readLoop)

	resp, err := s.request(ctx, bindCmd, &cfg.Bind, false)
	if err != nil {
		s.shutdown(fmt.Errorf("smpp: bind: %w", err))
		s.wg.Wait()
		return nil, fmt.Errorf("smpp: %s: %w", bindCmd, err)
	}
	if br, ok := resp.Body.(*BindResp); ok {
		s.peerID = br.SystemID
	}
	for range cfg.HandlerWorkers {
		s.wg.Go(s.handleLoop)
	}
	if cfg.EnquireLink > 0 {
		s.wg.Go(s.enquireLoop)
	}
	return s, nil
}

// PeerSystemID is the system_id the SMSC gave in its bind response.
func (s *Session) PeerSystemID() string { return s.peerID }

// Mode is how the session is bound.
func (s *Session) Mode() BindMode { return s.mode }

// Done is closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session ended; nil while it is up.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// InFlight is the number of requests awaiting a response.
func (s *Session) InFlight() int { return len(s.window) }

// nextSeq returns sequence numbers 1..0x7FFFFFFF, wrapping.
func (s *Session) nextSeq() uint32 {
	for {
		n := s.seq.Add(1) & 0x7FFFFFFF
		if n != 0 {
			return n
		}
	}
}

// RequestError is a request that got no usable response. Sent reports
// whether the PDU may have reached the SMSC, so that the outcome is
// unknown (a timeout, or the connection lost after writing).
type RequestError struct {
	Command CommandID
	Sent    bool
	Err     error
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("smpp: %s: %v", e.Command, e.Err)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Request sends a request and waits for its response. A response with a
// non-zero command_status is returned together with its *StatusError.
func (s *Session) Request(ctx context.Context, cmd CommandID, body Body) (*PDU, error) {
	if cmd.IsResponse() {
		return nil, fmt.Errorf("smpp: Request with response command %s", cmd)
	}
	if s.mode == ModeReceiver && (cmd == SubmitSM || cmd == DataSM || cmd == SubmitMulti || cmd == QuerySM || cmd == CancelSM || cmd == ReplaceSM) {
		return nil, ErrWrongBindMode
	}
	return s.request(ctx, cmd, body, true)
}

// Submit sends a submit_sm and returns the SMSC's message id.
func (s *Session) Submit(ctx context.Context, sm *SM) (string, error) {
	c, err := s.start(ctx, SubmitSM, sm, true)
	if err != nil {
		return "", err
	}
	resp, err := s.wait(ctx, c)
	if err != nil {
		return "", err
	}
	id := resp.MessageID()
	if id == "" {
		// Accepted, but under no id we could read: receipts will not
		// match, so the outcome is as unknown as after a timeout.
		return "", &RequestError{Command: SubmitSM, Sent: true, Err: fmt.Errorf("%w: submit_sm_resp without message_id", ErrMalformed)}
	}
	return id, nil
}

func (s *Session) request(ctx context.Context, cmd CommandID, body Body, useWindow bool) (*PDU, error) {
	c, err := s.start(ctx, cmd, body, useWindow)
	if err != nil {
		return nil, err
	}
	return s.wait(ctx, c)
}

// start takes a window slot (if useWindow), registers the call and queues
// the PDU for writing. Errors from start mean nothing was sent.
func (s *Session) start(ctx context.Context, cmd CommandID, body Body, useWindow bool) (*call, error) {
	if s.mode == ModeReceiver && cmd == SubmitSM {
		return nil, ErrWrongBindMode
	}
	select {
	case <-s.done:
		return nil, &RequestError{Command: cmd, Err: s.err}
	default:
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing && cmd != Unbind {
		return nil, &RequestError{Command: cmd, Err: ErrClosed}
	}
	if useWindow {
		select {
		case s.window <- struct{}{}:
			s.metrics.windowAdd(1)
		case <-ctx.Done():
			return nil, &RequestError{Command: cmd, Err: ctx.Err()}
		case <-s.done:
			return nil, &RequestError{Command: cmd, Err: s.err}
		}
	}
	c := &call{cmd: cmd, seq: s.nextSeq(), resp: make(chan *PDU, 1), slot: useWindow}
	p := PDU{Command: cmd, Seq: c.seq, Body: body}
	b, err := p.AppendTo(make([]byte, 0, 64+smLen(body)))
	if err != nil {
		s.release(c)
		return nil, &RequestError{Command: cmd, Err: err}
	}
	s.mu.Lock()
	if s.closing && cmd != Unbind {
		s.mu.Unlock()
		s.release(c)
		return nil, &RequestError{Command: cmd, Err: ErrClosed}
	}
	s.pending[c.seq] = c
	s.mu.Unlock()
	c.sent = time.Now()
	select {
	case s.out <- outFrame{b: b}:
		return c, nil
	case <-ctx.Done():
		s.forget(c)
		return nil, &RequestError{Command: cmd, Err: ctx.Err()}
	case <-s.done:
		s.forget(c)
		return nil, &RequestError{Command: cmd, Err: s.err}
	}
}

func smLen(b Body) int {
	if sm, ok := b.(*SM); ok {
		return len(sm.ShortMessage)
	}
	return 0
}

// release frees a call's window slot. The slot is held while the request
// is unanswered on the wire, not until its caller reads the response: a
// caller writing the parts of a long message before reading their
// responses would otherwise hold slots while it waits for one, and as
// many such callers as the window has slots would wait for ever (every
// slot held by a caller that waits for another). Once a call is pending,
// whoever removes it from pending releases its slot, with mu held.
func (s *Session) release(c *call) {
	if c.slot {
		c.slot = false
		s.metrics.windowAdd(-1)
		<-s.window
	}
}

// forget removes a call that will not be answered (timeout, cancel).
func (s *Session) forget(c *call) {
	s.mu.Lock()
	if s.pending[c.seq] == c {
		delete(s.pending, c.seq)
		s.release(c)
	}
	s.mu.Unlock()
}

func (s *Session) wait(ctx context.Context, c *call) (*PDU, error) {
	t := time.NewTimer(s.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case resp := <-c.resp:
		return s.answered(resp)
	case <-t.C:
		s.expire(ctx, c)
		return nil, &RequestError{Command: c.cmd, Sent: true, Err: ErrTimeout}
	case <-ctx.Done():
		s.expire(ctx, c)
		return nil, &RequestError{Command: c.cmd, Sent: true, Err: ctx.Err()}
	case <-s.done:
		// The response may have come just before the session ended
		// (an SMSC's unbind is answered once the responses are in):
		// select picks among ready cases at random.
		select {
		case resp := <-c.resp:
			return s.answered(resp)
		default:
		}
		s.forget(c)
		return nil, &RequestError{Command: c.cmd, Sent: true, Err: s.err}
	}
}

// answered turns a response into a result (dispatchResponse released the
// call's slot).
func (s *Session) answered(resp *PDU) (*PDU, error) {
	if resp.Command == GenericNack {
		st := resp.Status
		if st == StatusOK {
			st = ErrSystem.Status
		}
		return resp, fmt.Errorf("%w: %w", ErrGenericNack, st.Err())
	}
	if err := resp.Status.Err(); err != nil {
		return resp, err
	}
	return resp, nil
}

// respond queues a response; it gives up when the session ends.
func (s *Session) respond(cmd CommandID, status Status, seq uint32, body Body) {
	p := PDU{Command: cmd, Status: status, Seq: seq, Body: body}
	b, err := p.AppendTo(make([]byte, 0, 32))
	if err != nil {
		s.log.Error("encode response", "command", cmd, "err", err)
		return
	}
	select {
	case s.out <- outFrame{b: b}:
	case <-s.done:
	}
}

func (s *Session) writeLoop() {
	w := bufio.NewWriterSize(s.conn, 32*1024)
	var waiting []chan error
	for {
		var f outFrame
		select {
		case f = <-s.out:
		case <-s.done:
			return
		}
		_, err := w.Write(f.b)
		if f.written != nil {
			waiting = append(waiting, f.written)
		}
		// Flush when nothing else is queued: one syscall for a burst.
		if err == nil && len(s.out) == 0 {
			err = w.Flush()
			for _, ch := range waiting {
				ch <- err
			}
			waiting = waiting[:0]
		}
		if err != nil {
			for _, ch := range waiting {
				ch <- err
			}
			s.shutdown(fmt.Errorf("smpp: write: %w", err))
			return
		}
	}
}

func (s *Session) readLoop() {
	r := bufio.NewReaderSize(s.conn, 64*1024)
	for {
		b, err := ReadFrame(r, s.cfg.MaxPDULen)
		if err != nil {
			s.shutdown(fmt.Errorf("smpp: read: %w", err))
			return
		}
		s.lastRecv.Store(time.Now().UnixNano())
		p, err := Decode(b)
		if p == nil { // cannot happen after ReadFrame, but be safe
			s.shutdown(fmt.Errorf("smpp: read: %w", err))
			return
		}
		if p.Command.IsResponse() {
			if err != nil {
				s.log.Warn("malformed response", "command", p.Command, "seq", p.Seq, "err", err)
			}
			s.dispatchResponse(p)
			continue
		}
		if err != nil {
			s.log.Warn("malformed request", "command", p.Command, "seq", p.Seq, "err", err)
			if p.Command.Known() {
				s.respond(p.Command.Response(), ErrInvalidCmdLen.Status, p.Seq, nil)
			} else {
				s.respond(GenericNack, ErrInvalidCmdID.Status, p.Seq, nil)
			}
			continue
		}
		switch p.Command {
		case EnquireLink:
			s.respond(EnquireLinkResp, StatusOK, p.Seq, nil)
		case Unbind:
			// Stop submitting, but keep reading: the SMSC may still
			// answer the submits in flight (some write those responses
			// right after the unbind). Answer once they are in, or the
			// SMSC hangs up, or after a short drain.
			s.mu.Lock()
			first := !s.unbinding
			s.closing, s.unbinding = true, true
			inflight := len(s.pending)
			s.mu.Unlock()
			s.log.Info("unbind from SMSC", "in_flight", inflight)
			if first {
				seq := p.Seq
				s.wg.Go(func() { s.answerUnbind(seq) })
			}
		case DeliverSM, DataSM, AlertNotification:
			s.metrics.inbound(p.Command)
			select {
			case s.inbound <- p:
			case <-s.done:
				return
			}
		default:
			s.metrics.inbound(p.Command)
			s.log.Warn("unexpected request from SMSC", "command", p.Command, "seq", p.Seq)
			s.respond(GenericNack, ErrInvalidCmdID.Status, p.Seq, nil)
		}
	}
}

// answerUnbind waits until no request awaits a response (or
// UnbindDrain passes, or the session ends), then answers the SMSC's
// unbind and ends the session.
func (s *Session) answerUnbind(seq uint32) {
	deadline := time.Now().Add(s.unbindDrain())
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.pending) + len(s.late.m) // timed-out submits may still be answered
		s.mu.Unlock()
		if n == 0 || !time.Now().Before(deadline) {
			if n > 0 {
				s.log.Warn("unbind: answering with requests still in flight", "in_flight", n)
			}
			break
		}
		select {
		case <-t.C:
		case <-s.done:
			return
		}
	}
	resp := PDU{Command: UnbindResp, Seq: seq}
	rb, _ := resp.MarshalBinary()
	written := make(chan error, 1)
	select {
	case s.out <- outFrame{b: rb, written: written}:
		select {
		case err := <-written:
			_ = err // best effort: the session ends whether the unbind_resp went out or not
		case <-time.After(s.cfg.RequestTimeout):
		case <-s.done:
		}
	case <-s.done:
	}
	s.shutdown(ErrUnbound)
}

func (s *Session) unbindDrain() time.Duration {
	if s.cfg.UnbindDrain > 0 {
		return s.cfg.UnbindDrain
	}
	return DefaultUnbindDrain
}

// Closing reports whether the session refuses new requests (an unbind
// started, from either side).
func (s *Session) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Session) dispatchResponse(p *PDU) {
	s.mu.Lock()
	c := s.pending[p.Seq]
	match := c != nil && (p.Command == c.cmd.Response() || p.Command == GenericNack)
	if match {
		delete(s.pending, p.Seq)
		s.release(c)
		// Under the lock (resp is buffered): a drain that sees no
		// request pending finds this response with its caller.
		c.resp <- p
	}
	s.mu.Unlock()
	if !match {
		s.metrics.lateResponse()
		if s.takeLate(p) {
			return
		}
		s.log.Debug("response matches no request", "command", p.Command, "seq", p.Seq, "status", p.Status)
		return
	}
}

func (s *Session) handleLoop() {
	for {
		var p *PDU
		select {
		case p = <-s.inbound:
		case <-s.done:
			return
		}
		var err error
		if s.cfg.Handler != nil {
			err = s.cfg.Handler.HandlePDU(s.ctx, p)
		}
		if p.Command == AlertNotification {
			continue
		}
		st := StatusOf(err)
		if err != nil {
			s.log.Debug("handler refused", "command", p.Command, "seq", p.Seq, "status", st, "err", err)
		}
		// Always with the (empty) message_id: some SMSCs cannot read a
		// bodiless deliver_sm_resp.
		s.respond(p.Command.Response(), st, p.Seq, &SMResp{})
	}
}

func (s *Session) enquireLoop() {
	t := time.NewTicker(s.cfg.EnquireLink)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		if time.Since(time.Unix(0, s.lastRecv.Load())) < s.cfg.EnquireLink {
			continue
		}
		// The deadline also bounds queueing the PDU: a peer that stopped
		// reading is as dead as one that stopped answering.
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		_, err := s.request(ctx, EnquireLink, nil, false)
		cancel()
		var re *RequestError
		if errors.As(err, &re) {
			if s.Err() == nil {
				s.shutdown(ErrLinkDead)
			}
			return
		}
	}
}

// shutdown ends the session without waiting: the first cause wins.
func (s *Session) shutdown(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.cancel()
		s.conn.Close()
		if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrUnbound) {
			s.log.Warn("session ended", "err", err)
		} else {
			s.log.Info("session ended", "err", err)
		}
	})
}

// Close ends the session at once, without unbind, and waits for its
// goroutines. Requests awaiting a response fail with a *RequestError whose
// Sent is true.
func (s *Session) Close() error {
	s.shutdown(ErrClosed)
	s.wg.Wait()
	return nil
}

// Unbind ends the session politely: new requests are refused, requests in
// flight get up to ctx to finish, then unbind is sent and its response
// awaited (bounded by ctx and RequestTimeout) before the connection is
// closed. It waits for the session's goroutines.
func (s *Session) Unbind(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	var err error
	// Drain: take every window slot.
	taken := 0
drain:
	for taken < cap(s.window) {
		select {
		case s.window <- struct{}{}:
			taken++
		case <-ctx.Done():
			err = ctx.Err()
			break drain
		case <-s.done:
			break drain
		}
	}
	if err == nil && s.Err() == nil {
		_, err = s.request(ctx, Unbind, nil, false)
	}
	s.shutdown(ErrClosed)
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("smpp: unbind: %w", err)
	}
	return nil
}
