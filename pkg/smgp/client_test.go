package smgp_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smgp"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

const (
	spID   = "90123456"
	secret = "s3cret"
)

func startSMGW(t testing.TB, cfg smgw.Config) *smgw.Server {
	t.Helper()
	if cfg.Accounts == nil {
		cfg.Accounts = map[string]string{spID: secret}
	}
	s, err := smgw.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type receipts struct {
	mu   sync.Mutex
	byID map[string]smgp.Receipt
	ch   chan smgp.Receipt
}

func newReceipts() *receipts {
	return &receipts{byID: map[string]smgp.Receipt{}, ch: make(chan smgp.Receipt, 1<<16)}
}

func (r *receipts) on(_ context.Context, rc smgp.Receipt) error {
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
			t.Fatalf("receipts: fewer than %d", n)
		}
	}
}

func startClient(t testing.TB, cfg smgp.Config) (*smgp.Client, context.CancelFunc) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "ctcc"
	}
	if cfg.ClientID == "" {
		cfg.ClientID, cfg.Secret = spID, secret
	}
	cfg.ReconnectMin = 20 * time.Millisecond
	c, err := smgp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return c, cancel
}

func TestSendAndReceipt(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	rc := newReceipts()
	reg := prometheus.NewRegistry()
	m := cnsms.NewMetrics(reg)
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), SrcTermID: "1069012123", ServiceID: "JTGL", OnReceipt: rc.on, Metrics: m})
	long := strings.Repeat("交通违法提醒：您的车辆在路口闯红灯。", 8) // > 70 UCS2 units
	res, err := c.Send(context.Background(), smgp.Message{Dest: "13312345678", Text: long})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parts) < 3 {
		t.Fatalf("%d parts for %d runes", len(res.Parts), len([]rune(long)))
	}
	res2, err := c.Send(context.Background(), smgp.Message{Dest: "13312345678", Text: "short", Ext: "01"})
	if err != nil {
		t.Fatal(err)
	}
	rc.wait(t, len(res.Parts)+1)
	for _, p := range append(res.Parts, res2.Parts...) {
		if p.Status != smgp.PartAccepted || len(p.ID) != 20 {
			t.Fatalf("part %+v", p)
		}
		r, ok := rc.byID[p.ID]
		if !ok || r.Stat != "DELIVRD" || !r.Delivered || r.Dest != "13312345678" || r.Err != "000" {
			t.Fatalf("receipt for %s: %+v %v", p.ID, r, ok)
		}
	}
	got := sim.Received("13312345678")
	if len(got) != 2 || got[0].Text != long || got[0].Parts != len(res.Parts) || got[1].Text != "short" || got[1].Src != "106901212301" {
		t.Fatalf("handset got %+v", got)
	}
	if got[0].MsgFormat != cnsms.FmtUCS2 {
		t.Fatalf("MsgFormat %d", got[0].MsgFormat)
	}
	if n := testutil.ToFloat64(m.Submits.WithLabelValues("ctcc", "smgp", "ok")); n != float64(len(res.Parts)+1) {
		t.Fatalf("submits ok = %v", n)
	}
	if n := testutil.ToFloat64(m.Receipts.WithLabelValues("ctcc", "smgp", "DELIVRD")); n != float64(len(res.Parts)+1) {
		t.Fatalf("receipts = %v", n)
	}
}

func TestGB18030(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), Encoding: smgp.GB18030, NoReports: true})
	text := strings.Repeat("粤B12345 违停 ", 20)
	res, err := c.Send(context.Background(), smgp.Message{Dest: "13900000001", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	got := sim.Received("13900000001")
	if len(got) != 1 || got[0].Text != text || got[0].MsgFormat != cnsms.FmtGB18030 || got[0].Parts != len(res.Parts) || len(res.Parts) < 2 {
		t.Fatalf("got %+v, %d parts", got, len(res.Parts))
	}
}

func TestAuthRefused(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	reg := prometheus.NewRegistry()
	m := cnsms.NewMetrics(reg)
	c, err := smgp.NewClient(smgp.Config{Name: "x", Addr: sim.Addr(), ClientID: spID, Secret: "wrong", ReconnectMin: 10 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go c.Run(ctx)
	if err := c.WaitReady(ctx); err == nil {
		t.Fatal("connected with a wrong secret")
	}
	if n := testutil.ToFloat64(m.BindAttempts.WithLabelValues("x", "smgp", "error")); n < 1 {
		t.Fatalf("bind attempts error = %v", n)
	}
}

func TestThrottleFault(t *testing.T) {
	sim := startSMGW(t, smgw.Config{BusyFraction: 0.3, Seed: 7})
	rc := newReceipts()
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnReceipt: rc.on, ThrottleBackoff: time.Millisecond, ThrottleMaxPause: 5 * time.Millisecond, ThrottleRetries: 20})
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := c.Send(context.Background(), smgp.Message{Dest: "1390000" + pad4(i), Text: "msg"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := sim.Stats()
	if st.Busy == 0 || st.Accepted != n {
		t.Fatalf("stats %+v", st)
	}
	if c.Throttle().Episodes == 0 {
		t.Fatal("no throttle episode recorded")
	}
	rc.wait(t, n)
}

func TestRefusedPart(t *testing.T) {
	sim := startSMGW(t, smgw.Config{Refuse: func(d string) uint32 {
		if d == "13900000099" {
			return smgp.StatusBadDestTermID
		}
		return 0
	}})
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), ThrottleRetries: -1})
	res, err := c.Send(context.Background(), smgp.Message{Dest: "13900000099", Text: "x"})
	var se *smgp.SendError
	if !errors.As(err, &se) || se.Failed != 1 {
		t.Fatalf("err %v", err)
	}
	p := res.Parts[0]
	if p.Status != smgp.PartRefused || p.Code != smgp.StatusBadDestTermID || p.Retryable || p.Reason != smgp.ReasonRejected {
		t.Fatalf("part %+v", p)
	}
	if retry, reason := smgp.Classify(err); retry || reason != smgp.ReasonRejected {
		t.Fatalf("classify %v %v", retry, reason)
	}
}

func TestLateResponse(t *testing.T) {
	sim := startSMGW(t, smgw.Config{LateFraction: 1, LateDelay: 300 * time.Millisecond})
	lates := make(chan smgp.Late, 1)
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), RequestTimeout: 50 * time.Millisecond, OnLate: func(l smgp.Late) { lates <- l }, NoReports: true})
	res, err := c.Send(context.Background(), smgp.Message{Dest: "13900000003", Text: "late", Ref: "ledger-1"})
	if err == nil || res.Parts[0].Status != smgp.PartUnknown || res.Parts[0].Reason != smgp.ReasonTimeout {
		t.Fatalf("res %+v err %v", res, err)
	}
	select {
	case l := <-lates:
		if l.Ref != "ledger-1" || l.Status != 0 || l.ID == "" || l.Part != 1 || l.Parts != 1 {
			t.Fatalf("late %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no late response")
	}
	// The handset got it once: the outcome was unknown, not failed.
	if got := sim.Received("13900000003"); len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestNoReportAndIDRepeat(t *testing.T) {
	sim := startSMGW(t, smgw.Config{NoReportFraction: 1, IDRepeatAfter: 2})
	rc := newReceipts()
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnReceipt: rc.on})
	var ids []string
	for i := range 4 {
		res, err := c.Send(context.Background(), smgp.Message{Dest: "1390000000" + string(rune('0'+i)), Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.IDs[0])
	}
	if ids[0] != ids[2] || ids[1] != ids[3] || ids[0] == ids[1] {
		t.Fatalf("ids %v: want the counter to restart after 2", ids)
	}
	if st := sim.Stats(); st.Reports != 0 {
		t.Fatalf("reports sent: %+v", st)
	}
}

func TestMO(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	mos := make(chan smgp.Incoming, 8)
	fail := true
	var mu sync.Mutex
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnMessage: func(_ context.Context, m smgp.Incoming) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return errors.New("ledger down")
		}
		mos <- m
		return nil
	}})
	_ = c
	ctx := context.Background()
	for sim.Stats().Conns == 0 { // registered after its login answer
		time.Sleep(time.Millisecond)
	}
	// The first attempt is refused (result 8: try later), the second taken.
	err := sim.SendMO(ctx, spID, "13800000000", "1069012123", "TD")
	if !errors.Is(err, smgp.ErrSystemBusy) {
		t.Fatalf("first MO: %v", err)
	}
	if err := sim.SendMO(ctx, spID, "13800000000", "1069012123", "TD"); err != nil {
		t.Fatal(err)
	}
	m := <-mos
	if m.Text != "TD" || m.Source != "13800000000" || m.Dest != "1069012123" {
		t.Fatalf("mo %+v", m)
	}
}

func TestTerminateBothWays(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	m := cnsms.NewMetrics(nil)
	c, stop := startClient(t, smgp.Config{Addr: sim.Addr(), Metrics: m})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// SMGW side: Exit answered, then the client logs in again.
	for sim.Stats().Conns == 0 { // the simulator registers the connection after its login answer
		time.Sleep(time.Millisecond)
	}
	sim.ExitAll(ctx)
	for testutil.ToFloat64(m.BindAttempts.WithLabelValues("ctcc", "smgp", "ok")) < 2 {
		if ctx.Err() != nil {
			t.Fatal("client did not reconnect after the SMGW's Exit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Send(ctx, smgp.Message{Dest: "13900000004", Text: "after"}); err != nil {
		t.Fatal(err)
	}
	// SP side: stopping the client sends Exit.
	stop()
	for sim.Stats().Exited < 1 {
		if ctx.Err() != nil {
			t.Fatalf("SMGW saw no Exit: %+v", sim.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pad4(i int) string {
	s := "0000" + itoa(i)
	return s[len(s)-4:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestLongMO(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	mos := make(chan smgp.Incoming, 8)
	var calls atomic.Int32
	met := cnsms.NewMetrics(nil)
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), Metrics: met, OnMessage: func(_ context.Context, m smgp.Incoming) error {
		if calls.Add(1) == 1 {
			return errors.New("ledger down") // the first complete delivery fails
		}
		mos <- m
		return nil
	}})
	_ = c
	for sim.Stats().Conns == 0 {
		time.Sleep(time.Millisecond)
	}
	text := strings.Repeat("申请撤销违法记录，车牌粤B12345。", 6)
	ctx := context.Background()
	if err := sim.SendMO(ctx, spID, "13800000000", "1069012123", text); !errors.Is(err, smgp.ErrSystemBusy) {
		t.Fatalf("first try: %v", err)
	}
	// The SMGW sends the message again: the parts held are duplicates,
	// the last one completes it again.
	if err := sim.SendMO(ctx, spID, "13800000000", "1069012123", text); err != nil {
		t.Fatal(err)
	}
	m := <-mos
	if m.Text != text || m.Parts < 2 || m.Partial || m.UDH.Total != uint8(m.Parts) {
		t.Fatalf("got %d parts, partial %v, %q", m.Parts, m.Partial, m.Text)
	}
	// The undo path ran: the resent parts before the last were duplicates.
	if d := testutil.ToFloat64(met.MOParts.WithLabelValues("ctcc", "smgp", "duplicate")); d != float64(m.Parts-1) {
		t.Fatalf("%v duplicates for %d parts", d, m.Parts)
	}
	if calls.Load() != 2 {
		t.Fatalf("OnMessage called %d times", calls.Load())
	}
}

// The connection drops with a submit unanswered: the part is unknown
// (the SMGW has it), the client reconnects, the report still arrives on
// the new connection, and nothing reached the handset twice.
func TestConnectionDropUnknown(t *testing.T) {
	sim := startSMGW(t, smgw.Config{DropEvery: 3})
	rc := newReceipts()
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnReceipt: rc.on, RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unknown := 0
	for i := range 6 {
		res, err := c.Send(ctx, smgp.Message{Dest: "13900000006", Text: "n" + itoa(i)})
		if err != nil {
			p := res.Parts[0]
			if p.Status != smgp.PartUnknown || p.Reason != smgp.ReasonUnknown {
				t.Fatalf("message %d: %+v", i, p)
			}
			unknown++
		}
	}
	if unknown != 2 || sim.Stats().Dropped != 2 {
		t.Fatalf("%d unknown, %+v", unknown, sim.Stats())
	}
	rc.wait(t, 6)
	if got := sim.Received("13900000006"); len(got) != 6 {
		t.Fatalf("handset got %d messages", len(got))
	}
}

// Beyond the SMGW's per-connection rate the answer is status 1; the
// client's adaptive pause brings every message through.
func TestSMGWRateLimit(t *testing.T) {
	sim := startSMGW(t, smgw.Config{TPS: 200})
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), NoReports: true, ThrottleBackoff: 20 * time.Millisecond, ThrottleRetries: 50})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			if _, err := c.Send(context.Background(), smgp.Message{Dest: "1390001" + pad4(i), Text: "r"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := sim.Stats(); st.Busy == 0 || st.Accepted != 300 {
		t.Fatalf("stats %+v", st)
	}
}

// ACTIVE_TEST both ways: each side's keep-alive is answered, so an idle
// link stays up on both ends, with no reconnect.
func TestActiveTestBothWays(t *testing.T) {
	sim := startSMGW(t, smgw.Config{ActiveTest: 20 * time.Millisecond, RequestTimeout: time.Second})
	m := cnsms.NewMetrics(nil)
	_, _ = startClient(t, smgp.Config{Addr: sim.Addr(), ActiveTest: 20 * time.Millisecond, RequestTimeout: time.Second, Metrics: m})
	deadline := time.Now().Add(10 * time.Second)
	for st := sim.Stats(); st.KeepAlivesAnswered < 3 || st.KeepAlivesReceived < 3; st = sim.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("keep-alives not answered both ways: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := sim.Stats(); st.Conns != 1 {
		t.Fatalf("SMGW connections %d", st.Conns)
	}
	if n := testutil.ToFloat64(m.BindAttempts.WithLabelValues("ctcc", "smgp", "ok")); n != 1 {
		t.Fatalf("%v logins: the link was dropped", n)
	}
	if n := testutil.ToFloat64(m.Inbound.WithLabelValues("ctcc", "smgp", "Active_Test")); n != 0 {
		t.Fatalf("ACTIVE_TEST counted as inbound work: %v", n)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&smgp.Config{ClientID: "123456789", Secret: "0123456789abcdef", LoginMode: 3, Encoding: "latin1"}).Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"Name", "Addr", "ClientID", "Secret", "LoginMode", "Encoding"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not reported: %v", want, err)
		}
	}
}

// Receipt handlers run off the read loop and Deliver_Resp is written
// only after they return: with every handler blocked, submits still get
// their answers, and the SMGW has no report acknowledged.
func TestReportAckAfterHandler(t *testing.T) {
	sim := startSMGW(t, smgw.Config{})
	release := make(chan struct{})
	var entered atomic.Int32
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), HandlerWorkers: 2, OnReceipt: func(context.Context, smgp.Receipt) error {
		entered.Add(1)
		<-release
		return nil
	}})
	for i := range 5 {
		if _, err := c.Send(context.Background(), smgp.Message{Dest: "1390000010" + itoa(i), Text: "x"}); err != nil {
			t.Fatal(err) // the read loop is not held up by the blocked handlers
		}
	}
	for entered.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if st := sim.Stats(); st.ReportsAcked != 0 {
		t.Fatalf("reports acked before their handler returned: %+v", st)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for sim.Stats().ReportsAcked < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("reports not acked after release: %+v", sim.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// The SMGW sends Exit with a submit in flight and answers it
// right after: the client reads that answer before it answers the
// Exit, so no part's outcome is unknown, and it reconnects.
func TestTerminateInFlight(t *testing.T) {
	sim := startSMGW(t, smgw.Config{UnbindAfter: 2})
	rc := newReceipts()
	c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnReceipt: rc.on, RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	long := strings.Repeat("交通违法提醒：您的车辆在路口闯红灯。", 8) // 3 parts in flight together
	parts := 0
	for i := range 6 {
		text := "n" + itoa(i)
		if i%2 == 1 {
			text = long
		}
		res, err := c.Send(ctx, smgp.Message{Dest: "13900000007", Text: text})
		if err != nil {
			t.Fatalf("message %d: %v (%+v)", i, err, res.Parts)
		}
		parts += len(res.Parts)
	}
	if st := sim.Stats(); st.Unbinds < 3 || st.Accepted != int64(parts) {
		t.Fatalf("%d parts accepted by the client; %+v", parts, st)
	}
	rc.wait(t, parts)
	if got := sim.Received("13900000007"); len(got) != 6 {
		t.Fatalf("handset got %d messages", len(got))
	}
}

// Each report comes ahead of its Submit_Resp, or twice: every report
// names a part the client got an id for.
func TestReportFirstAndDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    smgw.Config
		copies int
	}{
		{"ReportFirst", smgw.Config{ReportFirst: true}, 1},
		{"Duplicates", smgw.Config{DuplicateReports: 1}, 2},
		{"Both", smgw.Config{ReportFirst: true, DuplicateReports: 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := startSMGW(t, tc.cfg)
			rc := newReceipts()
			c, _ := startClient(t, smgp.Config{Addr: sim.Addr(), OnReceipt: rc.on})
			var ids []string
			for i := range 5 {
				res, err := c.Send(context.Background(), smgp.Message{Dest: "13900000008", Text: "r" + itoa(i)})
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
