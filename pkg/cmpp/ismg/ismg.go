// Package ismg is a CMPP 3.0/2.0 ISMG (China Mobile's SMS gateway) for
// tests and the demo, a sibling of pkg/smpp/smsc: it authenticates SPs,
// answers CMPP_SUBMIT with Msg_Ids, sends status reports as
// CMPP_DELIVER, records what each handset received (long messages joined
// by their UDH reference), sends MO messages on request, and offers the
// faults the protocol allows: result 8 (traffic too high) on a fraction
// of submits, late SUBMIT_RESPs, reports never sent, reports sent twice,
// reports ahead of their SUBMIT_RESP, a CMPP_TERMINATE with a submit in
// flight, and Msg_Ids that repeat after a counter restart.
package ismg

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

	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"golang.org/x/time/rate"
)

// Config configures the simulator. Zero values are sensible defaults.
type Config struct {
	Addr       string            // listen address; default 127.0.0.1:0
	Accounts   map[string]string // Source_Addr → shared secret; required
	MaxVersion cmpp.Version      // highest version accepted (default 3.0); a higher CONNECT gets status 4
	GatewayID  uint32            // ISMG code in Msg_Ids (22 bits); default 12123

	Stat         string        // Stat of every report; default DELIVRD
	ReceiptDelay time.Duration // between SUBMIT_RESP and its report; default 0

	// Faults.
	ThrottleFraction  float64                  // this fraction of submits is answered result 8 and not recorded
	TPS               float64                  // per connection; submits beyond it (bucket of one second) are answered result 8
	DropEvery         int                      // every N-th accepted submit: recorded, then the connection closes unanswered
	LateFraction      float64                  // this fraction of SUBMIT_RESPs is written after LateDelay
	LateDelay         time.Duration            // default 2s
	NoReportFraction  float64                  // accepted, recorded, but the report is never sent
	IDRepeatAfter     int                      // after this many Msg_Ids, the counter restarts: the same ids again, in order
	DuplicateReports  float64                  // this fraction of reports is sent twice
	ReportFirst       bool                     // each report goes out on the submitting connection ahead of its SUBMIT_RESP
	UnbindAfter       int                      // every N-th submit on a connection: CMPP_TERMINATE ahead of its SUBMIT_RESP; the connection closes when the SP answers
	Refuse            func(dest string) uint32 // non-zero: answer this result for dest and record nothing
	ReportRetryDelay  time.Duration            // after a non-zero DELIVER_RESP; default 200ms
	ReportMaxAttempts int                      // per report; default 5

	// ActiveTest, when positive, is how long a connection may be idle
	// before the gateway sends its keep-alive; unanswered within
	// RequestTimeout (default 10s) the connection closes.
	ActiveTest     time.Duration
	RequestTimeout time.Duration
	Window         int // per connection, for our DELIVERs; default 16
	ReportWorkers  int // per connection; default 16
	HandlerWorkers int // per connection; default 8
	Seed           uint64
	Logger         *slog.Logger
}

// Message is what a handset received: one entry per message, parts joined.
type Message struct {
	Account string // Source_Addr of the SP
	Src     string // Src_Id
	Dest    string
	Text    string
	MsgFmt  byte
	Parts   int
	MsgIDs  []cmpp.MsgID // per part, in part order
	// Incomplete is set by Received for a long message still missing parts.
	Incomplete bool
}

type report struct {
	account string
	sr      cmpp.StatusReport
	srcID   string
	svc     string
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
	handsets *cnsms.Handsets[cmpp.MsgID]
	conns    map[*conn]struct{}
	reportQ  *cnsms.ReportQueue[*report]
	ids      *cnsms.RepeatingIDs[cmpp.MsgID]
	dice     *cnsms.Dice
	idSeq    uint16

	submits, accepted, throttled, reports, reportsAcked, terminated, dropped, late, lostReports atomic.Int64
	duplicated, reportsFirst, unbinds                                                           atomic.Int64
}

type conn struct {
	s       *cnsms.Session
	account string
	version cmpp.Version
	limiter *rate.Limiter
	submits atomic.Int64 // read on this connection (UnbindAfter)
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if len(cfg.Accounts) == 0 {
		return nil, errors.New("ismg: no accounts")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = cmpp.V30
	}
	if cfg.GatewayID == 0 {
		cfg.GatewayID = 12123
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
		cfg: cfg, ln: ln, log: cfg.Logger.With("component", "ismg"), ctx: ctx, cancel: cancel,
		dice: cnsms.NewDice(cfg.Seed), handsets: cnsms.NewHandsets[cmpp.MsgID](), conns: map[*conn]struct{}{},
	}
	s.reportQ = cnsms.NewReportQueue[*report](cfg.Accounts, cfg.ReportRetryDelay, cfg.ReportMaxAttempts, s.log)
	s.ids = cnsms.NewRepeatingIDs(cfg.IDRepeatAfter, func() cmpp.MsgID { return s.newMsgID() })
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
	Submits, Accepted, Throttled, Reports, ReportsAcked int64
	Terminated                                          int64 // connections the SP closed with TERMINATE
	Dropped                                             int64 // connections closed by DropEvery
	Late, LostReports                                   int64 // answers written LateDelay late; reports never sent (NoReportFraction)
	Duplicated                                          int64 // reports queued twice (DuplicateReports)
	ReportsFirst                                        int64 // reports sent ahead of their SUBMIT_RESP (ReportFirst)
	Unbinds                                             int64 // TERMINATEs sent with a submit in flight (UnbindAfter)
	Duplicates                                          int   // parts received twice
	Conns                                               int
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
	return Stats{Submits: s.submits.Load(), Accepted: s.accepted.Load(), Throttled: s.throttled.Load(),
		Reports: s.reports.Load(), ReportsAcked: s.reportsAcked.Load(), Terminated: s.terminated.Load(), Dropped: s.dropped.Load(), Late: s.late.Load(), LostReports: s.lostReports.Load(),
		Duplicated: s.duplicated.Load(), ReportsFirst: s.reportsFirst.Load(), Unbinds: s.unbinds.Load(), Duplicates: d, Conns: n, KeepAlivesAnswered: kaA, KeepAlivesReceived: kaR}
}

// Received returns what dest's handset got, in arrival order, followed by
// long messages still missing parts (Incomplete).
func (s *Server) Received(dest string) []Message {
	var out []Message
	for _, m := range s.handsets.Received(dest) {
		out = append(out, Message{Account: m.Account, Src: m.Src, Dest: m.Dest, Text: m.Text, MsgFmt: m.Format, Parts: m.Parts, MsgIDs: m.IDs, Incomplete: m.Incomplete})
	}
	return out
}

// Handsets returns every destination that received something.
func (s *Server) Handsets() []string { return s.handsets.Dests() }

// Parts returns every accepted part as the handsets got it, in arrival
// order, duplicates included: what a test holds the SP's records against.
func (s *Server) Parts() []cnsms.HandsetPart[cmpp.MsgID] { return s.handsets.Parts() }

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
	if err != nil || f.Cmd != cmpp.CmdConnect {
		nc.Close()
		return
	}
	req, err := cmpp.DecodeConnect(f.Body)
	wire := s.cfg.MaxVersion
	status := cmpp.ConnectOK
	var secret string
	switch {
	case err != nil:
		status = cmpp.ConnectBadStructure
	case !req.Version.Valid() && req.Version < cmpp.V20:
		status = cmpp.ConnectBadStructure
	case req.Version > s.cfg.MaxVersion:
		status = cmpp.ConnectVersionHigh
	default:
		var ok bool
		secret, ok = s.cfg.Accounts[req.SourceAddr]
		if !ok {
			status = cmpp.ConnectBadSource
		} else if cmpp.AuthenticatorSource(req.SourceAddr, secret, req.Timestamp) != req.Authenticator {
			status = cmpp.ConnectAuthFailed
		}
	}
	v := s.cfg.MaxVersion
	if status == cmpp.ConnectOK {
		v = req.Version
		if v > cmpp.V30 {
			v = cmpp.V30
		}
		wire = v
	}
	resp := cmpp.ConnectResp{Status: status, Version: s.cfg.MaxVersion, Wire: wire}
	if req != nil {
		resp.Authenticator = cmpp.AuthenticatorISMG(wire, status, req.Authenticator, secret)
	}
	if _, err := nc.Write(cnsms.AppendFrame(nil, cnsms.Frame{Cmd: cmpp.CmdConnectResp, Seq: f.Seq, Body: cmpp.AppendConnectResp(nil, &resp)})); err != nil || status != cmpp.ConnectOK {
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{account: req.SourceAddr, version: v}
	if s.cfg.TPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(s.cfg.TPS), max(1, int(s.cfg.TPS)))
	}
	c.s = cnsms.NewSession(nc, br, cnsms.SessionConfig{
		Dialect:        cmpp.Dialect(),
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
	for range s.cfg.ReportWorkers {
		wg.Go(func() { s.reportLoop(c) })
	}
	select {
	case <-c.s.Done():
	case <-s.ctx.Done():
		c.s.Close()
	}
	wg.Wait()
	if errors.Is(c.s.Err(), cnsms.ErrPeerTerminated) {
		s.terminated.Add(1)
	}
	c.s.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) handle(ctx context.Context, c *conn, f cnsms.Frame) ([]byte, bool) {
	if f.Cmd != cmpp.CmdSubmit {
		// QUERY, CANCEL… are not simulated: answer nothing.
		return nil, true
	}
	s.submits.Add(1)
	sub, err := cmpp.DecodeSubmit(c.version, f.Body)
	if err != nil {
		return cmpp.AppendSubmitResp(nil, c.version, &cmpp.SubmitResp{Result: cmpp.ResultBadStructure}), false
	}
	sess := cnsms.SessionOf(ctx) // not c.s: the handler may run before it is set
	unbind := cnsms.UnbindAfter(sess, &c.submits, s.cfg.UnbindAfter)
	if unbind {
		s.unbinds.Add(1)
		s.log.Warn("terminating with a submit in flight (fault)", "after_submits", s.cfg.UnbindAfter)
	}
	result := s.check(c, sub)
	if result == cmpp.ResultOK && (s.dice.Chance(s.cfg.ThrottleFraction) || (c.limiter != nil && !c.limiter.Allow())) {
		result = cmpp.ResultFlowControl
		s.throttled.Add(1)
	}
	var id cmpp.MsgID
	if result == cmpp.ResultOK {
		id = s.ids.Next()
		n := s.accepted.Add(1)
		s.record(c.account, sub, id)
		if sub.RegisteredDelivery == cmpp.Report {
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
	return cmpp.AppendSubmitResp(make([]byte, 0, 12), c.version, &cmpp.SubmitResp{MsgID: id, Result: result}), false
}

func (s *Server) check(c *conn, sub *cmpp.Submit) uint32 {
	switch {
	case len(sub.Content) > cmpp.MaxContent:
		return cmpp.ResultTooLong
	case sub.PkTotal == 0 || sub.PkNumber == 0 || sub.PkNumber > sub.PkTotal:
		return cmpp.ResultBadStructure
	case sub.MsgSrc != c.account:
		return cmpp.ResultBadMsgSrc
	}
	for _, d := range sub.Dest {
		if d == "" {
			return cmpp.ResultBadDestTermID
		}
		if s.cfg.Refuse != nil {
			if r := s.cfg.Refuse(d); r != 0 {
				return r
			}
		}
	}
	return cmpp.ResultOK
}

func (s *Server) record(account string, sub *cmpp.Submit, id cmpp.MsgID) {
	s.handsets.RecordOutcome(account, sub.SrcID, sub.Dest, sub.MsgFmt, sub.Content, sub.TPUDHI != 0, id, s.cfg.Stat == "DELIVRD")
}

// scheduleReport queues the reports of an accepted submit (twice for
// DuplicateReports) or, with ReportFirst, sends the first copy now on the
// handler's session, ahead of the SUBMIT_RESP.
func (s *Server) scheduleReport(ctx context.Context, c *conn, sub *cmpp.Submit, id cmpp.MsgID) {
	now := time.Now().In(cmpp.CST).Format("0601021504")
	for _, dest := range sub.Dest {
		r := &report{account: c.account, srcID: sub.SrcID, svc: sub.ServiceID,
			sr: cmpp.StatusReport{MsgID: id, Stat: s.cfg.Stat, SubmitTime: now, DoneTime: now, DestTerminalID: dest, SMSCSequence: uint32(id.Seq())}}
		n := 1
		if s.dice.Chance(s.cfg.DuplicateReports) {
			n = 2
			s.duplicated.Add(1)
		}
		for i := range n {
			if i == 0 && s.cfg.ReportFirst {
				if body, ok := s.reportBody(c.version, r, make([]byte, 0, 71), make([]byte, 0, 200)); ok {
					s.reports.Add(1)
					s.reportsFirst.Add(1)
					s.reportQ.SendFirst(ctx, cnsms.SessionOf(ctx), c.account, r, cmpp.CmdDeliver, body, s.acked)
				}
				continue
			}
			s.reportQ.Add(c.account, r, s.cfg.ReceiptDelay)
		}
	}
}

// reportBody encodes r as a CMPP_DELIVER in version v, with content and
// buf as scratch (the caller's: on its stack when the body does not
// outlive it); false when it cannot be sent.
func (s *Server) reportBody(v cmpp.Version, r *report, content, buf []byte) ([]byte, bool) {
	content, err := cmpp.AppendStatusReport(content, v, &r.sr)
	if err != nil {
		return nil, false
	}
	d := cmpp.Deliver{MsgID: s.newMsgID(), DestID: r.srcID, ServiceID: r.svc, MsgFmt: cmpp.FmtASCII,
		SrcTerminalID: r.sr.DestTerminalID, RegisteredDelivery: cmpp.Report, Content: content}
	body, err := cmpp.AppendDeliver(buf, v, &d)
	return body, err == nil
}

// acked says whether a DELIVER_RESP acknowledges a report, and counts it.
func (s *Server) acked(f cnsms.Frame) bool {
	if dr, err := cmpp.DecodeDeliverResp(f.Body); err == nil && dr.Result == cmpp.ResultOK {
		s.reportsAcked.Add(1)
		return true
	}
	return false
}

// reportLoop sends the account's reports over c; a report whose DELIVER
// fails is queued again (for this or another connection).
func (s *Server) reportLoop(c *conn) {
	s.reportQ.Serve(c.account, c.s.Done(), func(r *report) (acked, gone bool) {
		body, ok := s.reportBody(c.version, r, make([]byte, 0, 71), make([]byte, 0, 200))
		if !ok {
			return true, false // cannot be sent: nothing more to do with it
		}
		s.reports.Add(1)
		f, err := c.s.Request(s.ctx, cmpp.CmdDeliver, body)
		if err == nil && s.acked(f) {
			return true, false
		}
		return false, c.s.Err() != nil
	})
}

func (s *Server) newMsgID() cmpp.MsgID {
	s.mu.Lock()
	s.idSeq++
	seq := s.idSeq
	s.mu.Unlock()
	return cmpp.NewMsgID(time.Now().In(cmpp.CST), s.cfg.GatewayID, seq)
}

// SendMO sends text from handset src to destID (our number) over one of
// account's connections, as UCS2, in parts with a UDH when long. It
// returns the DELIVER_RESP result of the first part that was not 0.
func (s *Server) SendMO(ctx context.Context, account, src, destID, text string) error {
	s.mu.Lock()
	var c *conn
	for k := range s.conns {
		if k.account == account && k.s.Err() == nil {
			c = k
			break
		}
	}
	s.mu.Unlock()
	if c == nil {
		return fmt.Errorf("ismg: no connection of %q", account)
	}
	plan, err := cmpp.Split(text, cmpp.UCS2, moRef(src, text))
	if err != nil {
		return err
	}
	for _, part := range plan.Parts {
		d := cmpp.Deliver{MsgID: s.newMsgID(), DestID: destID, MsgFmt: plan.MsgFmt, SrcTerminalID: src, Content: part}
		if plan.UDHI {
			d.TPUDHI = 1
		}
		body, err := cmpp.AppendDeliver(nil, c.version, &d)
		if err != nil {
			return err
		}
		f, err := c.s.Request(ctx, cmpp.CmdDeliver, body)
		if err != nil {
			return err
		}
		dr, err := cmpp.DecodeDeliverResp(f.Body)
		if err != nil {
			return err
		}
		if dr.Result != cmpp.ResultOK {
			return cmpp.ResultError(dr.Result)
		}
	}
	return nil
}

// TerminateAll sends CMPP_TERMINATE on every connection (the ISMG closing
// in order) and waits for the answers.
func (s *Server) TerminateAll(ctx context.Context) {
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
