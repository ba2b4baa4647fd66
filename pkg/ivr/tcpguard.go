package ivr

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// TCP is a byte stream: sipgo's read filter sees reads, not messages. So
// accepted TCP connections are wrapped: guardedConn frames the stream
// itself (header block, then Content-Length bytes, RFC 3261 18.3), checks
// each message as readFilter checks a datagram and hands sipgo only the
// messages that pass. A stream it cannot frame (no or a bad
// Content-Length, a header block over maxTCPMessage) is closed: there is no
// boundary to resynchronise on.

// maxTCPMessage bounds one SIP message on TCP (headers or body).
const maxTCPMessage = 64 << 10

var errTCPFraming = errors.New("ivr: SIP over TCP without a usable Content-Length or too large; connection closed")

type guardedListener struct {
	net.Listener
	s *Server
}

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: c, s: l.s}, nil
}

type guardedConn struct {
	net.Conn
	s   *Server
	wmu sync.Mutex // sipgo's writes and our refusals

	in   []byte   // read, not yet framed
	out  [][]byte // checked chunks for sipgo: keep-alive CRLFs or one message
	rbuf []byte
	err  error // read error, returned once out is drained
}

func (c *guardedConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(p)
}

// Read returns the next checked chunk (or part of it).
func (c *guardedConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.rbuf == nil {
			c.rbuf = make([]byte, 16<<10)
		}
		n, err := c.Conn.Read(c.rbuf)
		c.in = append(c.in, c.rbuf[:n]...)
		if err != nil {
			c.err = err
		}
		if ferr := c.frame(); ferr != nil {
			c.s.m.SIPRejected.WithLabelValues(rejectUnparsable).Inc()
			c.in, c.err = nil, ferr
		}
	}
	n := copy(p, c.out[0])
	if c.out[0] = c.out[0][n:]; len(c.out[0]) == 0 {
		c.out = c.out[1:]
	}
	return n, nil
}

// frame moves every complete message from in to out (when it passes).
func (c *guardedConn) frame() error {
	for {
		// CRLF keep-alives (RFC 5626) between messages go on as they are,
		// as a chunk of their own so that sipgo answers a ping.
		i := 0
		for i < len(c.in) && (c.in[i] == '\r' || c.in[i] == '\n') {
			i++
		}
		if i > 0 {
			c.out = append(c.out, bytes.Clone(c.in[:i]))
			c.in = c.in[i:]
		}
		if len(c.in) == 0 {
			c.in = nil
			return nil
		}
		end := bytes.Index(c.in, []byte("\r\n\r\n"))
		if end < 0 {
			if len(c.in) > maxTCPMessage {
				return errTCPFraming
			}
			return nil
		}
		cl, ok := contentLength(c.in[:end])
		if !ok || cl > maxTCPMessage {
			return errTCPFraming
		}
		total := end + 4 + cl
		if len(c.in) < total {
			return nil
		}
		msg := bytes.Clone(c.in[:total])
		c.in = c.in[total:]
		if c.check(msg) {
			c.out = append(c.out, msg)
		}
	}
}

// contentLength finds Content-Length (or its compact form l) in a header
// block; false when it is missing or not a non-negative number.
func contentLength(head []byte) (int, bool) {
	lines := strings.Split(string(head), "\r\n")
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "content-length" && name != "l" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// check reports whether a framed message may go to sipgo, refusing a bad
// request on the connection itself.
func (c *guardedConn) check(b []byte) (ok bool) {
	s := c.s
	defer func() {
		if r := recover(); r != nil {
			s.m.Panics.WithLabelValues("parse").Inc()
			s.log.Error("panic while checking a SIP message on TCP; dropped", "panic", fmt.Sprint(r),
				"remote_addr", c.RemoteAddr().String(), "stack", string(debug.Stack()))
			ok = false
		}
	}()
	msg, err := sip.ParseMessage(bytes.Clone(b))
	if err != nil || msg == nil {
		s.m.SIPRejected.WithLabelValues(rejectUnparsable).Inc()
		return false
	}
	switch m := msg.(type) {
	case *sip.Response:
		if !checkResponse(m) {
			s.m.SIPRejected.WithLabelValues(rejectResponse).Inc()
			return false
		}
	case *sip.Request:
		code, phrase, label := checkRequest(m)
		if code == 0 {
			return true
		}
		s.m.SIPRejected.WithLabelValues(label).Inc()
		if m.Method != sip.ACK {
			_, _ = c.Write([]byte(refusal(m, code, phrase).String()))
		}
		return false
	}
	return true
}
