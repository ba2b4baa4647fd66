package ledgertest

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// BatchSize is the number of messages per benchmark operation.
const BatchSize = 1000

// Bench runs the ledger benchmarks: each operation is one batch of
// BatchSize messages; rows/s is reported.
func Bench(b *testing.B, f Factory) {
	b.Run("Insert", func(b *testing.B) { benchStage(b, f, 0) })
	b.Run("Claim", func(b *testing.B) { benchStage(b, f, 1) })
	b.Run("Submitted", func(b *testing.B) { benchStage(b, f, 2) })
	b.Run("Receipts", func(b *testing.B) { benchStage(b, f, 3) })
	b.Run("Pipeline", func(b *testing.B) { benchStage(b, f, -1) })
	// Two parts per message, a receipt for each, in batches of 50
	// receipts: what a long Chinese text and one bind's receipt window
	// look like end to end.
	b.Run("Pipeline2Parts", func(b *testing.B) { benchTwoParts(b, f) })
	// Low load: batches of one or two 2-part messages, every transition
	// its own small transaction, the stages running at the same time.
	b.Run("PipelineSmall", func(b *testing.B) { benchSmall(b, f) })
	b.Run("Summary100k", func(b *testing.B) { benchSummary(b, f) })
}

type benchEnv struct {
	b     *testing.B
	s     ledger.Store
	clock *Clock
	seq   int
}

func (e *benchEnv) batch() []*message.Message {
	ms := make([]*message.Message, BatchSize)
	for i := range ms {
		e.seq++
		m := Msg(fmt.Sprintf("ev%d", e.seq/BatchSize), "r", e.seq)
		m.DedupeKey = "r|" + m.Entity
		ms[i] = m
	}
	return ms
}

// stage runs stage i (0 insert, 1 claim, 2 submitted, 3 receipts) on ms.
func (e *benchEnv) stage(i int, ms []*message.Message) {
	ctx := e.b.Context()
	var err error
	switch i {
	case 0:
		err = e.s.Insert(ctx, ms)
	case 1:
		var got []*message.Message
		got, err = e.s.Claim(ctx, e.clock.Now(), len(ms), "bench")
		if err == nil && len(got) != len(ms) {
			err = fmt.Errorf("claimed %d of %d", len(got), len(ms))
		}
	case 2:
		subs := make([]ledger.Submission, len(ms))
		for j, m := range ms {
			subs[j] = ledger.Submission{ID: m.ID, Carrier: m.Carrier, CarrierIDs: []string{fmt.Sprintf("%x", m.ID)}, At: e.clock.Now()}
		}
		err = e.s.Submitted(ctx, subs)
	case 3:
		rs := make([]ledger.Receipt, len(ms))
		for j, m := range ms {
			rs[j] = ledger.Receipt{Carrier: m.Carrier, MessageID: fmt.Sprintf("%x", m.ID), Stat: "DELIVRD", Err: "000", Done: e.clock.Now()}
		}
		var res []ledger.ReceiptResult
		res, err = e.s.Receipts(ctx, rs)
		if err == nil && (len(res) != len(rs) || res[0].State != message.StateDelivered) {
			err = fmt.Errorf("receipts: %+v", res[0])
		}
	}
	if err != nil {
		e.b.Fatal(err)
	}
}

// benchStage measures stage (all four when -1) with the earlier stages done
// outside the timer.
func benchStage(b *testing.B, f Factory, stage int) {
	c := NewClock(T0)
	e := &benchEnv{b: b, s: f(b, c.Now), clock: c}
	defer e.s.Close()
	cpu0 := cpuTime()
	for b.Loop() {
		ms := e.batch()
		if stage < 0 {
			for i := range 4 {
				e.stage(i, ms)
			}
			continue
		}
		b.StopTimer()
		for i := range stage {
			e.stage(i, ms)
		}
		b.StartTimer()
		e.stage(stage, ms)
		b.StopTimer()
		for i := stage + 1; i < 4; i++ { // keep the ledger realistic: mostly final rows
			e.stage(i, ms)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "rows/s")
	if stage < 0 {
		// Process CPU per message (this process only: for PostgreSQL the
		// server's share is not included). Steadier than wall time on a
		// shared machine.
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*BatchSize), "cpu-µs/msg")
	}
}

// cpuTime is the user+system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchTwoParts(b *testing.B, f Factory) {
	c := NewClock(T0)
	e := &benchEnv{b: b, s: f(b, c.Now), clock: c}
	defer e.s.Close()
	ctx := b.Context()
	cpu0 := cpuTime()
	for b.Loop() {
		ms := e.batch()
		for _, m := range ms {
			m.Segments = 2
		}
		e.stage(0, ms)
		e.stage(1, ms)
		subs := make([]ledger.Submission, len(ms))
		var rs []ledger.Receipt
		for j, m := range ms {
			ids := []string{fmt.Sprintf("%xa", m.ID), fmt.Sprintf("%xb", m.ID)}
			subs[j] = ledger.Submission{ID: m.ID, Carrier: m.Carrier, CarrierIDs: ids, At: e.clock.Now()}
			for _, id := range ids {
				rs = append(rs, ledger.Receipt{Carrier: m.Carrier, MessageID: id, Stat: "DELIVRD", Err: "000", Done: e.clock.Now()})
			}
		}
		if err := e.s.Submitted(ctx, subs); err != nil {
			b.Fatal(err)
		}
		for len(rs) > 0 {
			n := min(len(rs), 50)
			res, err := e.s.Receipts(ctx, rs[:n])
			if err != nil {
				b.Fatal(err)
			}
			if res[n-1].Outcome != ledger.OutcomeMatched {
				b.Fatalf("receipt: %+v", res[n-1])
			}
			rs = rs[n:]
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*BatchSize), "cpu-µs/msg")
}

func benchSummary(b *testing.B, f Factory) {
	c := NewClock(T0)
	e := &benchEnv{b: b, s: f(b, c.Now), clock: c}
	defer e.s.Close()
	for range 100 {
		ms := e.batch()
		for i := range 4 {
			if i == 3 && e.seq%3000 == 0 {
				break // leave some submitted
			}
			e.stage(i, ms)
		}
	}
	c.Add(time.Second)
	for b.Loop() {
		if _, err := e.s.Summary(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSmall is the pipeline at low load, as the gateway runs it: batches
// of one or two messages (alternately) of two parts, and the stages
// concurrent. Each operation inserts a batch (ingest) while the batch
// inserted by the operation before is claimed and submitted (sender) and
// the receipts of the one submitted before that are stored (receipt
// handler); so every operation moves one batch through the whole
// pipeline. ns/op is per batch (1.5 messages on average).
func benchSmall(b *testing.B, f Factory) {
	c := NewClock(T0)
	e := &benchEnv{b: b, s: f(b, c.Now), clock: c}
	defer e.s.Close()
	ctx := b.Context()
	toClaim := 0                     // messages the last operation inserted
	var toReceipt []*message.Message // messages the last operation submitted
	msgs := 0
	cpu0 := cpuTime()
	for b.Loop() {
		n := 1 + msgs%2
		ms := make([]*message.Message, n)
		for i := range ms {
			e.seq++
			m := Msg(fmt.Sprintf("small%d", e.seq), "r", e.seq)
			m.DedupeKey, m.Segments = "r|"+m.Entity, 2
			ms[i] = m
		}
		msgs += n
		var wg sync.WaitGroup
		var errs [3]error
		var sent []*message.Message
		wg.Go(func() { errs[0] = e.s.Insert(ctx, ms) })
		if toClaim > 0 {
			wg.Go(func() {
				got, err := e.s.Claim(ctx, e.clock.Now(), toClaim, "bench")
				if err == nil && len(got) != toClaim {
					err = fmt.Errorf("claimed %d of %d", len(got), toClaim)
				}
				if err != nil {
					errs[1] = err
					return
				}
				subs := make([]ledger.Submission, len(got))
				for j, m := range got {
					subs[j] = ledger.Submission{ID: m.ID, Carrier: m.Carrier, CarrierIDs: []string{fmt.Sprintf("%xa", m.ID), fmt.Sprintf("%xb", m.ID)}, At: e.clock.Now()}
				}
				errs[1] = e.s.Submitted(ctx, subs)
				sent = got
			})
		}
		if len(toReceipt) > 0 {
			wg.Go(func() {
				rs := make([]ledger.Receipt, 0, 2*len(toReceipt))
				for _, m := range toReceipt {
					for _, p := range []string{"a", "b"} {
						rs = append(rs, ledger.Receipt{Carrier: m.Carrier, MessageID: fmt.Sprintf("%x%s", m.ID, p), Stat: "DELIVRD", Err: "000", Done: e.clock.Now()})
					}
				}
				res, err := e.s.Receipts(ctx, rs)
				if err == nil && (res[len(res)-1].Outcome != ledger.OutcomeMatched || res[len(res)-1].State != message.StateDelivered) {
					err = fmt.Errorf("receipt: %+v", res[len(res)-1])
				}
				errs[2] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		toClaim, toReceipt = n, sent
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(msgs), "cpu-µs/msg")
}
