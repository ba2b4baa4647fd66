package smpp

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPeer is a scripted SMSC on 127.0.0.1:0 for the session and client
// tests. It speaks real SMPP over real sockets with this package's codec;
// each test scripts the odd behaviour it needs (colliding sequence
// numbers, late responses, unbind) through onSubmit and the conns.
// pkg/smpp/smsc is the full simulator; this peer exists so the tests can
// drive protocol edge cases the simulator would never produce.
type testPeer struct {
	t  testing.TB
	ln net.Listener

	password string // binds with another password are refused
	// onSubmit handles a submit_sm; nil: respond with id "m<n>".
	onSubmit      atomic.Pointer[func(pc *peerConn, p *PDU)]
	silentEnquire atomic.Bool // do not answer enquire_link

	mu     sync.Mutex
	conns  []*peerConn
	nextID atomic.Int64
	got    chan *PDU // every PDU received, for assertions
	wg     sync.WaitGroup
}

type peerConn struct {
	peer *testPeer
	conn net.Conn
	wmu  sync.Mutex
	w    *bufio.Writer
	seq  atomic.Uint32
}

func newTestPeer(t testing.TB) *testPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPeer{t: t, ln: ln, password: "pw", got: make(chan *PDU, 100000)}
	tp.wg.Go(tp.accept)
	t.Cleanup(tp.close)
	return tp
}

func (tp *testPeer) addr() string { return tp.ln.Addr().String() }

func (tp *testPeer) close() {
	tp.ln.Close()
	tp.mu.Lock()
	for _, c := range tp.conns {
		c.conn.Close()
	}
	tp.mu.Unlock()
	tp.wg.Wait()
}

// dropAll closes every connection, as a crashed SMSC would.
func (tp *testPeer) dropAll() {
	tp.mu.Lock()
	for _, c := range tp.conns {
		c.conn.Close()
	}
	tp.conns = nil
	tp.mu.Unlock()
}

func (tp *testPeer) lastConn() *peerConn {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.conns) == 0 {
		return nil
	}
	return tp.conns[len(tp.conns)-1]
}

func (tp *testPeer) accept() {
	for {
		c, err := tp.ln.Accept()
		if err != nil {
			return
		}
		pc := &peerConn{peer: tp, conn: c, w: bufio.NewWriter(c)}
		tp.mu.Lock()
		tp.conns = append(tp.conns, pc)
		tp.mu.Unlock()
		tp.wg.Go(pc.serve)
	}
}

func (pc *peerConn) send(p *PDU) error {
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	if _, err := pc.w.Write(b); err != nil {
		return err
	}
	return pc.w.Flush()
}

func (pc *peerConn) respond(req *PDU, status Status, body Body) {
	pc.send(&PDU{Command: req.Command.Response(), Status: status, Seq: req.Seq, Body: body})
}

// receipt sends a deliver_sm receipt for id with the given sequence
// number (0: the peer's own next one).
func (pc *peerConn) receipt(id, stat string, seq uint32) error {
	if seq == 0 {
		seq = pc.seq.Add(1)
	}
	text := fmt.Sprintf("id:%s sub:001 dlvrd:001 submit date:2611270830 done date:2611270831 stat:%s err:000 text:", id, stat)
	return pc.send(&PDU{Command: DeliverSM, Seq: seq, Body: &SM{
		Source: Address{1, 1, "8613800138000"}, Dest: Address{0, 0, "12123"},
		ESMClass: ESMClassReceipt, ShortMessage: []byte(text),
		TLVs: TLVs{{TagReceiptedMessageID, CStringValue(id)}},
	}})
}

func (pc *peerConn) serve() {
	r := bufio.NewReader(pc.conn)
	defer pc.conn.Close()
	for {
		b, err := ReadFrame(r, 0)
		if err != nil {
			return
		}
		p, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				pc.peer.t.Errorf("peer decode: %v", err)
			}
			pc.send(&PDU{Command: GenericNack, Status: ErrInvalidCmdLen.Status, Seq: p.Seq})
			continue
		}
		select {
		case pc.peer.got <- p:
		default:
		}
		switch p.Command {
		case BindTransceiver, BindTransmitter, BindReceiver:
			if p.Body.(*Bind).Password != pc.peer.password {
				pc.respond(p, ErrInvalidPassword.Status, nil)
				continue
			}
			pc.respond(p, StatusOK, &BindResp{SystemID: "testsmsc"})
		case SubmitSM:
			if f := pc.peer.onSubmit.Load(); f != nil {
				(*f)(pc, p)
				continue
			}
			pc.respond(p, StatusOK, &SMResp{MessageID: fmt.Sprintf("m%d", pc.peer.nextID.Add(1))})
		case EnquireLink:
			if !pc.peer.silentEnquire.Load() {
				pc.respond(p, StatusOK, nil)
			}
		case Unbind:
			pc.respond(p, StatusOK, nil)
			return
		case DeliverSMResp, DataSMResp, EnquireLinkResp, UnbindResp, GenericNack:
		default:
			pc.send(&PDU{Command: GenericNack, Status: ErrInvalidCmdID.Status, Seq: p.Seq})
		}
	}
}

// waitFor returns the next received PDU with the command.
func (tp *testPeer) waitFor(t testing.TB, cmd CommandID) *PDU {
	t.Helper()
	for {
		select {
		case p := <-tp.got:
			if p.Command == cmd {
				return p
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s received within 10 s", cmd)
		}
	}
}

// setSubmit scripts the answer to submit_sm (nil: the default).
func (tp *testPeer) setSubmit(f func(pc *peerConn, p *PDU)) {
	if f == nil {
		tp.onSubmit.Store(nil)
		return
	}
	tp.onSubmit.Store(&f)
}
