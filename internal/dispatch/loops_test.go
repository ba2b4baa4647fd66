package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/message"
)

// The sender's claim and drain loops and the reconciler's loop, on fake
// time (testing/synctest): every wait below is exact, and a test takes
// milliseconds whatever the hours it covers.

// loopSender is a sender on the bubble's clock: MaxAttempts 5, backoff
// 1s doubling to 10s, a poll of a minute (so that only due times and
// wakes make it claim), SendTimeout 1m, DrainTimeout 5s, and submit
// results written as soon as they come (no ResultLinger: these tests
// count exact times; TestResultLinger covers it).
func loopSender(l Outbox, carriers map[string]Submitter, tune ...func(*SenderConfig)) *Sender {
	cfg := SenderConfig{
		Ledger: l, Carriers: carriers, Owner: "t", ClaimBatch: 10, InFlight: 2,
		MaxAttempts: 5, RetryBackoff: time.Second, RetryBackoffMax: 10 * time.Second,
		Poll: time.Minute, DrainTimeout: 5 * time.Second, SendTimeout: time.Minute,
		Metrics: NewMetrics(prometheus.NewRegistry()), ResultLinger: -1,
	}
	for _, f := range tune {
		f(&cfg)
	}
	return NewSender(cfg)
}

// msgs returns n queued messages to carrier c, ids from first, each to
// its own phone.
func msgs(first int64, n int, c string, notBefore time.Time) []*message.Message {
	var out []*message.Message
	for i := range int64(n) {
		out = append(out, &message.Message{ID: first + i, Recipient: fmt.Sprintf("138%08d", first+i), Carrier: c,
			Source: "12123", Text: "t", NotBefore: notBefore})
	}
	return out
}

// run starts s in the bubble and returns its stop: cancel, then Run's
// error.
func run(s *Sender) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error { cancel(); return <-done }
}

func TestClaimLoopDueTimesAndWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := newFakeLedger(append(msgs(1, 5, "c", time.Time{}), msgs(10, 1, "c", start.Add(30*time.Second))...)...)
		carrier := &FakeCarrier{}
		s := loopSender(l, map[string]Submitter{"c": carrier})
		stop := run(s)

		synctest.Wait()
		if st := l.states(); st[message.StateSubmitted] != 5 || st[message.StateQueued] != 1 {
			t.Fatalf("at start: %v, want 5 submitted and the later one queued", st)
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		synctest.Wait()
		if got := l.row(10).State; got != message.StateQueued {
			t.Fatalf("just before it is due: %s", got)
		}
		time.Sleep(time.Nanosecond) // the wait is until the earliest due time, not the poll
		synctest.Wait()
		if got := l.row(10).State; got != message.StateSubmitted {
			t.Fatalf("when due: %s", got)
		}

		// A new message and a wake: claimed without any time passing.
		l.put(msgs(20, 1, "c", time.Time{})[0])
		s.Wake()
		synctest.Wait()
		if got := l.row(20).State; got != message.StateSubmitted {
			t.Fatalf("after a wake: %s", got)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if len(carrier.Sent()) != 7 || len(l.snap().claimed) != 7 {
			t.Fatalf("%d sends, %d claims for 7 messages", len(carrier.Sent()), len(l.snap().claimed))
		}
	})
}

// Temporary refusals come back after backoff(attempts): 1s, then 2s;
// the third send is accepted. Always refused, a message fails at
// MaxAttempts and is not sent again.
func TestClaimLoopRetriesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := newFakeLedger(msgs(1, 2, "c", time.Time{})...)
		var mu sync.Mutex
		at := map[string][]time.Duration{}
		carrier := &FakeCarrier{Answer: func(_ context.Context, m SMS) (SendResult, error) {
			mu.Lock()
			defer mu.Unlock()
			at[m.Ref] = append(at[m.Ref], time.Since(start))
			if m.Ref == "1" && len(at[m.Ref]) == 3 {
				return SendResult{Outcomes: []PartOutcome{{State: PartAccepted, ID: "x"}}}, nil
			}
			err := refusal(ReasonThrottled, true)
			return SendResult{Outcomes: []PartOutcome{{State: PartRefused, Code: "ESME_RTHROTTLED", Reason: ReasonThrottled, Retry: true, Err: err}}}, err
		}}
		s := loopSender(l, map[string]Submitter{"c": carrier}, func(c *SenderConfig) { c.MaxAttempts = 3 })
		stop := run(s)
		time.Sleep(time.Hour)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []time.Duration{0, time.Second, 3 * time.Second}
		if !slices.Equal(at["1"], want) || !slices.Equal(at["2"], want) {
			t.Fatalf("sends at %v and %v, want %v each", at["1"], at["2"], want)
		}
		if m := l.row(1); m.State != message.StateSubmitted || m.Attempts != 3 {
			t.Errorf("accepted on the third attempt: %s after %d", m.State, m.Attempts)
		}
		if m := l.row(2); m.State != message.StateFailed || m.Reason != "attempts exhausted: throttled" {
			t.Errorf("always refused: %s %q", m.State, m.Reason)
		}
	})
}

// A carrier that does not answer holds its workers: the sender claims
// only what it has room for (2 × InFlight per carrier), not the queue.
func TestClaimLoopBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 10, "c", time.Time{})...)
		release := make(chan struct{})
		carrier := &FakeCarrier{Answer: func(ctx context.Context, m SMS) (SendResult, error) {
			<-release
			return SendResult{Outcomes: []PartOutcome{{State: PartAccepted, ID: "id-" + m.Ref}}}, nil
		}}
		s := loopSender(l, map[string]Submitter{"c": carrier})
		stop := run(s)
		synctest.Wait()
		if len(l.snap().claimed) != 4 || len(carrier.Sent()) != 2 {
			t.Fatalf("%d claimed, %d in Send; want 4 (2 in flight, 2 waiting), 2", len(l.snap().claimed), len(carrier.Sent()))
		}
		close(release)
		synctest.Wait()
		if st := l.states(); st[message.StateSubmitted] != 10 {
			t.Fatalf("after the carrier answered: %v", st)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// A claim asks for what there is room for, at most ClaimBatch.
func TestClaimLoopBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 7, "c", time.Time{})...)
		s := loopSender(l, map[string]Submitter{"c": &FakeCarrier{}}, func(c *SenderConfig) { c.ClaimBatch, c.InFlight = 3, 10 })
		stop := run(s)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := l.states(); st[message.StateSubmitted] != 7 {
			t.Fatalf("%v", st)
		}
		if slices.Max(l.snap().limits) != 3 {
			t.Fatalf("claim limits %v, want at most ClaimBatch (3)", l.snap().limits)
		}
	})
}

// A claim that fails is tried again after the poll interval.
func TestClaimLoopClaimFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := newFakeLedger(msgs(1, 1, "c", time.Time{})...)
		l.failClaims = 2
		s := loopSender(l, map[string]Submitter{"c": &FakeCarrier{}})
		stop := run(s)
		time.Sleep(2*time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := l.row(1).State; got != message.StateQueued {
			t.Fatalf("after two failed claims: %s", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := l.row(1).State; got != message.StateSubmitted || time.Since(start) != 2*time.Minute {
			t.Fatalf("third claim: %s at %v", got, time.Since(start))
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// A message routed to a carrier no longer configured fails at once.
func TestClaimLoopCarrierGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 1, "gone", time.Time{})...)
		s := loopSender(l, map[string]Submitter{"c": &FakeCarrier{}})
		stop := run(s)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if m := l.row(1); m.State != message.StateFailed || m.Reason != ReasonNoCarrier {
			t.Fatalf("%s %q", m.State, m.Reason)
		}
	})
}

// A claimed message that waited for a worker longer than half the send
// timeout is handed back unsent (sending it could outlast the claim
// lease), then claimed again.
func TestClaimLoopHandsBackStaleClaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 2, "c", time.Time{})...)
		carrier := &FakeCarrier{Answer: func(_ context.Context, m SMS) (SendResult, error) {
			time.Sleep(15 * time.Second) // a slow SMSC
			return SendResult{Outcomes: []PartOutcome{{State: PartAccepted, ID: "id-" + m.Ref}}}, nil
		}}
		s := loopSender(l, map[string]Submitter{"c": carrier}, func(c *SenderConfig) { c.InFlight, c.SendTimeout = 1, 20*time.Second })
		stop := run(s)
		time.Sleep(time.Minute)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := l.states(); st[message.StateSubmitted] != 2 {
			t.Fatalf("%v", st)
		}
		if m := l.row(2); m.Attempts != 2 {
			t.Errorf("the message that waited: %d attempts, want 2 (handed back once)", m.Attempts)
		}
		handedBack := 0
		for _, tr := range l.snap().trs {
			if tr.ID == 2 && tr.State == message.StateQueued && tr.Reason == "waited too long for a worker; handed back" {
				handedBack++
			}
		}
		if handedBack != 1 || len(carrier.Sent()) != 2 {
			t.Errorf("handed back %d times, %d sends; want 1, 2", handedBack, len(carrier.Sent()))
		}
	})
}

// On shutdown the sender stops claiming, gives the submit in flight
// DrainTimeout, then cancels it (queued again, not sent in time) and
// hands back the claimed messages no worker took; unclaimed ones are
// untouched. Nothing is left "sending".
func TestDrainCancelsAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 3, "c", time.Time{})...)
		carrier := &FakeCarrier{Answer: func(ctx context.Context, _ SMS) (SendResult, error) {
			<-ctx.Done() // an SMSC that never answers; nothing was written
			return SendResult{}, &CarrierError{Reason: ReasonCanceled, Retry: true, Err: ctx.Err()}
		}}
		s := loopSender(l, map[string]Submitter{"c": carrier}, func(c *SenderConfig) { c.InFlight = 1 })
		stop := run(s)
		synctest.Wait()
		start := time.Now()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Run returned %v after the stop, want DrainTimeout (5s)", d)
		}
		want := map[int64]string{1: "not sent in time; requeued", 2: "handed back at shutdown", 3: ""}
		for id, reason := range want {
			m := l.row(id)
			if m.State != message.StateQueued || m.Reason != reason {
				t.Errorf("message %d: %s %q, want queued %q", id, m.State, m.Reason, reason)
			}
		}
		if l.row(3).Attempts != 0 {
			t.Error("an unclaimed message was touched")
		}
	})
}

// Submits that finish within DrainTimeout are recorded, and Run returns
// as soon as they are.
func TestDrainWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 2, "c", time.Time{})...)
		carrier := &FakeCarrier{Answer: func(_ context.Context, m SMS) (SendResult, error) {
			time.Sleep(2 * time.Second)
			return SendResult{Outcomes: []PartOutcome{{State: PartAccepted, ID: "id-" + m.Ref}}}, nil
		}}
		s := loopSender(l, map[string]Submitter{"c": carrier})
		stop := run(s)
		synctest.Wait()
		start := time.Now()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Run returned %v after the stop, want 2s (the submits' time)", d)
		}
		if st := l.states(); st[message.StateSubmitted] != 2 {
			t.Fatalf("%v", st)
		}
	})
}

// The reconciler, every Every: expires dead instances' claims
// (ClaimLease), ends the wait for receipts (NoReceipt), and resends the
// unknown messages older than Grace whose carrier has been up for Grace.
func TestReconcileLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		unknown := func(id int64, carrier string, changed time.Duration) *message.Message {
			return &message.Message{ID: id, Recipient: fmt.Sprint(id), Carrier: carrier, State: message.StateUnknown, NotBefore: start.Add(changed)}
		}
		l := newFakeLedger(
			unknown(1, "up", -2*time.Minute),   // old enough: resent at the first tick
			unknown(2, "up", -30*time.Second),  // old enough 30s later
			unknown(3, "down", -time.Hour),     // its carrier has no bind: never
			unknown(4, "back", -2*time.Minute), // its carrier came back 30s ago: once it has been up for Grace
		)
		up := map[string]time.Time{"up": start.Add(-time.Hour), "back": start.Add(-30 * time.Second)}
		var wakes atomic.Int32
		r := &Reconciler{
			Ledger: l, Grace: time.Minute, ClaimLease: 2 * time.Minute, ResendLimit: 1, Every: 10 * time.Second,
			ReceiptValidity: 48 * time.Hour, ReceiptGrace: time.Hour,
			UpSince: func(c string) time.Time { return up[c] }, Now: time.Now, Wake: func() { wakes.Add(1) },
			Logger: discard(), Metrics: NewMetrics(prometheus.NewRegistry()),
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()

		time.Sleep(10 * time.Second)
		synctest.Wait()
		if fmt.Sprint(l.snap().requeues) != "[[1]]" || wakes.Load() != 1 {
			t.Fatalf("first tick: requeued %v, %d wakes; want [[1]], 1", l.snap().requeues, wakes.Load())
		}
		if len(l.snap().recovers) != 1 || !l.snap().recovers[0].Equal(start.Add(10*time.Second-2*time.Minute)) ||
			len(l.snap().noReceipts) != 1 || !l.snap().unknownAt[0].Equal(start.Add(10*time.Second-time.Minute)) {
			t.Fatalf("first tick: recover %v, no_receipt %v, unknown before %v", l.snap().recovers, l.snap().noReceipts, l.snap().unknownAt)
		}
		time.Sleep(20 * time.Second) // t=30s: 2 changed 60s ago (not older than Grace), "back" up 60s: 4 due
		synctest.Wait()
		if fmt.Sprint(l.snap().requeues) != "[[1] [4]]" {
			t.Fatalf("at 30s: requeued %v", l.snap().requeues)
		}
		time.Sleep(10 * time.Second) // t=40s
		synctest.Wait()
		if fmt.Sprint(l.snap().requeues) != "[[1] [4] [2]]" || wakes.Load() != 3 {
			t.Fatalf("at 40s: requeued %v, %d wakes", l.snap().requeues, wakes.Load())
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		<-done
		if l.row(3).State != message.StateUnknown || len(l.snap().requeues) != 3 {
			t.Fatalf("the message of the carrier that stayed down: %s; requeues %v", l.row(3).State, l.snap().requeues)
		}
		if n := len(l.snap().recovers); n != 364 { // every 10s for 1h0m40s
			t.Errorf("%d ticks, want 364", n)
		}
	})
}

// Without Every the reconciler ticks at Grace/4, between 1s and 1m.
func TestReconcileEveryDefault(t *testing.T) {
	for _, tc := range []struct {
		grace time.Duration
		every time.Duration
	}{{time.Minute, 15 * time.Second}, {time.Second, time.Second}, {time.Hour, time.Minute}} {
		synctest.Test(t, func(t *testing.T) {
			l := newFakeLedger()
			r := &Reconciler{Ledger: l, Grace: tc.grace, Now: time.Now, Logger: discard(), Metrics: NewMetrics(prometheus.NewRegistry())}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); r.Run(ctx) }()
			time.Sleep(10*tc.every + time.Nanosecond)
			synctest.Wait()
			cancel()
			<-done
			if n := len(l.snap().unknownAt); n != 10 {
				t.Errorf("grace %v: %d ticks in 10 × %v", tc.grace, n, tc.every)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A claim that got fewer messages than it had room for is not followed
// by another at once: nothing else was due, and an empty claim is a
// write transaction of its own. A full claim is followed by another.
func TestClaimLoopNoEmptyClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 3, "c", time.Time{})...)
		s := loopSender(l, map[string]Submitter{"c": &FakeCarrier{}}, func(c *SenderConfig) { c.ClaimBatch, c.InFlight = 5, 20 })
		stop := run(s)
		synctest.Wait()
		if got := l.snap().limits; len(got) != 1 {
			t.Fatalf("3 messages, room for 5: claims with limits %v, want one", got)
		}
		for _, m := range msgs(10, 7, "c", time.Time{}) {
			l.put(m)
		}
		s.Wake()
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := l.states(); st[message.StateSubmitted] != 10 {
			t.Fatalf("%v", st)
		}
		if got := l.snap().limits; len(got) != 3 {
			t.Fatalf("then 7 more: claims with limits %v, want 3 (5 claimed, then 2)", got)
		}
	})
}

// Submit results at light load wait batchLinger for company and are
// written together; a batch of batchFill goes at once. (A worker waits
// for its result's commit, so InFlight bounds how many results can
// gather.)
func TestResultLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newFakeLedger(msgs(1, 3, "c", time.Time{})...)
		s := loopSender(l, map[string]Submitter{"c": &FakeCarrier{}}, func(c *SenderConfig) {
			c.ResultLinger, c.InFlight, c.ClaimBatch = 0, 2*batchFill, 2*batchFill
		})
		stop := run(s)
		synctest.Wait()
		time.Sleep(batchLinger - time.Nanosecond)
		synctest.Wait()
		if st := l.states(); st[message.StateSending] != 3 {
			t.Fatalf("before the linger ends: %v, want 3 sending", st)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if st := l.states(); st[message.StateSubmitted] != 3 {
			t.Fatalf("when the linger ends: %v, want 3 submitted", st)
		}
		if n := len(l.snap().subs); n != 3 {
			t.Fatalf("%d submissions recorded, want 3", n)
		}

		// A burst: batchFill results or more are written without waiting.
		l.put(msgs(100, 2*batchFill, "c", time.Time{})[0])
		for _, m := range msgs(101, 2*batchFill-1, "c", time.Time{}) {
			l.put(m)
		}
		s.Wake()
		synctest.Wait()
		if st := l.states(); st[message.StateSubmitted] < 3+batchFill {
			t.Fatalf("a burst with no time passing: %v, want at least %d submitted", st, 3+batchFill)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := l.states(); st[message.StateSubmitted] != 3+2*batchFill {
			t.Fatalf("after stop: %v, want all %d submitted", st, 3+2*batchFill)
		}
	})
}
