package smsc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	writeTimeout   = 30 * time.Second
	delayQueueSize = 256 // submit_sm_resp held back by SlowResponse; beyond it the read loop waits
)

// conn is one ESME connection and, once bound, one bind.
type conn struct {
	s   *Server
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger
	no  uint64     // connection number, Submit.Bind
	rnd *rand.Rand // read loop only

	wmu       sync.Mutex
	bw        *bufio.Writer
	deadline  time.Time
	textBuf   []byte
	seq       atomic.Uint32
	lastRead  atomic.Int64
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	unbound   chan struct{} // closed when unbind_resp arrives

	// Set by the read loop before bound is stored and the bind registered.
	bound                 atomic.Bool
	systemID              string
	transmitter, receiver bool
	sys                   *system
	q                     *rqueue // receipts for this bind (receivers only)
	win                   chan struct{}

	outMu sync.Mutex
	out   map[uint32]outEntry

	delayed chan delayedResp

	// read loop only
	lim       *limiter
	nSubmits  int
	unbinding bool // UnbindAfter fired: the bind closes at unbind_resp
	sb        submitBody
}

type outEntry struct {
	r    *receipt
	sent time.Time
	slot bool // holds a window slot
}

type delayedResp struct {
	due         time.Time
	status, seq uint32
	id          string
}

func newConn(s *Server, nc net.Conn) *conn {
	no := s.nextBind()
	c := &conn{
		s:       s,
		nc:      nc,
		br:      bufio.NewReaderSize(nc, maxPDULen),
		bw:      bufio.NewWriterSize(nc, 32*1024),
		no:      no,
		rnd:     rand.New(rand.NewPCG(uint64(s.cfg.Seed), no)),
		done:    make(chan struct{}),
		unbound: make(chan struct{}),
		out:     map[uint32]outEntry{},
		delayed: make(chan delayedResp, delayQueueSize),
	}
	c.log = s.log.With("bind", no, "remote", nc.RemoteAddr().String())
	if s.cfg.TPS > 0 {
		c.lim = &limiter{rate: float64(s.cfg.TPS), burst: float64(s.cfg.TPSBurst)}
	}
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// serve runs the read loop, then tears the bind down: receipts queued or
// in flight on it go back to be delivered elsewhere or later.
func (c *conn) serve() {
	c.wg.Go(c.housekeeping)
	c.wg.Go(c.delayLoop)
	err := c.readLoop()
	c.close()
	c.wg.Wait()
	c.s.unregister(c)
	if c.bound.Swap(false) {
		c.s.metrics.Binds.Dec()
		c.log.Info("unbound", "system_id", c.systemID, "reason", reason(err))
	}
	if c.q != nil {
		for _, r := range c.q.drain() {
			c.s.route(r)
		}
	}
	c.outMu.Lock()
	out := c.out
	c.out = map[uint32]outEntry{}
	c.outMu.Unlock()
	for _, e := range out {
		c.s.redeliver(e.r, "bind lost")
	}
	// Receipts still pending keep a pointer to this conn (their origin):
	// let the buffers go. Late writers (Close's unbind) write nowhere.
	c.wmu.Lock()
	c.bw = bufio.NewWriterSize(io.Discard, 16)
	c.textBuf = nil
	c.wmu.Unlock()
	c.br = nil
}

func reason(err error) string {
	switch {
	case err == nil:
		return "unbind"
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return "closed"
	}
	return err.Error()
}

func (c *conn) readLoop() error {
	for {
		hb, err := c.br.Peek(headerLen)
		if err != nil {
			return err
		}
		h := parseHeader(hb)
		if h.Len < headerLen || h.Len > maxPDULen {
			// The stream cannot be resynchronised: say why and hang up.
			c.writeEmpty(cmdGenericNack, StatusInvalidCmdLen, h.Seq, true)
			return ErrMalformed
		}
		b, err := c.br.Peek(int(h.Len))
		if err != nil {
			return err
		}
		c.lastRead.Store(time.Now().UnixNano())
		keep := c.handle(h, b[headerLen:])
		if _, err := c.br.Discard(int(h.Len)); err != nil {
			return err
		}
		if !keep {
			return nil
		}
		c.flushIfIdle()
	}
}

// flushIfIdle flushes responses unless another whole PDU is already
// buffered: writes are batched while the ESME pipelines.
func (c *conn) flushIfIdle() {
	if n := c.br.Buffered(); n >= headerLen {
		hb, _ := c.br.Peek(headerLen)
		if l := int(binary.BigEndian.Uint32(hb)); l >= headerLen && l <= n {
			return
		}
	}
	c.flush()
}

func (c *conn) handle(h header, body []byte) bool {
	switch h.ID {
	case cmdBindTransmitter, cmdBindReceiver, cmdBindTransceiver:
		c.handleBind(h, body)
		return true
	case cmdEnquireLink:
		c.writeEmpty(cmdEnquireLinkResp, StatusOK, h.Seq, false)
		return true
	case cmdUnbind:
		c.writeEmpty(cmdUnbindResp, StatusOK, h.Seq, true)
		return false
	case cmdUnbindResp:
		select {
		case <-c.unbound:
		default:
			close(c.unbound)
		}
		return false
	}
	if !c.bound.Load() {
		if h.ID&respBit == 0 {
			if h.ID == cmdSubmitSM {
				c.writeSubmitResp(StatusInvalidBind, h.Seq, "", false)
			} else {
				c.writeEmpty(cmdGenericNack, StatusInvalidBind, h.Seq, false)
			}
		}
		return true
	}
	switch h.ID {
	case cmdSubmitSM:
		return c.handleSubmit(h, body)
	case cmdDeliverSMResp, cmdGenericNack:
		c.handleDeliverResp(h)
	case cmdEnquireLinkResp:
	default:
		if h.ID&respBit == 0 {
			c.writeEmpty(cmdGenericNack, StatusInvalidCmdID, h.Seq, false)
		}
	}
	return true
}

func (c *conn) handleBind(h header, body []byte) {
	s := c.s
	var status uint32
	b, err := decodeBind(body)
	f := s.faults.Load()
	switch {
	case c.bound.Load():
		status = StatusAlreadyBound
	case err != nil:
		status = StatusBindFailed
	case f.RefuseBinds:
		status = StatusBindFailed
	case s.cfg.SystemID != "" && b.SystemID != s.cfg.SystemID:
		status = StatusInvalidSysID
	case s.cfg.Password != "" && b.Password != s.cfg.Password:
		status = StatusInvalidPasswd
	}
	if status != StatusOK {
		if status != StatusAlreadyBound {
			s.st.bindsRefused.Add(1)
		}
		c.log.Warn("bind refused", "system_id", b.SystemID, "status", status)
		c.writeBindResp(h.ID, status, h.Seq)
		return
	}
	c.systemID = b.SystemID
	c.transmitter = h.ID != cmdBindReceiver
	c.receiver = h.ID != cmdBindTransmitter
	if c.receiver {
		c.q = newRQueue()
		c.win = make(chan struct{}, s.cfg.ReceiptWindow)
	}
	// Registered before the ESME learns it is bound, so that receipts for
	// what it submits next can be routed here; but the bind_resp goes out
	// before any deliver_sm can (sendLoop starts after it).
	s.register(c)
	c.bound.Store(true)
	s.st.bindsTotal.Add(1)
	s.metrics.Binds.Inc()
	c.writeBindResp(h.ID, StatusOK, h.Seq)
	c.log.Info("bound", "system_id", c.systemID, "type", bindType(h.ID))
	if c.receiver {
		c.wg.Go(c.sendLoop)
	}
}

func bindType(id uint32) string {
	switch id {
	case cmdBindTransmitter:
		return "transmitter"
	case cmdBindReceiver:
		return "receiver"
	}
	return "transceiver"
}

func (c *conn) handleSubmit(h header, body []byte) bool {
	s := c.s
	if !c.transmitter {
		c.writeSubmitResp(StatusInvalidBind, h.Seq, "", false)
		return true
	}
	f := s.faults.Load()
	c.nSubmits++
	if f.DropAfter > 0 && c.nSubmits > f.DropAfter {
		s.st.connsDropped.Add(1)
		c.log.Warn("dropping the connection (fault)", "after_submits", f.DropAfter)
		c.flush()
		c.close()
		return false
	}
	s.st.submits.Add(1)
	sb := &c.sb
	if err := decodeSubmit(body, sb); err != nil {
		s.st.rejected.Add(1)
		s.metrics.rejected.Inc()
		c.log.Warn("malformed submit_sm", "err", err)
		c.writeEmpty(cmdGenericNack, StatusInvalidCmdLen, h.Seq, false)
		return true
	}
	now := time.Now()
	status := StatusOK
	switch {
	case len(sb.Dest) == 0:
		status = StatusInvalidDest
		s.st.rejected.Add(1)
		s.metrics.rejected.Inc()
	case c.lim != nil && !c.lim.allow(now),
		f.Throttle > 0 && c.rnd.Float64() < f.Throttle:
		status = StatusThrottled
		s.st.throttled.Add(1)
		s.metrics.throttled.Inc()
	case f.QueueFull > 0 && c.rnd.Float64() < f.QueueFull,
		// The store of undelivered receipts is full (the ESME does not take
		// them as fast as it submits, or has no receiver bound): refuse
		// rather than drop receipts or grow without bound.
		sb.RegisteredDelivery&0x03 != 0 && s.pending.Load() >= int64(s.cfg.MaxPendingReceipts):
		status = StatusQueueFull
		s.st.queueFull.Add(1)
		s.metrics.queueFull.Inc()
	}
	var id string
	if status == StatusOK {
		id = s.ids.next()
		n := s.st.accepted.Add(1)
		s.metrics.accepted.Inc()
		if f.RestartIDsEvery > 0 && n%uint64(f.RestartIDsEvery) == 0 {
			s.ids.restart()
			s.st.idRestarts.Add(1)
			c.log.Warn("message ids start again (fault)", "after", f.RestartIDsEvery)
		}
	}
	answer := !(status == StatusOK && f.NoResponse > 0 && c.rnd.Float64() < f.NoResponse)
	var stat string // the outcome at the handset, drawn when a receipt is asked for
	if status == StatusOK && sb.RegisteredDelivery&0x03 != 0 {
		stat = s.cfg.pick(c.rnd.Float64())
	}
	sub := Submit{
		Bind: c.no, SystemID: c.systemID,
		Source: string(sb.Source), Dest: string(sb.Dest),
		ESMClass: sb.ESMClass, DataCoding: sb.DataCoding, RegisteredDelivery: sb.RegisteredDelivery,
		Payload: append([]byte(nil), sb.Payload...),
		Text:    DecodeText(sb.DataCoding, sb.Payload),
		Ref:     sb.Ref, Total: int(sb.Total), Seq: int(sb.Seq), SAR: sb.SAR,
		MessageID: id, Status: status, Stat: stat, Answered: answer, Time: now,
	}
	if sb.UDH != nil {
		sub.UDH = append([]byte(nil), sb.UDH...)
	}
	s.store.add(sub)
	if c.log.Enabled(context.Background(), slog.LevelDebug) {
		c.log.Debug("submit_sm", "dest", Mask(sub.Dest), "status", status, "id", id, "part", sub.Seq, "of", sub.Total)
	}
	if status == StatusOK {
		c.receipts(&sub, sb, f, now)
	}
	if !answer {
		s.st.unans.Add(1)
		return true
	}
	if f.UnbindAfter > 0 && c.nSubmits%f.UnbindAfter == 0 && !c.unbinding {
		// The SMSC unbinds with this submit in flight and answers it
		// right after the unbind.
		c.unbinding = true
		s.st.unbinds.Add(1)
		c.log.Warn("unbinding with a submit in flight (fault)", "after_submits", c.nSubmits)
		c.writeEmpty(cmdUnbind, StatusOK, c.nextSeq(), true)
		c.writeSubmitResp(status, h.Seq, id, true)
		return true
	}
	if status == StatusOK && f.Late > 0 && f.LateBy > 0 && c.rnd.Float64() < f.Late {
		s.st.late.Add(1)
		seq := h.Seq
		c.wg.Go(func() {
			t := time.NewTimer(f.LateBy)
			defer t.Stop()
			select {
			case <-t.C:
				c.writeSubmitResp(status, seq, id, true)
			case <-c.done:
			}
		})
		return true
	}
	if f.SlowResponse > 0 {
		select {
		case c.delayed <- delayedResp{due: now.Add(f.SlowResponse), status: status, seq: h.Seq, id: id}:
		case <-c.done:
		}
		return true
	}
	c.writeSubmitResp(status, h.Seq, id, false)
	return true
}

// receipts creates the receipt(s) an accepted submit asked for.
func (c *conn) receipts(sub *Submit, sb *submitBody, f *Faults, now time.Time) {
	s := c.s
	rd := sub.RegisteredDelivery & 0x03
	if rd == 0 {
		return
	}
	stat := sub.Stat
	if rd == 2 && stat == StatDelivered {
		return // failure receipts only
	}
	if f.LoseReceipts > 0 && c.rnd.Float64() < f.LoseReceipts {
		s.st.lost.Add(1)
		return
	}
	n := 1
	if f.DuplicateReceipts > 0 && c.rnd.Float64() < f.DuplicateReceipts {
		n = 2
	}
	for i := range n {
		if s.pending.Add(1) > int64(s.cfg.MaxPendingReceipts) {
			s.pending.Add(-1)
			s.st.dropped.Add(1)
			s.metrics.Failed.Inc()
			return
		}
		if i == 1 {
			s.st.duplicated.Add(1)
		}
		r := &receipt{
			id: sub.MessageID, systemID: c.systemID, origin: c, stat: stat,
			submitted: now, done: now.Add(s.cfg.ReceiptDelay), due: now.Add(s.cfg.ReceiptDelay),
			text:    receiptText(sub.Text),
			handset: addr{sb.DestTON, sb.DestNPI, sub.Dest},
			esme:    addr{sb.SourceTON, sb.SourceNPI, sub.Source},
		}
		switch {
		case f.ReceiptFirst && c.receiver:
			r.due = now
			_ = c.writeReceipt(r, false) // a failed write breaks the connection, which the read loop then ends
		case f.ReceiptFirst:
			r.due = now
			s.route(r)
		default:
			s.schedule(r)
		}
	}
}

func (c *conn) handleDeliverResp(h header) {
	c.outMu.Lock()
	e, ok := c.out[h.Seq]
	if ok {
		delete(c.out, h.Seq)
	}
	c.outMu.Unlock()
	if !ok {
		return // late, after a timeout redelivered it; or a nack for something else
	}
	if e.slot {
		<-c.win
	}
	if h.ID == cmdDeliverSMResp && h.Status == StatusOK {
		c.s.settle(e.r)
		return
	}
	c.s.redeliver(e.r, "error status")
}

// sendLoop writes queued receipts, at most ReceiptWindow unanswered.
func (c *conn) sendLoop() {
	for {
		select {
		case c.win <- struct{}{}:
		default:
			c.flush() // window full: let the ESME see what is waiting
			select {
			case c.win <- struct{}{}:
			case <-c.done:
				return
			}
		}
		r := c.q.pop()
		if r == nil {
			r = c.sys.q.pop()
		}
		if r == nil {
			<-c.win
			c.flush()
			select {
			case <-c.q.sig:
			case <-c.sys.q.sig:
			case <-c.done:
				return
			}
			continue
		}
		if err := c.writeReceipt(r, true); err != nil {
			return
		}
	}
}

// writeReceipt sends r as a deliver_sm and tracks it until its response.
func (c *conn) writeReceipt(r *receipt, slot bool) error {
	seq := c.nextSeq()
	r.attempts++
	c.outMu.Lock()
	c.out[seq] = outEntry{r: r, sent: time.Now(), slot: slot}
	c.outMu.Unlock()
	if r.mo != nil {
		c.wmu.Lock()
		return c.writeLocked(appendDeliverMO(c.bw.AvailableBuffer(), seq, r), false)
	}
	info := statInfo[r.stat]
	f := c.s.faults.Load()
	textID := r.id
	if f.ReceiptTextIDDecimal {
		if v, err := strconv.ParseUint(r.id, 16, 64); err == nil {
			textID = strconv.FormatUint(v, 10)
		}
	}
	if f.ReceiptIDPadded && len(textID) < 20 {
		textID = strings.Repeat("0", 20-len(textID)) + textID
	}
	excerpt := r.text
	if f.EmptyReceiptText {
		excerpt = ""
	}
	c.wmu.Lock()
	t := c.textBuf[:0]
	t = append(t, "id:"...)
	t = append(t, textID...)
	t = append(t, " sub:001 dlvrd:"...)
	if r.stat == StatDelivered {
		t = append(t, "001"...)
	} else {
		t = append(t, "000"...)
	}
	t = append(t, " submit date:"...)
	t = r.submitted.In(c.s.cfg.location).AppendFormat(t, "0601021504")
	t = append(t, " done date:"...)
	t = r.done.In(c.s.cfg.location).AppendFormat(t, "0601021504")
	t = append(t, " stat:"...)
	t = append(t, r.stat...)
	t = append(t, " err:"...)
	t = append(t, info.err...)
	t = append(t, " text:"...)
	t = append(t, excerpt...)
	c.textBuf = t
	b := appendDeliverSM(c.bw.AvailableBuffer(), seq, &deliverReceipt{
		SourceTON: r.handset.ton, SourceNPI: r.handset.npi, Source: r.handset.number,
		DestTON: r.esme.ton, DestNPI: r.esme.npi, Dest: r.esme.number,
		Text: t, MessageID: r.id, State: info.state,
	})
	err := c.writeLocked(b, false)
	c.s.st.receiptsSent.Add(1)
	return err
}

func (c *conn) nextSeq() uint32 {
	for {
		n := c.seq.Add(1) & 0x7FFFFFFF
		if n != 0 {
			return n
		}
	}
}

// housekeeping times out unanswered receipts and keeps the link alive.
func (c *conn) housekeeping() {
	cfg := c.s.cfg
	tick := min(cfg.ReceiptTimeout/4, 500*time.Millisecond)
	if cfg.EnquireLink > 0 {
		tick = min(tick, cfg.EnquireLink/2)
	}
	tick = max(tick, 5*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastEnquire := time.Now()
	var expired []outEntry
	for {
		select {
		case <-t.C:
		case <-c.done:
			return
		}
		now := time.Now()
		c.outMu.Lock()
		for seq, e := range c.out {
			if now.Sub(e.sent) > cfg.ReceiptTimeout {
				delete(c.out, seq)
				expired = append(expired, e)
			}
		}
		c.outMu.Unlock()
		for i, e := range expired {
			if e.slot {
				<-c.win
			}
			c.s.redeliver(e.r, "timeout")
			expired[i] = outEntry{}
		}
		expired = expired[:0]
		if cfg.EnquireLink > 0 && c.bound.Load() {
			if now.Sub(time.Unix(0, c.lastRead.Load())) > 3*cfg.EnquireLink {
				c.log.Warn("link silent, closing", "for", 3*cfg.EnquireLink)
				c.close()
				return
			}
			if now.Sub(lastEnquire) >= cfg.EnquireLink {
				lastEnquire = now
				c.writeEmpty(cmdEnquireLink, StatusOK, c.nextSeq(), true)
			}
		}
	}
}

// delayLoop writes submit_sm_resp held back by the SlowResponse fault.
func (c *conn) delayLoop() {
	for {
		select {
		case d := <-c.delayed:
			if w := time.Until(d.due); w > 0 {
				t := time.NewTimer(w)
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return
				}
			}
			c.writeSubmitResp(d.status, d.seq, d.id, len(c.delayed) == 0)
		case <-c.done:
			return
		}
	}
}

// unbind asks the ESME to unbind and closes the connection when it
// answers, when it hangs up or after timeout.
func (c *conn) unbind(timeout time.Duration) {
	if c.bound.Load() {
		c.writeEmpty(cmdUnbind, StatusOK, c.nextSeq(), true)
		t := time.NewTimer(timeout)
		select {
		case <-c.unbound:
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
	}
	c.close()
}

func (c *conn) writeEmpty(id, status, seq uint32, flush bool) {
	c.wmu.Lock()
	_ = c.writeLocked(appendEmpty(c.bw.AvailableBuffer(), id, status, seq), flush) // a failed write breaks the connection, which the read loop then ends
}

func (c *conn) writeBindResp(id, status, seq uint32) {
	c.wmu.Lock()
	_ = c.writeLocked(appendBindResp(c.bw.AvailableBuffer(), id, status, seq, c.s.cfg.Name), true) // as in writeEmpty
}

func (c *conn) writeSubmitResp(status, seq uint32, id string, flush bool) {
	c.wmu.Lock()
	_ = c.writeLocked(appendSubmitResp(c.bw.AvailableBuffer(), status, seq, id), flush) // as in writeEmpty
}

// writeLocked writes b, flushes if asked and releases wmu. A write error
// closes the connection.
func (c *conn) writeLocked(b []byte, flush bool) error {
	_, err := c.bw.Write(b)
	if err == nil && flush {
		err = c.flushLocked()
	}
	c.wmu.Unlock()
	if err != nil {
		c.close()
	}
	return err
}

func (c *conn) flush() {
	c.wmu.Lock()
	err := c.flushLocked()
	c.wmu.Unlock()
	if err != nil {
		c.close()
	}
}

func (c *conn) flushLocked() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	// Refresh the deadline at most once a second: it covers the flushes
	// bufio does by itself on a full buffer too.
	if now := time.Now(); c.deadline.Sub(now) < writeTimeout-time.Second {
		c.deadline = now.Add(writeTimeout)
		_ = c.nc.SetWriteDeadline(c.deadline) // fails only on a closed connection, which Flush reports
	}
	return c.bw.Flush()
}

// limiter is a token bucket used by one read loop.
type limiter struct {
	rate, burst, tokens float64
	last                time.Time
}

func (l *limiter) allow(now time.Time) bool {
	if l.last.IsZero() {
		l.tokens = l.burst
	} else {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}
