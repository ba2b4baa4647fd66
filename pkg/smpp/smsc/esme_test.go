package smsc_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// esme is a minimal ESME for tests, built on pkg/smpp's codec (not the
// simulator's): it pipelines requests, matches responses by sequence number
// and command, and acknowledges deliver_sm with ack's status.
type esme struct {
	t   testing.TB
	nc  net.Conn
	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	seq     uint32
	pending map[uint32]chan *smpp.PDU
	ack     func(*smpp.PDU) (smpp.Status, bool) // status, whether to answer at all
	events  []string                            // "resp" and "deliver" in arrival order

	delivers chan *smpp.PDU // every deliver_sm, in arrival order
	others   chan *smpp.PDU // requests from the SMSC other than deliver_sm
	done     chan struct{}
	err      error
}

func dial(t testing.TB, addr string) *esme {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return over(t, nc)
}

// over runs an ESME over an open connection.
func over(t testing.TB, nc net.Conn) *esme {
	e := &esme{
		t: t, nc: nc, bw: bufio.NewWriter(nc),
		pending:  map[uint32]chan *smpp.PDU{},
		delivers: make(chan *smpp.PDU, 1<<16),
		others:   make(chan *smpp.PDU, 64),
		done:     make(chan struct{}),
	}
	go e.read()
	t.Cleanup(func() { nc.Close(); <-e.done })
	return e
}

// bind dials and binds; it fails the test unless the bind succeeds.
func bind(t testing.TB, addr string, cmd smpp.CommandID, systemID string) *esme {
	t.Helper()
	e := dial(t, addr)
	if st := e.bind(cmd, systemID, "secret"); st != smpp.StatusOK {
		t.Fatalf("bind: %v", st)
	}
	return e
}

func (e *esme) bind(cmd smpp.CommandID, systemID, password string) smpp.Status {
	e.t.Helper()
	p := e.call(&smpp.PDU{Command: cmd, Body: &smpp.Bind{SystemID: systemID, Password: password, InterfaceVersion: smpp.InterfaceVersion34}})
	if p == nil {
		e.t.Fatal("no bind_resp")
	}
	return p.Status
}

func (e *esme) read() {
	defer close(e.done)
	br := bufio.NewReader(e.nc)
	for {
		b, err := smpp.ReadFrame(br, 0)
		if err != nil {
			e.mu.Lock()
			e.err = err
			for _, ch := range e.pending {
				close(ch)
			}
			e.pending = map[uint32]chan *smpp.PDU{}
			e.mu.Unlock()
			return
		}
		p, err := smpp.Decode(b)
		if err != nil {
			e.t.Errorf("esme: decode %s: %v", p, err)
			continue
		}
		switch {
		case p.Command == smpp.DeliverSM:
			st, answer := smpp.StatusOK, true
			e.mu.Lock()
			e.events = append(e.events, "deliver")
			if e.ack != nil {
				st, answer = e.ack(p)
			}
			e.mu.Unlock()
			e.delivers <- p
			if answer {
				e.send(&smpp.PDU{Command: smpp.DeliverSMResp, Status: st, Seq: p.Seq, Body: &smpp.SMResp{}})
			}
		case p.Command.IsResponse():
			e.mu.Lock()
			e.events = append(e.events, "resp")
			ch := e.pending[p.Seq]
			delete(e.pending, p.Seq)
			e.mu.Unlock()
			if ch != nil {
				ch <- p
			}
		case p.Command == smpp.EnquireLink:
			e.send(&smpp.PDU{Command: smpp.EnquireLinkResp, Seq: p.Seq})
			select {
			case e.others <- p:
			default:
			}
		case p.Command == smpp.Unbind:
			e.others <- p
			e.send(&smpp.PDU{Command: smpp.UnbindResp, Seq: p.Seq})
		default:
			e.others <- p
		}
	}
}

func (e *esme) send(p *smpp.PDU) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	b, err := p.AppendTo(nil)
	if err != nil {
		e.t.Errorf("esme: encode %s: %v", p, err)
		return
	}
	e.bw.Write(b)
	e.bw.Flush()
}

// start sends a request and returns the channel its response arrives on
// (closed if the connection drops first).
func (e *esme) start(p *smpp.PDU) chan *smpp.PDU {
	ch := make(chan *smpp.PDU, 1)
	e.mu.Lock()
	e.seq++
	p.Seq = e.seq
	if e.err != nil {
		close(ch)
	} else {
		e.pending[p.Seq] = ch
	}
	e.mu.Unlock()
	e.send(p)
	return ch
}

// call sends a request and waits up to 5 s for its response (nil: none).
func (e *esme) call(p *smpp.PDU) *smpp.PDU {
	select {
	case r := <-e.start(p):
		return r
	case <-time.After(5 * time.Second):
		return nil
	}
}

func (e *esme) setAck(f func(*smpp.PDU) (smpp.Status, bool)) {
	e.mu.Lock()
	e.ack = f
	e.mu.Unlock()
}

// submit sends one submit_sm and returns its response.
func (e *esme) submit(sm *smpp.SM) *smpp.PDU {
	e.t.Helper()
	p := e.call(&smpp.PDU{Command: smpp.SubmitSM, Body: sm})
	if p == nil {
		e.t.Fatal("no submit_sm_resp")
	}
	return p
}

// receipts waits for n deliver_sm and parses them as receipts.
func (e *esme) receipts(n int, within time.Duration) []smpp.Receipt {
	e.t.Helper()
	var out []smpp.Receipt
	deadline := time.After(within)
	for len(out) < n {
		select {
		case p := <-e.delivers:
			r, err := smpp.ParseReceipt(p.SM())
			if err != nil {
				e.t.Fatalf("parse receipt: %v", err)
			}
			out = append(out, r)
		case <-deadline:
			e.t.Fatalf("got %d receipts of %d", len(out), n)
		}
	}
	return out
}

// noMore asserts no deliver_sm arrives for d.
func (e *esme) noMore(d time.Duration) {
	e.t.Helper()
	select {
	case p := <-e.delivers:
		e.t.Fatalf("unexpected deliver_sm %s", p)
	case <-time.After(d):
	}
}

func ucs2(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// sm builds a submit_sm body.
func sm(src, dst string, dc byte, msg []byte, rd byte) *smpp.SM {
	return &smpp.SM{
		Source:             smpp.Address{TON: smpp.TONAlphanumeric, Addr: src},
		Dest:               smpp.Address{TON: smpp.TONInternational, NPI: smpp.NPIISDN, Addr: dst},
		DataCoding:         dc,
		ShortMessage:       msg,
		RegisteredDelivery: rd,
	}
}

// concat splits UCS2 text into parts of 67 units with an 8-bit (or 16-bit)
// reference UDH.
func concat(src, dst, text string, ref uint16, sixteen bool) []*smpp.SM {
	u := utf16.Encode([]rune(text))
	var chunks [][]uint16
	for len(u) > 67 {
		chunks = append(chunks, u[:67])
		u = u[67:]
	}
	chunks = append(chunks, u)
	var out []*smpp.SM
	for i, c := range chunks {
		var msg []byte
		if sixteen {
			msg = []byte{6, 0x08, 4, byte(ref >> 8), byte(ref), byte(len(chunks)), byte(i + 1)}
		} else {
			msg = []byte{5, 0x00, 3, byte(ref), byte(len(chunks)), byte(i + 1)}
		}
		for _, x := range c {
			msg = append(msg, byte(x>>8), byte(x))
		}
		m := sm(src, dst, 8, msg, 1)
		m.ESMClass = smpp.ESMClassUDHI
		out = append(out, m)
	}
	return out
}

// start runs a simulator on 127.0.0.1:0 until the test ends.
func start(t testing.TB, cfg smsc.Config) *smsc.Server {
	t.Helper()
	s := smsc.New(cfg)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func statusOf(p *smpp.PDU) string {
	if p == nil {
		return "no response"
	}
	return fmt.Sprintf("%s %s", p.Command, p.Status)
}
