package cnsms

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testDialect = Dialect{Protocol: "test", ActiveTest: 8, ActiveTestResp: []byte{0}, Terminate: 2}

// pair returns two sessions over loopback TCP.
func pair(t *testing.T, a, b SessionConfig) (*Session, *Session) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	ca, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cb := <-ch
	a.Dialect, b.Dialect = testDialect, testDialect
	sa, sb := NewSession(ca, nil, a), NewSession(cb, nil, b)
	t.Cleanup(func() { sa.Close(); sb.Close() })
	return sa, sb
}

func echo(_ context.Context, f Frame) ([]byte, bool) { return append([]byte("re:"), f.Body...), false }

func TestRequestAndSeqCollision(t *testing.T) {
	// B's sequence ids start where A's do: B's request carries the seq of
	// A's pending one and must reach A's handler, not complete A's call.
	release := make(chan struct{})
	var aGot atomic.Value
	a, b := pair(t,
		SessionConfig{FirstSeq: 100, Handler: func(_ context.Context, f Frame) ([]byte, bool) { aGot.Store(f); return []byte("a"), false }},
		SessionConfig{FirstSeq: 100, Handler: func(_ context.Context, f Frame) ([]byte, bool) { <-release; return []byte("b"), false }})
	done := make(chan Frame, 1)
	go func() {
		f, err := a.Request(context.Background(), 4, []byte("x"))
		if err != nil {
			t.Error(err)
		}
		done <- f
	}()
	for a.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	f, err := b.Request(context.Background(), 5, []byte("y"))
	if err != nil || f.Cmd != 5|RespBit || f.Seq != 100 || string(f.Body) != "a" {
		t.Fatalf("B's request: %+v %v", f, err)
	}
	if g := aGot.Load().(Frame); g.Cmd != 5 || g.Seq != 100 {
		t.Fatalf("A's handler got %+v", g)
	}
	select {
	case f := <-done:
		t.Fatalf("A's request completed early by %+v", f)
	default:
	}
	close(release)
	if f := <-done; f.Cmd != 4|RespBit || f.Seq != 100 || string(f.Body) != "b" {
		t.Fatalf("A's response %+v", f)
	}
}

func TestWindowBlocks(t *testing.T) {
	var mu sync.Mutex
	seen := 0
	release := make(chan struct{})
	a, _ := pair(t, SessionConfig{Window: 2},
		SessionConfig{HandlerWorkers: 8, Handler: func(_ context.Context, f Frame) ([]byte, bool) {
			mu.Lock()
			seen++
			mu.Unlock()
			<-release
			return nil, false
		}})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := a.Request(context.Background(), 4, nil); err != nil {
				t.Error(err)
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return seen }
	for count() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time for a third request to get through, were the window broken
	n := count()
	if n != 2 {
		t.Fatalf("peer saw %d requests with a window of 2", n)
	}
	// A request that cannot get a slot gives up with its ctx, unsent.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err := a.Request(ctx, 4, nil)
	cancel()
	var re *RequestError
	if !errors.As(err, &re) || re.Sent {
		t.Fatalf("blocked request: %v", err)
	}
	close(release)
	wg.Wait()
}

func TestTerminateBothWays(t *testing.T) {
	a, b := pair(t, SessionConfig{Handler: echo}, SessionConfig{Handler: echo})
	if _, err := a.Request(context.Background(), 4, []byte("1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Terminate(ctx); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	select {
	case <-a.Done():
	case <-ctx.Done():
		t.Fatal("peer did not close after TERMINATE")
	}
	if !errors.Is(a.Err(), ErrPeerTerminated) {
		t.Fatalf("peer ended with %v", a.Err())
	}
	if _, err := a.Request(context.Background(), 4, nil); err == nil {
		t.Fatal("request on a terminated session")
	}
}

func TestTerminateWaitsForInFlight(t *testing.T) {
	release := make(chan struct{})
	a, _ := pair(t, SessionConfig{}, SessionConfig{Handler: func(context.Context, Frame) ([]byte, bool) { <-release; return []byte("ok"), false }})
	res := make(chan error, 1)
	go func() { _, err := a.Request(context.Background(), 4, nil); res <- err }()
	for a.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	term := make(chan error, 1)
	go func() { term <- a.Terminate(context.Background()) }()
	for {
		a.mu.Lock()
		closing := a.closing
		a.mu.Unlock()
		if closing {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := a.Request(context.Background(), 4, nil); !errors.Is(err, ErrClosing) {
		t.Fatalf("new request while closing: %v", err)
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	if err := <-term; err != nil {
		t.Fatalf("terminate: %v", err)
	}
}

func TestKeepAlive(t *testing.T) {
	// A live peer answers ACTIVE_TEST: the link stays up while idle.
	a, _ := pair(t, SessionConfig{ActiveTest: 20 * time.Millisecond, RequestTimeout: 200 * time.Millisecond}, SessionConfig{})
	time.Sleep(150 * time.Millisecond)
	if a.Err() != nil {
		t.Fatalf("idle link closed: %v", a.Err())
	}
	// A peer that reads but never answers is dead.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = bufio.NewReader(c).WriteTo(discard{})
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(c, nil, SessionConfig{Dialect: testDialect, ActiveTest: 10 * time.Millisecond, RequestTimeout: 30 * time.Millisecond})
	defer s.Close()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("dead link not detected")
	}
	if !errors.Is(s.Err(), ErrLinkDead) {
		t.Fatalf("ended with %v", s.Err())
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func TestLateResponse(t *testing.T) {
	lates := make(chan any, 1)
	release := make(chan struct{})
	a, _ := pair(t,
		SessionConfig{RequestTimeout: 20 * time.Millisecond, OnLate: func(tag any, f Frame) { lates <- tag }},
		SessionConfig{Handler: func(context.Context, Frame) ([]byte, bool) { <-release; return []byte("late"), false }})
	_, err := a.Request(WithLateTag(context.Background(), "msg-1"), 4, nil)
	var re *RequestError
	if !errors.As(err, &re) || !re.Sent || !errors.Is(err, ErrResponseTimeout) {
		t.Fatalf("err %v", err)
	}
	close(release)
	select {
	case tag := <-lates:
		if tag != "msg-1" {
			t.Fatalf("tag %v", tag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("late response not reported")
	}
}

func TestHandlerPanicAndBadFrame(t *testing.T) {
	a, _ := pair(t, SessionConfig{RequestTimeout: 50 * time.Millisecond},
		SessionConfig{Handler: func(_ context.Context, f Frame) ([]byte, bool) {
			if string(f.Body) == "boom" {
				panic("boom")
			}
			return nil, false
		}})
	if _, err := a.Request(context.Background(), 4, []byte("boom")); !errors.Is(err, ErrResponseTimeout) {
		t.Fatalf("panicking handler: %v", err)
	}
	if _, err := a.Request(context.Background(), 4, []byte("fine")); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
	// A frame length below the header ends the session with a clear error.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1})
		}
	}()
	c, _ := net.Dial("tcp", ln.Addr().String())
	s := NewSession(c, nil, SessionConfig{Dialect: testDialect, ActiveTest: -1})
	defer s.Close()
	<-s.Done()
	if !errors.Is(s.Err(), ErrFrameLength) {
		t.Fatalf("ended with %v", s.Err())
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Frame{Cmd: 1, Seq: 2, Body: []byte("abc")}))
	f.Add([]byte{0, 0, 0, 12, 0, 0, 0, 8, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), 256)
		if err != nil {
			return
		}
		out := AppendFrame(nil, fr)
		if !bytes.Equal(out, b[:len(out)]) {
			t.Fatalf("re-encoded %x from %x", out, b)
		}
		if _, err := ParseFrame(out); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInlineHandler(t *testing.T) {
	a, _ := pair(t, SessionConfig{}, SessionConfig{Inline: true, Handler: echo})
	for i := range 50 {
		f, err := a.Request(context.Background(), 4, []byte{byte(i)})
		if err != nil || string(f.Body) != "re:"+string([]byte{byte(i)}) {
			t.Fatalf("%d: %q %v", i, f.Body, err)
		}
	}
}

// The peer's Terminate with our request in flight, answered right after
// (some gateways do): the answer still reaches us, and only then do we
// answer the Terminate and end.
func TestPeerTerminateDrainsInFlight(t *testing.T) {
	a, b := pair(t, SessionConfig{}, SessionConfig{Handler: func(ctx context.Context, f Frame) ([]byte, bool) {
		if !SessionOf(ctx).TerminateNow() {
			t.Error("TerminateNow on a live session: false")
		}
		if SessionOf(ctx).TerminateNow() {
			t.Error("second TerminateNow: true")
		}
		return []byte("late"), false
	}})
	f, err := a.Request(context.Background(), 4, nil)
	if err != nil || string(f.Body) != "late" {
		t.Fatalf("request in flight at the peer's terminate: %q %v", f.Body, err)
	}
	for _, s := range []*Session{a, b} {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session still up after the terminate")
		}
	}
	if !errors.Is(a.Err(), ErrPeerTerminated) || !errors.Is(b.Err(), ErrClosed) {
		t.Fatalf("ended with %v and %v", a.Err(), b.Err())
	}
}

// A request the peer never answers after its Terminate: we answer after
// TerminateDrain, and the request fails as sent (its outcome unknown).
func TestPeerTerminateDrainBound(t *testing.T) {
	a, _ := pair(t, SessionConfig{TerminateDrain: 50 * time.Millisecond}, SessionConfig{Handler: func(ctx context.Context, f Frame) ([]byte, bool) {
		SessionOf(ctx).TerminateNow()
		return nil, true
	}})
	start := time.Now()
	_, err := a.Request(context.Background(), 4, nil)
	var re *RequestError
	if !errors.As(err, &re) || !re.Sent || !errors.Is(err, ErrPeerTerminated) {
		t.Fatalf("unanswered request: %v", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("answered the terminate after %v (drain 50ms)", d)
	}
	if !a.Closing() {
		t.Fatal("not closing after the peer's terminate")
	}
}

// Start queues a request ahead of the answer its handler returns: a
// handler on the peer's read loop sees it before that answer.
func TestStartAheadOfAnswer(t *testing.T) {
	var got atomic.Bool
	var waits sync.WaitGroup
	defer waits.Wait() // before the sessions close
	a, _ := pair(t,
		SessionConfig{Inline: true, Handler: func(_ context.Context, f Frame) ([]byte, bool) { got.Store(true); return []byte("ack"), false }},
		SessionConfig{Handler: func(ctx context.Context, f Frame) ([]byte, bool) {
			wait, err := SessionOf(ctx).Start(ctx, 6, []byte("report"))
			if err != nil {
				t.Error(err)
				return nil, false
			}
			waits.Go(func() {
				if r, err := wait(); err != nil || string(r.Body) != "ack" {
					t.Errorf("started request: %q %v", r.Body, err)
				}
			})
			return []byte("resp"), false
		}})
	for range 20 {
		got.Store(false)
		f, err := a.Request(context.Background(), 4, nil)
		if err != nil || string(f.Body) != "resp" {
			t.Fatalf("%q %v", f.Body, err)
		}
		if !got.Load() {
			t.Fatal("answer read before the request started ahead of it")
		}
	}
}

// Both sides terminate at once: neither waits for the other's answer
// to its own Terminate before answering (that would wait for good).
func TestTerminatesCross(t *testing.T) {
	a, b := pair(t, SessionConfig{TerminateDrain: 5 * time.Second}, SessionConfig{TerminateDrain: 5 * time.Second})
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range []*Session{a, b} {
		wg.Go(func() { _ = s.Terminate(context.Background()) })
	}
	wg.Wait()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("crossed terminates took %v", d)
	}
}
