package cmpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Protocol is the value of the protocol metric label.
const Protocol = "cmpp"

// Client defaults.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultThrottleRetries = 3
)

// Config configures a Client: one SP account at one ISMG.
type Config struct {
	Name       string  // carrier name: metric label and log attribute
	Addr       string  // ISMG host:port
	SourceAddr string  // SP enterprise code (Source_Addr, 6 characters)
	Secret     string  // shared secret
	Version    Version // V30 (default) or V20
	// Fallback20: when the ISMG answers a 3.0 CONNECT with status 4
	// ("version too high"), connect again with 2.0.
	Fallback20 bool

	Conns  int // connections kept up; default 1
	Window int // requests awaiting a response, per connection; default 16

	TPS   float64 // submits per second over the account; 0: no limit
	Burst int

	RequestTimeout  time.Duration // default 10s
	ActiveTest      time.Duration // keep-alive when idle; default 30s; negative disables
	ConnectTimeout  time.Duration // TCP connect plus CONNECT; default 10s
	ReconnectMin    time.Duration // default 500ms
	ReconnectMax    time.Duration // default 30s
	ShutdownTimeout time.Duration // default 5s

	ThrottleRetries  int           // in-Send retries of a part answered 8; default 3; negative: none
	ThrottleBackoff  time.Duration // first account-wide pause; default 200ms
	ThrottleMaxPause time.Duration // default 5s
	ThrottleRecover  time.Duration // default 2s

	// SUBMIT fields.
	ServiceID          string   // Service_Id (10)
	SrcID              string   // Src_Id: the number handsets see, e.g. "10690012123"
	MsgSrc             string   // Msg_src; default SourceAddr
	FeeUserType        byte     // default 2 (neither party: the SP's own free messages)
	FeeType            string   // default "01" (free)
	FeeCode            string   // default "000000"
	RegisteredDelivery byte     // default 1 (ask for reports); NoReports sets 0
	NoReports          bool     // do not ask for status reports
	Encoding           Encoding // UCS2 (default) or GB18030
	LinkID             string   // 3.0 LinkID, when the carrier requires one

	OnReceipt func(ctx context.Context, r Receipt) error // nil: acked and dropped
	OnMessage func(ctx context.Context, m Incoming) error
	OnLate    func(Late)
	LateTTL   time.Duration
	LateMax   int
	// Multi-part MO reassembly bounds: a message still missing parts
	// after MOTTL (default 10m), or evicted beyond MOMaxPending (1024),
	// is delivered with Incoming.Partial.
	MOTTL        time.Duration
	MOMaxPending int

	HandlerWorkers int // per connection; default 4
	InboundQueue   int // per connection; default 256

	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger  *slog.Logger
	Metrics *cnsms.Metrics
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("cmpp: Name is required"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("cmpp: Addr is required"))
	}
	if c.SourceAddr == "" || len(c.SourceAddr) > 6 {
		errs = append(errs, fmt.Errorf("cmpp: SourceAddr %q: 1 to 6 characters", c.SourceAddr))
	}
	if c.Version != 0 && !c.Version.Valid() {
		errs = append(errs, fmt.Errorf("cmpp: Version 0x%02x: 0x30 or 0x20", byte(c.Version)))
	}
	if len(c.ServiceID) > 10 || len(c.SrcID) > 21 || len(c.MsgSrc) > 6 || len(c.FeeType) > 2 || len(c.FeeCode) > 6 || len(c.LinkID) > 20 {
		errs = append(errs, errors.New("cmpp: ServiceID/SrcID/MsgSrc/FeeType/FeeCode/LinkID longer than their fields (10/21/6/2/6/20)"))
	}
	if c.Encoding != "" && c.Encoding != UCS2 && c.Encoding != GB18030 {
		errs = append(errs, fmt.Errorf("cmpp: Encoding %q: ucs2 or gb18030", c.Encoding))
	}
	if c.TPS < 0 || c.Conns < 0 || c.Window < 0 {
		errs = append(errs, errors.New("cmpp: TPS, Conns and Window cannot be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.Version == 0 {
		c.Version = V30
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ThrottleRetries == 0 {
		c.ThrottleRetries = DefaultThrottleRetries
	}
	if c.MsgSrc == "" {
		c.MsgSrc = c.SourceAddr
	}
	if c.FeeUserType == 0 {
		c.FeeUserType = 2
	}
	if c.FeeType == "" {
		c.FeeType = "01"
	}
	if c.FeeCode == "" {
		c.FeeCode = "000000"
	}
	if c.RegisteredDelivery == 0 && !c.NoReports {
		c.RegisteredDelivery = Report
	}
	if c.NoReports {
		c.RegisteredDelivery = NoReport
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
	Dest     string // 11-digit mobile number (or with 86)
	Text     string
	Ext      string // appended to Config.SrcID (sub-number), may be ""
	Priority byte   // Msg_level
	// Validity, when positive, becomes a relative ValId_Time.
	Validity time.Duration
	Ref      string // the caller's reference, returned in Late
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
	PartAccepted = cnsms.PartAccepted // SUBMIT_RESP result 0: ID is its Msg_Id
	PartRefused  = cnsms.PartRefused  // SUBMIT_RESP with a non-zero result: Code, Retryable
	PartUnknown  = cnsms.PartUnknown  // no (readable) answer after it was written: the ISMG may have it
	PartNotSent  = cnsms.PartNotSent  // nothing was written
	PartSkipped  = cnsms.PartSkipped  // not asked for (Message.Resume)
)

// Part is the outcome of one SUBMIT.
type Part struct {
	Number    int // from 1
	Status    PartStatus
	MsgID     MsgID
	ID        string // MsgID.String() when accepted
	Code      uint32 // result when refused
	Retryable bool
	Reason    Reason
	Err       error
}

// Result is what the ISMG said about a message.
type Result struct {
	Parts    []Part
	IDs      []string // Msg_Id of each part ("" if not accepted), in order
	Encoding Encoding
	Ref      uint16 // concatenation reference (its low byte in the UDH); pass it back in Message.Resume
}

// SendError is a message some or all of whose parts were not accepted.
type SendError struct {
	Result Result
	Failed int
	Err    error // the first failed part's error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("cmpp: %d of %d parts not accepted: %v", e.Failed, len(e.Result.Parts), e.Err)
}

// Unwrap returns the first failed part's error.
func (e *SendError) Unwrap() error { return e.Err }

// Late is a SUBMIT_RESP that came after its submit timed out.
type Late struct {
	Ref         string
	Part, Parts int
	MsgID       MsgID
	ID          string
	Result      uint32
}

// Client keeps Conns connections to one ISMG logged in and sends
// messages over them. Run owns its goroutines; Send may be called from
// any goroutine while Run runs.
type Client struct {
	cfg       Config
	log       *slog.Logger
	metrics   *cnsms.CarrierMetrics
	pool      *cnsms.Pool
	throttle  *cnsms.Throttle
	ref       atomic.Uint32
	versions  sync.Map // *cnsms.Session → Version
	lates     *cnsms.Lates[Late]
	joiner    *cnsms.MOJoiner[Incoming]
	submitter cnsms.Submitter
}

// NewClient checks cfg and returns a Client; nothing connects until Run.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "cmpp", "carrier", cfg.Name)}
	c.metrics = cfg.Metrics.For(Protocol, cfg.Name)
	c.throttle = cnsms.NewThrottle(cnsms.ThrottleConfig{
		TPS: cfg.TPS, Burst: cfg.Burst, Backoff: cfg.ThrottleBackoff, MaxPause: cfg.ThrottleMaxPause, Recover: cfg.ThrottleRecover,
	}, c.metrics)
	c.pool = cnsms.NewPool(cnsms.PoolConfig{
		Size: cfg.Conns, Connect: c.connect, ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax,
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
			in.Text, _ = cnsms.DecodeText(in.MsgFmt, in.Data)
		},
		Source: func(in *Incoming) string { return in.Source },
	})
	c.ref.Store(rand.Uint32())
	return c, nil
}

// Name is the carrier name.
func (c *Client) Name() string { return c.cfg.Name }

// ConnsUp is the number of connections logged in now.
func (c *Client) ConnsUp() int { return c.pool.Up() }

// WaitReady waits until a connection is up.
func (c *Client) WaitReady(ctx context.Context) error { return c.pool.WaitReady(ctx) }

// Throttle reports the adaptive throttling state.
func (c *Client) Throttle() cnsms.ThrottleState { return c.throttle.State() }

// Run keeps the connections up until ctx ends, then terminates them
// (bounded by ShutdownTimeout) and returns nil.
func (c *Client) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bg.Go(func() { c.lates.Run(bgctx) })
	bg.Go(func() { c.joiner.Run(bgctx) })
	err := c.pool.Run(ctx)
	c.joiner.Flush(context.WithoutCancel(ctx), time.Now().Add(24*time.Hour)) // shutdown: deliver what is held
	cancel()
	bg.Wait()
	return err
}

// connect dials, logs in (falling back to 2.0 when asked) and starts a
// session.
func (c *Client) connect(ctx context.Context, slot int) (*cnsms.Session, error) {
	v := c.cfg.Version
	for {
		s, err := c.login(ctx, v)
		var ce *ConnectError
		if err != nil && v == V30 && c.cfg.Fallback20 && errors.As(err, &ce) && ce.Status == ConnectVersionHigh {
			c.log.Info("ISMG refused 3.0, connecting with 2.0", "conn", slot)
			v = V20
			continue
		}
		return s, err
	}
}

func (c *Client) login(ctx context.Context, v Version) (*cnsms.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cmpp: dial: %w", err)
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
	ts := Timestamp(time.Now())
	req := Connect{SourceAddr: c.cfg.SourceAddr, Version: v, Timestamp: ts,
		Authenticator: AuthenticatorSource(c.cfg.SourceAddr, c.cfg.Secret, ts)}
	body, err := AppendConnect(nil, &req)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: CmdConnect, Seq: 1, Body: body})); err != nil {
		return fail(fmt.Errorf("cmpp: write CONNECT: %w", err))
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	f, err := cnsms.ReadFrame(br, cnsms.DefaultMaxFrame)
	if err != nil {
		return fail(fmt.Errorf("cmpp: read CONNECT_RESP: %w", err))
	}
	if f.Cmd != CmdConnectResp || f.Seq != 1 {
		return fail(fmt.Errorf("cmpp: expected CONNECT_RESP seq 1, got %s seq %d", CommandName(f.Cmd), f.Seq))
	}
	resp, err := DecodeConnectResp(f.Body)
	if err != nil {
		return fail(err)
	}
	if resp.Status != ConnectOK {
		return fail(&ConnectError{Status: resp.Status, Version: resp.Version})
	}
	if resp.Authenticator != ([16]byte{}) && resp.Authenticator != AuthenticatorISMG(resp.Wire, resp.Status, req.Authenticator, c.cfg.Secret) {
		return fail(ErrBadAuth)
	}
	nv := v
	if resp.Version.Valid() && resp.Version < v {
		nv = resp.Version
	}
	if stop() {
		_ = conn.SetDeadline(time.Time{})
	}
	s := cnsms.NewSession(conn, br, cnsms.SessionConfig{
		Dialect:        dialect,
		Window:         c.cfg.Window,
		RequestTimeout: c.cfg.RequestTimeout,
		ActiveTest:     c.cfg.ActiveTest,
		Handler:        func(ctx context.Context, f cnsms.Frame) ([]byte, bool) { return c.handle(ctx, nv, f) },
		HandlerWorkers: c.cfg.HandlerWorkers,
		InboundQueue:   c.cfg.InboundQueue,
		FirstSeq:       2,
		OnLate:         c.onLate(),
		LateTTL:        c.cfg.LateTTL,
		LateMax:        c.cfg.LateMax,
		Logger:         c.log,
		Metrics:        c.metrics,
	})
	c.versions.Store(s, nv)
	go func() { <-s.Done(); c.versions.Delete(s) }()
	return s, nil
}

var dialect = cnsms.Dialect{
	Protocol:       Protocol,
	ActiveTest:     CmdActiveTest,
	ActiveTestResp: ActiveTestRespBody,
	Terminate:      CmdTerminate,
	Name:           CommandName,
}

// Dialect is what pkg/cnsms's Session needs to speak CMPP (for the
// simulator and tests).
func Dialect() cnsms.Dialect { return dialect }

func (c *Client) versionOf(s *cnsms.Session) Version {
	if v, ok := c.versions.Load(s); ok {
		return v.(Version)
	}
	return c.cfg.Version
}

func (c *Client) onLate() func(any, cnsms.Frame) {
	return c.lates.Hook(CmdSubmitResp, func(f cnsms.Frame, t cnsms.LateTag) (Late, bool) {
		r, err := DecodeSubmitResp(f.Body)
		if err != nil {
			return Late{}, false
		}
		return Late{Ref: t.Ref, Part: t.Part, Parts: t.Parts, MsgID: r.MsgID, ID: r.MsgID.String(), Result: r.Result}, true
	})
}

// Send encodes m, splits it and submits the parts, pipelined, under the
// TPS limit. It returns when every part has an outcome: Result.Parts says
// per part accepted (with its Msg_Id), refused (result code, retryable)
// or unknown. The error is a *SendError when a part was not accepted.
func (c *Client) Send(ctx context.Context, m Message) (Result, error) {
	if m.Dest == "" || len(m.Dest) > termLen(V30) {
		return Result{}, fmt.Errorf("%w: destination %q", ErrInvalidMessage, cnsms.MaskNumber(m.Dest))
	}
	src := c.cfg.SrcID + m.Ext
	if len(src) > 21 {
		return Result{}, fmt.Errorf("%w: Src_Id %d characters (max 21)", ErrInvalidMessage, len(src))
	}
	ref := c.ref.Add(1)
	if m.Resume != nil {
		ref = uint32(m.Resume.Ref)
	}
	plan, err := Split(m.Text, c.cfg.Encoding, byte(ref))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	n := len(plan.Parts)
	res := Result{Parts: make([]Part, n), IDs: make([]string, n), Encoding: c.cfg.Encoding, Ref: uint16(ref)}
	base := Submit{
		PkTotal: byte(n), RegisteredDelivery: c.cfg.RegisteredDelivery, MsgLevel: m.Priority,
		ServiceID: c.cfg.ServiceID, FeeUserType: c.cfg.FeeUserType, MsgFmt: plan.MsgFmt,
		MsgSrc: c.cfg.MsgSrc, FeeType: c.cfg.FeeType, FeeCode: c.cfg.FeeCode, SrcID: src,
		Dest: []string{m.Dest}, LinkID: c.cfg.LinkID,
	}
	if plan.UDHI {
		base.TPUDHI = 1
	}
	if m.Validity > 0 {
		base.ValidTime = relativeTime(m.Validity)
	}
	cnsms.SubmitAll(m.Resume.Want(n), func(i int) {
		sm := base
		sm.PkNumber = byte(i + 1)
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

// submitPart submits one part on any connection (cnsms.SubmitPart:
// result 8 retried after the account's pause, failures that wrote
// nothing on another connection).
func (c *Client) submitPart(ctx context.Context, sm *Submit) Part {
	o := cnsms.SubmitPart(ctx, &c.submitter, &cnsms.Submission[*SubmitResp]{
		Cmd:     CmdSubmit,
		Encode:  func(s *cnsms.Session) ([]byte, error) { return AppendSubmit(make([]byte, 0, 256), c.versionOf(s), sm) },
		Invalid: ErrInvalidMessage,
		Decode: func(f cnsms.Frame) (*SubmitResp, uint32, error) {
			r, err := DecodeSubmitResp(f.Body)
			if err != nil {
				return nil, 0, err
			}
			return r, r.Result, nil
		},
		Refused:  ResultError,
		Classify: Classify,
	})
	p := Part{Status: o.Status, Code: o.Code, Retryable: o.Retryable, Reason: o.Reason, Err: o.Err}
	if o.Status == PartAccepted {
		p.MsgID, p.ID = o.Resp.MsgID, o.Resp.MsgID.String()
	}
	return p
}

// relativeTime formats d as an SMPP 3.3 relative time, the format of
// ValId_Time ("YYMMDDhhmmss000R").
func relativeTime(d time.Duration) string {
	secs := int64(d / time.Second)
	days := secs / 86400
	secs %= 86400
	years := min(days/365, 99)
	days %= 365
	return fmt.Sprintf("%02d%02d%02d%02d%02d%02d000R", years, days/30, days%30, secs/3600, secs%3600/60, secs%60)
}

// Incoming is a mobile-originated message.
type Incoming struct {
	MsgID     MsgID
	Source    string // the handset (Src_terminal_Id)
	Dest      string // our number (Dest_Id)
	ServiceID string
	MsgFmt    byte
	Text      string     // decoded ("" for binary)
	Data      []byte     // Msg_Content, UDH removed
	UDH       coding.UDH // concatenation: Ref and Total of a reassembled message (Seq 0)
	LinkID    string
	Parts     int  // parts joined in Data and Text: 1 for a single message
	Partial   bool // delivered without all its parts (MOTTL passed or evicted)
}

// handle answers the ISMG's DELIVERs: status reports to OnReceipt, the
// rest to OnMessage. DELIVER_RESP is written after the callback
// returns; its error answers result 8 ("try later") unless it is a
// *StatusError naming another result.
func (c *Client) handle(ctx context.Context, v Version, f cnsms.Frame) ([]byte, bool) {
	if f.Cmd != CmdDeliver {
		// Nothing else is a request an ISMG sends an SP; CMPP has no
		// generic negative answer, so it goes unanswered (and logged).
		c.log.Warn("unexpected request", "cmd", CommandName(f.Cmd))
		return nil, true
	}
	d, err := DecodeDeliver(v, f.Body)
	if err != nil {
		c.log.Warn("malformed DELIVER", "err", err)
		var id MsgID
		if len(f.Body) >= 8 {
			id = MsgID(uint64(f.Body[0])<<56 | uint64(f.Body[1])<<48 | uint64(f.Body[2])<<40 | uint64(f.Body[3])<<32 |
				uint64(f.Body[4])<<24 | uint64(f.Body[5])<<16 | uint64(f.Body[6])<<8 | uint64(f.Body[7]))
		}
		return AppendDeliverResp(nil, v, &DeliverResp{MsgID: id, Result: ResultBadStructure}), false
	}
	var result uint32
	if d.RegisteredDelivery == Report {
		result = c.receipt(ctx, v, d)
	} else {
		result = c.mo(ctx, d)
	}
	return AppendDeliverResp(make([]byte, 0, 12), v, &DeliverResp{MsgID: d.MsgID, Result: result}), false
}

func resultOf(err error) uint32 {
	if err == nil {
		return ResultOK
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code
	}
	return ResultFlowControl
}

func (c *Client) receipt(ctx context.Context, v Version, d *Deliver) uint32 {
	sr, err := DecodeStatusReport(v, d.Content)
	if err != nil {
		c.metrics.Receipt("unparsed")
		c.log.Warn("unparsed status report", "err", err)
		return ResultOK // acked: sending it again will not make it parse
	}
	r := newReceipt(sr)
	c.metrics.Receipt(statLabel(r.Stat))
	if c.cfg.OnReceipt == nil {
		return ResultOK
	}
	return resultOf(c.cfg.OnReceipt(ctx, r))
}

func (c *Client) mo(ctx context.Context, d *Deliver) uint32 {
	if c.cfg.OnMessage == nil {
		return ResultOK
	}
	in := Incoming{MsgID: d.MsgID, Source: d.SrcTerminalID, Dest: d.DestID, ServiceID: d.ServiceID,
		MsgFmt: d.MsgFmt, LinkID: d.LinkID}
	data := d.Content
	if d.TPUDHI != 0 {
		h, rest, err := coding.SplitUDH(d.Content)
		if err != nil {
			c.log.Warn("MO with bad UDH", "from", cnsms.MaskNumber(d.SrcTerminalID), "err", err)
			return ResultBadStructure
		}
		in.UDH, data = h, rest
	}
	return resultOf(c.joiner.Deliver(ctx, cnsms.MOKey{Src: d.SrcTerminalID, Dest: d.DestID}, in.UDH, data, in))
}

// Receipt is a status report.
type Receipt struct {
	MsgID        MsgID
	ID           string // MsgID.String(): matches Part.ID
	Stat         string // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or a carrier code (e.g. "MK:0001")
	Delivered    bool   // Stat == "DELIVRD"
	SubmitTime   time.Time
	DoneTime     time.Time // zero if the field does not parse
	Dest         string    // Dest_terminal_Id
	SMSCSequence uint32
}

func newReceipt(sr *StatusReport) Receipt {
	r := Receipt{MsgID: sr.MsgID, ID: sr.MsgID.String(), Stat: strings.TrimSpace(sr.Stat), Dest: sr.DestTerminalID, SMSCSequence: sr.SMSCSequence}
	r.Delivered = r.Stat == "DELIVRD"
	r.SubmitTime, _ = time.ParseInLocation("0601021504", sr.SubmitTime, CST)
	r.DoneTime, _ = time.ParseInLocation("0601021504", sr.DoneTime, CST)
	return r
}

// statLabel bounds the stat metric label.
func statLabel(s string) string {
	switch s {
	case "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD":
		return s
	}
	return "other"
}
