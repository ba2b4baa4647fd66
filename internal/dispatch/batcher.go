package dispatch

import (
	"context"
	"time"
)

// batcher group-commits items: callers Add and wait, one goroutine flushes
// whatever has gathered (up to max items) in one call. This turns many
// small ledger writes (one per receipt, one per submit result) into few
// transactions without making any caller wait long.
//
// What arrives during a flush forms the next batch, so under load batches
// grow by themselves and a batch of at least fill items is flushed at
// once. A smaller one, which only happens when the gateway is lightly
// loaded, waits up to linger for fill items: at 1,000 msg/s a transaction
// per one or two receipts cost more CPU per message than the whole
// pipeline does at full rate (bench/README.md, issue 18). Lingering at
// every batch cost a fifth of the full-rate throughput (a fixed 2 ms), so
// it is only for small ones. Callers wait for the commit: a receipt holds
// the SMSC's window until its deliver_sm_resp, a submit result its
// sender slot; at light load neither is scarce.
type batcher[T, R any] struct {
	in     chan batchItem[T, R]
	max    int
	fill   int
	linger time.Duration
	flush  func(ctx context.Context, items []T) ([]R, error)
}

// Fill and linger of the gateway's batchers (receipts, submit results).
const (
	batchFill   = 16
	batchLinger = 5 * time.Millisecond
)

type batchItem[T, R any] struct {
	v    T
	done chan batchResult[R] // nil: fire and forget
}

type batchResult[R any] struct {
	r   R
	err error
}

// newBatcher returns a batcher of up to size items; a batch smaller than
// fill waits up to linger for more (linger 0: never).
func newBatcher[T, R any](size, fill int, linger time.Duration, flush func(context.Context, []T) ([]R, error)) *batcher[T, R] {
	return &batcher[T, R]{in: make(chan batchItem[T, R], size*2), max: size, fill: min(fill, size), linger: linger, flush: flush}
}

// Add queues v and waits until the batch holding it was flushed.
func (b *batcher[T, R]) Add(ctx context.Context, v T) (R, error) {
	done := make(chan batchResult[R], 1)
	select {
	case b.in <- batchItem[T, R]{v: v, done: done}:
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
	select {
	case res := <-done:
		return res.r, res.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// Run flushes batches until ctx is done and the queue is empty. Flushes
// use flushCtx, which outlives ctx so that a shutdown still writes what
// was handed in.
func (b *batcher[T, R]) Run(ctx, flushCtx context.Context) {
	items := make([]batchItem[T, R], 0, b.max)
	vals := make([]T, 0, b.max)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	do := func() {
		vals = vals[:0]
		for _, it := range items {
			vals = append(vals, it.v)
		}
		rs, err := b.flush(flushCtx, vals)
		for i, it := range items {
			if it.done == nil {
				continue
			}
			var r R
			if err == nil && i < len(rs) {
				r = rs[i]
			}
			it.done <- batchResult[R]{r: r, err: err}
		}
		items = items[:0]
	}
	for {
		select {
		case it := <-b.in:
			items = append(items, it)
			// take what is already waiting without blocking
		drain:
			for len(items) < b.max {
				select {
				case it := <-b.in:
					items = append(items, it)
				default:
					break drain
				}
			}
			if len(items) < b.fill && b.linger > 0 {
				timer.Reset(b.linger)
			linger:
				for len(items) < b.fill {
					select {
					case it := <-b.in:
						items = append(items, it)
					case <-timer.C:
						break linger
					case <-ctx.Done():
						break linger
					}
				}
				timer.Stop()
			}
			do()
		case <-ctx.Done():
			for {
				select {
				case it := <-b.in:
					items = append(items, it)
					if len(items) >= b.max {
						do()
					}
				default:
					if len(items) > 0 {
						do()
					}
					return
				}
			}
		}
	}
}
