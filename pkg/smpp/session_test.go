package smpp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func openSession(t *testing.T, tp *testPeer, cfg SessionConfig) *Session {
	t.Helper()
	if cfg.Bind.Password == "" {
		cfg.Bind = Bind{SystemID: "gw", Password: "pw"}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := Dial(ctx, tp.addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func submitSM(text string) *SM {
	return &SM{Source: Address{Addr: "12123"}, Dest: Address{1, 1, "8613800138000"}, ShortMessage: []byte(text)}
}

func TestBind(t *testing.T) {
	tp := newTestPeer(t)
	tests := []struct {
		name    string
		mode    BindMode
		pass    string
		wantCmd CommandID
		wantErr error
	}{
		{"transceiver", ModeTransceiver, "pw", BindTransceiver, nil},
		{"transmitter", ModeTransmitter, "pw", BindTransmitter, nil},
		{"receiver", ModeReceiver, "pw", BindReceiver, nil},
		{"bad password", ModeTransceiver, "nope", BindTransceiver, ErrInvalidPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Dial(t.Context(), tp.addr(), SessionConfig{Bind: Bind{SystemID: "gw", Password: tc.pass}, Mode: tc.mode})
			if got := tp.waitFor(t, tc.wantCmd); got.Body.(*Bind).InterfaceVersion != 0x34 {
				t.Fatalf("interface_version %x", got.Body.(*Bind).InterfaceVersion)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if s.PeerSystemID() != "testsmsc" {
				t.Fatalf("peer id %q", s.PeerSystemID())
			}
			if tc.mode == ModeReceiver {
				if _, err := s.Submit(t.Context(), submitSM("x")); !errors.Is(err, ErrWrongBindMode) {
					t.Fatalf("submit on receiver: %v", err)
				}
			}
		})
	}
}

// TestSeqCollision is the go-smpp bug: a deliver_sm that carries the
// sequence number of a pending submit_sm must reach the handler and must
// not complete the submit.
func TestSeqCollision(t *testing.T) {
	tp := newTestPeer(t)
	release := make(chan struct{})
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		go func() {
			// Receipt first, with the submit's own sequence number.
			pc.receipt("other-id", "DELIVRD", p.Seq)
			<-release
			pc.respond(p, StatusOK, &SMResp{MessageID: "the-id"})
		}()
	})
	var mu sync.Mutex
	var got []Receipt
	handled := make(chan struct{}, 1)
	s := openSession(t, tp, SessionConfig{Handler: HandlerFunc(func(ctx context.Context, p *PDU) error {
		r, err := ParseReceipt(p.SM())
		if err != nil {
			t.Errorf("receipt: %v", err)
		}
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		handled <- struct{}{}
		return nil
	})})
	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := s.Submit(t.Context(), submitSM("hi"))
		done <- result{id, err}
	}()
	<-handled
	resp := tp.waitFor(t, DeliverSMResp)
	select {
	case r := <-done:
		t.Fatalf("submit completed by the deliver_sm: %+v", r)
	default:
	}
	close(release)
	r := <-done
	if r.err != nil || r.id != "the-id" {
		t.Fatalf("submit = %q, %v", r.id, r.err)
	}
	if resp.Status != StatusOK || got[0].MessageID != "other-id" || got[0].State != StateDelivered {
		t.Fatalf("receipt %+v resp %v", got, resp)
	}
}

func TestWindowBlocks(t *testing.T) {
	tp := newTestPeer(t)
	var mu sync.Mutex
	var held []*PDU
	var conn *peerConn
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		mu.Lock()
		held = append(held, p)
		conn = pc
		mu.Unlock()
	})
	s := openSession(t, tp, SessionConfig{Window: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			_, err := s.Submit(t.Context(), submitSM("x"))
			errs <- err
		})
	}
	tp.waitFor(t, SubmitSM)
	tp.waitFor(t, SubmitSM)
	if s.InFlight() != 2 {
		t.Fatalf("in flight %d", s.InFlight())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err := s.Submit(ctx, submitSM("third"))
	cancel()
	var re *RequestError
	if !errors.As(err, &re) || re.Sent || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third submit: %v", err)
	}
	if retry, reason := Classify(err); !retry || reason != ReasonCanceled {
		t.Fatalf("classify %v %v", retry, reason)
	}
	mu.Lock()
	for _, p := range held {
		conn.respond(p, StatusOK, &SMResp{MessageID: "ok"})
	}
	mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s.InFlight() != 0 {
		t.Fatalf("in flight %d after responses", s.InFlight())
	}
}

func TestTimeoutAndLateResponse(t *testing.T) {
	tp := newTestPeer(t)
	late := make(chan struct{})
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		go func() {
			<-late
			pc.respond(p, StatusOK, &SMResp{MessageID: "late"})
		}()
	})
	m := NewMetrics(prometheus.NewRegistry())
	s := openSession(t, tp, SessionConfig{RequestTimeout: 100 * time.Millisecond, Metrics: m, Name: "test"})
	_, err := s.Submit(t.Context(), submitSM("x"))
	var re *RequestError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &re) || !re.Sent {
		t.Fatalf("err = %v", err)
	}
	if retry, reason := Classify(err); !retry || reason != ReasonTimeout {
		t.Fatalf("classify %v %v", retry, reason)
	}
	close(late)
	// The session stays usable and counts the late response.
	tp.setSubmit(nil)
	if _, err := s.Submit(t.Context(), submitSM("y")); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(t, m.LateResponses.WithLabelValues("test", "smpp")); n != 1 {
		t.Fatalf("late responses %v", n)
	}
	if n := metricValue(t, m.WindowInUse.WithLabelValues("test", "smpp")); n != 0 {
		t.Fatalf("window gauge %v", n)
	}
}

func TestStatusResponses(t *testing.T) {
	tp := newTestPeer(t)
	tests := []struct {
		name   string
		status Status
		nack   bool
		retry  bool
		reason Reason
	}{
		{"throttled", ErrThrottled.Status, false, true, ReasonThrottled},
		{"queue full", ErrMsgQueueFull.Status, false, true, ReasonQueueFull},
		{"system error", ErrSystem.Status, false, true, ReasonSMSC},
		{"bad destination", ErrInvalidDstAddr.Status, false, false, ReasonRejected},
		{"vendor code", 0x450, false, false, ReasonRejected},
		{"generic_nack", ErrInvalidCmdLen.Status, true, false, ReasonRejected},
	}
	s := openSession(t, tp, SessionConfig{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp.setSubmit(func(pc *peerConn, p *PDU) {
				if tc.nack {
					pc.send(&PDU{Command: GenericNack, Status: tc.status, Seq: p.Seq})
					return
				}
				pc.respond(p, tc.status, nil)
			})
			_, err := s.Submit(t.Context(), submitSM("x"))
			if !errors.Is(err, tc.status.Err()) {
				t.Fatalf("err = %v", err)
			}
			if tc.nack != errors.Is(err, ErrGenericNack) {
				t.Fatalf("generic_nack: %v", err)
			}
			if retry, reason := Classify(err); retry != tc.retry || reason != tc.reason {
				t.Fatalf("classify = %v %v", retry, reason)
			}
		})
	}
}

func TestPeerUnbind(t *testing.T) {
	tp := newTestPeer(t)
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		pc.send(&PDU{Command: Unbind, Seq: 999})
	})
	s := openSession(t, tp, SessionConfig{})
	_, err := s.Submit(t.Context(), submitSM("x"))
	if !errors.Is(err, ErrUnbound) {
		t.Fatalf("submit: %v", err)
	}
	if retry, reason := Classify(err); !retry || reason != ReasonUnknown {
		t.Fatalf("classify %v %v", retry, reason)
	}
	if p := tp.waitFor(t, UnbindResp); p.Seq != 999 {
		t.Fatalf("unbind_resp seq %d", p.Seq)
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrUnbound) {
		t.Fatalf("session err %v", s.Err())
	}
	if _, err := s.Submit(t.Context(), submitSM("y")); !errors.Is(err, ErrUnbound) {
		t.Fatalf("submit after unbind: %v", err)
	}
}

func TestEnquireLink(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		tp := newTestPeer(t)
		s := openSession(t, tp, SessionConfig{EnquireLink: 20 * time.Millisecond})
		tp.waitFor(t, EnquireLink)
		tp.waitFor(t, EnquireLink)
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		// The peer's enquire_link is answered too.
		pc := tp.lastConn()
		pc.send(&PDU{Command: EnquireLink, Seq: 77})
		for {
			p := tp.waitFor(t, EnquireLinkResp)
			if p.Seq == 77 {
				break
			}
		}
	})
	t.Run("dead", func(t *testing.T) {
		tp := newTestPeer(t)
		tp.silentEnquire.Store(true)
		s := openSession(t, tp, SessionConfig{EnquireLink: 20 * time.Millisecond, RequestTimeout: 60 * time.Millisecond})
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("session did not notice the dead link")
		}
		if !errors.Is(s.Err(), ErrLinkDead) {
			t.Fatalf("err %v", s.Err())
		}
	})
}

func TestInbound(t *testing.T) {
	tp := newTestPeer(t)
	release := make(chan struct{})
	entered := make(chan *PDU, 10)
	s := openSession(t, tp, SessionConfig{Handler: HandlerFunc(func(ctx context.Context, p *PDU) error {
		entered <- p
		if p.Command == DataSM {
			<-release
			return errors.New("store down")
		}
		return nil
	})})
	pc := tp.lastConn()
	pc.send(&PDU{Command: DataSM, Seq: 5, Body: &DataSMBody{Source: Address{1, 1, "8613800138000"}}})
	if p := <-entered; p.Command != DataSM {
		t.Fatalf("handler got %s", p.Command)
	}
	// Not acked while the handler runs; other PDUs still flow.
	pc.send(&PDU{Command: CommandID(0x00000999), Seq: 6, Body: &Raw{Data: []byte{1}}})
	if p := tp.waitFor(t, GenericNack); p.Seq != 6 || p.Status != ErrInvalidCmdID.Status {
		t.Fatalf("generic_nack %v", p)
	}
	pc.send(&PDU{Command: AlertNotification, Seq: 7, Body: &AlertNotificationBody{}})
	if p := <-entered; p.Command != AlertNotification {
		t.Fatalf("handler got %s", p.Command)
	}
	select {
	case p := <-tp.got:
		t.Fatalf("unexpected %s before the handler returned", p)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	p := tp.waitFor(t, DataSMResp)
	if p.Seq != 5 || p.Status != ErrSystem.Status {
		t.Fatalf("data_sm_resp %v", p)
	}
	// A malformed deliver_sm is answered, not fatal.
	bad := []byte{0, 0, 0, 20, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 8, 'a', 'b', 'c', 'd'}
	pc.wmu.Lock()
	pc.w.Write(bad)
	pc.w.Flush()
	pc.wmu.Unlock()
	if p := tp.waitFor(t, DeliverSMResp); p.Seq != 8 || p.Status != ErrInvalidCmdLen.Status {
		t.Fatalf("malformed deliver_sm answered %v", p)
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

func TestGracefulUnbind(t *testing.T) {
	tp := newTestPeer(t)
	hold := make(chan struct{})
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		go func() {
			<-hold
			pc.respond(p, StatusOK, &SMResp{MessageID: "done"})
		}()
	})
	s := openSession(t, tp, SessionConfig{})
	res := make(chan error, 1)
	go func() {
		_, err := s.Submit(t.Context(), submitSM("x"))
		res <- err
	}()
	tp.waitFor(t, SubmitSM)
	unbound := make(chan error, 1)
	go func() { unbound <- s.Unbind(t.Context()) }()
	// New requests are refused while unbinding.
	for {
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Submit(t.Context(), submitSM("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit while unbinding: %v", err)
	}
	select {
	case p := <-tp.got:
		t.Fatalf("%s sent while a submit was in flight", p)
	default:
	}
	close(hold)
	if err := <-res; err != nil {
		t.Fatalf("in-flight submit: %v", err)
	}
	tp.waitFor(t, Unbind)
	if err := <-unbound; err != nil {
		t.Fatal(err)
	}
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("not a counter or gauge")
	return 0
}

func TestSubmitRespWithoutID(t *testing.T) {
	tp := newTestPeer(t)
	tp.setSubmit(func(pc *peerConn, p *PDU) {
		// A body that does not parse (no terminating NUL), status OK.
		pc.wmu.Lock()
		pc.w.Write([]byte{0, 0, 0, 19, 0x80, 0, 0, 4, 0, 0, 0, 0, byte(p.Seq >> 24), byte(p.Seq >> 16), byte(p.Seq >> 8), byte(p.Seq), 'a', 'b', 'c'})
		pc.w.Flush()
		pc.wmu.Unlock()
	})
	s := openSession(t, tp, SessionConfig{})
	_, err := s.Submit(t.Context(), submitSM("x"))
	if retry, reason := Classify(err); !errors.Is(err, ErrMalformed) || !retry || reason != ReasonUnknown {
		t.Fatalf("err = %v (%v %v)", err, retry, reason)
	}
}

func TestCloseFailsPending(t *testing.T) {
	tp := newTestPeer(t)
	tp.setSubmit(func(pc *peerConn, p *PDU) {}) // never answers
	s := openSession(t, tp, SessionConfig{})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Submit(t.Context(), submitSM("x"))
		errc <- err
	}()
	tp.waitFor(t, SubmitSM)
	s.Close()
	err := <-errc
	var re *RequestError
	if !errors.As(err, &re) || !re.Sent || !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Submit(t.Context(), submitSM("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
