// Package smg is an SGIP 1.2 SMG (China Unicom's SMS gateway) for tests
// and the demo, a sibling of pkg/smpp/smsc: it accepts SPs' binds (login
// type 1), answers SGIP_SUBMIT, records what each handset received (long
// messages joined by their UDH reference), and — as the real SMG does —
// connects to the SP's listener with login type 2 to send SGIP_REPORT
// and SGIP_DELIVER (MO). Faults: result 11 (node busy) on a fraction of
// submits, late SUBMIT_RESPs, reports never sent, reports sent twice,
// reports ahead of their SUBMIT_RESP, an SGIP_UNBIND of the submit
// connection with a submit in flight, a chosen result per destination.
package smg

import (
	"bufio"
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/sgip"
	"golang.org/x/time/rate"
)

// Config configures the simulator.
type Config struct {
	Addr     string            // listen address for SPs; default 127.0.0.1:0
	Accounts map[string]string // login name → password of the SPs; required
	NodeID   uint32            // our node id in sequence numbers; default 2000012123

	// The SP's listener, where reports and MO messages go, and the
	// credentials to bind there with login type 2.
	SPAddr     string
	SPLogin    string
	SPPassword string

	ReportState byte          // State of every report; default 0 (delivered)
	ReportDelay time.Duration // default 0

	BusyFraction     float64 // this fraction of submits is answered 11 (node busy) and not recorded
	TPS              float64 // per connection; submits beyond it (bucket of one second) are answered 11
	DropEvery        int     // every N-th accepted submit: recorded, then the connection closes unanswered
	LateFraction     float64
	LateDelay        time.Duration // default 2s
	NoReportFraction float64
	DuplicateReports float64 // this fraction of reports is sent twice
	// ReportFirst sends each report to the SP's listener, and waits for
	// its answer, before writing the SUBMIT_RESP.
	ReportFirst bool
	// UnbindAfter: every N-th submit on a connection, SGIP_UNBIND goes
	// out on it ahead of that submit's SUBMIT_RESP; the connection closes
	// when the SP answers.
	UnbindAfter int
	Refuse      func(user string) byte

	ReportWorkers  int // default 16
	HandlerWorkers int // default 8
	Window         int // default 16
	Seed           uint64
	Logger         *slog.Logger
}

// Message is what a handset received.
type Message struct {
	Account, SPNumber, User, Text string
	MessageCoding                 byte
	Parts                         int
	SeqIDs                        []sgip.SeqID // of each part's SGIP_SUBMIT
	Incomplete                    bool
}

// Server is a running simulator.
type Server struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	out    chan *sgip.Report // reports to send to the SP

	mu       sync.Mutex
	dice     *cnsms.Dice
	handsets *cnsms.Handsets[sgip.SeqID]
	conns    map[*cnsms.Session]struct{}
	back     *cnsms.Session // our connection to the SP's listener

	submits, accepted, busy, reports, reportsAcked, unbound, dropped, late, lostReports atomic.Int64
	duplicated, reportsFirst, unbinds                                                   atomic.Int64
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("smg: no accounts")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.NodeID == 0 {
		cfg.NodeID = 2000012123
	}
	if cfg.LateDelay <= 0 {
		cfg.LateDelay = 2 * time.Second
	}
	if cfg.ReportWorkers <= 0 {
		cfg.ReportWorkers = 16
	}
	if cfg.HandlerWorkers <= 0 {
		cfg.HandlerWorkers = 8
	}
	if cfg.Window <= 0 {
		cfg.Window = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, ln: ln, log: cfg.Logger.With("component", "smg"), ctx: ctx, cancel: cancel,
		out: make(chan *sgip.Report, 1<<16), dice: cnsms.NewDice(cfg.Seed),
		handsets: cnsms.NewHandsets[sgip.SeqID](), conns: map[*cnsms.Session]struct{}{}}
	s.wg.Go(s.accept)
	if cfg.SPAddr != "" {
		for range cfg.ReportWorkers {
			s.wg.Go(s.reportLoop)
		}
	}
	return s, nil
}

// Addr is the address SPs bind to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops everything; our connection to the SP is unbound first.
func (s *Server) Close() error {
	s.mu.Lock()
	back := s.back
	s.mu.Unlock()
	if back != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = back.Terminate(ctx)
		cancel()
	}
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Stats are counters since Start.
type Stats struct {
	Submits, Accepted, Busy, Reports, ReportsAcked int64
	Unbound                                        int64 // SP connections closed with SGIP_UNBIND
	Dropped                                        int64 // connections closed by DropEvery
	Late, LostReports                              int64 // answers written LateDelay late; reports never sent (NoReportFraction)
	Duplicated                                     int64 // reports queued twice (DuplicateReports)
	ReportsFirst                                   int64 // reports answered by the SP ahead of their SUBMIT_RESP (ReportFirst)
	Unbinds                                        int64 // UNBINDs sent with a submit in flight (UnbindAfter)
	Conns                                          int
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{Submits: s.submits.Load(), Accepted: s.accepted.Load(), Busy: s.busy.Load(), Reports: s.reports.Load(),
		ReportsAcked: s.reportsAcked.Load(), Unbound: s.unbound.Load(), Dropped: s.dropped.Load(), Late: s.late.Load(), LostReports: s.lostReports.Load(),
		Duplicated: s.duplicated.Load(), ReportsFirst: s.reportsFirst.Load(), Unbinds: s.unbinds.Load(), Conns: n}
}

// Received returns what user's handset got (user as the SP wrote it,
// e.g. with 86), incomplete long messages last.
func (s *Server) Received(user string) []Message {
	var out []Message
	for _, m := range s.handsets.Received(user) {
		out = append(out, Message{Account: m.Account, SPNumber: m.Src, User: m.Dest, Text: m.Text, MessageCoding: m.Format,
			Parts: m.Parts, SeqIDs: m.IDs, Incomplete: m.Incomplete})
	}
	return out
}

// Parts returns every accepted part as the handsets got it, in arrival
// order, duplicates included: what a test holds the SP's records against.
func (s *Server) Parts() []cnsms.HandsetPart[sgip.SeqID] { return s.handsets.Parts() }

// Handsets returns every destination that received something.
func (s *Server) Handsets() []string { return s.handsets.Dests() }

func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serve(nc) })
	}
}

func (s *Server) serve(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(nc, 32<<10)
	f, err := cnsms.ReadFrameOf(br, cnsms.DefaultMaxFrame, cnsms.FramingSGIP)
	if err != nil || f.Cmd != sgip.CmdBind {
		nc.Close()
		return
	}
	b, err := sgip.DecodeBind(f.Body)
	result := sgip.ResultOK
	switch {
	case err != nil:
		result = sgip.ResultBadParameter
	case b.LoginType != sgip.LoginSPToSMG:
		result = sgip.ResultBadLoginType
	default:
		if pw, ok := s.cfg.Accounts[b.Name]; !ok || pw != b.Password {
			result = sgip.ResultBadLogin
		}
	}
	resp := cnsms.Frame{Cmd: sgip.CmdBindResp, Node: f.Node, Time: f.Time, Seq: f.Seq, Body: sgip.AppendResp(nil, &sgip.Resp{Result: result})}
	if _, err := nc.Write(cnsms.AppendFrameOf(nil, resp, cnsms.FramingSGIP)); err != nil || result != sgip.ResultOK {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{account: b.Name}
	if s.cfg.TPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(s.cfg.TPS), max(1, int(s.cfg.TPS)))
	}
	sess := cnsms.NewSession(nc, br, cnsms.SessionConfig{
		Dialect: sgip.Dialect(), Window: s.cfg.Window, NodeID: s.cfg.NodeID, HandlerWorkers: s.cfg.HandlerWorkers, Logger: s.log,
		Inline:  s.cfg.LateFraction == 0 && !s.cfg.ReportFirst, // a late answer sleeps in the handler, a report first waits for the SP
		Handler: func(ctx context.Context, f cnsms.Frame) ([]byte, bool) { return s.handle(ctx, c, f) },
	})
	c.s = sess
	s.mu.Lock()
	s.conns[sess] = struct{}{}
	s.mu.Unlock()
	select {
	case <-sess.Done():
	case <-s.ctx.Done():
	}
	if errors.Is(sess.Err(), cnsms.ErrPeerTerminated) {
		s.unbound.Add(1)
	}
	sess.Close()
	s.mu.Lock()
	delete(s.conns, sess)
	s.mu.Unlock()
}

type conn struct {
	s       *cnsms.Session
	account string
	limiter *rate.Limiter
	submits atomic.Int64 // read on this connection (UnbindAfter)
}

func (s *Server) handle(ctx context.Context, c *conn, f cnsms.Frame) ([]byte, bool) {
	account := c.account
	if f.Cmd != sgip.CmdSubmit {
		return sgip.AppendResp(nil, &sgip.Resp{Result: sgip.ResultNoSuchFunction}), false
	}
	s.submits.Add(1)
	sub, err := sgip.DecodeSubmit(f.Body)
	if err != nil {
		return sgip.AppendResp(nil, &sgip.Resp{Result: sgip.ResultBadParameter}), false
	}
	id := sgip.SeqID{Node: f.Node, Time: f.Time, Seq: f.Seq}
	sess := cnsms.SessionOf(ctx) // not c.s: the handler may run before it is set
	unbind := cnsms.UnbindAfter(sess, &c.submits, s.cfg.UnbindAfter)
	if unbind {
		s.unbinds.Add(1)
		s.log.Warn("unbinding with a submit in flight (fault)", "after_submits", s.cfg.UnbindAfter)
	}
	result := sgip.ResultOK
	drop := false
	if len(sub.Content) == 0 {
		result = sgip.ResultBadLength
	}
	for _, u := range sub.Users {
		if u == "" {
			result = sgip.ResultBadUserNumber
		} else if s.cfg.Refuse != nil && result == sgip.ResultOK {
			result = s.cfg.Refuse(u)
		}
	}
	if result == sgip.ResultOK && (s.dice.Chance(s.cfg.BusyFraction) || (c.limiter != nil && !c.limiter.Allow())) {
		result = sgip.ResultNodeBusy
		s.busy.Add(1)
	}
	if result == sgip.ResultOK {
		n := s.accepted.Add(1)
		s.record(account, sub, id)
		drop = s.cfg.DropEvery > 0 && n%int64(s.cfg.DropEvery) == 0
		if sub.ReportFlag != sgip.ReportNever {
			if s.dice.Chance(s.cfg.NoReportFraction) {
				s.lostReports.Add(1)
			} else {
				for _, u := range sub.Users {
					s.scheduleReport(ctx, &sgip.Report{SubmitSeq: id, UserNumber: u, State: s.cfg.ReportState})
				}
			}
		}
	}
	if drop {
		s.dropped.Add(1)
		go sess.Close() // not from this worker: Close waits for it
		return nil, true
	}
	if !unbind && s.dice.Chance(s.cfg.LateFraction) {
		s.late.Add(1)
		select {
		case <-time.After(s.cfg.LateDelay):
		case <-ctx.Done():
			return nil, true
		}
	}
	return sgip.AppendResp(make([]byte, 0, 9), &sgip.Resp{Result: result}), false
}

// scheduleReport queues r (twice for DuplicateReports) or, with
// ReportFirst, sends the first copy now and waits for the SP's answer: the
// SUBMIT_RESP the handler returns next comes after it.
func (s *Server) scheduleReport(ctx context.Context, r *sgip.Report) {
	n := 1
	if s.dice.Chance(s.cfg.DuplicateReports) {
		n = 2
		s.duplicated.Add(1)
	}
	for i := range n {
		if i == 0 && s.cfg.ReportFirst && s.cfg.SPAddr != "" {
			if s.sendReport(ctx, r) {
				s.reportsFirst.Add(1)
			} else {
				s.queue(r) // the usual tries
			}
			continue
		}
		if s.cfg.ReportDelay > 0 {
			time.AfterFunc(s.cfg.ReportDelay, func() { s.queue(r) })
		} else {
			s.queue(r)
		}
	}
}

func (s *Server) queue(r *sgip.Report) {
	if s.cfg.SPAddr == "" {
		return
	}
	select {
	case s.out <- r:
	default:
		s.log.Warn("report queue full, dropped")
	}
}

func (s *Server) record(account string, sub *sgip.Submit, id sgip.SeqID) {
	s.handsets.RecordOutcome(account, sub.SPNumber, sub.Users, sub.MessageCoding, sub.Content, sub.TPUDHI != 0, id, s.cfg.ReportState == 0)
}

// backConn returns our connection to the SP's listener, binding one
// (login type 2) when there is none.
func (s *Server) backConn(ctx context.Context) (*cnsms.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.back != nil && s.back.Err() == nil {
		return s.back, nil
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", s.cfg.SPAddr)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	body, _ := sgip.AppendBind(nil, &sgip.Bind{LoginType: sgip.LoginSMGToSP, Name: s.cfg.SPLogin, Password: s.cfg.SPPassword})
	if _, err := nc.Write(cnsms.AppendFrameOf(nil, cnsms.Frame{Cmd: sgip.CmdBind, Node: s.cfg.NodeID, Time: cnsms.SGIPTime(time.Now()), Seq: 1, Body: body}, cnsms.FramingSGIP)); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 32<<10)
	f, err := cnsms.ReadFrameOf(br, cnsms.DefaultMaxFrame, cnsms.FramingSGIP)
	if err != nil {
		nc.Close()
		return nil, err
	}
	r, err := sgip.DecodeResp(sgip.CmdBindResp, f.Body)
	if err != nil || r.Result != sgip.ResultOK {
		nc.Close()
		if err == nil {
			err = &sgip.BindError{Result: r.Result}
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	s.back = cnsms.NewSession(nc, br, cnsms.SessionConfig{Dialect: sgip.Dialect(), Window: s.cfg.Window, NodeID: s.cfg.NodeID, FirstSeq: 2, Logger: s.log})
	return s.back, nil
}

func (s *Server) reportLoop() {
	for {
		var r *sgip.Report
		select {
		case r = <-s.out:
		case <-s.ctx.Done():
			return
		}
		for try := 0; try < 5 && s.ctx.Err() == nil; try++ {
			if s.sendReport(s.ctx, r) {
				break
			}
			cnsms.Sleep(s.ctx, 100*time.Millisecond)
		}
	}
}

// sendReport sends r over our connection to the SP's listener and says
// whether the SP acknowledged it.
func (s *Server) sendReport(ctx context.Context, r *sgip.Report) bool {
	body, err := sgip.AppendReport(make([]byte, 0, 44), r)
	if err != nil {
		return true // cannot be sent: nothing more to do with it
	}
	c, err := s.backConn(ctx)
	if err != nil {
		return false
	}
	s.reports.Add(1)
	f, err := c.Request(ctx, sgip.CmdReport, body)
	if err != nil {
		return false
	}
	if rr, derr := sgip.DecodeResp(sgip.CmdReportResp, f.Body); derr == nil && rr.Result == sgip.ResultOK {
		s.reportsAcked.Add(1)
		return true
	}
	return false
}

// SendMO sends text from handset user (with 86) to spNumber over our
// connection to the SP's listener: UCS2, in parts with a UDH when long.
func (s *Server) SendMO(ctx context.Context, user, spNumber, text string) error {
	c, err := s.backConn(ctx)
	if err != nil {
		return err
	}
	h := fnv.New32a()
	h.Write([]byte(user + text))
	plan, err := cnsms.Split(text, cnsms.UCS2, byte(h.Sum32()))
	if err != nil {
		return err
	}
	for _, part := range plan.Parts {
		d := sgip.Deliver{UserNumber: user, SPNumber: spNumber, MessageCoding: plan.MsgFmt, Content: part}
		if plan.UDHI {
			d.TPUDHI = 1
		}
		body, err := sgip.AppendDeliver(nil, &d)
		if err != nil {
			return err
		}
		f, err := c.Request(ctx, sgip.CmdDeliver, body)
		if err != nil {
			return err
		}
		r, err := sgip.DecodeResp(sgip.CmdDeliverResp, f.Body)
		if err != nil {
			return err
		}
		if r.Result != sgip.ResultOK {
			return sgip.ResultErr(r.Result)
		}
	}
	return nil
}

// UnbindAll sends SGIP_UNBIND on every SP connection.
func (s *Server) UnbindAll(ctx context.Context) {
	s.mu.Lock()
	var cs []*cnsms.Session
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.Terminate(ctx)
	}
}
