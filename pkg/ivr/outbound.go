package ivr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/traffic12123/gateway/pkg/ivr/dtmf"
)

// DiallerConfig configures outbound calls through a SIP trunk.
type DiallerConfig struct {
	// Trunk is the trunk's address: "host:port" or a SIP URI
	// ("sip:10.0.0.5:5060;transport=tcp"). Calls go to sip:<phone>@Trunk.
	Trunk string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Bind is the local SIP address ("0.0.0.0:5070"; port 0 picks one).
	Bind string
	// ExternalHost is put in Contact and SDP when it differs from Bind.
	ExternalHost string
	// Username and Password answer the trunk's digest challenge (401/407)
	// on INVITE; empty: no authentication.
	Username, Password string
	// CallerID is the From user (12123).
	CallerID string
	// MaxConcurrent bounds calls in progress; Call waits for a slot.
	MaxConcurrent int
	// CallsPerSecond bounds new INVITEs (burst 1); Call waits for a token.
	CallsPerSecond float64
	// Hours is when calls may be placed (zero value: any time), in Location.
	Hours Hours
	// Location is the zone of Hours (Asia/Shanghai).
	Location *time.Location
	// RingTimeout is how long the callee may ring before CANCEL (45 s).
	RingTimeout time.Duration
	// KeyTimeout is how long after the menu prompt a key is awaited (8 s).
	KeyTimeout time.Duration
	// MaxPlays is how often the notice may be played in one call, by
	// key 2 or when no key comes after the menu (3).
	MaxPlays int
	// MaxCallDuration hangs up an answered call that lasts longer (5 min).
	MaxCallDuration time.Duration
	// Pacers is the number of shared 20 ms media clocks (one per CPU).
	Pacers int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// UserAgent is the SIP User-Agent header.
	UserAgent string
}

// Dialler defaults.
const (
	DefaultCallerID        = "12123"
	DefaultMaxConcurrent   = 30
	DefaultCallsPerSecond  = 5
	DefaultRingTimeout     = 45 * time.Second
	DefaultKeyTimeout      = 8 * time.Second
	DefaultMaxPlays        = 3
	DefaultOutboundMaxCall = 5 * time.Minute
)

// Outcome is how an outbound call ended.
type Outcome string

// Outcomes.
const (
	Confirmed           Outcome = "confirmed"            // answered, notice played, 1 pressed
	AnsweredUnconfirmed Outcome = "answered_unconfirmed" // answered, no 1 (hung up, no key, plays used up)
	Busy                Outcome = "busy"                 // 486, 600
	NoAnswer            Outcome = "no_answer"            // rang out (CANCEL after RingTimeout), 408, 480, 487
	Failed              Outcome = "failed"               // any other final status, transport or media error
)

// Outcomes lists every outcome (for metrics and callers' switches).
var Outcomes = []Outcome{Confirmed, AnsweredUnconfirmed, Busy, NoAnswer, Failed}

// CallState is a step of an outbound call, reported to OnState.
type CallState string

// Call states in order; the last one reported is an outcome's state.
const (
	StateQueued      CallState = "queued"               // waiting for a slot, a rate token or allowed hours
	StateDialling    CallState = "dialling"             // the guard agreed; INVITE sent
	StateRinging     CallState = "ringing"              // 180/183 received
	StateAnswered    CallState = "answered"             // 200 OK, ACK sent; the notice is played
	StateConfirmed   CallState = "confirmed"            // outcome
	StateBusy        CallState = "busy"                 // outcome
	StateNoAnswer    CallState = "no_answer"            // outcome
	StateFailed      CallState = "failed"               // outcome (SIP status in Transition.SIPStatus)
	StateUnconfirmed CallState = "answered_unconfirmed" // outcome
)

// Transition is one state change of a call.
type Transition struct {
	NoticeID  string
	CallID    string // "" while queued
	State     CallState
	At        time.Time
	SIPStatus int // the final status for busy, no_answer and failed (0 when none)
}

// DialGuard is asked before every dial. The ledger implements it: it
// records durably that the notice is being called under callID and
// refuses (returns an error) when the notice already has a call in
// progress or done, so a crash and a redelivery never call a person twice
// for one notice. An error means nothing is dialled; Call returns it
// wrapped in ErrGuardRefused.
type DialGuard interface {
	BeforeDial(ctx context.Context, noticeID, callID string) error
}

// Result is the outcome of one outbound call.
type Result struct {
	NoticeID  string
	CallID    string // the INVITE's Call-ID (CDR call_id)
	Outcome   Outcome
	SIPStatus int    // final status of the INVITE: 200, 486, 487 ...; 0 when none came
	Reason    string // bounded: the cause (confirmed, remote_hangup, no_key, plays_used, ring_timeout, sip_<status>, transport, media, shutdown, max_duration)
	Plays     int    // times the notice was played
	Codec     string // PCMU or PCMA when answered
	Keys      string // keys taken during the call
	Queued    time.Time
	Dialled   time.Time // INVITE sent
	Ringing   time.Time // first 180/183 (zero when none)
	Answered  time.Time // 200 OK (zero when not answered)
	Ended     time.Time
	Setup     time.Duration // INVITE → final response
}

// Errors of Call (nothing was dialled).
var (
	ErrOutsideHours = errors.New("ivr: outside the allowed calling hours")
	ErrGuardRefused = errors.New("ivr: dial guard refused the call")
)

// OutsideHoursError carries when calling is next allowed.
type OutsideHoursError struct{ Next time.Time }

func (e *OutsideHoursError) Error() string {
	return fmt.Sprintf("ivr: outside the allowed calling hours (next %s)", e.Next.Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrOutsideHours) true.
func (e *OutsideHoursError) Unwrap() error { return ErrOutsideHours }

// DiallerOptions is everything NewDialler needs.
type DiallerOptions struct {
	DiallerConfig
	Library *Library
	Guard   DialGuard          // may be nil: every call is dialled
	OnState func(t Transition) // may be nil; called synchronously, keep it short
	CDR     CDRSink            // may be nil
	Synth   Synthesizer        // may be nil: free text becomes notice_see_sms
	Logger  *slog.Logger
	Metrics *OutboundMetrics
}

// Dialler places outbound notice calls. Create with NewDialler, start with
// Start, stop with Close.
type Dialler struct {
	cfg     DiallerConfig
	trunk   sip.Uri
	guard   DialGuard
	onState func(Transition)
	cdr     CDRSink
	log     *slog.Logger
	m       *OutboundMetrics
	slots   chan struct{}
	limit   *rate.Limiter
	media   *Server // the inbound side's playback, keys and TTS cache, never listening

	ua      *sipgo.UserAgent
	dg      *diago.Diago
	cancel  context.CancelFunc
	pacerWG sync.WaitGroup

	// stop ends queued, ringing and answered calls on Close.
	stop     context.Context
	stopCall context.CancelFunc

	mu     sync.Mutex
	calls  map[string]*call // by Call-ID, for SIP INFO keys
	wg     sync.WaitGroup
	closed bool
}

// Prompts the dialler plays (prompts.tsv).
var NoticePrompts = []string{"notice_intro", "notice_menu", "notice_confirmed", "notice_see_sms", "goodbye"}

// NewDialler checks the options and builds a dialler.
func NewDialler(o DiallerOptions) (*Dialler, error) {
	c := o.DiallerConfig
	if o.Library == nil {
		return nil, errors.New("ivr dialler: no prompt library")
	}
	var missing []string
	for _, p := range NoticePrompts {
		if !o.Library.HasPrompt(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrMissingAudio, strings.Join(missing, ", "))
	}
	trunk, err := ParseTrunk(c.Trunk)
	if err != nil {
		return nil, err
	}
	if t, ok := trunk.UriParams.Get("transport"); ok && c.Transport == "" {
		c.Transport = strings.ToLower(t)
	}
	if trunk.UriParams != nil {
		trunk.UriParams.Remove("transport")
	}
	if c.Transport == "" {
		c.Transport = "udp"
	}
	if c.Transport != "udp" && c.Transport != "tcp" {
		return nil, fmt.Errorf("ivr dialler: unknown transport %q", c.Transport)
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1:0"
	}
	if c.CallerID == "" {
		c.CallerID = DefaultCallerID
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.CallsPerSecond <= 0 {
		c.CallsPerSecond = DefaultCallsPerSecond
	}
	if c.RingTimeout <= 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	if c.KeyTimeout <= 0 {
		c.KeyTimeout = DefaultKeyTimeout
	}
	if c.MaxPlays <= 0 {
		c.MaxPlays = DefaultMaxPlays
	}
	if c.MaxCallDuration <= 0 {
		c.MaxCallDuration = DefaultOutboundMaxCall
	}
	if c.Pacers <= 0 {
		c.Pacers = runtime.GOMAXPROCS(0)
	}
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		c.Location = loc
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewOutboundMetrics(nil)
	}
	d := &Dialler{
		cfg: c, trunk: trunk, guard: o.Guard, onState: o.OnState, cdr: o.CDR, log: o.Logger, m: o.Metrics,
		slots: make(chan struct{}, c.MaxConcurrent),
		limit: rate.NewLimiter(rate.Limit(c.CallsPerSecond), 1),
		calls: map[string]*call{},
	}
	d.stop, d.stopCall = context.WithCancel(context.Background())
	// The playback and key machinery of the inbound calls, without its
	// listeners: clips, barge-in, silence, TTS cache, RFC 4733 decoding.
	im := NewMetrics(nil) // unregistered; the counters that matter are the dialler's
	im.MediaErrors, im.Panics = o.Metrics.MediaErrors, o.Metrics.Panics
	d.media = &Server{
		cfg: Config{Location: c.Location, Now: c.Now}, lib: o.Library, log: o.Logger,
		m: im, synth: o.Synth,
		tts: ttsCache{entries: map[string][2][]byte{}, sem: make(chan struct{}, ttsConcurrency)},
	}
	d.media.pacer = NewPacer(c.Pacers, func(late time.Duration) { d.m.PromptLateness.Observe(late.Seconds()) })
	return d, nil
}

// ParseTrunk reads "host:port" or a SIP URI.
func ParseTrunk(s string) (sip.Uri, error) {
	var u sip.Uri
	s = strings.TrimSpace(s)
	if s == "" {
		return u, errors.New("ivr dialler: no trunk address")
	}
	if !strings.HasPrefix(s, "sip:") {
		s = "sip:" + s
	}
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("ivr dialler: trunk %q: %w", s, err)
	}
	if u.Host == "" {
		return u, fmt.Errorf("ivr dialler: trunk %q has no host", s)
	}
	return u, nil
}

// Start binds the local SIP socket and starts the media clocks.
func (d *Dialler) Start(ctx context.Context) error {
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(d.cfg.UserAgent))
	if err != nil {
		return fmt.Errorf("dialler user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(d.log))
	if err != nil {
		ua.Close()
		return fmt.Errorf("dialler sip server: %w", err)
	}
	host, port, err := net.SplitHostPort(d.cfg.Bind)
	if err != nil {
		ua.Close()
		return fmt.Errorf("dialler bind %q: %w", d.cfg.Bind, err)
	}
	p, _ := strconv.Atoi(port)
	dg := diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(d.log),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{
			media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}}),
		diago.WithTransport(diago.Transport{Transport: d.cfg.Transport, BindHost: host, BindPort: p,
			ExternalHost: d.cfg.ExternalHost}))
	srv.OnInfo(d.handleInfo)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := dg.ServeBackground(sctx, func(s *diago.DialogServerSession) {
		// Nobody calls the dialler: refuse.
		_ = s.Respond(sip.StatusForbidden, "Forbidden", nil)
	}); err != nil {
		cancel()
		ua.Close()
		return fmt.Errorf("dialler listen: %w", err)
	}
	if d.cfg.Transport == "udp" {
		// sipgo reports ready before the UDP listener joins its pool (see
		// NewCaller).
		for deadline := time.Now().Add(2 * time.Second); ua.TransportLayer().Pool("udp").Size() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	d.pacerWG.Go(func() { d.media.pacer.Run(sctx) })
	d.mu.Lock()
	d.ua, d.dg, d.cancel = ua, dg, cancel
	d.mu.Unlock()
	return nil
}

// Close hangs up the calls in progress, waits for them and stops.
func (d *Dialler) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stopCall()
	d.wg.Wait()
	d.mu.Lock()
	ua, cancel := d.ua, d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.pacerWG.Wait()
	if ua != nil {
		return ua.Close()
	}
	return nil
}

// Ready reports whether Start has bound the socket and Close has not run.
func (d *Dialler) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dg != nil && !d.closed
}

// Active is the number of calls dialling or up.
func (d *Dialler) Active() int { return len(d.slots) }

// Allowed reports whether t is within the calling hours, and if not when
// they next open.
func (d *Dialler) Allowed(t time.Time) (bool, time.Time) {
	return d.cfg.Hours.Allowed(t.In(d.cfg.Location))
}

func (d *Dialler) state(n Notice, callID string, s CallState, status int) {
	if d.onState == nil {
		return
	}
	d.onState(Transition{NoticeID: n.ID, CallID: callID, State: s, At: d.cfg.Now(), SIPStatus: status})
}

func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "@12123-ivr"
}

// Call places one call for a notice and reads it to the callee. It waits
// (state queued) for a slot and a rate token; it refuses without dialling
// a bad notice (ErrBadNotice), a time outside the calling hours
// (*OutsideHoursError) and a notice the guard refuses (ErrGuardRefused).
// Otherwise it returns the Result, whatever the outcome, and a nil error.
// Retrying is the caller's decision (RetryPolicy).
func (d *Dialler) Call(ctx context.Context, n Notice) (Result, error) {
	res := Result{NoticeID: n.ID, Queued: d.cfg.Now()}
	clips, err := n.clips(d.media.lib)
	if err != nil {
		return res, err
	}
	if ok, next := d.Allowed(d.cfg.Now()); !ok {
		return res, &OutsideHoursError{Next: next}
	}
	d.mu.Lock()
	if d.closed || d.dg == nil {
		d.mu.Unlock()
		return res, ErrClosed
	}
	d.wg.Add(1)
	dg := d.dg
	d.mu.Unlock()
	defer d.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.stop, cancel)()

	d.state(n, "", StateQueued, 0)
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return res, context.Cause(ctx)
	}
	defer func() { <-d.slots }()
	if err := d.limit.Wait(ctx); err != nil {
		return res, err
	}
	// Hours again: the wait may have crossed the closing time.
	if ok, next := d.Allowed(d.cfg.Now()); !ok {
		return res, &OutsideHoursError{Next: next}
	}
	to := d.trunk
	to.User = strings.TrimPrefix(n.Phone, "+")
	to.UriParams = d.trunk.UriParams.Clone()
	dlg, err := dg.NewDialog(to, diago.NewDialogOptions{Transport: d.cfg.Transport})
	if err != nil {
		return res, fmt.Errorf("dialler dialog: %w", err)
	}
	res.CallID = newCallID()
	cid := sip.CallIDHeader(res.CallID)
	dlg.InviteRequest.AppendHeader(&cid)
	if d.guard != nil {
		if err := d.guard.BeforeDial(ctx, n.ID, res.CallID); err != nil {
			_ = dlg.Close()
			d.m.GuardRefused.Inc()
			return res, fmt.Errorf("%w: %w", ErrGuardRefused, err)
		}
	}
	d.m.Active.Inc()
	defer d.m.Active.Dec()
	d.m.Placed.Inc()
	d.call(ctx, n, clips, dlg, &res)
	d.m.Outcomes.WithLabelValues(string(res.Outcome)).Inc()
	d.record(n, res)
	return res, nil
}

// call dials and runs the call; it fills res.
func (d *Dialler) call(ctx context.Context, n Notice, clips []string, dlg *diago.DialogClientSession, res *Result) {
	log := d.log.With("call_id", res.CallID, "notice_id", n.ID, "callee", MaskPhone(n.Phone))
	defer func() { res.Ended = d.cfg.Now() }()
	defer dlg.Close()
	opts := diago.InviteClientOptions{Username: d.cfg.Username, Password: d.cfg.Password}
	host := d.cfg.ExternalHost
	if host == "" {
		host, _, _ = net.SplitHostPort(d.cfg.Bind)
	}
	opts.WithCaller(d.cfg.CallerID, d.cfg.CallerID, host)
	var ringOnce sync.Once
	opts.OnResponse = func(r *sip.Response) error {
		if r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress {
			ringOnce.Do(func() {
				res.Ringing = d.cfg.Now()
				d.state(n, res.CallID, StateRinging, 0)
			})
		}
		return nil
	}
	res.Dialled = d.cfg.Now()
	d.state(n, res.CallID, StateDialling, 0)
	ictx, icancel := context.WithTimeoutCause(ctx, d.cfg.RingTimeout, errRingTimeout)
	med, err := dlg.Invite(ictx, opts)
	ringTimedOut := errors.Is(context.Cause(ictx), errRingTimeout)
	icancel()
	res.Setup = d.cfg.Now().Sub(res.Dialled)
	d.m.Setup.Observe(res.Setup.Seconds())
	if err != nil {
		res.SIPStatus = statusOf(err)
		switch {
		case res.SIPStatus == 486 || res.SIPStatus == 600:
			res.Outcome, res.Reason = Busy, "sip_"+strconv.Itoa(res.SIPStatus)
		case res.SIPStatus == 408 || res.SIPStatus == 480 || (res.SIPStatus == 487 && ringTimedOut):
			res.Outcome, res.Reason = NoAnswer, "sip_"+strconv.Itoa(res.SIPStatus)
		case ringTimedOut:
			res.Outcome, res.Reason = NoAnswer, "ring_timeout"
		case res.SIPStatus != 0:
			res.Outcome, res.Reason = Failed, "sip_"+strconv.Itoa(res.SIPStatus)
		case ctx.Err() != nil:
			res.Outcome, res.Reason = Failed, "shutdown"
		default:
			res.Outcome, res.Reason = Failed, "transport"
		}
		if res.Outcome == Failed {
			log.Warn("outbound call failed", "status", res.SIPStatus, "err", err)
		}
		d.state(n, res.CallID, outcomeState(res.Outcome), res.SIPStatus)
		return
	}
	res.SIPStatus = sip.StatusOK
	if err := dlg.Ack(ctx); err != nil {
		log.Warn("ack failed", "err", err)
		res.Outcome, res.Reason = Failed, "transport"
		_ = med.Close()
		d.state(n, res.CallID, StateFailed, res.SIPStatus)
		return
	}
	res.Answered = d.cfg.Now()
	d.state(n, res.CallID, StateAnswered, 0)
	d.answered(ctx, n, clips, dlg, med, res, log)
	if res.Outcome != Confirmed { // reported when the key came
		d.state(n, res.CallID, outcomeState(res.Outcome), 0)
	}
}

var (
	errRingTimeout = errors.New("ring timeout")
	errMaxDuration = errors.New("max call duration")
)

func outcomeState(o Outcome) CallState {
	switch o {
	case Confirmed:
		return StateConfirmed
	case Busy:
		return StateBusy
	case NoAnswer:
		return StateNoAnswer
	case AnsweredUnconfirmed:
		return StateUnconfirmed
	}
	return StateFailed
}

// statusOf is the final SIP status in an INVITE error, 0 when none.
func statusOf(err error) int {
	var p *sipgo.ErrDialogResponse
	if errors.As(err, &p) && p.Res != nil {
		return p.Res.StatusCode
	}
	var v sipgo.ErrDialogResponse
	if errors.As(err, &v) && v.Res != nil {
		return v.Res.StatusCode
	}
	return 0
}

// answered plays the notice and the menu until 1, hang-up or plays used.
func (d *Dialler) answered(ctx context.Context, n Notice, clips []string, dlg *diago.DialogClientSession,
	med *diago.DialogMedia, res *Result, log *slog.Logger) {
	cctx, cancel := context.WithCancelCause(dlg.Context())
	defer cancel(nil)
	cctx, cancelT := context.WithTimeoutCause(cctx, d.cfg.MaxCallDuration, errMaxDuration)
	defer cancelT()
	stop := context.AfterFunc(ctx, func() { cancel(errShutdown) })
	defer stop()
	c := &call{s: d.media, med: med, cancel: cancel, notify: make(chan struct{}, 1), tePT: -1, phone: n.Phone,
		cdr: CDR{CallID: res.CallID}}
	audio := media.CodecAudioFromSession(med.MediaSession())
	c.pt = audio.PayloadType
	if audio.Name == "PCMA" || audio.PayloadType == 8 {
		c.codec = PCMA
	}
	res.Codec = c.codec.String()
	for _, cd := range med.MediaSession().CommonCodecs() {
		if cd.Matches(media.CodecTelephoneEvent8000) {
			c.tePT = int(cd.PayloadTypeRecv())
			break
		}
	}
	med.RTPPacketWriter.ClockDisable() // the pacer keeps time
	d.mu.Lock()
	d.calls[res.CallID] = c
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.calls, res.CallID)
		d.mu.Unlock()
	}()
	var wg sync.WaitGroup
	wg.Go(func() { c.readMedia(cctx) })

	var keys []rune
	outcome, reason := d.dialogue(cctx, c, clips, res, &keys)
	calleeGone := dlg.Context().Err() != nil
	switch {
	case outcome == Confirmed:
	case calleeGone:
		reason = "remote_hangup"
	case errors.Is(context.Cause(cctx), errShutdown):
		reason = "shutdown"
	case errors.Is(context.Cause(cctx), errMaxDuration):
		reason = "max_duration"
	}
	res.Outcome, res.Reason, res.Keys = outcome, reason, string(keys)
	if !calleeGone {
		hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := dlg.Hangup(hctx); err != nil && dlg.Context().Err() == nil {
			log.Debug("hangup failed", "err", err)
		}
		hcancel()
	}
	cancel(ErrHangup)
	_ = med.Close()
	wg.Wait()
	d.m.Keys.Add(float64(c.keys.Load()))
	log.Info("outbound call ended", "outcome", res.Outcome, "reason", res.Reason, "plays", res.Plays)
}

// dialogue: intro, notice, menu; 1 confirms, 2 (or no key) plays again.
func (d *Dialler) dialogue(ctx context.Context, c *call, clips []string, res *Result, keys *[]rune) (Outcome, string) {
	for res.Plays < d.cfg.MaxPlays {
		res.Plays++
		names := clips
		if res.Plays == 1 {
			names = append([]string{"notice_intro"}, clips...)
		}
		// A key during the notice stops it (barge-in) and is the answer.
		if _, err := c.play(ctx, append(names, "notice_menu"), true); err != nil {
			return AnsweredUnconfirmed, "media"
		}
		r, ok, err := c.nextKey(ctx, d.cfg.KeyTimeout)
		if err != nil {
			return AnsweredUnconfirmed, "remote_hangup"
		}
		if !ok {
			continue // no key: once more
		}
		*keys = append(*keys, r)
		switch r {
		case '1':
			// Reported before the callee hears it: a guard that records
			// the confirmation then never lets the notice be called
			// again, whatever happens to this process next.
			d.state(Notice{ID: res.NoticeID}, res.CallID, StateConfirmed, 0)
			_, _ = c.play(ctx, []string{"notice_confirmed"}, false)
			return Confirmed, "confirmed"
		default: // 2, or any other key: again
			c.flushKeys()
		}
	}
	_, _ = c.play(ctx, []string{"goodbye"}, false)
	if len(*keys) == 0 {
		return AnsweredUnconfirmed, "no_key"
	}
	return AnsweredUnconfirmed, "plays_used"
}

// handleInfo takes SIP INFO keys for outbound calls.
func (d *Dialler) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	var c *call
	if id := req.CallID(); id != nil {
		d.mu.Lock()
		c = d.calls[id.Value()]
		d.mu.Unlock()
	}
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if len(req.Body()) == 0 {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	k, err := dtmf.ParseInfo(ct, req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
		return
	}
	c.key(k, "info")
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// record writes the call's CDR (every placed call, answered or not).
func (d *Dialler) record(n Notice, r Result) {
	if d.cdr == nil {
		return
	}
	c := CDR{
		CallID: r.CallID, Direction: "outbound", NoticeID: n.ID,
		Caller: d.cfg.CallerID, Called: MaskPhone(n.Phone), Transport: d.cfg.Transport, Codec: r.Codec,
		Start: r.Dialled, Answer: r.Answered, End: r.Ended,
		Keys: len(r.Keys), Verification: "none", Cause: r.Reason,
		Outcome: string(r.Outcome), SIPStatus: r.SIPStatus, Plays: r.Plays,
	}
	for i := 1; i <= r.Plays; i++ {
		c.Path = append(c.Path, "notice")
	}
	for _, k := range r.Keys {
		c.Path = append(c.Path, "notice:"+string(k))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.cdr.Record(ctx, c); err != nil {
		d.m.CDRErrors.Inc()
		d.log.Warn("cdr not stored", "call_id", c.CallID, "err", err)
	}
}
