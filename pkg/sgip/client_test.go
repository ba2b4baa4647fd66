package sgip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/sgip"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
)

const (
	spLogin, spPassword   = "sp12123", "pw"
	smgLogin, smgPassword = "unicom", "smgpw"
	node                  = 3053112123
)

type rig struct {
	sim *smg.Server
	c   *sgip.Client
	m   *cnsms.Metrics
	ln  net.Listener
	// stop ends the client's Run.
	stop func()
}

type receipts struct {
	mu   sync.Mutex
	byID map[string]sgip.Receipt
	ch   chan sgip.Receipt
}

func (r *receipts) on(_ context.Context, rc sgip.Receipt) error {
	r.mu.Lock()
	r.byID[rc.ID] = rc
	r.mu.Unlock()
	r.ch <- rc
	return nil
}

func (r *receipts) wait(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d reports", n)
		}
	}
}

func newReceipts() *receipts {
	return &receipts{byID: map[string]sgip.Receipt{}, ch: make(chan sgip.Receipt, 1<<16)}
}

// start runs an SMG simulator and a client whose listener the simulator
// connects back to.
func start(t testing.TB, sc smg.Config, cc sgip.Config) *rig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sc.Accounts = map[string]string{spLogin: spPassword}
	sc.SPAddr, sc.SPLogin, sc.SPPassword = ln.Addr().String(), smgLogin, smgPassword
	sim, err := smg.Start(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	m := cnsms.NewMetrics(nil)
	cc.Name, cc.Addr, cc.Login, cc.Password, cc.NodeID = "cucc", sim.Addr(), spLogin, spPassword, node
	cc.Listener, cc.SMGLogin, cc.SMGPassword, cc.Metrics = ln, smgLogin, smgPassword, m
	if cc.SPNumber == "" {
		cc.SPNumber = "1065512123"
	}
	cc.ReconnectMin = 20 * time.Millisecond
	c, err := sgip.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return &rig{sim: sim, c: c, m: m, ln: ln, stop: stop}
}

func TestSendAndReport(t *testing.T) {
	rc := newReceipts()
	r := start(t, smg.Config{}, sgip.Config{OnReceipt: rc.on, CorpID: "12123", ServiceType: "JTGL"})
	long := strings.Repeat("交通违法提醒：您的车辆在路口闯红灯。", 8)
	res, err := r.c.Send(context.Background(), sgip.Message{Dest: "13012345678", Text: long})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := r.c.Send(context.Background(), sgip.Message{Dest: "13012345678", Text: "short", Ext: "9"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) < 3 {
		t.Fatalf("%d parts", len(res.Parts))
	}
	rc.wait(t, len(res.Parts)+1)
	for _, p := range append(res.Parts, res2.Parts...) {
		if p.Status != sgip.PartAccepted || p.SeqID.Node != node {
			t.Fatalf("part %+v", p)
		}
		got, ok := rc.byID[p.ID]
		if !ok || !got.Delivered || got.Stat != "DELIVRD" || got.Dest != "13012345678" {
			t.Fatalf("report for %s: %+v %v", p.ID, got, ok)
		}
	}
	got := r.sim.Received("8613012345678")
	if len(got) != 2 || got[0].Text != long || got[0].Parts != len(res.Parts) || got[1].Text != "short" || got[1].SPNumber != "10655121239" {
		t.Fatalf("handset got %+v", got)
	}
	if n := testutil.ToFloat64(r.m.Receipts.WithLabelValues("cucc", "sgip", "DELIVRD")); n != float64(len(res.Parts)+1) {
		t.Fatalf("receipts metric %v", n)
	}
}

func TestSMGMustAuthenticate(t *testing.T) {
	rc := newReceipts()
	r := start(t, smg.Config{}, sgip.Config{OnReceipt: rc.on, SMGAllowed: []string{"127.0.0.1"}})
	// A stranger binding to our listener with the wrong password is refused.
	for _, tc := range []struct {
		name, pw string
		login    byte
		want     byte
	}{
		{smgLogin, "wrong", sgip.LoginSMGToSP, sgip.ResultBadLogin},
		{smgLogin, smgPassword, sgip.LoginSPToSMG, sgip.ResultBadLoginType},
	} {
		conn, err := net.Dial("tcp", r.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := sgip.AppendBind(nil, &sgip.Bind{LoginType: tc.login, Name: tc.name, Password: tc.pw})
		conn.Write(cnsms.AppendFrameOf(nil, cnsms.Frame{Cmd: sgip.CmdBind, Node: 1, Time: 2, Seq: 3, Body: body}, cnsms.FramingSGIP))
		buf := make([]byte, 29)
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := ioReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		f, err := cnsms.ParseFrameOf(buf, cnsms.FramingSGIP)
		if err != nil || f.Cmd != sgip.CmdBindResp || f.Node != 1 || f.Time != 2 || f.Seq != 3 || f.Body[0] != tc.want {
			t.Fatalf("%+v %v", f, err)
		}
		conn.Close()
	}
	// The real SMG gets in and its reports arrive.
	if _, err := r.c.Send(context.Background(), sgip.Message{Dest: "13012345678", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	rc.wait(t, 1)
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestBindRefused(t *testing.T) {
	sim, err := smg.Start(smg.Config{Accounts: map[string]string{spLogin: spPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	m := cnsms.NewMetrics(nil)
	c, err := sgip.NewClient(sgip.Config{Name: "x", Addr: sim.Addr(), Login: spLogin, Password: "bad", NodeID: node, Metrics: m, ReconnectMin: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go c.Run(ctx)
	if err := c.WaitReady(ctx); err == nil {
		t.Fatal("bound with a wrong password")
	}
	if n := testutil.ToFloat64(m.BindAttempts.WithLabelValues("x", "sgip", "error")); n < 1 {
		t.Fatalf("bind attempts %v", n)
	}
}

func TestNodeBusyAndRefused(t *testing.T) {
	rc := newReceipts()
	r := start(t, smg.Config{BusyFraction: 0.3, Seed: 3, Refuse: func(u string) byte {
		if u == "8613099999999" {
			return sgip.ResultUnknownUser
		}
		return 0
	}}, sgip.Config{OnReceipt: rc.on, ThrottleBackoff: time.Millisecond, ThrottleMaxPause: 5 * time.Millisecond, ThrottleRetries: 20})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := r.c.Send(context.Background(), sgip.Message{Dest: "130000000" + string(rune('0'+i/10)) + string(rune('0'+i%10)), Text: "m"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := r.sim.Stats(); st.Busy == 0 || st.Accepted != 40 {
		t.Fatalf("stats %+v", st)
	}
	rc.wait(t, 40)
	res, err := r.c.Send(context.Background(), sgip.Message{Dest: "13099999999", Text: "x"})
	if err == nil || res.Parts[0].Status != sgip.PartRefused || res.Parts[0].Code != sgip.ResultUnknownUser || res.Parts[0].Retryable {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestLateResponse(t *testing.T) {
	lates := make(chan sgip.Late, 1)
	r := start(t, smg.Config{LateFraction: 1, LateDelay: 300 * time.Millisecond},
		sgip.Config{RequestTimeout: 50 * time.Millisecond, OnLate: func(l sgip.Late) { lates <- l }, NoReports: true})
	res, err := r.c.Send(context.Background(), sgip.Message{Dest: "13000000003", Text: "late", Ref: "m-1"})
	if err == nil || res.Parts[0].Status != sgip.PartUnknown {
		t.Fatalf("%+v %v", res, err)
	}
	select {
	case l := <-lates:
		if l.Ref != "m-1" || l.Result != 0 || l.SeqID.Node != node {
			t.Fatalf("late %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no late response")
	}
}

func TestLongMOOverListener(t *testing.T) {
	mos := make(chan sgip.Incoming, 4)
	var calls atomic.Int32
	r := start(t, smg.Config{}, sgip.Config{OnMessage: func(_ context.Context, m sgip.Incoming) error {
		if calls.Add(1) == 1 {
			return errors.New("ledger down")
		}
		mos <- m
		return nil
	}})
	text := strings.Repeat("申请撤销违法记录，车牌京A12345。", 6)
	ctx := context.Background()
	if err := r.sim.SendMO(ctx, "8613000000000", "1065512123", text); !errors.Is(err, sgip.ErrNodeBusy) {
		t.Fatalf("first try: %v", err)
	}
	if err := r.sim.SendMO(ctx, "8613000000000", "1065512123", text); err != nil {
		t.Fatal(err)
	}
	m := <-mos
	if m.Text != text || m.Parts < 2 || m.Source != "13000000000" || m.Dest != "1065512123" {
		t.Fatalf("got %+v", m)
	}
}

func TestUnbindBothWays(t *testing.T) {
	r := start(t, smg.Config{}, sgip.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for r.sim.Stats().Conns == 0 {
		time.Sleep(time.Millisecond)
	}
	r.sim.UnbindAll(ctx)
	for testutil.ToFloat64(r.m.BindAttempts.WithLabelValues("cucc", "sgip", "ok")) < 2 {
		if ctx.Err() != nil {
			t.Fatal("client did not bind again after the SMG's UNBIND")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := r.c.Send(ctx, sgip.Message{Dest: "13000000004", Text: "after"}); err != nil {
		t.Fatal(err)
	}
	r.stop()
	for r.sim.Stats().Unbound < 1 {
		if ctx.Err() != nil {
			t.Fatalf("SMG saw no UNBIND: %+v", r.sim.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConnectionDropUnknown(t *testing.T) {
	rc := newReceipts()
	r := start(t, smg.Config{DropEvery: 3}, sgip.Config{OnReceipt: rc.on, RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unknown := 0
	for i := range 6 {
		res, err := r.c.Send(ctx, sgip.Message{Dest: "13000000006", Text: "n" + string(rune('0'+i))})
		if err != nil {
			if p := res.Parts[0]; p.Status != sgip.PartUnknown || p.Reason != sgip.ReasonUnknown {
				t.Fatalf("message %d: %+v", i, p)
			}
			unknown++
		}
	}
	if unknown != 2 || r.sim.Stats().Dropped != 2 {
		t.Fatalf("%d unknown, %+v", unknown, r.sim.Stats())
	}
	rc.wait(t, 6)
	if got := r.sim.Received("8613000000006"); len(got) != 6 {
		t.Fatalf("handset got %d", len(got))
	}
}

func TestSMGRateLimit(t *testing.T) {
	r := start(t, smg.Config{TPS: 200}, sgip.Config{NoReports: true, ThrottleBackoff: 20 * time.Millisecond, ThrottleRetries: 50})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			dest := "1300001" + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10)) + "0"
			if _, err := r.c.Send(context.Background(), sgip.Message{Dest: dest, Text: "r"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := r.sim.Stats(); st.Busy == 0 || st.Accepted != 300 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&sgip.Config{Login: "x", ListenAddr: ":0", SMGAllowed: []string{"not-an-ip"}, CorpID: "123456"}).Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"Name", "Addr", "NodeID", "SMGLogin", "not-an-ip", "CorpID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported: %v", want, err)
		}
	}
}

// A part's id is its SGIP_SUBMIT's sequence number: with several
// connections submitting in the same second the ids must still differ,
// or a report settles the wrong part.
func TestIDsUniqueAcrossConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := smg.Start(smg.Config{Accounts: map[string]string{"sp": "pw"}, SPAddr: ln.Addr().String(), SPLogin: "smg", SPPassword: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, err := sgip.NewClient(sgip.Config{Name: "cu", Addr: sim.Addr(), Login: "sp", Password: "pw", NodeID: 3053112123, Conns: 3,
		Listener: ln, SMGLogin: "smg", SMGPassword: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for c.ConnsUp() < 3 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			res, err := c.Send(ctx, sgip.Message{Dest: fmt.Sprintf("130%08d", i), Text: "x"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[res.IDs[0]] {
				t.Errorf("id %s given twice", res.IDs[0])
			}
			seen[res.IDs[0]] = true
		})
	}
	wg.Wait()
}

// The SMG sends SGIP_UNBIND on the submit connection with a submit in flight and answers it
// right after: the client reads that answer before it answers the
// UNBIND, so no part's outcome is unknown, and it reconnects.
func TestTerminateInFlight(t *testing.T) {
	rc := newReceipts()
	r := start(t, smg.Config{UnbindAfter: 2}, sgip.Config{OnReceipt: rc.on, RequestTimeout: 2 * time.Second})
	sim, c := r.sim, r.c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := strings.Repeat("交通违法提醒：您的车辆在路口闯红灯。", 8) // 3 parts in flight together
	parts := 0
	for i := range 6 {
		text := "n" + string(rune('0'+i))
		if i%2 == 1 {
			text = long
		}
		res, err := c.Send(ctx, sgip.Message{Dest: "13900000007", Text: text})
		if err != nil {
			t.Fatalf("message %d: %v (%+v)", i, err, res.Parts)
		}
		parts += len(res.Parts)
	}
	if st := sim.Stats(); st.Unbinds < 3 || st.Accepted != int64(parts) {
		t.Fatalf("%d parts accepted by the client; %+v", parts, st)
	}
	rc.wait(t, parts)
	if got := sim.Received("8613900000007"); len(got) != 6 {
		t.Fatalf("handset got %d messages", len(got))
	}
}

// Each report reaches the listener ahead of its SUBMIT_RESP, or twice:
// every report names (by its sequence number) a part the client sent.
func TestReportFirstAndDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    smg.Config
		copies int
	}{
		{"ReportFirst", smg.Config{ReportFirst: true}, 1},
		{"Duplicates", smg.Config{DuplicateReports: 1}, 2},
		{"Both", smg.Config{ReportFirst: true, DuplicateReports: 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceipts()
			r := start(t, tc.cfg, sgip.Config{OnReceipt: rc.on})
			sim, c := r.sim, r.c
			var ids []string
			for i := range 5 {
				res, err := c.Send(context.Background(), sgip.Message{Dest: "13900000008", Text: "r" + string(rune('0'+i))})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, res.IDs...)
			}
			rc.wait(t, tc.copies*len(ids))
			for _, id := range ids {
				if r, ok := rc.byID[id]; !ok || !r.Delivered {
					t.Fatalf("no report for %s: %+v", id, rc.byID)
				}
			}
			st := sim.Stats()
			for end := time.Now().Add(5 * time.Second); st.ReportsAcked < int64(tc.copies*len(ids)) && time.Now().Before(end); st = sim.Stats() {
				time.Sleep(5 * time.Millisecond) // the DELIVER_RESPs are on their way
			}
			first := int64(0)
			if tc.cfg.ReportFirst {
				first = int64(len(ids))
			}
			if st.ReportsFirst != first || st.Duplicated != int64((tc.copies-1)*len(ids)) || st.ReportsAcked != int64(tc.copies*len(ids)) {
				t.Fatalf("%+v", st)
			}
		})
	}
}

// TestListenPortInUse: a listen address already taken is an error from
// Listen, before anything runs, and Run returns it at once rather than
// keeping binds up for a carrier whose reports could never arrive.
func TestListenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c, err := sgip.NewClient(sgip.Config{Name: "cucc", Addr: "127.0.0.1:1", Login: spLogin, Password: spPassword, NodeID: node,
		ListenAddr: busy.Addr().String(), SMGLogin: smgLogin, SMGPassword: smgPassword, SPNumber: "1065512123"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen: %v, want address in use", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Run(ctx); !errors.Is(err, syscall.EADDRINUSE) || ctx.Err() != nil {
		t.Fatalf("Run: %v (ctx %v), want address in use at once", err, ctx.Err())
	}
}

// TestListenOnce: Listen opens ListenAddr once; Run serves on what it
// opened (the SMG binds and reports through it).
func TestListenOnce(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	rc := newReceipts()
	sim, err := smg.Start(smg.Config{Accounts: map[string]string{spLogin: spPassword}, SPAddr: addr, SPLogin: smgLogin, SPPassword: smgPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, err := sgip.NewClient(sgip.Config{Name: "cucc", Addr: sim.Addr(), Login: spLogin, Password: spPassword, NodeID: node,
		ListenAddr: addr, SMGLogin: smgLogin, SMGPassword: smgPassword, SPNumber: "1065512123", OnReceipt: rc.on})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(wctx, sgip.Message{Dest: "13012345678", Text: "report through the listener Listen opened"}); err != nil {
		t.Fatal(err)
	}
	rc.wait(t, 1)
}
