// Package trunksim is a small SIP trunk simulator for the outbound
// dialler's tests, demo and load runs: a user agent server that answers
// each INVITE by a configured mix — answer and press keys, answer and stay
// silent, busy (486), or ring without answering until CANCEL — optionally
// behind a digest challenge (401) as carriers' trunks do.
package trunksim

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Behaviours of the mix.
const (
	Confirm  = "confirm"   // answer, press Keys after KeyDelay, wait for BYE
	Silent   = "silent"    // answer, press nothing, wait for BYE
	HangUp   = "hangup"    // answer, hang up after HangUpAfter
	Busy     = "busy"      // 486 Busy Here
	NoAnswer = "no_answer" // 180 Ringing until CANCEL
)

// Behaviours lists them in a fixed order.
var Behaviours = []string{Confirm, Silent, HangUp, Busy, NoAnswer}

// Config configures the simulator.
type Config struct {
	// Listen is the UDP address ("127.0.0.1:0").
	Listen string
	// Mix weighs the behaviours (e.g. confirm 6, busy 2, no_answer 2);
	// empty: every call confirms.
	Mix map[string]int
	// Keys are pressed (RFC 4733) by confirming callees, KeyGap apart,
	// starting KeyDelay after the answer (2 s, 300 ms). "1" by default.
	Keys     string
	KeyDelay time.Duration
	KeyGap   time.Duration
	// KeyMethod is "rfc4733" (default) or "info" (SIP INFO,
	// application/dtmf-relay).
	KeyMethod string
	// RingFor is how long answering callees ring first (100 ms).
	RingFor time.Duration
	// HangUpAfter is when hangup callees hang up (1 s).
	HangUpAfter time.Duration
	// Username, Password and Realm: when Password is set, INVITEs without
	// valid digest credentials get 401 with a challenge.
	Username, Password, Realm string
	// Seed makes the mix reproducible (0: random).
	Seed   uint64
	Logger *slog.Logger
}

// Stats counts what the simulator did.
type Stats struct {
	Invites, Challenged, AuthFailed int64
	By                              map[string]int64 // behaviour → calls
	Answered, ByeReceived           int64
	KeysSent                        int64
}

// Sim is a running simulator.
type Sim struct {
	cfg  Config
	ua   *sipgo.UserAgent
	dg   *diago.Diago
	conn net.PacketConn
	wg   sync.WaitGroup

	mu    sync.Mutex
	rng   *rand.Rand
	total int
	nonce map[string]time.Time

	invites, challenged, authFailed, answered, byes, keys atomic.Int64
	by                                                    sync.Map // string → *atomic.Int64

	logMu sync.Mutex
	log   []Call
}

// Call is one authorised INVITE the simulator took, as Calls reports it.
type Call struct {
	CallID    string
	Callee    string // the Request-URI's user
	Behaviour string
	Invited   time.Time
	Answered  time.Time // zero when not answered
	KeysSent  string    // keys pressed (confirm callees)
	FirstKey  time.Time // when the first key's first packet went
	KeysAt    time.Time // when the last key's last packet went
	Ended     time.Time // BYE, CANCEL or our hang-up; zero while up
}

// Calls returns the calls taken so far, in arrival order.
func (s *Sim) Calls() []Call {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Call(nil), s.log...)
}

func (s *Sim) update(i int, f func(*Call)) {
	s.logMu.Lock()
	f(&s.log[i])
	s.logMu.Unlock()
}

// Start listens and serves until Close.
func Start(cfg Config) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Keys == "" {
		cfg.Keys = "1"
	}
	if cfg.KeyDelay <= 0 {
		cfg.KeyDelay = 2 * time.Second
	}
	if cfg.KeyGap <= 0 {
		cfg.KeyGap = 300 * time.Millisecond
	}
	if cfg.RingFor <= 0 {
		cfg.RingFor = 100 * time.Millisecond
	}
	if cfg.HangUpAfter <= 0 {
		cfg.HangUpAfter = time.Second
	}
	if cfg.KeyMethod == "" {
		cfg.KeyMethod = "rfc4733"
	}
	if cfg.KeyMethod != "rfc4733" && cfg.KeyMethod != "info" {
		return nil, fmt.Errorf("trunksim: unknown key method %q", cfg.KeyMethod)
	}
	if cfg.Realm == "" {
		cfg.Realm = "trunksim"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Mix) == 0 {
		cfg.Mix = map[string]int{Confirm: 1}
	}
	s := &Sim{cfg: cfg, nonce: map[string]time.Time{}}
	for b, w := range cfg.Mix {
		if !validBehaviour(b) {
			return nil, fmt.Errorf("trunksim: unknown behaviour %q (want one of %s)", b, strings.Join(Behaviours, ", "))
		}
		if w < 0 {
			return nil, fmt.Errorf("trunksim: negative weight for %s", b)
		}
		s.total += w
	}
	if s.total == 0 {
		return nil, errors.New("trunksim: every weight is 0")
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	conn, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("trunksim listen: %w", err)
	}
	s.conn = conn
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("12123-trunksim"))
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, err
	}
	host, port, _ := net.SplitHostPort(conn.LocalAddr().String())
	p, _ := strconv.Atoi(port)
	s.ua = ua
	s.dg = diago.NewDiago(ua, diago.WithServer(srv), diago.WithLogger(cfg.Logger),
		diago.WithMediaConfig(diago.MediaConfig{Codecs: []media.Codec{
			media.CodecAudioUlaw, media.CodecAudioAlaw, media.CodecTelephoneEvent8000}}),
		diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: p}))
	s.dg.HandleFunc(s.handle)
	s.wg.Go(func() { _ = srv.ServeUDP(conn) })
	return s, nil
}

func validBehaviour(b string) bool {
	for _, x := range Behaviours {
		if x == b {
			return true
		}
	}
	return false
}

// Addr is the bound UDP address.
func (s *Sim) Addr() string { return s.conn.LocalAddr().String() }

// Close stops serving.
func (s *Sim) Close() error {
	err := s.ua.Close()
	s.conn.Close()
	s.wg.Wait()
	return err
}

// Stats returns the counts so far.
func (s *Sim) Stats() Stats {
	st := Stats{Invites: s.invites.Load(), Challenged: s.challenged.Load(), AuthFailed: s.authFailed.Load(),
		Answered: s.answered.Load(), ByeReceived: s.byes.Load(), KeysSent: s.keys.Load(), By: map[string]int64{}}
	s.by.Range(func(k, v any) bool {
		st.By[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return st
}

func (s *Sim) count(b string) {
	v, _ := s.by.LoadOrStore(b, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// pick draws a behaviour; the callee's number may force one with a
// prefix: "486…" busy, "480…" no answer, "404…" silent (for tests).
func (s *Sim) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.rng.IntN(s.total)
	for _, b := range Behaviours {
		if n < s.cfg.Mix[b] {
			return b
		}
		n -= s.cfg.Mix[b]
	}
	return Confirm
}

func (s *Sim) handle(d *diago.DialogServerSession) {
	s.invites.Add(1)
	if s.cfg.Password != "" && !s.authorized(d) {
		return
	}
	b := s.pick()
	s.count(b)
	ctx := d.Context()
	c := Call{Callee: d.InviteRequest.Recipient.User, Behaviour: b, Invited: time.Now()}
	if id := d.InviteRequest.CallID(); id != nil {
		c.CallID = id.Value()
	}
	s.logMu.Lock()
	s.log = append(s.log, c)
	at := len(s.log) - 1
	s.logMu.Unlock()
	defer s.update(at, func(c *Call) { c.Ended = time.Now() })
	_ = d.Trying()
	switch b {
	case Busy:
		_ = d.Respond(sip.StatusBusyHere, "Busy Here", nil)
		return
	case NoAnswer:
		_ = d.Ringing()
		<-ctx.Done() // CANCEL (sipgo answers 487)
		return
	}
	_ = d.Ringing()
	if !sleep(ctx, s.cfg.RingFor) {
		return
	}
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		return
	}
	s.answered.Add(1)
	s.update(at, func(c *Call) { c.Answered = time.Now() })
	defer med.Close()
	switch b {
	case HangUp:
		sleep(ctx, s.cfg.HangUpAfter)
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.Hangup(hctx)
		cancel()
		return
	case Confirm:
		if !sleep(ctx, s.cfg.KeyDelay) {
			break
		}
		for i, k := range s.cfg.Keys {
			if i > 0 && !sleep(ctx, s.cfg.KeyGap) {
				break
			}
			if i == 0 {
				s.update(at, func(c *Call) { c.FirstKey = time.Now() })
			}
			if s.press(ctx, d, med, k) == nil {
				s.keys.Add(1)
				s.update(at, func(c *Call) { c.KeysSent += string(k); c.KeysAt = time.Now() })
			}
		}
	}
	<-ctx.Done()
	s.byes.Add(1)
}

// press sends one key by the configured method.
func (s *Sim) press(ctx context.Context, d *diago.DialogServerSession, med *diago.DialogMedia, k rune) error {
	if s.cfg.KeyMethod == "info" {
		req := sip.NewRequest(sip.INFO, d.RemoteContact().Address)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
		req.SetBody([]byte("Signal=" + string(k) + "\r\nDuration=160\r\n"))
		res, err := d.Do(ctx, req)
		if err != nil {
			return err
		}
		if res.StatusCode != sip.StatusOK {
			return fmt.Errorf("info answered %d", res.StatusCode)
		}
		return nil
	}
	w, err := med.AudioWriterDTMF()
	if err != nil {
		return err
	}
	return w.WriteDTMF(k)
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

// authorized checks the INVITE's digest credentials against a nonce we
// issued; without valid ones it answers 401 with a new challenge.
func (s *Sim) authorized(d *diago.DialogServerSession) bool {
	req := d.InviteRequest
	if h := req.GetHeader("Authorization"); h != nil {
		if cred, err := digest.ParseCredentials(h.Value()); err == nil && s.knownNonce(cred.Nonce) &&
			cred.Username == s.cfg.Username && cred.Realm == s.cfg.Realm {
			want, err := digest.Digest(&digest.Challenge{Realm: s.cfg.Realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm,
				QOP: qops(cred.QOP)}, digest.Options{Method: string(req.Method), URI: cred.URI, Username: s.cfg.Username,
				Password: s.cfg.Password, Cnonce: cred.Cnonce, Count: cred.Nc})
			if err == nil && want.Response == cred.Response {
				return true
			}
		}
		s.authFailed.Add(1)
	}
	s.challenged.Add(1)
	var b [12]byte
	_, _ = crand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	s.mu.Lock()
	now := time.Now()
	for k, t := range s.nonce {
		if now.Sub(t) > time.Minute {
			delete(s.nonce, k)
		}
	}
	s.nonce[nonce] = now
	s.mu.Unlock()
	chal := digest.Challenge{Realm: s.cfg.Realm, Nonce: nonce, Algorithm: "MD5"}
	_ = d.Respond(sip.StatusUnauthorized, "Unauthorized", nil, sip.NewHeader("WWW-Authenticate", chal.String()))
	return false
}

func qops(q string) []string {
	if q == "" {
		return nil
	}
	return []string{q}
}

func (s *Sim) knownNonce(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.nonce[n]
	return ok
}
