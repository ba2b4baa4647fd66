package sgip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Protocol is the value of the protocol metric label.
const Protocol = "sgip"

// Client defaults.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultThrottleRetries = 3
	DefaultChargeNumber    = "000000000000000000000" // 21 zeros: the SP pays
)

// Encodings (shared with pkg/cmpp and pkg/smgp).
const (
	UCS2    = cnsms.UCS2
	GB18030 = cnsms.GB18030
)

// Config configures a Client: one SP account at one SMG, both ways.
type Config struct {
	Name     string // carrier name: metric label and log attribute
	Addr     string // SMG host:port we connect to (login type 1)
	Login    string // our login name at the SMG (16)
	Password string // (16)
	// NodeID is our node id, the first part of every sequence number we
	// send: 3 + area code + corp id as the carrier assigns it.
	NodeID uint32

	// The SMG delivers MO messages and reports by connecting to us (login
	// type 2). Listener (or ListenAddr) receives those connections;
	// SMGLogin/SMGPassword are what it must bind with; SMGAllowed, when
	// set, lists the IP addresses it may come from.
	Listener    net.Listener
	ListenAddr  string
	SMGLogin    string
	SMGPassword string
	SMGAllowed  []string

	Conns  int // outgoing connections kept up; default 1
	Window int // per connection; default 16

	TPS   float64
	Burst int

	RequestTimeout  time.Duration // default 10s
	ConnectTimeout  time.Duration // default 10s
	ReconnectMin    time.Duration // default 500ms
	ReconnectMax    time.Duration // default 30s
	ShutdownTimeout time.Duration // default 5s

	ThrottleRetries  int // in-Send retries of a part answered 11 or 33; default 3; negative: none
	ThrottleBackoff  time.Duration
	ThrottleMaxPause time.Duration
	ThrottleRecover  time.Duration

	// SGIP_SUBMIT fields.
	SPNumber         string // the number handsets see; Message.Ext is appended
	ChargeNumber     string // default 21 zeros: the SP pays
	CorpID           string // 5
	ServiceType      string // 10
	FeeType          byte   // default 1 (free)
	FeeValue         string // default "0"
	MorelatetoMTFlag byte   // default 2 (not caused by an MO)
	ReportFlag       byte   // default 1 (always); NoReports sets 2
	NoReports        bool
	DestPrefix       string // default "86": prefixed to 11-digit user numbers
	Encoding         cnsms.Encoding

	OnReceipt    func(ctx context.Context, r Receipt) error
	OnMessage    func(ctx context.Context, m Incoming) error
	OnLate       func(Late)
	LateTTL      time.Duration
	LateMax      int
	MOTTL        time.Duration
	MOMaxPending int

	HandlerWorkers int
	InboundQueue   int

	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger  *slog.Logger
	Metrics *cnsms.Metrics
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("sgip: Name is required"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("sgip: Addr is required"))
	}
	if c.Login == "" || len(c.Login) > 16 || len(c.Password) > 16 {
		errs = append(errs, errors.New("sgip: Login 1 to 16 characters, Password at most 16"))
	}
	if c.NodeID == 0 {
		errs = append(errs, errors.New("sgip: NodeID is required (the carrier assigns it)"))
	}
	if (c.Listener != nil || c.ListenAddr != "") && c.SMGLogin == "" {
		errs = append(errs, errors.New("sgip: SMGLogin is required with a listener"))
	}
	if len(c.SMGLogin) > 16 || len(c.SMGPassword) > 16 {
		errs = append(errs, errors.New("sgip: SMGLogin/SMGPassword at most 16 characters"))
	}
	for _, a := range c.SMGAllowed {
		if net.ParseIP(a) == nil {
			errs = append(errs, fmt.Errorf("sgip: SMGAllowed %q is not an IP address", a))
		}
	}
	if len(c.SPNumber) > 21 || len(c.ChargeNumber) > 21 || len(c.CorpID) > 5 || len(c.ServiceType) > 10 || len(c.FeeValue) > 6 {
		errs = append(errs, errors.New("sgip: SPNumber/ChargeNumber/CorpID/ServiceType/FeeValue longer than their fields (21/21/5/10/6)"))
	}
	if c.Encoding != "" && c.Encoding != UCS2 && c.Encoding != GB18030 {
		errs = append(errs, fmt.Errorf("sgip: Encoding %q: ucs2 or gb18030", c.Encoding))
	}
	if c.TPS < 0 || c.Conns < 0 || c.Window < 0 {
		errs = append(errs, errors.New("sgip: TPS, Conns and Window cannot be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = cnsms.DefaultShutdownTimeout
	}
	if c.ThrottleRetries == 0 {
		c.ThrottleRetries = DefaultThrottleRetries
	}
	if c.ChargeNumber == "" {
		c.ChargeNumber = DefaultChargeNumber
	}
	if c.FeeType == 0 {
		c.FeeType = 1
	}
	if c.FeeValue == "" {
		c.FeeValue = "0"
	}
	if c.MorelatetoMTFlag == 0 {
		c.MorelatetoMTFlag = 2
	}
	if c.ReportFlag == 0 {
		c.ReportFlag = ReportAlways
	}
	if c.NoReports {
		c.ReportFlag = ReportNever
	}
	if c.DestPrefix == "" {
		c.DestPrefix = "86"
	}
	if c.Encoding == "" {
		c.Encoding = UCS2
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Message is one text to one handset.
type Message struct {
	Dest     string
	Text     string
	Ext      string
	Priority byte // 0..9
	Ref      string
	// Resume, when set, sends only the parts it names, under its
	// reference (low byte): the rest of a message an earlier Send left
	// without an id. The caller may also set it on a first Send to choose
	// the reference.
	Resume *Resume
}

// Resume names the parts to send again and their concatenation
// reference.
type Resume = cnsms.Resume

// PartStatus is what became of one part.
type PartStatus = cnsms.PartStatus

// Part outcomes.
const (
	PartAccepted = cnsms.PartAccepted // SUBMIT_RESP result 0: ID is the submit's SeqID
	PartRefused  = cnsms.PartRefused  // a non-zero answer: Code, Retryable
	PartUnknown  = cnsms.PartUnknown  // no (readable) answer after it was written
	PartNotSent  = cnsms.PartNotSent  // nothing was written
	PartSkipped  = cnsms.PartSkipped  // not asked for (Message.Resume)
)

// Part is the outcome of one SGIP_SUBMIT.
type Part struct {
	Number    int
	Status    PartStatus
	SeqID     SeqID
	ID        string // SeqID.String(): what SGIP_REPORT names
	Code      byte
	Retryable bool
	Reason    Reason
	Err       error
}

// Result is what the SMG said about a message.
type Result struct {
	Parts    []Part
	IDs      []string
	Encoding cnsms.Encoding
	Ref      uint16 // concatenation reference (its low byte in the UDH); pass it back in Message.Resume
}

// SendError is a message some or all of whose parts were not accepted.
type SendError struct {
	Result Result
	Failed int
	Err    error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("sgip: %d of %d parts not accepted: %v", e.Failed, len(e.Result.Parts), e.Err)
}

// Unwrap returns the first failed part's error.
func (e *SendError) Unwrap() error { return e.Err }

// Late is a SUBMIT_RESP that came after its submit timed out.
type Late struct {
	Ref         string
	Part, Parts int
	SeqID       SeqID
	ID          string
	Result      byte
}

// Receipt is an SGIP_REPORT.
type Receipt struct {
	SeqID     SeqID
	ID        string // SeqID.String(): matches Part.ID
	Stat      string // DELIVRD (state 0), ACCEPTD (1, waiting), UNDELIV (2)
	State     byte
	ErrorCode byte
	Delivered bool
	Dest      string // the handset
}

// Incoming is an MO message (SGIP_DELIVER).
type Incoming struct {
	Source        string // UserNumber
	Dest          string // SPNumber
	MessageCoding byte
	Text          string
	Data          []byte
	UDH           coding.UDH
	Parts         int
	Partial       bool
	LinkID        string // Reserve, where the carrier puts a LinkID
}

// Client keeps Conns connections to the SMG logged in for sending and
// serves the SMG's connections to us for MO messages and reports.
type Client struct {
	cfg       Config
	log       *slog.Logger
	metrics   *cnsms.CarrierMetrics
	pool      *cnsms.Pool
	throttle  *cnsms.Throttle
	ref       atomic.Uint32
	seq       atomic.Uint32 // sequence numbers of every session (the binds themselves use 1)
	lates     *cnsms.Lates[Late]
	joiner    *cnsms.MOJoiner[Incoming]
	submitter cnsms.Submitter

	mu       sync.Mutex
	inbound  map[*cnsms.Session]struct{}
	listener net.Listener // Config.Listener, or ListenAddr's once Listen opened it
}

// NewClient checks cfg and returns a Client; nothing connects or listens
// until Run.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "sgip", "carrier", cfg.Name), inbound: map[*cnsms.Session]struct{}{}, listener: cfg.Listener}
	c.metrics = cfg.Metrics.For(Protocol, cfg.Name)
	c.throttle = cnsms.NewThrottle(cnsms.ThrottleConfig{
		TPS: cfg.TPS, Burst: cfg.Burst, Backoff: cfg.ThrottleBackoff, MaxPause: cfg.ThrottleMaxPause, Recover: cfg.ThrottleRecover,
	}, c.metrics)
	c.pool = cnsms.NewPool(cnsms.PoolConfig{
		Size: cfg.Conns, Connect: c.bind, ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax,
		ShutdownTimeout: cfg.ShutdownTimeout, Logger: c.log, Metrics: c.metrics,
	})
	c.submitter = cnsms.Submitter{Pool: c.pool, Throttle: c.throttle, Metrics: c.metrics, ThrottleRetries: cfg.ThrottleRetries}
	c.lates = cnsms.NewLates(cfg.OnLate, c.metrics, c.log)
	c.joiner = cnsms.NewMOJoiner(cnsms.MOJoinerConfig[Incoming]{
		TTL: cfg.MOTTL, MaxPending: cfg.MOMaxPending, OnMessage: cfg.OnMessage, Metrics: c.metrics, Logger: c.log,
		Join: func(in *Incoming, data []byte, parts int, partial bool) {
			in.Data, in.Parts, in.Partial = data, parts, partial
			if parts > 1 || partial {
				in.UDH.Seq = 0
			}
			in.Text, _ = cnsms.DecodeText(in.MessageCoding, in.Data)
		},
		Source: func(in *Incoming) string { return in.Source },
	})
	c.ref.Store(rand.Uint32())
	c.seq.Store(1)
	return c, nil
}

// Name is the carrier name.
func (c *Client) Name() string { return c.cfg.Name }

// ConnsUp is the number of outgoing connections logged in now.
func (c *Client) ConnsUp() int { return c.pool.Up() }

// WaitReady waits until an outgoing connection is up.
func (c *Client) WaitReady(ctx context.Context) error { return c.pool.WaitReady(ctx) }

// Throttle reports the adaptive throttling state.
func (c *Client) Throttle() cnsms.ThrottleState { return c.throttle.State() }

var dialect = cnsms.Dialect{Protocol: Protocol, Framing: cnsms.FramingSGIP, Terminate: CmdUnbind, Name: CommandName}

// Dialect is what pkg/cnsms's Session needs to speak SGIP.
func Dialect() cnsms.Dialect { return dialect }

// Listen opens ListenAddr for the SMG's connections now (once; nothing
// to do with a Listener or without ListenAddr). Without it the SMG's
// reports have nowhere to go, so a gateway calls Listen before it starts
// anything: a port already in use is then an error at start-up, not a
// carrier whose messages wait for reports that never come. Run calls it
// when the caller did not.
func (c *Client) Listen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listener != nil || c.cfg.ListenAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("sgip: listen: %w", err)
	}
	c.listener = ln
	return nil
}

// Run keeps the outgoing connections up and serves the SMG's incoming
// ones until ctx ends; then it unbinds every connection (bounded by
// ShutdownTimeout) and returns. A listen error is returned at once.
func (c *Client) Run(ctx context.Context) error {
	if err := c.Listen(); err != nil {
		return err
	}
	c.mu.Lock()
	ln := c.listener
	c.mu.Unlock()
	var bg sync.WaitGroup
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bg.Go(func() { c.lates.Run(bgctx) })
	bg.Go(func() { c.joiner.Run(bgctx) })
	if ln != nil {
		bg.Go(func() { c.accept(bgctx, ln) })
		context.AfterFunc(ctx, func() { ln.Close() })
	}
	err := c.pool.Run(ctx)
	c.unbindInbound(context.WithoutCancel(ctx))
	c.joiner.Flush(context.WithoutCancel(ctx), time.Now().Add(24*time.Hour))
	cancel()
	bg.Wait()
	return err
}

func (c *Client) sessionConfig() cnsms.SessionConfig {
	return cnsms.SessionConfig{
		Dialect:        dialect,
		Window:         c.cfg.Window,
		RequestTimeout: c.cfg.RequestTimeout,
		Handler:        c.handle,
		HandlerWorkers: c.cfg.HandlerWorkers,
		InboundQueue:   c.cfg.InboundQueue,
		FirstSeq:       2,
		Seq:            &c.seq, // a part's id is its sequence number: unique across connections
		NodeID:         c.cfg.NodeID,
		OnLate:         c.onLate(),
		LateTTL:        c.cfg.LateTTL,
		LateMax:        c.cfg.LateMax,
		Logger:         c.log,
		Metrics:        c.metrics,
	}
}

// bind dials the SMG and binds with login type 1.
func (c *Client) bind(ctx context.Context, _ int) (*cnsms.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sgip: dial: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	fail := func(err error) (*cnsms.Session, error) {
		conn.Close()
		return nil, err
	}
	body, err := AppendBind(nil, &Bind{LoginType: LoginSPToSMG, Name: c.cfg.Login, Password: c.cfg.Password})
	if err != nil {
		return fail(err)
	}
	req := cnsms.Frame{Cmd: CmdBind, Node: c.cfg.NodeID, Time: cnsms.SGIPTime(time.Now()), Seq: 1, Body: body}
	if _, err := conn.Write(cnsms.AppendFrameOf(nil, req, cnsms.FramingSGIP)); err != nil {
		return fail(fmt.Errorf("sgip: write BIND: %w", err))
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	f, err := cnsms.ReadFrameOf(br, cnsms.DefaultMaxFrame, cnsms.FramingSGIP)
	if err != nil {
		return fail(fmt.Errorf("sgip: read BIND_RESP: %w", err))
	}
	if f.Cmd != CmdBindResp || f.Seq != 1 {
		return fail(fmt.Errorf("sgip: expected BIND_RESP seq 1, got %s seq %d", CommandName(f.Cmd), f.Seq))
	}
	r, err := DecodeResp(CmdBindResp, f.Body)
	if err != nil {
		return fail(err)
	}
	if r.Result != ResultOK {
		return fail(&BindError{Result: r.Result})
	}
	if stop() {
		_ = conn.SetDeadline(time.Time{})
	}
	return cnsms.NewSession(conn, br, c.sessionConfig()), nil
}

// accept serves the SMG's connections: BIND with login type 2 and the
// configured name and password, from an allowed address.
func (c *Client) accept(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("accept", "err", err)
			}
			return
		}
		wg.Go(func() { c.serveSMG(ctx, conn) })
	}
}

func (c *Client) serveSMG(ctx context.Context, conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(c.cfg.ConnectTimeout))
	br := bufio.NewReaderSize(conn, 32<<10)
	f, err := cnsms.ReadFrameOf(br, cnsms.DefaultMaxFrame, cnsms.FramingSGIP)
	if err != nil || f.Cmd != CmdBind {
		c.log.Warn("SMG connection without BIND", "peer", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	result := ResultOK
	b, err := DecodeBind(f.Body)
	switch {
	case err != nil:
		result = ResultBadParameter
	case b.LoginType != LoginSMGToSP:
		result = ResultBadLoginType
	case b.Name != c.cfg.SMGLogin || b.Password != c.cfg.SMGPassword || !c.allowed(conn.RemoteAddr()):
		result = ResultBadLogin
	}
	resp := cnsms.Frame{Cmd: CmdBindResp, Node: f.Node, Time: f.Time, Seq: f.Seq, Body: AppendResp(nil, &Resp{Result: result})}
	if _, err := conn.Write(cnsms.AppendFrameOf(nil, resp, cnsms.FramingSGIP)); err != nil || result != ResultOK {
		c.metrics.BindAttempt(false)
		c.log.Warn("SMG bind refused", "peer", conn.RemoteAddr().String(), "result", result)
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	s := cnsms.NewSession(conn, br, c.sessionConfig())
	c.mu.Lock()
	c.inbound[s] = struct{}{}
	c.mu.Unlock()
	select {
	case <-s.Done():
	case <-ctx.Done():
	}
	s.Close()
	c.mu.Lock()
	delete(c.inbound, s)
	c.mu.Unlock()
}

func (c *Client) allowed(a net.Addr) bool {
	if len(c.cfg.SMGAllowed) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return slices.ContainsFunc(c.cfg.SMGAllowed, func(s string) bool { return net.ParseIP(s).Equal(ip) })
}

// unbindInbound sends SGIP_UNBIND on the SMG's connections still open.
func (c *Client) unbindInbound(ctx context.Context) {
	c.mu.Lock()
	var ss []*cnsms.Session
	for s := range c.inbound {
		ss = append(ss, s)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() { _ = s.Terminate(ctx) })
	}
	wg.Wait()
}

func (c *Client) onLate() func(any, cnsms.Frame) {
	return c.lates.Hook(CmdSubmitResp, func(f cnsms.Frame, t cnsms.LateTag) (Late, bool) {
		r, err := DecodeResp(CmdSubmitResp, f.Body)
		if err != nil {
			return Late{}, false
		}
		id := SeqID{Node: f.Node, Time: f.Time, Seq: f.Seq}
		return Late{Ref: t.Ref, Part: t.Part, Parts: t.Parts, SeqID: id, ID: id.String(), Result: r.Result}, true
	})
}

func (c *Client) userNumber(n string) string {
	if len(n) == 11 && n[0] == '1' {
		return c.cfg.DestPrefix + n
	}
	return n
}

// Send encodes m, splits it and submits the parts, pipelined, under the
// TPS limit. A part's id is its SGIP_SUBMIT's sequence number, which the
// SMG's SGIP_REPORT names.
func (c *Client) Send(ctx context.Context, m Message) (Result, error) {
	if m.Dest == "" || len(c.userNumber(m.Dest)) > 21 {
		return Result{}, fmt.Errorf("%w: user number %q", ErrInvalidMessage, cnsms.MaskNumber(m.Dest))
	}
	spn := c.cfg.SPNumber + m.Ext
	if len(spn) > 21 {
		return Result{}, fmt.Errorf("%w: SPNumber %d characters (max 21)", ErrInvalidMessage, len(spn))
	}
	ref := c.ref.Add(1)
	if m.Resume != nil {
		ref = uint32(m.Resume.Ref)
	}
	plan, err := cnsms.Split(m.Text, c.cfg.Encoding, byte(ref))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	n := len(plan.Parts)
	res := Result{Parts: make([]Part, n), IDs: make([]string, n), Encoding: c.cfg.Encoding, Ref: uint16(ref)}
	base := Submit{
		SPNumber: spn, ChargeNumber: c.cfg.ChargeNumber, Users: []string{c.userNumber(m.Dest)}, CorpID: c.cfg.CorpID,
		ServiceType: c.cfg.ServiceType, FeeType: c.cfg.FeeType, FeeValue: c.cfg.FeeValue, MorelatetoMTFlag: c.cfg.MorelatetoMTFlag,
		Priority: m.Priority, ReportFlag: c.cfg.ReportFlag, MessageCoding: plan.MsgFmt,
	}
	if plan.UDHI {
		base.TPUDHI = 1
	}
	cnsms.SubmitAll(m.Resume.Want(n), func(i int) {
		sm := base
		sm.Content = plan.Parts[i]
		res.Parts[i] = c.submitPart(cnsms.TagLate(ctx, c.lates.Wanted(), m.Ref, i, n), &sm)
	}, func(i int) { res.Parts[i].Status = PartSkipped })
	failed, first := cnsms.Tally(n, func(i int) (bool, error) {
		p := &res.Parts[i]
		p.Number, res.IDs[i] = i+1, p.ID
		return p.Status == PartAccepted || p.Status == PartSkipped, p.Err
	})
	if failed > 0 {
		return res, &SendError{Result: res, Failed: failed, Err: first}
	}
	return res, nil
}

func (c *Client) submitPart(ctx context.Context, sm *Submit) Part {
	body, err := AppendSubmit(make([]byte, 0, 256), sm)
	if err != nil {
		c.metrics.Submit(string(ReasonInvalid), -1)
		return Part{Status: PartNotSent, Reason: ReasonInvalid, Err: fmt.Errorf("%w: %w", ErrInvalidMessage, err)}
	}
	o := cnsms.SubmitPart(ctx, &c.submitter, &cnsms.Submission[SeqID]{
		Cmd: CmdSubmit, Body: body, Invalid: ErrInvalidMessage,
		Decode: func(f cnsms.Frame) (SeqID, uint32, error) {
			r, err := DecodeResp(CmdSubmitResp, f.Body)
			if err != nil {
				return SeqID{}, 0, err
			}
			return SeqID{Node: f.Node, Time: f.Time, Seq: f.Seq}, uint32(r.Result), nil
		},
		Refused:  func(code uint32) error { return ResultErr(byte(code)) },
		Classify: Classify,
	})
	p := Part{Status: o.Status, Code: byte(o.Code), Retryable: o.Retryable, Reason: o.Reason, Err: o.Err}
	if o.Status == PartAccepted {
		p.SeqID, p.ID = o.Resp, o.Resp.String()
	}
	return p
}

// handle answers the SMG's SGIP_DELIVER and SGIP_REPORT after the
// callback returns; an error answers result 11 ("node busy": the SMG
// retries) unless it is a *StatusError naming another.
func (c *Client) handle(ctx context.Context, f cnsms.Frame) ([]byte, bool) {
	var result byte
	switch f.Cmd {
	case CmdReport:
		result = c.report(ctx, f)
	case CmdDeliver:
		result = c.deliver(ctx, f)
	default:
		// USERRPT, TRACE…: acknowledged, not acted on.
		c.log.Info("request not handled", "cmd", CommandName(f.Cmd))
	}
	return AppendResp(make([]byte, 0, 9), &Resp{Result: result}), false
}

func resultOf(err error) byte {
	if err == nil {
		return ResultOK
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code
	}
	return ResultNodeBusy
}

func (c *Client) report(ctx context.Context, f cnsms.Frame) byte {
	rp, err := DecodeReport(f.Body)
	if err != nil {
		c.metrics.Receipt("unparsed")
		c.log.Warn("malformed SGIP_REPORT", "err", err)
		return ResultBadParameter
	}
	r := Receipt{SeqID: rp.SubmitSeq, ID: rp.SubmitSeq.String(), State: rp.State, ErrorCode: rp.ErrorCode,
		Delivered: rp.State == StateDelivered, Dest: strings.TrimPrefix(rp.UserNumber, c.cfg.DestPrefix)}
	switch rp.State {
	case StateDelivered:
		r.Stat = "DELIVRD"
	case StateWaiting:
		r.Stat = "ACCEPTD"
	default:
		r.Stat = "UNDELIV"
	}
	c.metrics.Receipt(r.Stat)
	if c.cfg.OnReceipt == nil {
		return ResultOK
	}
	return resultOf(c.cfg.OnReceipt(ctx, r))
}

func (c *Client) deliver(ctx context.Context, f cnsms.Frame) byte {
	d, err := DecodeDeliver(f.Body)
	if err != nil {
		c.log.Warn("malformed SGIP_DELIVER", "err", err)
		return ResultBadParameter
	}
	if c.cfg.OnMessage == nil {
		return ResultOK
	}
	in := Incoming{Source: strings.TrimPrefix(d.UserNumber, c.cfg.DestPrefix), Dest: d.SPNumber, MessageCoding: d.MessageCoding,
		LinkID: d.Reserve}
	data := d.Content
	if d.TPUDHI != 0 {
		h, rest, err := coding.SplitUDH(d.Content)
		if err != nil {
			c.log.Warn("MO with bad UDH", "from", cnsms.MaskNumber(in.Source), "err", err)
			return ResultBadParameter
		}
		in.UDH, data = h, rest
	}
	return resultOf(c.joiner.Deliver(ctx, cnsms.MOKey{Src: in.Source, Dest: in.Dest}, in.UDH, data, in))
}
