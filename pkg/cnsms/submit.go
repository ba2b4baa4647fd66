package cnsms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Reason says why a submit failed, in a bounded set that is also the
// result label of smpp_submits_total (the values of pkg/smpp). The
// protocol packages alias it.
type Reason string

// Reasons.
const (
	ReasonOK        Reason = "ok"
	ReasonThrottled Reason = "throttled"  // traffic too high, busy, queue full: slow down and retry
	ReasonSMSC      Reason = "smsc_error" // other retryable results
	ReasonRejected  Reason = "rejected"   // a permanent result
	ReasonTimeout   Reason = "timeout"    // no response; the gateway may have accepted it
	ReasonUnknown   Reason = "unknown"    // connection lost after the PDU was written
	ReasonNoBind    Reason = "no_bind"    // nothing was sent
	ReasonInvalid   Reason = "invalid"    // the message cannot be encoded as given
	ReasonCanceled  Reason = "canceled"   // the caller's context ended first
)

// ClassifyTransport classifies the errors that are not the protocol's
// own (its status table, its decoding errors): what Session.Request and
// Pool.Pick return. Each protocol's Classify checks its own errors first
// and ends with this.
func ClassifyTransport(err error) (retry bool, reason Reason) {
	if err == nil {
		return false, ReasonOK
	}
	if errors.Is(err, ErrResponseTimeout) {
		return true, ReasonTimeout
	}
	if errors.Is(err, ErrNotConnected) {
		return true, ReasonNoBind
	}
	var re *RequestError
	sent := errors.As(err, &re) && re.Sent
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if sent {
			return true, ReasonUnknown
		}
		return true, ReasonCanceled
	}
	if sent {
		return true, ReasonUnknown
	}
	var ne net.Error
	if errors.Is(err, ErrPoolClosed) || errors.As(err, &ne) || re != nil {
		return true, ReasonNoBind
	}
	return true, ReasonSMSC
}

// PartStatus is what became of one part. The protocol packages alias it.
type PartStatus int

// Part outcomes.
const (
	PartAccepted PartStatus = iota // the submit's answer said 0: the part has its id
	PartRefused                    // a non-zero answer: Code, Retryable
	PartUnknown                    // no (readable) answer after it was written: the gateway may have it
	PartNotSent                    // nothing was written
	PartSkipped                    // not asked for (Resume)
)

func (p PartStatus) String() string {
	return [...]string{"accepted", "refused", "unknown", "not_sent", "skipped"}[p]
}

// Resume sends only some parts of a message, under the concatenation
// reference of an earlier Send, so that the handset joins them with the
// parts it already has. The protocols' UDH reference is 8 bits: its low
// byte is used.
type Resume struct {
	Ref   uint16 // Result.Ref of the earlier Send (or the caller's own reference)
	Parts []int  // 1-based part numbers to send; nil, or none that exists: all
}

// Want says which of n parts r asks for (all for a nil r).
func (r *Resume) Want(n int) []bool {
	want := make([]bool, n)
	some := false
	if r != nil {
		for _, p := range r.Parts {
			if p >= 1 && p <= n {
				want[p-1], some = true, true
			}
		}
	}
	if !some {
		for i := range want {
			want[i] = true
		}
	}
	return want
}

// Submitter is what every part's submission shares: the connections,
// the account's throttle and metrics, and how often a throttled part is
// tried again inside Send.
type Submitter struct {
	Pool            *Pool
	Throttle        *Throttle
	Metrics         *CarrierMetrics
	ThrottleRetries int // negative: none
}

// Submission is one part in one protocol. R is the protocol's decoded
// answer.
type Submission[R any] struct {
	Cmd uint32
	// Body is the encoded request; when nil, Encode builds it for the
	// connection picked (CMPP's layout depends on its version).
	Body   []byte
	Encode func(s *Session) ([]byte, error)
	// Invalid wraps an encoding error (the protocol's ErrInvalidMessage).
	Invalid error
	// Decode reads the answer and its result code (0: accepted).
	Decode func(f Frame) (R, uint32, error)
	// Refused is the typed error of a non-zero result code.
	Refused func(code uint32) error
	// Classify is the protocol's Classify.
	Classify func(error) (bool, Reason)
}

// Outcome is what became of one part, before the protocol turns it into
// its Part.
type Outcome[R any] struct {
	Status    PartStatus
	Resp      R // the decoded answer when Status is PartAccepted or PartRefused
	Code      uint32
	Retryable bool
	Reason    Reason
	Err       error
}

// SubmitPart submits one part on any connection: it waits for the
// throttle and a connection, retries a throttled answer (after the
// account's pause, up to ThrottleRetries times) and a failure that wrote
// nothing (on another connection, 3 times), and counts each try in the
// metrics.
func SubmitPart[R any](ctx context.Context, su *Submitter, sub *Submission[R]) Outcome[R] {
	invalid := func(err error) Outcome[R] {
		su.Metrics.Submit(string(ReasonInvalid), -1)
		return Outcome[R]{Status: PartNotSent, Reason: ReasonInvalid, Err: fmt.Errorf("%w: %w", sub.Invalid, err)}
	}
	tries := 0
	for {
		if err := su.Throttle.Wait(ctx); err != nil {
			su.Metrics.Submit(string(ReasonCanceled), -1)
			return Outcome[R]{Status: PartNotSent, Reason: ReasonCanceled, Retryable: true, Err: err}
		}
		s, err := su.Pool.Pick(ctx)
		if err != nil {
			su.Metrics.Submit(string(ReasonNoBind), -1)
			return Outcome[R]{Status: PartNotSent, Reason: ReasonNoBind, Retryable: true, Err: err}
		}
		body := sub.Body
		if body == nil {
			if body, err = sub.Encode(s); err != nil {
				return invalid(err)
			}
		}
		start := time.Now()
		f, err := s.Request(ctx, sub.Cmd, body)
		if err != nil {
			retry, reason := sub.Classify(err)
			su.Metrics.Submit(string(reason), -1)
			var re *RequestError
			if errors.As(err, &re) && !re.Sent {
				if reason == ReasonNoBind && ctx.Err() == nil && tries < 3 {
					tries++
					continue // nothing written: another connection may take it
				}
				return Outcome[R]{Status: PartNotSent, Reason: reason, Retryable: retry, Err: err}
			}
			return Outcome[R]{Status: PartUnknown, Reason: reason, Retryable: retry, Err: err}
		}
		r, code, err := sub.Decode(f)
		if err != nil {
			// Answered, but unreadable: it may have been accepted.
			su.Metrics.Submit(string(ReasonUnknown), -1)
			return Outcome[R]{Status: PartUnknown, Reason: ReasonUnknown, Retryable: true, Err: err}
		}
		if code == 0 {
			su.Metrics.Submit(string(ReasonOK), time.Since(start).Seconds())
			su.Throttle.Accepted(start)
			return Outcome[R]{Status: PartAccepted, Resp: r, Reason: ReasonOK}
		}
		err = sub.Refused(code)
		retry, reason := sub.Classify(err)
		su.Metrics.Submit(string(reason), -1)
		if reason == ReasonThrottled {
			su.Throttle.Throttled(start)
			if tries < max(su.ThrottleRetries, 0) {
				tries++
				continue
			}
		}
		return Outcome[R]{Status: PartRefused, Resp: r, Code: code, Retryable: retry, Reason: reason, Err: err}
	}
}

// SubmitAll submits the wanted parts of one message, pipelined: each but
// the last on a goroutine of its own, the last on the caller's, so their
// requests go out back to back. It returns when every part has an
// outcome. part(i) stores its own outcome; skip(i) marks a part not
// wanted.
func SubmitAll(want []bool, part, skip func(i int)) {
	last := -1
	for i, w := range want {
		if w {
			last = i
		} else {
			skip(i)
		}
	}
	var wg sync.WaitGroup
	for i, w := range want {
		if w && i != last {
			wg.Go(func() { part(i) })
		}
	}
	if last >= 0 {
		part(last)
	}
	wg.Wait()
}

// Tally numbers the parts from 1 and counts those not accepted: part(i)
// numbers part i and says whether it was accepted and its error. first is
// the first failed part's error.
func Tally(n int, part func(i int) (accepted bool, err error)) (failed int, first error) {
	for i := range n {
		ok, err := part(i)
		if !ok {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	return failed, first
}

// LateTag tags a part's ctx (WithLateTag) so that a late answer names
// the message and part it belongs to.
type LateTag struct {
	Ref         string
	Part, Parts int
}

// TagLate returns ctx tagged for part i (from 0) of n of the message ref,
// or ctx itself when late answers are not wanted.
func TagLate(ctx context.Context, want bool, ref string, i, n int) context.Context {
	if !want {
		return ctx
	}
	return WithLateTag(ctx, LateTag{Ref: ref, Part: i + 1, Parts: n})
}

// Lates carries late submit answers from the sessions' read loops to
// the client's OnLate, on a goroutine of its own, through a bounded
// queue (1024): beyond it a late answer is dropped and counted. A nil
// *Lates (no OnLate) keeps nothing.
type Lates[L any] struct {
	ch  chan L
	on  func(L)
	m   *CarrierMetrics
	log *slog.Logger
}

// NewLates returns the queue for on, or nil when on is nil.
func NewLates[L any](on func(L), m *CarrierMetrics, log *slog.Logger) *Lates[L] {
	if on == nil {
		return nil
	}
	return &Lates[L]{ch: make(chan L, 1024), on: on, m: m, log: log}
}

// Hook is SessionConfig.OnLate: a late answer to cmd that decode turns
// into an L is queued. nil for a nil *Lates.
func (q *Lates[L]) Hook(cmd uint32, decode func(f Frame, t LateTag) (L, bool)) func(any, Frame) {
	if q == nil {
		return nil
	}
	return func(tag any, f Frame) {
		t, ok := tag.(LateTag)
		if !ok || f.Cmd != cmd {
			return
		}
		l, ok := decode(f, t)
		if !ok {
			return
		}
		select {
		case q.ch <- l:
			q.m.LateReported("reported")
		default:
			q.m.LateReported("dropped")
			q.log.Warn("late submit answer dropped: OnLate queue full", "part", t.Part, "parts", t.Parts)
		}
	}
}

// Wanted says whether parts should be tagged for late answers.
func (q *Lates[L]) Wanted() bool { return q != nil }

// Run hands queued late answers to OnLate until ctx ends.
func (q *Lates[L]) Run(ctx context.Context) {
	if q == nil {
		return
	}
	for {
		select {
		case l := <-q.ch:
			q.on(l)
		case <-ctx.Done():
			return
		}
	}
}
