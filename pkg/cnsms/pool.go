package cnsms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Pool defaults.
const (
	DefaultMinReconnect    = 500 * time.Millisecond
	DefaultMaxReconnect    = 30 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// Pool errors.
var (
	ErrNotConnected = errors.New("cnsms: no connection up")
	ErrPoolClosed   = errors.New("cnsms: client stopped")
)

// PoolConfig configures a Pool.
type PoolConfig struct {
	Size int // connections kept up; default 1
	// Connect dials and logs in one connection.
	Connect         func(ctx context.Context, slot int) (*Session, error)
	ReconnectMin    time.Duration
	ReconnectMax    time.Duration
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	Metrics         *CarrierMetrics
}

// Pool keeps Size sessions up, reconnecting each with jittered
// exponential backoff, and picks the least busy one for a request.
type Pool struct {
	cfg PoolConfig

	mu      sync.Mutex
	up      []*Session
	changed chan struct{}
	next    int
	running bool
	stopped bool
}

// NewPool returns a Pool; nothing connects until Run.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Size <= 0 {
		cfg.Size = 1
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = DefaultMinReconnect
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = DefaultMaxReconnect
	}
	cfg.ReconnectMax = max(cfg.ReconnectMax, cfg.ReconnectMin)
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pool{cfg: cfg, changed: make(chan struct{})}
}

// Up is the number of sessions up.
func (p *Pool) Up() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.up)
}

// WaitReady waits until a session is up.
func (p *Pool) WaitReady(ctx context.Context) error {
	_, err := p.Pick(ctx)
	return err
}

// Run keeps the sessions up until ctx ends, then terminates them in order
// (bounded by ShutdownTimeout). It may be called once.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running || p.stopped {
		p.mu.Unlock()
		return errors.New("cnsms: Run called twice")
	}
	p.running = true
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i := range p.cfg.Size {
		wg.Go(func() { p.keep(ctx, i) })
	}
	wg.Wait()
	p.mu.Lock()
	p.stopped = true
	p.notifyLocked()
	p.mu.Unlock()
	return nil
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Pool) keep(ctx context.Context, slot int) {
	log := p.cfg.Logger.With("conn", slot)
	backoff := p.cfg.ReconnectMin
	for ctx.Err() == nil {
		s, err := p.cfg.Connect(ctx, slot)
		p.cfg.Metrics.BindAttempt(err == nil)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("login failed", "err", err, "retry_in", backoff)
			if !Sleep(ctx, Jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, p.cfg.ReconnectMax)
			continue
		}
		log.Info("logged in", "peer", s.RemoteAddr().String())
		backoff = p.cfg.ReconnectMin
		p.cfg.Metrics.BindsUp(1)
		p.add(s)
		select {
		case <-s.Done():
			p.remove(s)
			s.Close()
			p.cfg.Metrics.BindsUp(-1)
			log.Warn("connection lost", "err", s.Err())
			if !Sleep(ctx, Jitter(backoff)) {
				return
			}
		case <-ctx.Done():
			p.remove(s)
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ShutdownTimeout)
			if err := s.Terminate(tctx); err != nil {
				log.Warn("terminate", "err", err)
			}
			cancel()
			p.cfg.Metrics.BindsUp(-1)
			return
		}
	}
}

func (p *Pool) add(s *Session) {
	p.mu.Lock()
	p.up = append(p.up, s)
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *Pool) remove(s *Session) {
	p.mu.Lock()
	for i, b := range p.up {
		if b == s {
			p.up = append(p.up[:i], p.up[i+1:]...)
			break
		}
	}
	p.notifyLocked()
	p.mu.Unlock()
}

// Pick returns the up session with the fewest requests in flight
// (round-robin among equals), not one that is closing (the peer's
// Terminate is draining it), waiting for one (bounded by ctx).
func (p *Pool) Pick(ctx context.Context) (*Session, error) {
	for {
		p.mu.Lock()
		var best *Session
		n := len(p.up)
		for i := range n {
			s := p.up[(p.next+i)%n]
			if s.Err() != nil || s.Closing() {
				continue // ending: a request there would be refused
			}
			if best == nil || s.InFlight() < best.InFlight() {
				best = s
			}
		}
		if n > 0 {
			p.next = (p.next + 1) % n
		}
		ch, stopped := p.changed, p.stopped
		p.mu.Unlock()
		if best != nil {
			return best, nil
		}
		if stopped {
			return nil, ErrPoolClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotConnected, ctx.Err())
		}
	}
}

// Jitter returns a duration in [d/2, d].
func Jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Sleep waits d or until ctx ends; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// MaskNumber keeps the first 3 and last 4 digits of a phone number for
// logs: "13812345678" → "138****5678". Short strings are masked whole.
func MaskNumber(n string) string {
	if len(n) < 8 {
		return strings.Repeat("*", len(n))
	}
	return n[:3] + strings.Repeat("*", len(n)-7) + n[len(n)-4:]
}
