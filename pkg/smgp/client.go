package smgp

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
const Protocol = "smgp"

// Client defaults.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultThrottleRetries = 3
)

// Encodings (shared with pkg/cmpp): UCS2 by default, GB18030 where the
// carrier asks.
const (
	UCS2    = cnsms.UCS2
	GB18030 = cnsms.GB18030
)

// Config configures a Client: one SP account at one SMGW.
type Config struct {
	Name      string // carrier name: metric label and log attribute
	Addr      string // SMGW host:port
	ClientID  string // login name (8 characters at most)
	Secret    string // shared secret (15 at most)
	LoginMode byte   // ModeTransmit (default, 2): send and receive on each connection

	Conns  int // connections kept up; default 1
	Window int // per connection; default 16

	TPS   float64
	Burst int

	RequestTimeout  time.Duration // default 10s
	ActiveTest      time.Duration // keep-alive when idle; default 30s; negative disables
	ConnectTimeout  time.Duration // default 10s
	ReconnectMin    time.Duration // default 500ms
	ReconnectMax    time.Duration // default 30s
	ShutdownTimeout time.Duration // default 5s

	ThrottleRetries  int // in-Send retries of a part answered "system busy"; default 3; negative: none
	ThrottleBackoff  time.Duration
	ThrottleMaxPause time.Duration
	ThrottleRecover  time.Duration

	// Submit fields.
	ServiceID    string // ServiceID (10)
	SrcTermID    string // the number handsets see, e.g. "10690012123"
	ChargeTermID string // default "" (the SP pays)
	FeeType      string // default "00" (free)
	FeeCode      string // default "000000"
	FixedFee     string // default "000000"
	NoReports    bool   // NeedReport 0
	Encoding     cnsms.Encoding
	LinkID       string // TLV LinkID when the carrier requires one
	MsgSrc       string // TLV MsgSrc (SP id, 8) when the carrier requires one

	OnReceipt func(ctx context.Context, r Receipt) error
	OnMessage func(ctx context.Context, m Incoming) error
	OnLate    func(Late)
	LateTTL   time.Duration
	LateMax   int
	// Multi-part MO reassembly bounds: a message still missing parts
	// after MOTTL (default 10m), or evicted beyond MOMaxPending (1024),
	// is delivered with Incoming.Partial.
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
		errs = append(errs, errors.New("smgp: Name is required"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("smgp: Addr is required"))
	}
	if c.ClientID == "" || len(c.ClientID) > 8 {
		errs = append(errs, fmt.Errorf("smgp: ClientID %q: 1 to 8 characters", c.ClientID))
	}
	if len(c.Secret) > 15 {
		errs = append(errs, errors.New("smgp: Secret longer than 15 characters"))
	}
	if c.LoginMode > ModeTransmit {
		errs = append(errs, fmt.Errorf("smgp: LoginMode %d: 0, 1 or 2", c.LoginMode))
	}
	if len(c.ServiceID) > 10 || len(c.SrcTermID) > 21 || len(c.ChargeTermID) > 21 || len(c.FeeType) > 2 ||
		len(c.FeeCode) > 6 || len(c.FixedFee) > 6 || len(c.LinkID) > 20 || len(c.MsgSrc) > 8 {
		errs = append(errs, errors.New("smgp: ServiceID/SrcTermID/ChargeTermID/FeeType/FeeCode/FixedFee/LinkID/MsgSrc longer than their fields"))
	}
	if c.Encoding != "" && c.Encoding != UCS2 && c.Encoding != GB18030 {
		errs = append(errs, fmt.Errorf("smgp: Encoding %q: ucs2 or gb18030", c.Encoding))
	}
	if c.TPS < 0 || c.Conns < 0 || c.Window < 0 {
		errs = append(errs, errors.New("smgp: TPS, Conns and Window cannot be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.LoginMode == 0 {
		c.LoginMode = ModeTransmit
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
	if c.FeeType == "" {
		c.FeeType = "00"
	}
	if c.FeeCode == "" {
		c.FeeCode = "000000"
	}
	if c.FixedFee == "" {
		c.FixedFee = "000000"
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
	Ext      string // appended to Config.SrcTermID
	Priority byte   // 0..3
	Validity time.Duration
	Ref      string // returned in Late
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
	PartAccepted = cnsms.PartAccepted // Submit_Resp status 0: ID is its MsgID
	PartRefused  = cnsms.PartRefused  // a non-zero answer: Code, Retryable
	PartUnknown  = cnsms.PartUnknown  // no (readable) answer after it was written
	PartNotSent  = cnsms.PartNotSent  // nothing was written
	PartSkipped  = cnsms.PartSkipped  // not asked for (Message.Resume)
)

// Part is the outcome of one Submit.
type Part struct {
	Number    int
	Status    PartStatus
	MsgID     MsgID
	ID        string
	Code      uint32
	Retryable bool
	Reason    Reason
	Err       error
}

// Result is what the SMGW said about a message.
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
	return fmt.Sprintf("smgp: %d of %d parts not accepted: %v", e.Failed, len(e.Result.Parts), e.Err)
}

// Unwrap returns the first failed part's error.
func (e *SendError) Unwrap() error { return e.Err }

// Late is a Submit_Resp that came after its submit timed out.
type Late struct {
	Ref         string
	Part, Parts int
	MsgID       MsgID
	ID          string
	Status      uint32
}

// Client keeps Conns connections to one SMGW logged in and sends
// messages over them.
type Client struct {
	cfg       Config
	log       *slog.Logger
	metrics   *cnsms.CarrierMetrics
	pool      *cnsms.Pool
	throttle  *cnsms.Throttle
	ref       atomic.Uint32
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
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "smgp", "carrier", cfg.Name)}
	c.metrics = cfg.Metrics.For(Protocol, cfg.Name)
	c.throttle = cnsms.NewThrottle(cnsms.ThrottleConfig{
		TPS: cfg.TPS, Burst: cfg.Burst, Backoff: cfg.ThrottleBackoff, MaxPause: cfg.ThrottleMaxPause, Recover: cfg.ThrottleRecover,
	}, c.metrics)
	c.pool = cnsms.NewPool(cnsms.PoolConfig{
		Size: cfg.Conns, Connect: c.login, ReconnectMin: cfg.ReconnectMin, ReconnectMax: cfg.ReconnectMax,
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
			in.Text, _ = cnsms.DecodeText(in.MsgFormat, in.Data)
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

// Run keeps the connections up until ctx ends, then sends Exit on each
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

var dialect = cnsms.Dialect{
	Protocol:   Protocol,
	ActiveTest: CmdActiveTest,
	Terminate:  CmdExit,
	Name:       CommandName,
}

// Dialect is what pkg/cnsms's Session needs to speak SMGP.
func Dialect() cnsms.Dialect { return dialect }

func (c *Client) login(ctx context.Context, _ int) (*cnsms.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smgp: dial: %w", err)
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
	req := Login{ClientID: c.cfg.ClientID, LoginMode: c.cfg.LoginMode, Timestamp: ts, Version: Version3,
		Authenticator: AuthenticatorClient(c.cfg.ClientID, c.cfg.Secret, ts)}
	body, err := AppendLogin(nil, &req)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: CmdLogin, Seq: 1, Body: body})); err != nil {
		return fail(fmt.Errorf("smgp: write Login: %w", err))
	}
	br := bufio.NewReaderSize(conn, 32<<10)
	f, err := cnsms.ReadFrame(br, cnsms.DefaultMaxFrame)
	if err != nil {
		return fail(fmt.Errorf("smgp: read Login_Resp: %w", err))
	}
	if f.Cmd != CmdLoginResp || f.Seq != 1 {
		return fail(fmt.Errorf("smgp: expected Login_Resp seq 1, got %s seq %d", CommandName(f.Cmd), f.Seq))
	}
	resp, err := DecodeLoginResp(f.Body)
	if err != nil {
		return fail(err)
	}
	if resp.Status != StatusOK {
		return fail(&LoginError{Status: resp.Status})
	}
	if resp.Authenticator != ([16]byte{}) && resp.Authenticator != AuthenticatorServer(resp.Status, req.Authenticator, c.cfg.Secret) {
		return fail(ErrBadAuth)
	}
	if stop() {
		_ = conn.SetDeadline(time.Time{})
	}
	return cnsms.NewSession(conn, br, cnsms.SessionConfig{
		Dialect:        dialect,
		Window:         c.cfg.Window,
		RequestTimeout: c.cfg.RequestTimeout,
		ActiveTest:     c.cfg.ActiveTest,
		Handler:        c.handle,
		HandlerWorkers: c.cfg.HandlerWorkers,
		InboundQueue:   c.cfg.InboundQueue,
		FirstSeq:       2,
		OnLate:         c.onLate(),
		LateTTL:        c.cfg.LateTTL,
		LateMax:        c.cfg.LateMax,
		Logger:         c.log,
		Metrics:        c.metrics,
	}), nil
}

func (c *Client) onLate() func(any, cnsms.Frame) {
	return c.lates.Hook(CmdSubmitResp, func(f cnsms.Frame, t cnsms.LateTag) (Late, bool) {
		r, err := DecodeSubmitResp(f.Body)
		if err != nil {
			return Late{}, false
		}
		return Late{Ref: t.Ref, Part: t.Part, Parts: t.Parts, MsgID: r.MsgID, ID: r.MsgID.String(), Status: r.Status}, true
	})
}

// Send encodes m, splits it and submits the parts, pipelined, under the
// TPS limit. Long messages carry TP_udhi, PkTotal and PkNumber TLVs and a
// 6-octet UDH. It returns when every part has an outcome.
func (c *Client) Send(ctx context.Context, m Message) (Result, error) {
	if c.cfg.LoginMode == ModeReceive {
		return Result{}, fmt.Errorf("%w: receive-only login", ErrInvalidMessage)
	}
	if m.Dest == "" || len(m.Dest) > 21 {
		return Result{}, fmt.Errorf("%w: destination %q", ErrInvalidMessage, cnsms.MaskNumber(m.Dest))
	}
	src := c.cfg.SrcTermID + m.Ext
	if len(src) > 21 {
		return Result{}, fmt.Errorf("%w: SrcTermID %d characters (max 21)", ErrInvalidMessage, len(src))
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
		MsgType: MsgTypeMT, Priority: m.Priority, ServiceID: c.cfg.ServiceID, FeeType: c.cfg.FeeType,
		FeeCode: c.cfg.FeeCode, FixedFee: c.cfg.FixedFee, MsgFormat: plan.MsgFmt, SrcTermID: src,
		ChargeTermID: c.cfg.ChargeTermID, Dest: []string{m.Dest},
	}
	if !c.cfg.NoReports {
		base.NeedReport = 1
	}
	if m.Validity > 0 {
		base.ValidTime = relativeTime(m.Validity)
	}
	var common TLVs
	if c.cfg.LinkID != "" {
		common = append(common, TLV{Tag: TagLinkID, Value: []byte(c.cfg.LinkID)})
	}
	if c.cfg.MsgSrc != "" {
		common = append(common, TLV{Tag: TagMsgSrc, Value: []byte(c.cfg.MsgSrc)})
	}
	cnsms.SubmitAll(m.Resume.Want(n), func(i int) {
		sm := base
		sm.Content = plan.Parts[i]
		sm.TLVs = common
		if plan.UDHI {
			sm.TLVs = append(append(TLVs(nil), common...),
				TLV{Tag: TagTPUdhi, Value: []byte{1}},
				TLV{Tag: TagPkTotal, Value: []byte{byte(n)}},
				TLV{Tag: TagPkNumber, Value: []byte{byte(i + 1)}})
		}
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
	o := cnsms.SubmitPart(ctx, &c.submitter, &cnsms.Submission[*SubmitResp]{
		Cmd: CmdSubmit, Body: body, Invalid: ErrInvalidMessage,
		Decode: func(f cnsms.Frame) (*SubmitResp, uint32, error) {
			r, err := DecodeSubmitResp(f.Body)
			if err != nil {
				return nil, 0, err
			}
			return r, r.Status, nil
		},
		Refused:  StatusErr,
		Classify: Classify,
	})
	p := Part{Status: o.Status, Code: o.Code, Retryable: o.Retryable, Reason: o.Reason, Err: o.Err}
	if o.Status == PartAccepted {
		p.MsgID, p.ID = o.Resp.MsgID, o.Resp.MsgID.String()
	}
	return p
}

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
	Source    string // SrcTermID: the handset
	Dest      string // DestTermID: our number
	MsgFormat byte
	Text      string
	Data      []byte     // MsgContent, UDH removed
	UDH       coding.UDH // concatenation: Ref and Total of a reassembled message (Seq 0)
	RecvTime  string
	LinkID    string
	Parts     int  // parts joined in Data and Text: 1 for a single message
	Partial   bool // delivered without all its parts (MOTTL passed or evicted)
}

// Receipt is a status report.
type Receipt struct {
	MsgID      MsgID
	ID         string // MsgID.String(): matches Part.ID
	Stat       string
	Err        string
	Delivered  bool
	SubmitTime time.Time
	DoneTime   time.Time
	Dest       string // the handset (the report's SrcTermID)
}

// handle answers the SMGW's Delivers after the callback returns; a
// callback error answers status 1 ("system busy": try later) unless it
// is a *StatusError naming another.
func (c *Client) handle(ctx context.Context, f cnsms.Frame) ([]byte, bool) {
	if f.Cmd != CmdDeliver {
		c.log.Warn("unexpected request", "cmd", CommandName(f.Cmd))
		return nil, true
	}
	d, err := DecodeDeliver(f.Body)
	if err != nil {
		c.log.Warn("malformed Deliver", "err", err)
		var id MsgID
		copy(id[:], f.Body)
		return AppendDeliverResp(nil, &DeliverResp{MsgID: id, Status: StatusBadStructure}), false
	}
	var status uint32
	if d.IsReport == 1 {
		status = c.receipt(ctx, d)
	} else {
		status = c.mo(ctx, d)
	}
	return AppendDeliverResp(make([]byte, 0, 14), &DeliverResp{MsgID: d.MsgID, Status: status}), false
}

func statusOf(err error) uint32 {
	if err == nil {
		return StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) && se.Code != 0 {
		return se.Code
	}
	return StatusSystemBusy
}

func (c *Client) receipt(ctx context.Context, d *Deliver) uint32 {
	rp, err := DecodeReport(d.Content)
	if err != nil {
		c.metrics.Receipt("unparsed")
		c.log.Warn("unparsed status report", "err", err)
		return StatusOK
	}
	r := Receipt{MsgID: rp.MsgID, ID: rp.MsgID.String(), Stat: rp.Stat, Err: rp.Err, Delivered: rp.Stat == "DELIVRD", Dest: d.SrcTermID}
	r.SubmitTime, _ = time.ParseInLocation("0601021504", rp.SubmitDate, CST)
	r.DoneTime, _ = time.ParseInLocation("0601021504", rp.DoneDate, CST)
	c.metrics.Receipt(statLabel(r.Stat))
	if c.cfg.OnReceipt == nil {
		return StatusOK
	}
	return statusOf(c.cfg.OnReceipt(ctx, r))
}

func (c *Client) mo(ctx context.Context, d *Deliver) uint32 {
	if c.cfg.OnMessage == nil {
		return StatusOK
	}
	in := Incoming{MsgID: d.MsgID, Source: d.SrcTermID, Dest: d.DestTermID, MsgFormat: d.MsgFormat, RecvTime: d.RecvTime}
	if v, ok := d.TLVs.Get(TagLinkID); ok {
		in.LinkID = strings.TrimRight(string(v), "\x00")
	}
	data := d.Content
	if d.TLVs.Byte(TagTPUdhi) != 0 {
		h, rest, err := coding.SplitUDH(d.Content)
		if err != nil {
			c.log.Warn("MO with bad UDH", "from", cnsms.MaskNumber(d.SrcTermID), "err", err)
			return StatusBadStructure
		}
		in.UDH, data = h, rest
	}
	return statusOf(c.joiner.Deliver(ctx, cnsms.MOKey{Src: d.SrcTermID, Dest: d.DestTermID}, in.UDH, data, in))
}

func statLabel(s string) string {
	switch s {
	case "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD":
		return s
	}
	return "other"
}
