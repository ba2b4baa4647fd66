package ivr

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// frameWriter sends one frame of encoded audio. diago's RTPPacketWriter
// satisfies it through WriteSamples (which does not sleep).
type frameWriter interface {
	WriteSamples(payload []byte, sampleRateTimestamp uint32, marker bool, payloadType uint8) (int, error)
}

// stream is one playback in progress: clips sent frame by frame.
type stream struct {
	w     frameWriter
	pt    uint8
	clips [][]byte
	clip  int
	off   int
	first bool
	loop  bool // start over at the end until stopped (silence)

	stopped atomic.Bool
	done    chan struct{}
	started time.Time
	frames  int
	sent    int
	err     error

	lastWrite time.Time
}

// Pacer sends the audio of every call from a few shared 20 ms clocks
// (shards) instead of a ticker per call: at each tick a shard writes the
// next frame of each of its streams. This keeps prompts on time with
// thousands of calls where one timer per call does not.
type Pacer struct {
	closed atomic.Bool
	shards []*shard
	next   atomic.Uint64
	late   func(d time.Duration)
}

type shard struct {
	mu      sync.Mutex
	streams []*stream
}

// NewPacer returns a pacer with n shards (at least 1). onDone, when set,
// receives for each playback that ran to its end how much later than due
// its last frame went out.
func NewPacer(n int, onDone func(late time.Duration)) *Pacer {
	p := &Pacer{late: onDone}
	for range max(n, 1) {
		p.shards = append(p.shards, &shard{})
	}
	return p
}

// Run drives the clocks until ctx is done; then every stream is stopped.
func (p *Pacer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range p.shards {
		wg.Go(func() { p.runShard(ctx, s) })
	}
	wg.Wait()
}

func (p *Pacer) runShard(ctx context.Context, s *shard) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var batch []*stream
	for {
		select {
		case <-ctx.Done():
			p.closed.Store(true)
			s.mu.Lock()
			for _, st := range s.streams {
				st.err = ctx.Err()
				close(st.done)
			}
			s.streams = nil
			s.mu.Unlock()
			return
		case <-t.C:
		}
		s.mu.Lock()
		batch = append(batch[:0], s.streams...)
		s.mu.Unlock()
		if len(batch) == 0 {
			// Idle: give back the array of the busiest moment.
			batch = nil
			continue
		}
		now := time.Now()
		var finished []*stream
		for _, st := range batch {
			if st.stopped.Load() || st.catchUp(now) {
				finished = append(finished, st)
			}
		}
		// The batch's backing array outlives the tick: drop its pointers,
		// or every stream of the busiest moment (and through its writer
		// the call's whole media session) stays reachable after the calls.
		clear(batch)
		if len(finished) == 0 {
			continue
		}
		s.mu.Lock()
		kept := s.streams[:0]
		for _, st := range s.streams {
			fin := false
			for _, f := range finished {
				if f == st {
					fin = true
					break
				}
			}
			if !fin {
				kept = append(kept, st)
			}
		}
		clear(s.streams[len(kept):])
		s.streams = kept
		if len(kept) == 0 {
			s.streams = nil // as batch: no array of the peak kept idle
		}
		s.mu.Unlock()
		for _, st := range finished {
			if !st.stopped.Load() && p.late != nil && st.err == nil && st.frames > 0 {
				// When the last frame went out against when it was due.
				due := time.Duration(st.frames-1) * 20 * time.Millisecond
				p.late(st.lastWrite.Sub(st.started) - due)
			}
			close(st.done)
		}
	}
}

// maxBurst bounds the frames sent at once to catch up after a stall.
const maxBurst = 10

// catchUp writes the frames due at now: one per 20 ms since the start, so
// a tick that came late (a busy machine drops ticks) does not make the
// prompt longer. True when the stream is finished.
func (st *stream) catchUp(now time.Time) bool {
	due := int(now.Sub(st.started)/(20*time.Millisecond)) + 1
	for n := 0; st.sent < due && n < maxBurst; n++ {
		if st.step() {
			return true
		}
		st.sent++
		st.lastWrite = now
	}
	return st.sent >= st.frames && st.step()
}

// step writes one frame; true when the stream is finished.
func (st *stream) step() bool {
	for st.clip < len(st.clips) && st.off >= len(st.clips[st.clip]) {
		st.clip++
		st.off = 0
	}
	if st.clip >= len(st.clips) {
		if !st.loop || len(st.clips) == 0 || len(st.clips[0]) == 0 {
			return true
		}
		st.clip, st.off = 0, 0
	}
	c := st.clips[st.clip]
	end := min(st.off+FrameSamples, len(c))
	if _, err := st.w.WriteSamples(c[st.off:end], FrameSamples, st.first, st.pt); err != nil {
		st.err = err
		return true
	}
	st.first = false
	st.off = end
	return false
}

// play starts a stream; the caller waits on st.done or stops it.
func (p *Pacer) play(w frameWriter, pt uint8, clips [][]byte) *stream {
	return p.start(&stream{w: w, pt: pt, clips: clips})
}

// loop starts a stream that repeats clip until stopped.
func (p *Pacer) loop(w frameWriter, pt uint8, clip []byte) *stream {
	return p.start(&stream{w: w, pt: pt, clips: [][]byte{clip}, loop: true})
}

func (p *Pacer) start(st *stream) *stream {
	st.first, st.done, st.started = true, make(chan struct{}), time.Now()
	for _, c := range st.clips {
		st.frames += (len(c) + FrameSamples - 1) / FrameSamples
	}
	if st.loop {
		st.frames = math.MaxInt
	}
	s := p.shards[p.next.Add(1)%uint64(len(p.shards))]
	s.mu.Lock()
	if p.closed.Load() {
		st.err = ErrClosed
		close(st.done)
	} else {
		s.streams = append(s.streams, st)
	}
	s.mu.Unlock()
	return st
}
