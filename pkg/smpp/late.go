package smpp

import (
	"context"
	"time"
)

// Late-response defaults.
const (
	DefaultLateTTL = 10 * time.Minute
	DefaultLateMax = 4096
)

// Late is a submit_sm_resp that arrived after its submit_sm had already
// failed with an unknown outcome (ReasonTimeout, or ReasonUnknown because
// the caller's ctx ended after it was written). Send returned an error for
// that part; this is what the SMSC actually said, so the caller can
// reconcile instead of resending blindly.
type Late struct {
	Ref       string // Message.Ref of the message the part belongs to
	Part      int    // 1-based part number
	Parts     int    // parts of the message
	MessageID string // the SMSC's message id; "" when Status is not OK
	Status    Status // command_status of the response (generic_nack included)
}

// lateTag rides on the ctx of a submit so that the session can keep it
// with the request after the request times out.
type lateTag struct {
	ref         string
	part, parts int
}

type lateCtxKey struct{}

func withLateTag(ctx context.Context, t lateTag) context.Context {
	return context.WithValue(ctx, lateCtxKey{}, t)
}

// lateEntry is a timed-out request kept so its response can be matched.
type lateEntry struct {
	tag     lateTag
	cmd     CommandID
	expires time.Time
}

// lateTable holds a session's timed-out requests in arrival order,
// bounded by count and age. Guarded by Session.mu.
type lateTable struct {
	m     map[uint32]lateEntry
	order []uint32 // FIFO of sequence numbers, oldest first
}

func (t *lateTable) put(seq uint32, e lateEntry, now time.Time, maxN int) {
	if t.m == nil {
		t.m = make(map[uint32]lateEntry)
	}
	t.m[seq] = e
	t.order = append(t.order, seq)
	t.prune(now, maxN)
}

// prune drops expired entries and the oldest beyond maxN.
func (t *lateTable) prune(now time.Time, maxN int) {
	for len(t.order) > 0 {
		seq := t.order[0]
		e, ok := t.m[seq]
		if ok && len(t.m) <= maxN && now.Before(e.expires) {
			break
		}
		if ok {
			delete(t.m, seq)
		}
		t.order = t.order[1:]
	}
	if len(t.order) > 2*maxN { // slots of entries taken out of order
		kept := make([]uint32, 0, len(t.m))
		for _, seq := range t.order {
			if _, ok := t.m[seq]; ok {
				kept = append(kept, seq)
			}
		}
		t.order = kept
	}
}

func (t *lateTable) take(seq uint32, cmd CommandID, now time.Time) (lateEntry, bool) {
	e, ok := t.m[seq]
	if !ok || cmd != e.cmd.Response() && cmd != GenericNack {
		return lateEntry{}, false
	}
	delete(t.m, seq) // its order slot is skipped by prune
	if !now.Before(e.expires) {
		return lateEntry{}, false
	}
	return e, true
}

// expire removes a request that got no response in time (or whose
// caller gave up after writing it). A submit_sm whose ctx carries a late
// tag is kept in the late table, when the session reports late
// responses, so that its response can still be matched; one that was
// answered in the instant between the timer and this lock is reported as
// late at once.
func (s *Session) expire(ctx context.Context, c *call) {
	tag, tagged := ctx.Value(lateCtxKey{}).(lateTag)
	keep := tagged && c.cmd == SubmitSM && s.cfg.OnLate != nil
	now := time.Now()
	s.mu.Lock()
	mine := s.pending[c.seq] == c
	if mine {
		delete(s.pending, c.seq)
		s.release(c)
		if keep {
			s.late.put(c.seq, lateEntry{tag: tag, cmd: c.cmd, expires: now.Add(s.lateTTL())}, now, s.lateMax())
		}
	}
	s.mu.Unlock()
	if !mine && keep {
		select {
		case p := <-c.resp:
			s.reportLate(tag, p)
		default:
		}
	}
}

// takeLate matches a response that found no waiting request against the
// timed-out ones and reports it. It runs on the read loop.
func (s *Session) takeLate(p *PDU) bool {
	if s.cfg.OnLate == nil {
		return false
	}
	s.mu.Lock()
	e, ok := s.late.take(p.Seq, p.Command, time.Now())
	s.mu.Unlock()
	if ok {
		s.reportLate(e.tag, p)
	}
	return ok
}

func (s *Session) reportLate(tag lateTag, p *PDU) {
	l := Late{Ref: tag.ref, Part: tag.part, Parts: tag.parts, Status: p.Status}
	if p.Command == GenericNack && l.Status == StatusOK {
		l.Status = ErrSystem.Status
	}
	if l.Status == StatusOK && p.Command != GenericNack {
		l.MessageID = p.MessageID()
	}
	s.log.Warn("late submit_sm_resp", "seq", p.Seq, "status", l.Status, "part", l.Part, "parts", l.Parts)
	s.cfg.OnLate(l)
}

func (s *Session) lateTTL() time.Duration {
	if s.cfg.LateTTL > 0 {
		return s.cfg.LateTTL
	}
	return DefaultLateTTL
}

func (s *Session) lateMax() int {
	if s.cfg.LateMax > 0 {
		return s.cfg.LateMax
	}
	return DefaultLateMax
}

// lateArrived is every bind's SessionConfig.OnLate: it runs on the read
// loop, so it only queues; lateLoop calls Config.OnLate.
func (c *Client) lateArrived(l Late) {
	select {
	case c.lates <- l:
		c.metrics.lateReported("reported")
	default:
		c.metrics.lateReported("dropped")
		c.log.Error("late submit_sm_resp not reported: OnLate queue full", "part", l.Part, "parts", l.Parts, "status", l.Status)
	}
}

// lateLoop hands late responses to Config.OnLate until ctx ends, then
// those still queued (bounded by ShutdownTimeout).
func (c *Client) lateLoop(ctx context.Context) {
	for {
		select {
		case l := <-c.lates:
			c.cfg.OnLate(ctx, l)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ShutdownTimeout)
			defer cancel()
			for {
				select {
				case l := <-c.lates:
					c.cfg.OnLate(dctx, l)
				default:
					return
				}
			}
		}
	}
}

func (c *carrierMetrics) lateReported(result string) {
	if c != nil {
		c.m.LateReported.WithLabelValues(c.carrier, Protocol, result).Inc()
	}
}

func (c *Client) onLateHook() func(Late) {
	if c.cfg.OnLate == nil {
		return nil
	}
	return c.lateArrived
}
