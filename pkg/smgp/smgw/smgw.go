// Package smgw is an SMGP 3.0 SMGW (China Telecom's SMS gateway) for
// tests and the demo, a sibling of pkg/smpp/smsc and pkg/cmpp/ismg: it
// authenticates SPs, answers Submit with MsgIDs, sends status reports
// as Deliver, records what each handset received (long messages joined
// by their UDH reference), sends MO messages on request, and offers the
// faults the protocol allows: status 1 (system busy) on a fraction of
// submits, late Submit_Resps, reports never sent, reports sent twice,
// reports ahead of their Submit_Resp, an Exit with a submit in flight,
// and MsgIDs that repeat after a counter restart.
package smgw

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smgp"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
	"golang.org/x/time/rate"
)

// Config configures the simulator. Zero values are sensible defaults.
type Config struct {
	Addr      string            // default 127.0.0.1:0
	Accounts  map[string]string // ClientID → shared secret; required
	GatewayID uint32            // SMGW code in MsgIDs (6 digits); default 123456

	Stat         string        // default DELIVRD
	ReceiptDelay time.Duration // default 0

	// Faults.
	BusyFraction      float64       // this fraction of submits is answered status 1 and not recorded
	TPS               float64       // per connection; submits beyond it (bucket of one second) are answered status 1
	DropEvery         int           // every N-th accepted submit: recorded, then the connection closes unanswered
	LateFraction      float64       // this fraction of Submit_Resps is written after LateDelay
	LateDelay         time.Duration // default 2s
	NoReportFraction  float64       // accepted and recorded, the report never sent
	IDRepeatAfter     int           // after this many MsgIDs the counter restarts: the same ids again
	DuplicateReports  float64       // this fraction of reports is sent twice
	ReportFirst       bool          // each report goes out on the submitting connection (when it receives) ahead of its Submit_Resp
	UnbindAfter       int           // every N-th submit on a connection: Exit ahead of its Submit_Resp; the connection closes when the SP answers
	Refuse            func(dest string) uint32
	ReportRetryDelay  time.Duration // default 200ms
	ReportMaxAttempts int           // default 5

	// ActiveTest, when positive, is how long a connection may be idle
	// before the gateway sends its keep-alive; unanswered within
	// RequestTimeout (default 10s) the connection closes.
	ActiveTest     time.Duration
	RequestTimeout time.Duration
	Window         int // default 16
	ReportWorkers  int // default 16
	HandlerWorkers int // default 8
	Seed           uint64
	Logger         *slog.Logger
}

// Message is what a handset received.
type Message struct {
	Account    string
	Src        string // SrcTermID
	Dest       string
	Text       string
	MsgFormat  byte
	Parts      int
	MsgIDs     []smgp.MsgID
	Incomplete bool
}

type report struct {
	account, src, dest string
	rp                 smgp.Report
}

// Server is a running simulator.
type Server struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	handsets *cnsms.Handsets[smgp.MsgID]
	conns    map[*conn]struct{}
	reportQ  *cnsms.ReportQueue[*report]
	ids      *cnsms.RepeatingIDs[smgp.MsgID]
	dice     *cnsms.Dice
	seq      uint32

	submits, accepted, busy, reports, reportsAcked, exited, dropped, late, lostReports atomic.Int64
	duplicated, reportsFirst, unbinds                                                  atomic.Int64
}

type conn struct {
	s       *cnsms.Session
	account string
	mode    byte
	limiter *rate.Limiter
	submits atomic.Int64 // read on this connection (UnbindAfter)
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("smgw: no accounts")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.GatewayID == 0 {
		cfg.GatewayID = 123456
	}
	if cfg.Stat == "" {
		cfg.Stat = "DELIVRD"
	}
	if cfg.LateDelay <= 0 {
		cfg.LateDelay = 2 * time.Second
	}
	if cfg.ReportRetryDelay <= 0 {
		cfg.ReportRetryDelay = 200 * time.Millisecond
	}
	if cfg.ReportMaxAttempts <= 0 {
		cfg.ReportMaxAttempts = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 16
	}
	if cfg.ReportWorkers <= 0 {
		cfg.ReportWorkers = 16
	}
	if cfg.HandlerWorkers <= 0 {
		cfg.HandlerWorkers = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, ln: ln, log: cfg.Logger.With("component", "smgw"), ctx: ctx, cancel: cancel,
		dice: cnsms.NewDice(cfg.Seed), handsets: cnsms.NewHandsets[smgp.MsgID](), conns: map[*conn]struct{}{},
	}
	s.reportQ = cnsms.NewReportQueue[*report](cfg.Accounts, cfg.ReportRetryDelay, cfg.ReportMaxAttempts, s.log)
	s.ids = cnsms.NewRepeatingIDs(cfg.IDRepeatAfter, func() smgp.MsgID { return s.newID() })
	s.wg.Go(s.accept)
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.s.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Stats are counters since Start.
type Stats struct {
	Submits, Accepted, Busy, Reports, ReportsAcked int64
	Exited                                         int64 // connections the SP closed with Exit
	Dropped                                        int64 // connections closed by DropEvery
	Late, LostReports                              int64 // answers written LateDelay late; reports never sent (NoReportFraction)
	Duplicated                                     int64 // reports queued twice (DuplicateReports)
	ReportsFirst                                   int64 // reports sent ahead of their Submit_Resp (ReportFirst)
	Unbinds                                        int64 // Exits sent with a submit in flight (UnbindAfter)
	Duplicates                                     int
	Conns                                          int
	// Keep-alives on the connections open now: ours the SP answered, and
	// the SP's we answered.
	KeepAlivesAnswered, KeepAlivesReceived int64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	d, n := s.handsets.Duplicates(), len(s.conns)
	var kaA, kaR int64
	for c := range s.conns {
		a, r := c.s.KeepAlives()
		kaA, kaR = kaA+a, kaR+r
	}
	s.mu.Unlock()
	return Stats{Submits: s.submits.Load(), Accepted: s.accepted.Load(), Busy: s.busy.Load(), Reports: s.reports.Load(),
		ReportsAcked: s.reportsAcked.Load(), Exited: s.exited.Load(), Dropped: s.dropped.Load(), Late: s.late.Load(), LostReports: s.lostReports.Load(),
		Duplicated: s.duplicated.Load(), ReportsFirst: s.reportsFirst.Load(), Unbinds: s.unbinds.Load(), Duplicates: d, Conns: n, KeepAlivesAnswered: kaA, KeepAlivesReceived: kaR}
}

// Received returns what dest's handset got, then long messages still
// missing parts (Incomplete).
func (s *Server) Received(dest string) []Message {
	var out []Message
	for _, m := range s.handsets.Received(dest) {
		out = append(out, Message{Account: m.Account, Src: m.Src, Dest: m.Dest, Text: m.Text, MsgFormat: m.Format, Parts: m.Parts, MsgIDs: m.IDs, Incomplete: m.Incomplete})
	}
	return out
}

// Parts returns every accepted part as the handsets got it, in arrival
// order, duplicates included: what a test holds the SP's records against.
func (s *Server) Parts() []cnsms.HandsetPart[smgp.MsgID] { return s.handsets.Parts() }

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
	f, err := cnsms.ReadFrame(br, cnsms.DefaultMaxFrame)
	if err != nil || f.Cmd != smgp.CmdLogin {
		nc.Close()
		return
	}
	req, err := smgp.DecodeLogin(f.Body)
	status := smgp.StatusOK
	var secret string
	switch {
	case err != nil:
		status = smgp.StatusBadStructure
	case req.Version > smgp.Version3:
		status = smgp.StatusVersionTooHigh
	case req.LoginMode > smgp.ModeTransmit:
		status = smgp.StatusBadStructure
	default:
		var ok bool
		secret, ok = s.cfg.Accounts[req.ClientID]
		if !ok || smgp.AuthenticatorClient(req.ClientID, secret, req.Timestamp) != req.Authenticator {
			status = smgp.StatusAuthFailed
		}
	}
	resp := smgp.LoginResp{Status: status, Version: smgp.Version3}
	if req != nil {
		resp.Authenticator = smgp.AuthenticatorServer(status, req.Authenticator, secret)
	}
	if _, err := nc.Write(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: smgp.CmdLoginResp, Seq: f.Seq, Body: smgp.AppendLoginResp(nil, &resp)})); err != nil || status != smgp.StatusOK {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{account: req.ClientID, mode: req.LoginMode}
	if s.cfg.TPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(s.cfg.TPS), max(1, int(s.cfg.TPS)))
	}
	c.s = cnsms.NewSession(nc, br, cnsms.SessionConfig{
		Dialect:        smgp.Dialect(),
		Window:         s.cfg.Window,
		ActiveTest:     s.keepAlive(),
		RequestTimeout: s.cfg.RequestTimeout,
		Handler:        func(ctx context.Context, f cnsms.Frame) ([]byte, bool) { return s.handle(ctx, c, f) },
		HandlerWorkers: s.cfg.HandlerWorkers,
		Inline:         s.cfg.LateFraction == 0 && !s.cfg.ReportFirst, // a late answer sleeps in the handler; a report first may wait for the window
		Logger:         s.log,
	})
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	if c.mode != smgp.ModeSend {
		for range s.cfg.ReportWorkers {
			wg.Go(func() { s.reportLoop(c) })
		}
	}
	select {
	case <-c.s.Done():
	case <-s.ctx.Done():
		c.s.Close()
	}
	wg.Wait()
	if errors.Is(c.s.Err(), cnsms.ErrPeerTerminated) {
		s.exited.Add(1)
	}
	c.s.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) newID() smgp.MsgID {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()
	return smgp.NewMsgID(s.cfg.GatewayID, time.Now().In(smgp.CST), seq)
}

func (s *Server) handle(ctx context.Context, c *conn, f cnsms.Frame) ([]byte, bool) {
	if f.Cmd != smgp.CmdSubmit {
		return nil, true
	}
	s.submits.Add(1)
	sub, err := smgp.DecodeSubmit(f.Body)
	if err != nil {
		return smgp.AppendSubmitResp(nil, &smgp.SubmitResp{Status: smgp.StatusBadStructure}), false
	}
	sess := cnsms.SessionOf(ctx) // not c.s: the handler may run before it is set
	unbind := cnsms.UnbindAfter(sess, &c.submits, s.cfg.UnbindAfter)
	if unbind {
		s.unbinds.Add(1)
		s.log.Warn("exiting with a submit in flight (fault)", "after_submits", s.cfg.UnbindAfter)
	}
	status := s.check(c, sub)
	if status == smgp.StatusOK && (s.dice.Chance(s.cfg.BusyFraction) || (c.limiter != nil && !c.limiter.Allow())) {
		status = smgp.StatusSystemBusy
		s.busy.Add(1)
	}
	var id smgp.MsgID
	if status == smgp.StatusOK {
		id = s.ids.Next()
		n := s.accepted.Add(1)
		s.record(c.account, sub, id)
		if sub.NeedReport == 1 {
			if s.dice.Chance(s.cfg.NoReportFraction) {
				s.lostReports.Add(1)
			} else {
				s.scheduleReport(ctx, c, sub, id)
			}
		}
		if s.cfg.DropEvery > 0 && n%int64(s.cfg.DropEvery) == 0 {
			s.dropped.Add(1)
			go sess.Close() // not from this worker: Close waits for it
			return nil, true
		}
	}
	if !unbind && s.dice.Chance(s.cfg.LateFraction) {
		s.late.Add(1)
		select {
		case <-time.After(s.cfg.LateDelay):
		case <-ctx.Done():
			return nil, true
		}
	}
	return smgp.AppendSubmitResp(make([]byte, 0, 14), &smgp.SubmitResp{MsgID: id, Status: status}), false
}

func (s *Server) check(c *conn, sub *smgp.Submit) uint32 {
	switch {
	case c.mode == smgp.ModeReceive:
		return smgp.StatusBadCommand
	case len(sub.Content) == 0 || len(sub.Content) > smgp.MaxContent:
		return smgp.StatusBadMsgLength
	case sub.MsgType != smgp.MsgTypeMT && sub.MsgType != smgp.MsgTypeP2P:
		return smgp.StatusBadMsgType
	case sub.Priority > 3:
		return smgp.StatusBadPriority
	}
	if sub.TLVs.Byte(smgp.TagTPUdhi) != 0 {
		total, num := sub.TLVs.Byte(smgp.TagPkTotal), sub.TLVs.Byte(smgp.TagPkNumber)
		if total == 0 || num == 0 || num > total {
			return smgp.StatusBadStructure
		}
	}
	for _, d := range sub.Dest {
		if d == "" {
			return smgp.StatusBadDestTermID
		}
		if s.cfg.Refuse != nil {
			if r := s.cfg.Refuse(d); r != 0 {
				return r
			}
		}
	}
	return smgp.StatusOK
}

func (s *Server) record(account string, sub *smgp.Submit, id smgp.MsgID) {
	s.handsets.RecordOutcome(account, sub.SrcTermID, sub.Dest, sub.MsgFormat, sub.Content, sub.TLVs.Byte(smgp.TagTPUdhi) != 0, id, s.cfg.Stat == "DELIVRD")
}

// scheduleReport queues the reports of an accepted submit (twice for
// DuplicateReports) or, with ReportFirst on a receiving connection, sends
// the first copy now on the handler's session, ahead of the Submit_Resp.
func (s *Server) scheduleReport(ctx context.Context, c *conn, sub *smgp.Submit, id smgp.MsgID) {
	now := time.Now().In(smgp.CST).Format("0601021504")
	text := sub.Content
	if sub.TLVs.Byte(smgp.TagTPUdhi) != 0 {
		if _, rest, err := coding.SplitUDH(text); err == nil {
			text = rest
		}
	}
	text = text[:min(len(text), 20)]
	for _, dest := range sub.Dest {
		r := &report{account: c.account, src: sub.SrcTermID, dest: dest,
			rp: smgp.Report{MsgID: id, Sub: "001", Dlvrd: "001", SubmitDate: now, DoneDate: now, Stat: s.cfg.Stat, Err: "000", Text: text}}
		n := 1
		if s.dice.Chance(s.cfg.DuplicateReports) {
			n = 2
			s.duplicated.Add(1)
		}
		for i := range n {
			if i == 0 && s.cfg.ReportFirst && c.mode != smgp.ModeSend {
				if body, ok := s.reportBody(r, make([]byte, 0, 122), make([]byte, 0, 220)); ok {
					s.reports.Add(1)
					s.reportsFirst.Add(1)
					s.reportQ.SendFirst(ctx, cnsms.SessionOf(ctx), c.account, r, smgp.CmdDeliver, body, s.acked)
				}
				continue
			}
			s.reportQ.Add(c.account, r, s.cfg.ReceiptDelay)
		}
	}
}

// reportBody encodes r as a Deliver, with content and buf as scratch (the
// caller's: on its stack when the body does not outlive it); false when
// it cannot be sent.
func (s *Server) reportBody(r *report, content, buf []byte) ([]byte, bool) {
	content, err := smgp.AppendReport(content, &r.rp)
	if err != nil {
		return nil, false
	}
	d := smgp.Deliver{MsgID: s.newID(), IsReport: 1, MsgFormat: cnsms.FmtASCII, RecvTime: time.Now().In(smgp.CST).Format("20060102150405"),
		SrcTermID: r.dest, DestTermID: r.src, Content: content}
	body, err := smgp.AppendDeliver(buf, &d)
	return body, err == nil
}

// acked says whether a Deliver_Resp acknowledges a report, and counts it.
func (s *Server) acked(f cnsms.Frame) bool {
	if dr, err := smgp.DecodeDeliverResp(f.Body); err == nil && dr.Status == smgp.StatusOK {
		s.reportsAcked.Add(1)
		return true
	}
	return false
}

// reportLoop sends the account's reports over c; a report whose Deliver
// fails is queued again (for this or another receiving connection).
func (s *Server) reportLoop(c *conn) {
	s.reportQ.Serve(c.account, c.s.Done(), func(r *report) (acked, gone bool) {
		body, ok := s.reportBody(r, make([]byte, 0, 122), make([]byte, 0, 220))
		if !ok {
			return true, false // cannot be sent: nothing more to do with it
		}
		s.reports.Add(1)
		f, err := c.s.Request(s.ctx, smgp.CmdDeliver, body)
		if err == nil && s.acked(f) {
			return true, false
		}
		return false, c.s.Err() != nil
	})
}

// SendMO sends text from handset src to dest (our number) over one of
// account's receiving connections, as UCS2, with TP_udhi and a UDH when
// long. It returns the first non-zero Deliver_Resp status as an error.
func (s *Server) SendMO(ctx context.Context, account, src, dest, text string) error {
	s.mu.Lock()
	var c *conn
	for k := range s.conns {
		if k.account == account && k.mode != smgp.ModeSend && k.s.Err() == nil {
			c = k
			break
		}
	}
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("smgw: no receiving connection of %q", account)
	}
	plan, err := cnsms.Split(text, cnsms.UCS2, moRef(src, text))
	if err != nil {
		return err
	}
	for _, part := range plan.Parts {
		id := s.newID()
		d := smgp.Deliver{MsgID: id, MsgFormat: plan.MsgFmt, RecvTime: time.Now().In(smgp.CST).Format("20060102150405"),
			SrcTermID: src, DestTermID: dest, Content: part}
		if plan.UDHI {
			d.TLVs = smgp.TLVs{{Tag: smgp.TagTPUdhi, Value: []byte{1}}}
		}
		body, err := smgp.AppendDeliver(nil, &d)
		if err != nil {
			return err
		}
		f, err := c.s.Request(ctx, smgp.CmdDeliver, body)
		if err != nil {
			return err
		}
		dr, err := smgp.DecodeDeliverResp(f.Body)
		if err != nil {
			return err
		}
		if dr.Status != smgp.StatusOK {
			return smgp.StatusErr(dr.Status)
		}
	}
	return nil
}

// ExitAll sends Exit on every connection and waits for the answers.
func (s *Server) ExitAll(ctx context.Context) {
	s.mu.Lock()
	var cs []*conn
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		_ = c.s.Terminate(ctx)
	}
}

// moRef is the concatenation reference of an MO: the same for the same
// handset and text, as a gateway redelivering a message keeps its UDH.
func moRef(src, text string) byte {
	h := fnv.New32a()
	h.Write([]byte(src))
	h.Write([]byte(text))
	return byte(h.Sum32())
}

func (s *Server) keepAlive() time.Duration {
	if s.cfg.ActiveTest > 0 {
		return s.cfg.ActiveTest
	}
	return -1
}
