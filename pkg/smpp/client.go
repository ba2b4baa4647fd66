package smpp

import (
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

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// Client defaults.
const (
	DefaultBinds           = 1
	DefaultConnectTimeout  = 10 * time.Second
	DefaultMinReconnect    = 500 * time.Millisecond
	DefaultMaxReconnect    = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultThrottleRetries = 3
	DefaultThrottleBackoff = 200 * time.Millisecond
	DefaultDestPrefix      = "86"
)

// Concat is how a message longer than one part is sent.
type Concat string

// Concatenation modes.
const (
	// ConcatUDH sends parts with a 6-byte concatenation user data header
	// (esm_class UDHI): what handsets receive, the usual choice.
	ConcatUDH Concat = "udh"
	// ConcatSAR sends the same parts without a header, numbered in the
	// sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs;
	// the SMSC builds the header.
	ConcatSAR Concat = "sar"
	// ConcatPayload sends the whole text in one submit_sm's
	// message_payload TLV and lets the SMSC split it: one message id.
	ConcatPayload Concat = "payload"
	DefaultConcat        = ConcatUDH
)

// Config configures a Client: the binds to one carrier's SMSC.
type Config struct {
	Name string // carrier name, the metrics label and log attribute (bounded set: from config)
	Addr string // host:port of the SMSC

	SystemID     string
	Password     string
	SystemType   string
	AddressRange string
	Mode         BindMode // default transceiver

	Binds          int           // binds in Mode kept up in parallel
	ReceiverBinds  int           // extra binds in receiver mode (for SMSCs that send receipts only there)
	Window         int           // per bind: requests awaiting a response
	TPS            float64       // submit_sm per second over all binds; 0: no limit
	Burst          int           // token bucket depth; default max(1, TPS/10)
	RequestTimeout time.Duration // per response
	EnquireLink    time.Duration // keep-alive interval; negative disables
	ConnectTimeout time.Duration // connect plus bind
	ReconnectMin   time.Duration // first backoff after a failed bind or a lost session
	ReconnectMax   time.Duration // backoff ceiling
	// ShutdownTimeout bounds the graceful unbind when Run's ctx ends.
	ShutdownTimeout time.Duration

	// ThrottleRetries is how often a part refused with ESME_RTHROTTLED or
	// ESME_RMSGQFUL is tried again inside Send (so that a long message is
	// not left half-sent by a burst limit), waiting ThrottleBackoff × try.
	// Negative: never.
	ThrottleRetries int
	ThrottleBackoff time.Duration
	// Throttle answers also slow the whole account (throttle.go): every
	// bind pauses, ThrottleBackoff doubling per consecutive episode up to
	// ThrottleMaxPause (default 5s), and the effective TPS halves, coming
	// back by a tenth of TPS per ThrottleRecover (default 2s) without a
	// new episode.
	ThrottleMaxPause time.Duration
	ThrottleRecover  time.Duration

	Source     string // source address when Message.Source is empty, e.g. "12123"
	SourceTON  byte   // source_addr TON; 0 (unknown) unless the carrier asks otherwise
	SourceNPI  byte   // source_addr NPI
	DestTON    byte   // default international
	DestNPI    byte   // default ISDN
	DestPrefix string // prepended to 11-digit national mobile numbers when DestTON is international; default "86"
	// NoDestDefaults keeps DestTON, DestNPI and DestPrefix as given even
	// when zero.
	NoDestDefaults bool

	Concat Concat // how long messages are sent; default udh

	ServiceType        string
	RegisteredDelivery byte // default RegisteredDeliveryAlways; see NoReceipts
	NoReceipts         bool // ask for no receipts (registered_delivery 0)

	// OnReceipt gets each delivery receipt. An error makes the session
	// answer with its status (StatusOf; a plain error becomes
	// ESME_RX_T_APPN, so the SMSC delivers the receipt again later).
	OnReceipt func(ctx context.Context, r Receipt) error
	// OnMessage gets mobile-originated messages (deliver_sm and data_sm
	// that are not receipts).
	OnMessage func(ctx context.Context, m Incoming) error
	// MOTTL and MOMaxPending bound the reassembly of multi-part MO
	// messages (reassembly.go): defaults 10 min and 1024 messages.
	MOTTL        time.Duration
	MOMaxPending int
	// OnLate gets the submit_sm_resp of a part that Send had reported
	// with an unknown outcome (timeout, or ctx ended after writing),
	// on its own goroutine (late.go). Timed-out submits are kept for
	// LateTTL (default 10 min), at most LateMax (default 4096) per bind.
	OnLate  func(ctx context.Context, l Late)
	LateTTL time.Duration
	LateMax int

	HandlerWorkers int // per bind
	InboundQueue   int // per bind

	// Dial opens the TCP connection; default net.Dialer.DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	Logger  *slog.Logger
	Metrics *Metrics
}

// Validate reports configuration errors.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is required"))
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %w", err))
	}
	if len(c.SystemID) > 15 {
		errs = append(errs, errors.New("system_id: at most 15 characters"))
	}
	if len(c.Password) > 8 {
		errs = append(errs, errors.New("password: at most 8 characters"))
	}
	if len(c.SystemType) > 12 {
		errs = append(errs, errors.New("system_type: at most 12 characters"))
	}
	if _, err := c.Mode.command(); err != nil {
		errs = append(errs, err)
	}
	switch c.Concat {
	case "", ConcatUDH, ConcatSAR, ConcatPayload:
	default:
		errs = append(errs, fmt.Errorf("concat %q: want udh, sar or payload", string(c.Concat)))
	}
	if c.TPS < 0 || c.Binds < 0 || c.ReceiverBinds < 0 || c.Window < 0 || c.Burst < 0 {
		errs = append(errs, errors.New("tps, binds, receiver_binds, window and burst must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("smpp: config %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = DefaultBindMode
	}
	if c.Concat == "" {
		c.Concat = DefaultConcat
	}
	if c.Binds == 0 {
		c.Binds = DefaultBinds
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = DefaultMinReconnect
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(DefaultMaxReconnect, c.ReconnectMin)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ThrottleRetries == 0 {
		c.ThrottleRetries = DefaultThrottleRetries
	}
	if c.ThrottleBackoff <= 0 {
		c.ThrottleBackoff = DefaultThrottleBackoff
	}
	if !c.NoDestDefaults {
		if c.DestTON == 0 {
			c.DestTON = TONInternational
		}
		if c.DestNPI == 0 {
			c.DestNPI = NPIISDN
		}
		if c.DestPrefix == "" && c.DestTON == TONInternational {
			c.DestPrefix = DefaultDestPrefix
		}
	}
	if c.RegisteredDelivery == 0 && !c.NoReceipts {
		c.RegisteredDelivery = RegisteredDeliveryAlways
	}
	if c.NoReceipts {
		c.RegisteredDelivery = RegisteredDeliveryNone
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Message is one SMS to send.
type Message struct {
	Source   string          // source address, e.g. "12123" or "12123" + extension
	Dest     string          // recipient: 11-digit national mobile number, or already international
	Text     string          // full text, signature included
	Encoding coding.Encoding // Auto (default): GSM7 if it fits, else UCS2
	// Validity, when positive, becomes a relative validity_period: the
	// SMSC gives up after it.
	Validity time.Duration
	Priority byte
	// Ref is the caller's reference for the message (e.g. the ledger's
	// message id), opaque here, returned in Late.
	Ref string
	// Resume, when set, sends only some parts under an earlier Send's
	// concatenation reference.
	Resume *Resume
}

// Resume sends the remaining parts of a long message an earlier Send
// only partly delivered: the same concatenation reference, the same part
// numbers.
type Resume struct {
	Ref   uint16 // Result.Ref of the earlier Send
	Parts []int  // 1-based part numbers to send; nil, or none that exists: all
}

// Result is what the SMSC said about a message.
type Result struct {
	IDs      []string        // the SMSC message id of each submit_sm, in part order; "" when not accepted
	Encoding coding.Encoding // the encoding used
	Parts    int             // submit_sm of the message: the parts, or 1 with ConcatPayload
	Ref      uint16          // concatenation reference (UDH uses its low byte); pass it back in Resume
	Outcomes []PartResult    // one per part, in part order
}

// PartOutcome is what became of one part.
type PartOutcome string

// Part outcomes.
const (
	PartAccepted PartOutcome = "accepted" // the SMSC accepted it: ID is set
	PartRefused  PartOutcome = "refused"  // the SMSC refused it: Status, Retry say how
	PartUnknown  PartOutcome = "unknown"  // written, no usable response: the SMSC may have it (Late may tell)
	PartNotSent  PartOutcome = "not_sent" // never written (no bind, deadline, an earlier part stopped the rest)
	PartSkipped  PartOutcome = "skipped"  // not asked for (Resume)
)

// PartResult is the outcome of one part.
type PartResult struct {
	Outcome PartOutcome
	ID      string // PartAccepted
	Status  Status // PartRefused
	Reason  Reason // why not accepted
	Retry   bool   // sending it again later may succeed
	Err     error
}

// SendError is a message some or all of whose parts were not accepted;
// Result.Outcomes says what became of each.
type SendError struct {
	Result Result
	Failed int   // parts not accepted (skipped ones aside)
	Err    error // the first such part's error
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "smpp: %d of %d parts not accepted", e.Failed, e.Result.Parts)
	for i, o := range e.Result.Outcomes {
		if o.Outcome != PartAccepted && o.Outcome != PartSkipped {
			fmt.Fprintf(&b, "; part %d %s (%s)", i+1, o.Outcome, o.Reason)
		}
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Accepted counts the parts accepted.
func (r Result) Accepted() int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Outcome == PartAccepted {
			n++
		}
	}
	return n
}

// Unwrap returns the first part's error.
func (e *SendError) Unwrap() error { return e.Err }

// Incoming is a mobile-originated message.
type Incoming struct {
	Source     Address // the handset
	Dest       Address // our address it was sent to
	Text       string  // decoded text ("" if the data_coding is not text)
	DataCoding byte
	Data       []byte     // short_message or message_payload, header stripped
	UDH        coding.UDH // concatenation: Ref and Total of a reassembled message (Seq 0)
	Parts      int        // parts joined in Data and Text: 1 for a single message
	// Partial marks a multi-part message delivered without all its parts
	// (MOTTL passed or evicted); UDH.Total says how many there were.
	Partial bool
}

// Client keeps Config.Binds sessions to one SMSC bound and sends messages
// over them. Run owns its goroutines; Send may be called from any
// goroutine while Run runs.
type Client struct {
	cfg      Config
	log      *slog.Logger
	metrics  *carrierMetrics
	throttle *throttle     // shared pause and adaptive TPS (throttle.go)
	reasm    *reassembler  // multi-part MO (reassembly.go)
	lates    chan Late     // late submit_sm_resp for OnLate (late.go)
	ref      atomic.Uint32 // concatenation reference

	mu      sync.Mutex
	binds   []*Session // up sessions
	changed chan struct{}
	next    int
	running bool
	stopped bool
}

// NewClient checks the configuration and returns a Client. Nothing
// connects until Run.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "smpp", "carrier", cfg.Name),
		metrics: forCarrier(cfg.Metrics, cfg.Name),
		changed: make(chan struct{}),
	}
	c.throttle = newThrottle(&c.cfg, c.metrics)
	c.reasm = newReassembler(&c.cfg, c.metrics)
	c.lates = make(chan Late, 1024)
	c.ref.Store(rand.Uint32())
	return c, nil
}

// Name is the carrier name.
func (c *Client) Name() string { return c.cfg.Name }

// BindsUp is the number of sessions bound now.
func (c *Client) BindsUp() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.binds)
}

// WaitReady waits until at least one bind is up.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		c.mu.Lock()
		n, ch, stopped := len(c.binds), c.changed, c.stopped
		c.mu.Unlock()
		if n > 0 {
			return nil
		}
		if stopped {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run keeps the binds up until ctx ends, then unbinds them (bounded by
// ShutdownTimeout) and returns nil. It may be called once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running || c.stopped {
		c.mu.Unlock()
		return errors.New("smpp: Client.Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	// Late responses and partial MO outlive the binds that carried them.
	bgctx, bgcancel := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	if c.cfg.OnLate != nil {
		bg.Go(func() { c.lateLoop(bgctx) })
	}
	bg.Go(func() { c.sweepMO(bgctx) })
	defer func() { bgcancel(); bg.Wait() }()
	var wg sync.WaitGroup
	for i := range c.cfg.Binds {
		wg.Go(func() { c.keepBound(ctx, i, c.cfg.Mode) })
	}
	for i := range c.cfg.ReceiverBinds {
		wg.Go(func() { c.keepBound(ctx, c.cfg.Binds+i, ModeReceiver) })
	}
	wg.Wait()
	c.mu.Lock()
	c.stopped = true
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) keepBound(ctx context.Context, slot int, mode BindMode) {
	log := c.log.With("bind", slot, "mode", mode)
	backoff := c.cfg.ReconnectMin
	for ctx.Err() == nil {
		s, err := c.bind(ctx, mode)
		c.metrics.bindAttempt(err == nil)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("bind failed", "err", err, "retry_in", backoff)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, c.cfg.ReconnectMax)
			continue
		}
		log.Info("bound", "peer", s.PeerSystemID())
		backoff = c.cfg.ReconnectMin
		c.metrics.bindsUp(1)
		c.add(s)
		select {
		case <-s.Done():
			c.remove(s)
			s.Close()
			log.Warn("bind lost", "err", s.Err())
			c.metrics.bindsUp(-1)
			if !sleep(ctx, jitter(backoff)) {
				return
			}
		case <-ctx.Done():
			c.remove(s)
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
			if err := s.Unbind(uctx); err != nil {
				log.Warn("unbind", "err", err)
			}
			cancel()
			c.metrics.bindsUp(-1)
			return
		}
	}
}

func (c *Client) bind(ctx context.Context, mode BindMode) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smpp: dial: %w", err)
	}
	return Open(ctx, conn, SessionConfig{
		Bind: Bind{
			SystemID: c.cfg.SystemID, Password: c.cfg.Password, SystemType: c.cfg.SystemType,
			AddressRange: c.cfg.AddressRange,
		},
		Mode:           mode,
		Window:         c.cfg.Window,
		RequestTimeout: c.cfg.RequestTimeout,
		EnquireLink:    c.cfg.EnquireLink,
		Handler:        HandlerFunc(c.handle),
		HandlerWorkers: c.cfg.HandlerWorkers,
		InboundQueue:   c.cfg.InboundQueue,
		Logger:         c.cfg.Logger,
		Metrics:        c.cfg.Metrics,
		Name:           c.cfg.Name,
		OnLate:         c.onLateHook(),
		LateTTL:        c.cfg.LateTTL,
		LateMax:        c.cfg.LateMax,
	})
}

func (c *Client) add(s *Session) {
	c.mu.Lock()
	c.binds = append(c.binds, s)
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Client) remove(s *Session) {
	c.mu.Lock()
	for i, b := range c.binds {
		if b == s {
			c.binds = append(c.binds[:i], c.binds[i+1:]...)
			break
		}
	}
	c.notifyLocked()
	c.mu.Unlock()
}

// pick returns the up session with the fewest requests in flight
// (round-robin among equals), waiting for one to come up.
func (c *Client) pick(ctx context.Context) (*Session, error) {
	for {
		c.mu.Lock()
		var best *Session
		n := len(c.binds)
		for i := range n {
			s := c.binds[(c.next+i)%n]
			if s.Mode() == ModeReceiver || s.Err() != nil || s.Closing() {
				continue
			}
			if best == nil || s.InFlight() < best.InFlight() {
				best = s
			}
		}
		if n > 0 {
			c.next = (c.next + 1) % n
		}
		ch, stopped := c.changed, c.stopped
		c.mu.Unlock()
		if best != nil {
			return best, nil
		}
		if stopped {
			return nil, ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotBound, ctx.Err())
		}
	}
}

// Dest formats a recipient for destination_addr.
func (c *Client) dest(n string) string {
	if c.cfg.DestPrefix != "" && len(n) == 11 && n[0] == '1' {
		return c.cfg.DestPrefix + n
	}
	return n
}

// Send encodes m, splits it into parts and submits them in order over
// one bind, each under the TPS limit; a part refused with "not now"
// (throttled, queue full) is tried again after the pause without
// abandoning the others. It returns when every part has its outcome
// (Result.Outcomes). ctx bounds waiting for a bind, for the rate limiter
// and the window: a part not yet written when it ends is reported not
// sent, never as a bind failure. The response to a part written is
// awaited for the request timeout whatever ctx does.
//
// With m.Resume set only the named parts are sent, under the given
// concatenation reference: the handset joins them with the parts an
// earlier Send delivered.
func (c *Client) Send(ctx context.Context, m Message) (Result, error) {
	if c.cfg.Mode == ModeReceiver {
		return Result{}, ErrWrongBindMode
	}
	if m.Dest == "" || strings.IndexByte(m.Dest, 0) >= 0 {
		return Result{}, fmt.Errorf("%w: empty destination", ErrInvalidMessage)
	}
	if m.Source == "" {
		m.Source = c.cfg.Source
	}
	var ref uint32
	if m.Resume != nil {
		ref = uint32(m.Resume.Ref)
	} else {
		ref = c.ref.Add(1)
	}
	plan, err := coding.Split(m.Text, m.Encoding, byte(ref))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	var tlvs []TLVs // per part
	switch {
	case !plan.UDHI():
	case c.cfg.Concat == ConcatPayload:
		// One submit_sm; message_payload carries the whole text.
		var whole []byte
		if plan.Encoding == coding.GSM7 {
			whole, _ = coding.EncodeGSM7(m.Text)
		} else {
			whole = coding.EncodeUCS2(m.Text)
		}
		if len(whole) > 0xFFFF {
			return Result{}, fmt.Errorf("%w: %d octets for message_payload", ErrInvalidMessage, len(whole))
		}
		plan.Parts = [][]byte{nil}
		tlvs = []TLVs{{{Tag: TagMessagePayload, Value: whole}}}
	case c.cfg.Concat == ConcatSAR:
		sarRef := Uint16Value(uint16(ref))
		total := byte(len(plan.Parts))
		tlvs = make([]TLVs, len(plan.Parts))
		for i, part := range plan.Parts {
			plan.Parts[i] = part[1+int(part[0]):] // drop the UDH Split put there
			tlvs[i] = TLVs{
				{Tag: TagSARMsgRefNum, Value: sarRef},
				{Tag: TagSARTotalSegments, Value: []byte{total}},
				{Tag: TagSARSegmentSeqnum, Value: []byte{byte(i + 1)}},
			}
		}
	}
	udhi := plan.UDHI() && c.cfg.Concat == ConcatUDH
	n := len(plan.Parts)
	res := Result{Encoding: plan.Encoding, Parts: n, IDs: make([]string, n), Outcomes: make([]PartResult, n), Ref: uint16(ref)}
	want := make([]bool, n)
	if m.Resume == nil || m.Resume.Parts == nil {
		for i := range want {
			want[i] = true
		}
	} else {
		some := false
		for _, p := range m.Resume.Parts {
			if p < 1 || p > n {
				continue // split differently now (payload mode): see below
			}
			want[p-1], some = true, true
		}
		for i := range want {
			if !some {
				want[i] = true // none of the parts named exists: send it all
			} else if !want[i] {
				res.Outcomes[i].Outcome = PartSkipped
			}
		}
	}
	base := SM{
		ServiceType:        c.cfg.ServiceType,
		Source:             Address{TON: c.cfg.SourceTON, NPI: c.cfg.SourceNPI, Addr: m.Source},
		Dest:               Address{TON: c.cfg.DestTON, NPI: c.cfg.DestNPI, Addr: c.dest(m.Dest)},
		PriorityFlag:       m.Priority,
		RegisteredDelivery: c.cfg.RegisteredDelivery,
		DataCoding:         plan.DataCoding,
	}
	if udhi {
		base.ESMClass |= ESMClassUDHI
	}
	if m.Validity > 0 {
		base.ValidityPeriod = RelativeTime(m.Validity)
	}
	// One bind for every part, written in order and pipelined (the
	// window permitting): a message is on the wire for one round trip,
	// not one per part, so a crash rarely falls between its parts. Then
	// the responses are read in order; parts refused with "not now" are
	// tried again after their backoff.
	type inflight struct {
		i     int
		sm    SM
		ctx   context.Context
		s     *Session
		call  *call
		start time.Time
	}
	var s *Session
	var sent []*inflight
	stop := error(nil) // set: the remaining parts are not sent
	for i, part := range plan.Parts {
		if !want[i] {
			continue
		}
		if stop != nil {
			res.Outcomes[i] = PartResult{Outcome: PartNotSent, Err: stop, Reason: ReasonCanceled, Retry: true}
			continue
		}
		f := &inflight{i: i, sm: base, ctx: ctx}
		f.sm.ShortMessage = part
		if tlvs != nil {
			f.sm.TLVs = tlvs[i]
		}
		if c.cfg.OnLate != nil {
			f.ctx = withLateTag(ctx, lateTag{ref: m.Ref, part: i + 1, parts: n})
		}
		var pr PartResult
		for moves := 0; ; moves++ {
			if s == nil || s.Err() != nil || s.Closing() {
				if s, err = c.pick(ctx); err != nil {
					c.metrics.submit(string(ReasonNoBind), -1)
					reason := ReasonNoBind
					if ctx.Err() != nil {
						reason = ReasonCanceled
					}
					pr = PartResult{Outcome: PartNotSent, Err: err, Reason: reason, Retry: true}
					break
				}
			}
			f.s = s
			f.call, f.start, pr = c.writePart(f.ctx, s, &f.sm)
			// The bind went away before this part was written: the
			// next bind takes it (and the rest), a few times at most.
			if f.call != nil || ctx.Err() != nil || s.Err() == nil && !s.Closing() || moves >= max(c.cfg.ThrottleRetries, 1) {
				break
			}
		}
		if f.call == nil {
			res.Outcomes[i] = pr
			stop = pr.Err
			continue
		}
		sent = append(sent, f)
	}
	for _, f := range sent {
		// A written part's response is awaited for RequestTimeout even
		// when ctx ends meanwhile (ctx bounds our own waits): giving up
		// on it early would make an accepted part unknown.
		pr, again := c.readPart(context.WithoutCancel(f.ctx), f.s, f.call, f.start)
		if again && c.cfg.ThrottleRetries > 0 {
			pr = c.retryPart(f.ctx, f.s, &f.sm, 1)
		}
		res.Outcomes[f.i] = pr
		res.IDs[f.i] = pr.ID
	}
	var first error
	failed := 0
	for _, o := range res.Outcomes {
		if o.Outcome != PartAccepted && o.Outcome != PartSkipped {
			failed++
			if first == nil {
				first = o.Err
			}
		}
	}
	if failed > 0 {
		return res, &SendError{Result: res, Failed: failed, Err: first}
	}
	return res, nil
}

// writePart waits for the account's rate and pause, then writes one
// part on s. Without a call nothing was written (pr says why).
func (c *Client) writePart(ctx context.Context, s *Session, sm *SM) (*call, time.Time, PartResult) {
	if err := c.throttle.wait(ctx); err != nil {
		// Our own wait: nothing was written.
		c.metrics.submit(string(ReasonCanceled), -1)
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err) // rate: Wait would exceed the deadline
		}
		return nil, time.Time{}, PartResult{Outcome: PartNotSent, Err: &RequestError{Command: SubmitSM, Err: err}, Reason: ReasonCanceled, Retry: true}
	}
	start := time.Now()
	cl, err := s.start(ctx, SubmitSM, sm, true)
	if err != nil {
		_, reason := Classify(err)
		c.metrics.submit(string(reason), -1)
		if ctx.Err() != nil {
			reason = ReasonCanceled
		}
		return nil, start, PartResult{Outcome: PartNotSent, Err: err, Reason: reason, Retry: true}
	}
	return cl, start, PartResult{}
}

// readPart waits for the response of a written part. again reports a
// refusal that says "not now" (throttled, queue full).
func (c *Client) readPart(ctx context.Context, s *Session, cl *call, start time.Time) (pr PartResult, again bool) {
	resp, err := s.wait(ctx, cl)
	var id string
	if err == nil {
		if id = resp.MessageID(); id == "" {
			// Accepted, but under no id we could read: receipts will not
			// match, so the outcome is as unknown as after a timeout.
			err = &RequestError{Command: SubmitSM, Sent: true, Err: fmt.Errorf("%w: submit_sm_resp without message_id", ErrMalformed)}
		}
	}
	if err == nil {
		c.metrics.submit(string(ReasonOK), time.Since(start).Seconds())
		c.throttle.accepted(start)
		return PartResult{Outcome: PartAccepted, ID: id}, false
	}
	retry, reason := Classify(err)
	c.metrics.submit(string(reason), -1)
	var re *RequestError
	if errors.As(err, &re) && re.Sent || reason == ReasonTimeout || reason == ReasonUnknown {
		return PartResult{Outcome: PartUnknown, Err: err, Reason: reason, Retry: retry}, false
	}
	var se *StatusError
	if !errors.As(err, &se) {
		return PartResult{Outcome: PartNotSent, Err: err, Reason: reason, Retry: true}, false
	}
	throttled := reason == ReasonThrottled || reason == ReasonQueueFull
	if throttled {
		// The account may slow down (throttle.wait then holds every
		// bind); the part's own retry backs off in any case.
		c.throttle.throttled(start)
	}
	return PartResult{Outcome: PartRefused, Err: err, Status: se.Status, Reason: reason, Retry: retry}, throttled
}

// retryPart submits a part refused with "not now" again, one at a time,
// after ThrottleBackoff × try, up to ThrottleRetries tries.
func (c *Client) retryPart(ctx context.Context, s *Session, sm *SM, tries int) PartResult {
	for {
		if !sleep(ctx, c.cfg.ThrottleBackoff*time.Duration(tries)) {
			return PartResult{Outcome: PartNotSent, Err: &RequestError{Command: SubmitSM, Err: ctx.Err()}, Reason: ReasonCanceled, Retry: true}
		}
		if s.Err() != nil || s.Closing() {
			ns, err := c.pick(ctx)
			if err != nil {
				return PartResult{Outcome: PartNotSent, Err: err, Reason: ReasonNoBind, Retry: true}
			}
			s = ns
		}
		cl, start, pr := c.writePart(ctx, s, sm)
		if cl == nil {
			return pr
		}
		pr, again := c.readPart(context.WithoutCancel(ctx), s, cl, start)
		if !again || tries >= c.cfg.ThrottleRetries {
			return pr
		}
		tries++
	}
}

// handle is every bind's Handler: receipts to OnReceipt, the rest to
// OnMessage.
func (c *Client) handle(ctx context.Context, p *PDU) error {
	var sm *SM
	switch b := p.Body.(type) {
	case *SM:
		sm = b
	case *DataSMBody:
		payload, _ := b.TLVs.Get(TagMessagePayload)
		sm = &SM{ServiceType: b.ServiceType, Source: b.Source, Dest: b.Dest, ESMClass: b.ESMClass,
			DataCoding: b.DataCoding, ShortMessage: payload, TLVs: b.TLVs}
	default:
		return nil // alert_notification: nothing to do
	}
	if sm.ESMClass&ESMClassTypeMsk == ESMClassReceipt {
		r, err := ParseReceipt(sm)
		if err != nil {
			c.metrics.receipt("unparsed")
			c.log.Warn("unparsed receipt", "seq", p.Seq, "err", err)
			return nil // acked: sending it again will not make it parse
		}
		c.metrics.receipt(r.Stat)
		if c.cfg.OnReceipt == nil {
			return nil
		}
		return appErr(c.cfg.OnReceipt(ctx, r))
	}
	if c.cfg.OnMessage == nil {
		return nil
	}
	in := Incoming{Source: sm.Source, Dest: sm.Dest, DataCoding: sm.DataCoding, Data: sm.ShortMessage}
	if len(in.Data) == 0 {
		in.Data, _ = sm.TLVs.Get(TagMessagePayload)
	}
	if sm.ESMClass&ESMClassUDHI != 0 {
		h, rest, err := coding.SplitUDH(in.Data)
		if err != nil {
			c.log.Warn("MO with bad UDH", "from", MaskNumber(sm.Source.Addr), "err", err)
			return ErrRejectAppError
		}
		in.UDH, in.Data = h, rest
	}
	in.Text, _ = coding.Decode(sm.DataCoding, in.Data)
	return c.deliverMO(ctx, sm, in) // reassembly.go
}

// appErr turns a handler error into one that answers ESME_RX_T_APPN
// unless it already names a status.
func appErr(err error) error {
	if err == nil {
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTempAppError, err)
}

// RelativeTime formats d as an SMPP relative time ("YYMMDDhhmmss000R").
func RelativeTime(d time.Duration) string {
	secs := int64(d / time.Second)
	days := secs / 86400
	secs %= 86400
	years := days / 365
	days %= 365
	months := days / 30
	days %= 30
	if years > 99 {
		years = 99
	}
	return fmt.Sprintf("%02d%02d%02d%02d%02d%02d000R", years, months, days, secs/3600, secs%3600/60, secs%60)
}

// MaskNumber keeps the first 3 and last 4 digits of a phone number for
// logs: "13812345678" → "138****5678". Short strings are masked whole.
func MaskNumber(n string) string {
	if len(n) < 8 {
		return strings.Repeat("*", len(n))
	}
	return n[:3] + strings.Repeat("*", len(n)-7) + n[len(n)-4:]
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
