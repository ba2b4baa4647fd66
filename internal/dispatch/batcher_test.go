package dispatch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// flushLog records the batches a batcher flushed.
type flushLog struct {
	mu      sync.Mutex
	batches [][]int
}

func (l *flushLog) flush(_ context.Context, items []int) ([]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, slices.Clone(items))
	out := make([]int, len(items))
	for i, v := range items {
		out[i] = v * 10
	}
	return out, nil
}

func (l *flushLog) got() [][]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.batches)
}

// startBatcher runs b until the test ends.
func startBatcher(t *testing.T, b *batcher[int, int]) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx, context.WithoutCancel(ctx)) }()
	t.Cleanup(func() { cancel(); <-done })
}

// A small batch waits for more, and goes as soon as it has fill items:
// with a linger of a minute, the test would time out if it waited it.
func TestBatcherSmallBatchWaitsForFill(t *testing.T) {
	var l flushLog
	b := newBatcher(100, 3, time.Minute, l.flush)
	startBatcher(t, b)
	var wg sync.WaitGroup
	results := make([]int, 3)
	for i := range 3 {
		wg.Go(func() {
			r, err := b.Add(t.Context(), i+1)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
		time.Sleep(10 * time.Millisecond) // one at a time, as at light load
	}
	wg.Wait()
	if got := l.got(); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("flushed %v, want one batch of 3", got)
	}
	if !slices.Equal(results, []int{10, 20, 30}) {
		t.Fatalf("results %v, want each caller its own", results)
	}
}

// A batch that stays small goes after linger, not later and not before.
func TestBatcherLingerEnds(t *testing.T) {
	var l flushLog
	const linger = 50 * time.Millisecond
	b := newBatcher(100, 16, linger, l.flush)
	startBatcher(t, b)
	start := time.Now()
	if r, err := b.Add(t.Context(), 7); err != nil || r != 70 {
		t.Fatalf("Add: %d %v", r, err)
	}
	if waited := time.Since(start); waited < linger {
		t.Fatalf("flushed after %v, before the linger of %v", waited, linger)
	}
	if got := l.got(); len(got) != 1 || !slices.Equal(got[0], []int{7}) {
		t.Fatalf("flushed %v, want [[7]]", got)
	}
}

// With fill items already waiting, nothing waits; without a linger, a
// batch goes as soon as it is taken.
func TestBatcherNoWaitWhenFullOrNoLinger(t *testing.T) {
	for _, c := range []struct {
		name   string
		fill   int
		linger time.Duration
		adds   int
	}{
		{"full", 2, time.Minute, 4},
		{"no linger", 16, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var l flushLog
			b := newBatcher(100, c.fill, c.linger, l.flush)
			// Queued before Run starts: the first batch takes them all.
			var wg sync.WaitGroup
			for i := range c.adds {
				wg.Go(func() {
					if _, err := b.Add(t.Context(), i); err != nil {
						t.Error(err)
					}
				})
			}
			for len(b.in) < c.adds {
				time.Sleep(time.Millisecond)
			}
			startBatcher(t, b)
			wg.Wait() // a minute's linger would time the test out
			if got := l.got(); len(got) != 1 || len(got[0]) != c.adds {
				t.Fatalf("flushed %v, want one batch of %d", got, c.adds)
			}
		})
	}
}

// A shutdown while a small batch lingers still writes it.
func TestBatcherShutdownWhileLingering(t *testing.T) {
	var l flushLog
	b := newBatcher(100, 16, time.Minute, l.flush)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx, context.WithoutCancel(ctx)) }()
	res := make(chan error, 1)
	go func() {
		_, err := b.Add(context.WithoutCancel(ctx), 5)
		res <- err
	}()
	for len(l.got()) == 0 && len(b.in) > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // now lingering
	cancel()
	if err := <-res; err != nil {
		t.Fatalf("Add across shutdown: %v", err)
	}
	<-done
	if got := l.got(); len(got) != 1 || !slices.Equal(got[0], []int{5}) {
		t.Fatalf("flushed %v, want [[5]]", got)
	}
}
