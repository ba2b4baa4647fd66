package cnsms

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A session the peer is terminating (draining our requests in flight)
// takes no new request: Pick passes it over, and waits when it is the
// only one.
func TestPickSkipsClosing(t *testing.T) {
	a, _ := pair(t, SessionConfig{TerminateDrain: 5 * time.Second}, SessionConfig{Handler: func(ctx context.Context, f Frame) ([]byte, bool) {
		SessionOf(ctx).TerminateNow()
		return nil, true // never answered: a drains until TerminateDrain
	}})
	go func() { _, _ = a.Request(context.Background(), 4, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for !a.Closing() {
		if time.Now().After(deadline) {
			t.Fatal("peer's terminate not seen")
		}
		time.Sleep(time.Millisecond)
	}
	p := NewPool(PoolConfig{})
	p.add(a)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if s, err := p.Pick(ctx); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("picked %p (closing %p), %v", s, a, err)
	}
	b, _ := pair(t, SessionConfig{}, SessionConfig{})
	p.add(b)
	for range 4 {
		if s, err := p.Pick(context.Background()); err != nil || s != b {
			t.Fatalf("picked %p, want the open session %p: %v", s, b, err)
		}
	}
}
