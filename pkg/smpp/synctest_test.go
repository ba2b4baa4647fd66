package smpp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// pipePeer answers the bind on the far end of a net.Pipe and then reads
// and ignores everything, inside a synctest bubble.
func pipePeer(t *testing.T, conn net.Conn) {
	r := bufio.NewReader(conn)
	b, err := ReadFrame(r, 0)
	if err != nil {
		t.Errorf("peer: %v", err)
		return
	}
	p, _ := Decode(b)
	resp, _ := (&PDU{Command: p.Command.Response(), Seq: p.Seq, Body: &BindResp{SystemID: "pipe"}}).MarshalBinary()
	if _, err := conn.Write(resp); err != nil {
		t.Errorf("peer: %v", err)
		return
	}
	for {
		if _, err := ReadFrame(r, 0); err != nil {
			return
		}
	}
}

// TestDefaultTimersSynctest checks the default keep-alive arithmetic on a
// fake clock: an idle link sends enquire_link after DefaultEnquireLink and
// is declared dead DefaultRequestTimeout later, and a submit with no
// answer fails after exactly DefaultRequestTimeout.
func TestDefaultTimersSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		go pipePeer(t, b)
		start := time.Now()
		s, err := Open(t.Context(), a, SessionConfig{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Submit(t.Context(), submitSM("x"))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("submit: %v", err)
		}
		if d := time.Since(start); d != DefaultRequestTimeout {
			t.Fatalf("submit timed out after %v", d)
		}
		<-s.Done()
		if !errors.Is(s.Err(), ErrLinkDead) {
			t.Fatalf("err = %v", s.Err())
		}
		// The submit was the last traffic, at 0 s; the first tick at 30 s
		// finds the link idle, the enquire_link times out 10 s later.
		if d := time.Since(start); d != DefaultEnquireLink+DefaultRequestTimeout {
			t.Fatalf("link declared dead after %v", d)
		}
		s.Close()
		b.Close()
		synctest.Wait()
	})
}

// TestUnbindTimeoutSynctest: an SMSC that never answers unbind does not
// hold shutdown beyond the caller's deadline.
func TestUnbindTimeoutSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		go pipePeer(t, b)
		s, err := Open(t.Context(), a, SessionConfig{EnquireLink: -1})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		if err := s.Unbind(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("unbind: %v", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("unbind took %v", d)
		}
		b.Close()
		synctest.Wait()
	})
}
