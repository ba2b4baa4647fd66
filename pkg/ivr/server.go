// Package ivr is the 12123 voice service's call handling: a SIP user agent
// server on github.com/emiago/sipgo (UDP and TCP) with media through
// github.com/emiago/diago (G.711 PCMU/PCMA, RFC 4733 telephone-events),
// which runs call flows loaded by package flow, reads keys (RFC 4733 with
// its own robust decoder, SIP INFO, optional in-band tones), plays prompts
// with barge-in from shared 20 ms clocks, verifies callers and speaks
// answers with the Mandarin units of package say.
//
// It leaves the data to a Records implementation, call records to a CDRSink
// and configuration files, Kafka and HTTP to the application
// (internal/app/ivr). Caller (caller.go) is a scripted SIP caller for tests
// and the `ivr call` command.
package ivr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/traffic12123/gateway/pkg/ivr/dtmf"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
)

// Config is the server's tunable part.
type Config struct {
	// UDP and TCP are listen addresses ("127.0.0.1:5060"); an empty one is
	// not served. Port 0 picks a free port (TCP then tries UDP's port).
	UDP, TCP string
	// ExternalHost is the host put in Contact and SDP when it differs from
	// the bind address.
	ExternalHost string
	// MaxCalls bounds concurrent calls; INVITEs beyond get 503.
	MaxCalls int
	// InviteRate and InviteBurst bound new INVITEs per source IP (token
	// bucket); excess gets 503 with Retry-After.
	InviteRate  float64
	InviteBurst int
	// Trusted lists the source networks accepted (the carrier's SBCs);
	// requests from elsewhere get 403. Empty accepts every source.
	Trusted []netip.Prefix
	// InBandDTMF also detects keys as tones in the caller's audio.
	InBandDTMF bool
	// RingFor sends 180 Ringing and waits this long before answering
	// (0: answer at once). A CANCEL meanwhile ends the call unanswered.
	RingFor time.Duration
	// MaxCallDuration hangs up calls that last longer.
	MaxCallDuration time.Duration
	// Pacers is the number of shared 20 ms media clocks.
	Pacers int
	// Location is the time zone dates are spoken in (Asia/Shanghai).
	Location *time.Location
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// UserAgent is the SIP User-Agent header.
	UserAgent string
}

// Defaults.
const (
	DefaultMaxCalls        = 2000
	DefaultInviteRate      = 50
	DefaultInviteBurst     = 100
	DefaultMaxCallDuration = 15 * time.Minute
	DefaultUserAgent       = "12123-ivr"
)

// Options is everything New needs.
type Options struct {
	Config
	Library *Library
	Flow    *flow.Flow
	Records Records
	CDR     CDRSink     // may be nil
	Synth   Synthesizer // may be nil: free text is not spoken
	Lockout Lockouts    // nil: in memory, per instance
	Logger  *slog.Logger
	Metrics *Metrics
}

// Server answers calls. Create with New, bind with Listen, run with Serve.
type Server struct {
	cfg     Config
	lib     *Library
	records Records
	cdr     CDRSink
	log     *slog.Logger
	m       *Metrics
	pacer   *Pacer
	lockout Lockouts
	synth   Synthesizer
	tts     ttsCache
	flow    atomic.Pointer[flow.Flow]

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	dg  *diago.Diago

	udp net.PacketConn
	tcp net.Listener

	active atomic.Int64
	ready  atomic.Bool

	mu      sync.Mutex
	calls   map[string]*call
	limits  map[netip.Addr]*limiter
	callsWG sync.WaitGroup
	closing bool
}

type limiter struct {
	l    *rate.Limiter
	seen time.Time
}

// New checks the options and builds a server.
func New(o Options) (*Server, error) {
	if o.Library == nil {
		return nil, errors.New("ivr: no prompt library")
	}
	if o.Flow == nil {
		return nil, ErrNoFlow
	}
	if o.Records == nil {
		return nil, errors.New("ivr: no records")
	}
	if o.UDP == "" && o.TCP == "" {
		return nil, errors.New("ivr: neither UDP nor TCP address")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	c := o.Config
	if c.MaxCalls <= 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.InviteRate <= 0 {
		c.InviteRate = DefaultInviteRate
	}
	if c.InviteBurst <= 0 {
		c.InviteBurst = DefaultInviteBurst
	}
	if c.MaxCallDuration <= 0 {
		c.MaxCallDuration = DefaultMaxCallDuration
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
	if missing := MissingAudio(o.Library, o.Flow); len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrMissingAudio, strings.Join(missing, ", "))
	}
	s := &Server{
		cfg: c, lib: o.Library, records: o.Records, cdr: o.CDR,
		log: o.Logger, m: o.Metrics, lockout: o.Lockout, synth: o.Synth,
		tts:   ttsCache{entries: map[string][2][]byte{}, sem: make(chan struct{}, ttsConcurrency)},
		calls: map[string]*call{}, limits: map[netip.Addr]*limiter{},
	}
	if s.lockout == nil {
		s.lockout = NewLockout()
	}
	s.pacer = NewPacer(c.Pacers, func(late time.Duration) { s.m.PromptLateness.Observe(late.Seconds()) })
	s.flow.Store(o.Flow)
	return s, nil
}

// SetFlow swaps the call flow; calls in progress keep theirs. It refuses a
// flow whose audio is missing from the library.
func (s *Server) SetFlow(f *flow.Flow) error {
	if f == nil {
		return ErrNoFlow
	}
	if missing := MissingAudio(s.lib, f); len(missing) > 0 {
		s.m.FlowReloads.WithLabelValues("error").Inc()
		return fmt.Errorf("%w: %s", ErrMissingAudio, strings.Join(missing, ", "))
	}
	s.flow.Store(f)
	s.m.FlowReloads.WithLabelValues("ok").Inc()
	return nil
}

// Flow returns the current call flow.
func (s *Server) Flow() *flow.Flow { return s.flow.Load() }

// ActiveCalls is the number of calls in progress.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Ready reports whether the server is listening and accepting calls.
func (s *Server) Ready() bool { return s.ready.Load() }

// Listen binds the sockets. Addr reports the bound addresses.
func (s *Server) Listen() error {
	if s.cfg.UDP != "" {
		c, err := net.ListenPacket("udp", s.cfg.UDP)
		if err != nil {
			return fmt.Errorf("listen sip udp: %w", err)
		}
		s.udp = c
	}
	if s.cfg.TCP != "" {
		addr := s.cfg.TCP
		if s.udp != nil && strings.HasSuffix(addr, ":0") {
			// Same port as UDP when free, as carriers expect.
			host, _, _ := net.SplitHostPort(addr)
			_, port, _ := net.SplitHostPort(s.udp.LocalAddr().String())
			if l, err := net.Listen("tcp", net.JoinHostPort(host, port)); err == nil {
				s.tcp = l
			}
		}
		if s.tcp == nil {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				if s.udp != nil {
					s.udp.Close()
				}
				return fmt.Errorf("listen sip tcp: %w", err)
			}
			s.tcp = l
		}
	}
	return nil
}

// Addr returns the bound address for "udp" or "tcp", "" when not bound.
func (s *Server) Addr(network string) string {
	switch network {
	case "udp":
		if s.udp != nil {
			return s.udp.LocalAddr().String()
		}
	case "tcp":
		if s.tcp != nil {
			return s.tcp.Addr().String()
		}
	}
	return ""
}

// Serve answers calls until ctx is done, then hangs up the calls in
// progress, waits for them and closes the sockets.
func (s *Server) Serve(ctx context.Context) error {
	if s.udp == nil && s.tcp == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.readFilter)))
	if err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	s.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		ua.Close()
		return fmt.Errorf("sip server: %w", err)
	}
	s.srv = srv
	opts := []diago.DiagoOption{
		diago.WithServer(srv),
		diago.WithLogger(s.log),
		diago.WithServerRequestMiddleware(func(next sipgo.RequestHandler) sipgo.RequestHandler {
			return s.guard(s.middleware(next))
		}),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{
			media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}}),
	}
	for _, l := range []struct {
		network string
		addr    string
	}{{"udp", s.Addr("udp")}, {"tcp", s.Addr("tcp")}} {
		if l.addr == "" {
			continue
		}
		host, port, _ := net.SplitHostPort(l.addr)
		p, _ := strconv.Atoi(port)
		opts = append(opts, diago.WithTransport(diago.Transport{
			Transport: l.network, BindHost: host, BindPort: p, ExternalHost: s.cfg.ExternalHost,
		}))
	}
	s.dg = diago.NewDiago(ua, opts...)
	// diago answers INFO with 406: take it over (also runs the middleware).
	srv.OnInfo(s.guard(s.middleware(s.handleInfo)))
	// Session timers may refresh with UPDATE (RFC 4028): accept a refresh
	// without a body; a media change by UPDATE is not supported.
	srv.OnRequest(sip.UPDATE, s.guard(s.middleware(s.handleUpdate)))
	s.dg.HandleFunc(s.handleCall)

	pctx, stopPacer := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.pacer.Run(pctx) })
	errc := make(chan error, 2)
	if s.udp != nil {
		conn := s.udp
		wg.Go(func() { errc <- srv.ServeUDP(conn) })
	}
	if s.tcp != nil {
		ln := s.tcp
		wg.Go(func() { errc <- srv.ServeTCP(guardedListener{Listener: ln, s: s}) })
	}
	s.ready.Store(true)
	s.log.Info("ivr listening", "udp", s.Addr("udp"), "tcp", s.Addr("tcp"))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.ready.Store(false)
	// Stop new calls, end the others and wait for them.
	s.mu.Lock()
	s.closing = true
	for _, c := range s.calls {
		c.shutdown()
	}
	s.mu.Unlock()
	s.callsWG.Wait()
	stopPacer()
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	ua.Close()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) {
		return serveErr
	}
	return nil
}

// middleware applies the source, rate and concurrency limits before diago
// sees a request.
func (s *Server) middleware(next sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		src, _ := netip.ParseAddrPort(req.Source())
		ip := src.Addr().Unmap()
		if !s.trusted(ip) {
			if req.Method == sip.INVITE {
				s.m.Calls.WithLabelValues("untrusted").Inc()
			}
			if req.Method != sip.ACK {
				_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			}
			return
		}
		if req.Method != sip.INVITE || req.To() == nil || req.To().Params.Has("tag") {
			next(req, tx)
			return
		}
		// A new call.
		if rej := s.admit(ip, req); rej != nil {
			s.m.Calls.WithLabelValues(rej.Reason).Inc()
			res := sip.NewResponseFromRequest(req, rej.Status, reasonPhrase(rej.Status), nil)
			if rej.Status == sip.StatusServiceUnavailable {
				res.AppendHeader(sip.NewHeader("Retry-After", "5"))
			}
			_ = tx.Respond(res)
			return
		}
		s.m.CallsActive.Inc()
		defer func() {
			s.active.Add(-1)
			s.m.CallsActive.Dec()
			s.callsWG.Done()
		}()
		next(req, tx)
	}
}

func reasonPhrase(code int) string {
	switch code {
	case sip.StatusForbidden:
		return "Forbidden"
	case sip.StatusServiceUnavailable:
		return "Service Unavailable"
	case 488:
		return "Not Acceptable Here"
	}
	return "Error"
}

func (s *Server) trusted(ip netip.Addr) bool {
	if len(s.cfg.Trusted) == 0 {
		return true
	}
	for _, p := range s.cfg.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit reserves a call slot or says why not.
func (s *Server) admit(ip netip.Addr, req *sip.Request) *RejectError {
	now := time.Now()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return &RejectError{Status: sip.StatusServiceUnavailable, Reason: "busy"}
	}
	l := s.limits[ip]
	if l == nil {
		if len(s.limits) > 10000 {
			for k, v := range s.limits {
				if now.Sub(v.seen) > time.Minute {
					delete(s.limits, k)
				}
			}
		}
		l = &limiter{l: rate.NewLimiter(rate.Limit(s.cfg.InviteRate), s.cfg.InviteBurst)}
		s.limits[ip] = l
	}
	l.seen = now
	defer s.mu.Unlock()
	if !l.l.AllowN(now, 1) {
		return &RejectError{Status: sip.StatusServiceUnavailable, Reason: "rate"}
	}
	if s.active.Load() >= int64(s.cfg.MaxCalls) {
		return &RejectError{Status: sip.StatusServiceUnavailable, Reason: "busy"}
	}
	// No body is a late offer: ours goes in the 200 OK, the answer comes
	// in the ACK (RFC 3261 13.2.1).
	if len(bytes.TrimSpace(req.Body())) > 0 && !ParseOffer(req.Body()).Usable() {
		return &RejectError{Status: 488, Reason: "media"}
	}
	s.active.Add(1)
	s.callsWG.Add(1) // under s.mu, so never concurrent with Serve's Wait
	return nil
}

// handleInfo reads DTMF from SIP INFO and answers 200 (diago answers 406).
func (s *Server) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	id, err := sip.DialogIDFromRequestUAS(req)
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if err != nil || c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if len(req.Body()) == 0 {
		// An empty INFO is a keep-alive.
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		return
	}
	key, err := dtmf.ParseInfo(ct, req.Body())
	if err != nil {
		s.m.MalformedInfo.Inc()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
		return
	}
	// Queue before answering: the next INFO may be handled by another
	// goroutine as soon as the sender has our 200.
	c.key(key, "info")
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

func (s *Server) handleUpdate(req *sip.Request, tx sip.ServerTransaction) {
	id, err := sip.DialogIDFromRequestUAS(req)
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	switch {
	case err != nil || c == nil:
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	case len(req.Body()) > 0:
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
	default:
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	}
}

// callerNumber takes the caller's number from P-Asserted-Identity, else
// From, without a +86 or 0086 prefix.
func callerNumber(req *sip.Request) string {
	user := ""
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		var uri sip.Uri
		v := h.Value()
		if i := strings.IndexByte(v, '<'); i >= 0 {
			if j := strings.IndexByte(v[i:], '>'); j > 0 {
				v = v[i+1 : i+j]
			}
		}
		if strings.HasPrefix(v, "tel:") {
			user = strings.TrimPrefix(v, "tel:")
			if k := strings.IndexByte(user, ';'); k >= 0 {
				user = user[:k]
			}
		} else if err := sip.ParseUri(v, &uri); err == nil {
			user = uri.User
		}
	}
	if user == "" && req.From() != nil {
		user = req.From().Address.User
	}
	user = strings.TrimPrefix(user, "+86")
	user = strings.TrimPrefix(user, "0086")
	return user
}
