package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/redact"
)

// Outbox is the part of the ledger the sender works on.
type Outbox interface {
	Claim(ctx context.Context, now time.Time, limit int, owner string) ([]*message.Message, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	Submitted(ctx context.Context, subs []ledger.Submission) error
	Transition(ctx context.Context, ts []ledger.Transition) error
	LateParts(ctx context.Context, ls []ledger.LatePart) error
}

// SenderConfig wires a Sender.
type SenderConfig struct {
	Ledger          Outbox
	Carriers        map[string]Submitter
	Owner           string // this instance's name in the ledger's claims
	ClaimBatch      int
	InFlight        int // concurrent submits per carrier
	MaxAttempts     int
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	Poll            time.Duration
	DrainTimeout    time.Duration
	// SendTimeout bounds one Send, waiting for a bind included; a message
	// that has not reached the wire by then goes back to the queue. It
	// must stay well under the claim lease after which other instances
	// recover this one's claims.
	SendTimeout time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
	Metrics     *Metrics

	// Recheck, when set, looks at each claim before it is submitted:
	// messages no longer due end cancelled with its reason.
	Recheck Rechecker

	// ResultLinger is how long a small batch of submit results (fewer
	// than 16: light load) waits for more before it is written; 0 means
	// 5 ms, negative none (batcher).
	ResultLinger time.Duration
}

// Sender claims due messages from the ledger and submits them over the
// carriers' binds. Claims are sized to free submit capacity, so when a
// carrier has no bind up its workers block in Submit and no further
// messages are claimed: back-pressure instead of a requeue loop.
type Sender struct {
	cfg    SenderConfig
	wake   chan struct{}
	queues map[string]chan claimed
	slots  chan struct{} // one token per message claimed and not yet finished
	result *batcher[result, struct{}]
	// waiting: a due message was left unclaimed (its recipient has one
	// in flight), so a finished message wakes the claim loop. True while
	// the loop claims; false once nothing due is left.
	waiting atomic.Bool
}

// result is what happened to one claimed message (sub or tr), or a late
// response to one of its parts (late).
type result struct {
	sub  *ledger.Submission
	tr   *ledger.Transition
	late *ledger.LatePart
}

// requeues reports whether the result puts the message back in the
// queue (a retry, or the missing parts to resend): the claim loop must
// learn its new due time.
func (r result) requeues() bool {
	queued := func(st message.State) bool { return st == message.StateQueued || st == message.StateScheduled }
	return r.tr != nil && queued(r.tr.State) || r.sub != nil && queued(r.sub.State)
}

// NewSender returns a sender; Run starts it.
func NewSender(cfg SenderConfig) *Sender {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = time.Minute
	}
	s := &Sender{
		cfg:    cfg,
		wake:   make(chan struct{}, 1),
		queues: make(map[string]chan claimed),
	}
	capacity := 0
	for name := range cfg.Carriers {
		s.queues[name] = make(chan claimed, cfg.InFlight)
		capacity += 2 * cfg.InFlight
	}
	s.slots = make(chan struct{}, max(capacity, 1))
	linger := cfg.ResultLinger
	if linger == 0 {
		linger = batchLinger
	}
	s.result = newBatcher(1000, batchFill, max(linger, 0), s.flushResults)
	return s
}

// Wake tells the sender new messages are due; it never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run claims and submits until ctx is done; then it stops claiming, gives
// in-flight submits DrainTimeout to finish, hands messages that never
// reached the wire back to the queue, and returns.
func (s *Sender) Run(ctx context.Context) error {
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	resultsDone := make(chan struct{})
	resultsCtx, stopResults := context.WithCancel(flushCtx)
	go func() { defer close(resultsDone); s.result.Run(resultsCtx, flushCtx) }()

	// Submits outlive ctx by DrainTimeout.
	submitCtx, cancelSubmits := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSubmits()
	var workers sync.WaitGroup
	for name, q := range s.queues {
		sub := s.cfg.Carriers[name]
		for range s.cfg.InFlight {
			workers.Go(func() { s.worker(submitCtx, name, sub, q) })
		}
	}

	err := s.claimLoop(ctx)

	for _, q := range s.queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(s.cfg.DrainTimeout):
		s.cfg.Logger.Warn("drain timeout: cancelling in-flight submits", "timeout", s.cfg.DrainTimeout)
		cancelSubmits()
		<-drained
	}
	stopResults()
	<-resultsDone
	return err
}

func (s *Sender) claimLoop(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
		s.waiting.Store(true)
		for ctx.Err() == nil {
			n, room, err := s.claimOnce(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.cfg.Logger.Error("claim failed; retrying", "err", err)
				break
			}
			// Fewer than there was room for: nothing else is due now.
			// Claiming again at once would be an empty transaction (half
			// of all claims at low rates); a message stored or finished
			// meanwhile wakes the sender (wake holds one signal).
			if n < room {
				break
			}
		}
		wait, due := s.nextWait(ctx)
		s.waiting.Store(due)
		timer.Reset(wait)
	}
}

// nextWait is how long to sleep when nothing could be claimed: until the
// earliest scheduled message, at most Poll. A message already due that
// was not claimed (due) waits for its recipient's message in flight (the
// ledger claims one per recipient); finishing that one wakes the sender,
// so nothing here may spin on it. Without such a message a finish wakes
// nothing: a claim then would be an empty transaction.
func (s *Sender) nextWait(ctx context.Context) (wait time.Duration, due bool) {
	wait = s.cfg.Poll
	t, ok, err := s.cfg.Ledger.NextDue(ctx)
	if err != nil {
		return wait, true
	}
	if ok {
		d := t.Sub(s.cfg.Now())
		if d > 0 && d < wait {
			wait = d
		}
		due = d <= 0
	}
	return wait, due
}

// claimOnce claims as many messages as there is room for and queues them
// to their carriers' workers: it returns how many it claimed and how many
// it asked for. It blocks while every slot is taken.
func (s *Sender) claimOnce(ctx context.Context) (n, room int, err error) {
	// wait for at least one free slot, then take what is free
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, 0, nil
	}
	free := 1
	for free < s.cfg.ClaimBatch {
		select {
		case s.slots <- struct{}{}:
			free++
			continue
		default:
		}
		break
	}
	start := time.Now()
	msgs, err := s.cfg.Ledger.Claim(ctx, s.cfg.Now(), free, s.cfg.Owner)
	s.cfg.Metrics.ledgerSeconds.WithLabelValues("claim").Observe(time.Since(start).Seconds())
	for range free - len(msgs) {
		<-s.slots
	}
	if err != nil {
		return 0, free, fmt.Errorf("claim: %w", err)
	}
	n = len(msgs)
	msgs = s.recheck(ctx, msgs)
	for _, m := range msgs {
		q, ok := s.queues[m.Carrier]
		if !ok {
			// routed to a carrier that is no longer configured
			s.finish(ctx, result{tr: &ledger.Transition{ID: m.ID, State: message.StateFailed, Reason: ReasonNoCarrier}})
			continue
		}
		q <- claimed{m, time.Now()} // room is guaranteed: each queue holds InFlight and slots bound the total
	}
	return n, free, nil
}

// claimed is a message waiting for a worker, and when it was claimed.
type claimed struct {
	m  *message.Message
	at time.Time
}

func (s *Sender) worker(ctx context.Context, carrier string, sub Submitter, q <-chan claimed) {
	for c := range q {
		msg := c.m
		if ctx.Err() != nil {
			// shutting down: this one never reached the wire
			s.finish(ctx, result{tr: &ledger.Transition{ID: msg.ID, State: message.StateQueued, NotBefore: msg.NotBefore, Reason: "handed back at shutdown"}})
			continue
		}
		if time.Since(c.at) > s.cfg.SendTimeout/2 {
			// It waited for a worker (a slow or throttling SMSC) so long
			// that sending now could outlast the claim lease: the
			// reconciler would take the claim for a dead instance's and
			// the message could go twice. Hand it back unsent.
			s.cfg.Metrics.submits.WithLabelValues(carrier, "retry").Inc()
			s.finish(ctx, result{tr: &ledger.Transition{ID: msg.ID, State: message.StateQueued, NotBefore: msg.NotBefore, Reason: "waited too long for a worker; handed back"}})
			continue
		}
		// One message per recipient is in flight: the ledger claims no
		// other to this phone while this one is "sending" (ledger.Store
		// Claim), so a crash never leaves two whose receipts could not be
		// told apart.
		s.send(ctx, carrier, sub, msg)
	}
}

// send submits one message, or the parts of it an earlier send left
// without an id (same concatenation reference, same part numbers), and
// records every part's outcome.
func (s *Sender) send(ctx context.Context, carrier string, sub Submitter, msg *message.Message) {
	m := s.cfg.Metrics
	m.inflight.WithLabelValues(carrier).Inc()
	start := time.Now()
	sendCtx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	ref, want := resume(msg)
	res, err := sub.Send(sendCtx, SMS{
		Ref:       strconv.FormatInt(msg.ID, 10),
		Source:    msg.Source,
		Dest:      msg.Recipient,
		Text:      msg.Text,
		Validity:  validity(msg, s.cfg.Now()),
		Priority:  min(max(msg.Priority, 0), 3),
		ConcatRef: ref,
		Parts:     want,
	})
	cancel()
	m.inflight.WithLabelValues(carrier).Dec()
	m.submitSeconds.WithLabelValues(carrier).Observe(time.Since(start).Seconds())
	if len(res.Outcomes) == 0 {
		// Nothing was split or sent (invalid, wrong bind mode).
		tr := s.onError(carrier, msg, err)
		s.finish(ctx, result{tr: &tr})
		return
	}
	nparts := len(res.Outcomes)
	ids := make([]string, nparts)
	outcomes := make([]string, nparts)
	accepted, unknown, sent := 0, 0, 0
	var firstErr error
	permanent := false
	onlyCanceled := true
	var missing []string
	for i, o := range res.Outcomes {
		switch o.State {
		case PartAccepted:
			ids[i] = o.ID
			sent++
		case PartSkipped:
			if len(msg.CarrierIDs) == nparts {
				ids[i] = msg.CarrierIDs[i] // accepted by an earlier send
			}
		default:
			missing = append(missing, strconv.Itoa(i+1))
			if firstErr == nil {
				firstErr = o.Err
			}
			if o.State == PartUnknown {
				unknown++
			}
			if o.State == PartRefused && !o.Retry {
				permanent = true
			}
			if o.Reason != ReasonCanceled {
				onlyCanceled = false
			}
		}
		outcomes[i] = string(o.State)
		if o.State == PartRefused {
			outcomes[i] = fmt.Sprintf("refused %s", o.Code)
		}
		if ids[i] != "" {
			accepted++
		}
	}
	m.segments.WithLabelValues(carrier).Add(float64(sent))
	sub1 := ledger.Submission{ID: msg.ID, Carrier: carrier, CarrierIDs: ids, At: s.cfg.Now(),
		Ref: res.ConcatRef, HasRef: nparts > 1, Outcomes: outcomes}
	if err == nil {
		m.submits.WithLabelValues(carrier, "ok").Inc()
		if !msg.CreatedAt.IsZero() {
			m.eventToSubmit.Observe(s.cfg.Now().Sub(msg.CreatedAt).Seconds())
		}
		s.finish(ctx, result{sub: &sub1})
		return
	}
	if accepted == 0 && unknown == 0 {
		// Nothing of it is on the handset: the usual retry policy.
		tr := s.onError(carrier, msg, firstErr)
		if nparts > 1 {
			// Keep the reference anyway, so that a later send of the
			// same parts is joined by the handset as one text.
			sub1.State, sub1.Reason, sub1.NotBefore = tr.State, tr.Reason, tr.NotBefore
			s.finish(ctx, result{sub: &sub1})
			return
		}
		s.finish(ctx, result{tr: &tr})
		return
	}
	_, reason := Classify(firstErr)
	parts := strings.Join(missing, ", ")
	log := s.cfg.Logger.With("carrier", carrier, "message", msg.ID, "to", redact.Phone(msg.Recipient), "attempt", msg.Attempts,
		"parts", nparts, "accepted", accepted, "missing", parts, "reason", reason, "err", firstErr)
	switch {
	case unknown > 0:
		// Accepted parts keep their ids (their receipts settle them); the
		// unknown ones wait for a late response or a receipt, then the
		// reconciler resends what is still missing.
		m.submits.WithLabelValues(carrier, "unknown").Inc()
		log.Warn("submit outcome of some parts unknown; waiting for late responses and receipts before any resend")
		sub1.State, sub1.Reason = message.StateUnknown, fmt.Sprintf("parts %s of %d unknown (%s)", parts, nparts, reason)
	case permanent:
		m.submits.WithLabelValues(carrier, "partial").Inc()
		log.Warn("part refused permanently after others were accepted; message partial")
		sub1.State, sub1.Reason = message.StatePartial, fmt.Sprintf("parts %s of %d refused (%s): %v", parts, nparts, reason, firstErr)
	case onlyCanceled:
		m.submits.WithLabelValues(carrier, "retry").Inc()
		sub1.State, sub1.Reason, sub1.NotBefore = message.StateQueued, fmt.Sprintf("parts %s of %d not sent in time; resending them", parts, nparts), s.cfg.Now().Add(s.backoff(1))
	case msg.Attempts >= s.cfg.MaxAttempts:
		m.submits.WithLabelValues(carrier, "partial").Inc()
		log.Warn("parts still refused; attempts exhausted; message partial")
		sub1.State, sub1.Reason = message.StatePartial, fmt.Sprintf("attempts exhausted: parts %s of %d not accepted (%s)", parts, nparts, reason)
	default:
		m.submits.WithLabelValues(carrier, "retry").Inc()
		log.Debug("parts refused temporarily; resending them under the same reference")
		sub1.State, sub1.Reason, sub1.NotBefore = message.StateQueued, fmt.Sprintf("parts %s of %d not accepted (%s); resending them", parts, nparts, reason), s.cfg.Now().Add(s.backoff(msg.Attempts))
	}
	s.finish(ctx, result{sub: &sub1})
}

// resume says which parts of msg to send (those an earlier send left
// without an id; all when none has one) and under which concatenation
// reference: always the same for one message, derived from its ledger
// id unless an earlier send recorded another, so that parts sent before a
// crash (whose ids died with the process) and the parts sent after it are
// joined by the handset. The ledger never has two messages to one phone
// in flight or waiting for missing parts at once (Claim), so two texts
// sharing a reference are never interleaved.
func resume(msg *message.Message) (ref uint16, parts []int) {
	ref = uint16(msg.ID)
	if msg.HasConcatRef {
		ref = msg.ConcatRef
	}
	known := false
	for i, id := range msg.CarrierIDs {
		if id == "" {
			parts = append(parts, i+1)
		} else {
			known = true
		}
	}
	if !known {
		parts = nil // no part known: all of them
	}
	return ref, parts
}

// onError decides what a failed submit of which no part was accepted
// means for the message:
//   - the SMSC may have accepted it (timeout, link lost after the write):
//     unknown, settled by a late response, a receipt or the reconciler,
//     never resent here;
//   - not sent in time (our own rate-limiter or window wait, no bind
//     within SendTimeout, shutting down): queued again;
//   - temporary (throttled, queue full, no bind, SMSC error): queued again
//     with backoff until MaxAttempts;
//   - permanent (rejected, invalid): failed with the reason.
func (s *Sender) onError(carrier string, msg *message.Message, err error) ledger.Transition {
	m := s.cfg.Metrics
	retry, reason := Classify(err)
	log := s.cfg.Logger.With("carrier", carrier, "message", msg.ID, "to", redact.Phone(msg.Recipient), "attempt", msg.Attempts, "reason", reason, "err", err)
	switch {
	case reason == ReasonTimeout || reason == ReasonUnknown:
		m.submits.WithLabelValues(carrier, "unknown").Inc()
		log.Warn("submit outcome unknown; waiting for a receipt before any resend")
		return ledger.Transition{ID: msg.ID, State: message.StateUnknown, Reason: string(reason)}
	case reason == ReasonCanceled:
		// never reached the wire: shutting down, or no bind within SendTimeout
		m.submits.WithLabelValues(carrier, "retry").Inc()
		return ledger.Transition{ID: msg.ID, State: message.StateQueued, Reason: "not sent in time; requeued", NotBefore: s.cfg.Now().Add(s.backoff(1))}
	case retry:
		if msg.Attempts >= s.cfg.MaxAttempts {
			m.submits.WithLabelValues(carrier, "failed").Inc()
			log.Warn("submit failed; attempts exhausted")
			return ledger.Transition{ID: msg.ID, State: message.StateFailed, Reason: "attempts exhausted: " + string(reason)}
		}
		m.submits.WithLabelValues(carrier, "retry").Inc()
		log.Debug("submit failed temporarily; retrying")
		return ledger.Transition{ID: msg.ID, State: message.StateQueued, Reason: string(reason), NotBefore: s.cfg.Now().Add(s.backoff(msg.Attempts))}
	default:
		m.submits.WithLabelValues(carrier, "failed").Inc()
		log.Warn("submit failed permanently")
		return ledger.Transition{ID: msg.ID, State: message.StateFailed, Reason: fmt.Sprintf("%s: %v", reason, err)}
	}
}

// OnLate returns the late-response callback of one carrier's connector
// (Handlers.Late). An answer that comes after its request timed out
// settles its part: an accepted part's id is recorded (so its
// receipts match and the reconciler resends only what is still
// missing); a refusal proves the part is not on the handset, and once no
// part is unknown the missing ones are resent without waiting for the
// reconciler.
func (s *Sender) OnLate(carrier string) func(context.Context, Late) {
	return func(ctx context.Context, l Late) {
		m := s.cfg.Metrics
		id, err := strconv.ParseInt(l.Ref, 10, 64)
		if err != nil || l.Accepted && l.ID == "" {
			m.lateResponses.WithLabelValues(carrier, "left_to_receipts").Inc()
			return
		}
		lp := &ledger.LatePart{ID: id, Carrier: carrier, Part: l.Part, Parts: l.Parts, CarrierID: l.ID, At: s.cfg.Now()}
		if !l.Accepted {
			lp.CarrierID, lp.Refused = "", true
		}
		if _, err := s.result.Add(ctx, result{late: lp}); err != nil {
			s.cfg.Logger.Warn("recording a late submit response failed", "carrier", carrier, "message", id, "err", err)
			return
		}
		m.lateResponses.WithLabelValues(carrier, "recorded").Inc()
		s.cfg.Logger.Info("late submit response recorded; no resend of that part", "carrier", carrier, "message", id, "part", l.Part, "parts", l.Parts)
		if lp.Refused {
			s.Wake() // the message may be back in the queue to resend its missing parts
		}
	}
}

// backoff doubles from RetryBackoff per attempt, capped at RetryBackoffMax.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.cfg.RetryBackoff
	for i := 1; i < attempts && d < s.cfg.RetryBackoffMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryBackoffMax)
}

// finish records a result (group-committed) and frees the message's slot;
// then the next message to the same recipient may be claimed.
func (s *Sender) finish(ctx context.Context, r result) {
	defer func() {
		<-s.slots
		if s.waiting.Load() || r.requeues() {
			s.Wake()
		}
	}()
	if _, err := s.result.Add(context.WithoutCancel(ctx), r); err != nil {
		// The ledger refused the result: the row stays "sending" and the
		// next start's recovery turns it into unknown. Nothing is resent
		// blindly.
		s.cfg.Logger.Error("recording submit result failed", "err", err)
	}
}

func (s *Sender) flushResults(ctx context.Context, rs []result) ([]struct{}, error) {
	var subs []ledger.Submission
	var trs []ledger.Transition
	var lates []ledger.LatePart
	for _, r := range rs {
		switch {
		case r.sub != nil:
			subs = append(subs, *r.sub)
		case r.tr != nil:
			trs = append(trs, *r.tr)
		case r.late != nil:
			lates = append(lates, *r.late)
		}
	}
	start := time.Now()
	var errs []error
	for attempt := 0; ; attempt++ {
		errs = errs[:0]
		if len(subs) > 0 {
			if err := s.cfg.Ledger.Submitted(ctx, subs); err != nil {
				errs = append(errs, err)
			} else {
				subs = nil
			}
		}
		if len(trs) > 0 {
			if err := s.cfg.Ledger.Transition(ctx, trs); err != nil {
				errs = append(errs, err)
			} else {
				trs = nil
			}
		}
		// After the batch's submit results: a late part fills the place
		// its message's result left without an id.
		if len(lates) > 0 {
			if err := s.cfg.Ledger.LateParts(ctx, lates); err != nil {
				errs = append(errs, err)
			} else {
				lates = nil
			}
		}
		if len(errs) == 0 || attempt == 5 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	s.cfg.Metrics.ledgerSeconds.WithLabelValues("results").Observe(time.Since(start).Seconds())
	return nil, errors.Join(errs...)
}

// validity is how long the SMSC may keep trying: until the message
// expires, if it does.
func validity(m *message.Message, now time.Time) time.Duration {
	if m.ExpiresAt.IsZero() {
		return 0
	}
	return max(m.ExpiresAt.Sub(now), time.Minute)
}
