package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRecipientLocks: messages to one recipient are never in flight
// together; different recipients are not held up.
func TestRecipientLocks(t *testing.T) {
	var l recipientLocks
	var inFlight, maxSeen atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if !l.lock(context.Background(), "13800138000") {
					t.Error("lock failed")
					return
				}
				n := inFlight.Add(1)
				for {
					m := maxSeen.Load()
					if n <= m || maxSeen.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(10 * time.Microsecond)
				inFlight.Add(-1)
				l.unlock("13800138000")
			}
		})
	}
	wg.Wait()
	if maxSeen.Load() != 1 {
		t.Fatalf("%d messages to one recipient were in flight together", maxSeen.Load())
	}
	// another recipient is not blocked by a held one
	if !l.lock(context.Background(), "a") {
		t.Fatal("lock a")
	}
	done := make(chan bool)
	go func() { done <- l.lock(context.Background(), "b") }()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("lock b")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b waited for a")
	}
	// a cancelled wait gives up
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.lock(ctx, "a") {
		t.Fatal("lock of a held recipient succeeded with a cancelled context")
	}
}

func TestIsUnsubscribe(t *testing.T) {
	for s, want := range map[string]bool{"TD": true, " td ": true, "退订": true, "T": true, "hello": false, "": false, "TD please": false} {
		if got := IsUnsubscribe(s); got != want {
			t.Errorf("IsUnsubscribe(%q) = %v", s, got)
		}
	}
}
