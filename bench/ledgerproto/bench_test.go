package ledgerproto

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The shapes of internal/ledger/ledgertest's Pipeline2Parts and
// PipelineSmall, so that cpu-µs/msg compares with
// `go test -bench 'Ledger/(Pipeline2Parts|PipelineSmall)$' ./internal/ledger/sqlite`.

const batchSize = 1000

func BenchmarkProto(b *testing.B) {
	for _, hot := range []Mode{Plain, Hot, Lean, Bounded} {
		for _, fsync := range []bool{false, true} {
			name := []string{"", "Hot", "Lean", "Bounded"}[hot] + map[bool]string{false: "", true: "Fsync"}[fsync]
			b.Run("Pipeline2Parts"+name, func(b *testing.B) { benchTwoParts(b, fsync, hot) })
			b.Run("PipelineSmall"+name, func(b *testing.B) { benchSmall(b, fsync, hot) })
		}
	}
}

func open(b *testing.B, fsync bool, hot Mode) *Store {
	s, err := Open(b.TempDir(), fsync, hot)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchTwoParts(b *testing.B, fsync bool, hot Mode) {
	s := open(b, fsync, hot)
	seq := 0
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixNano()
	cpu0 := cpuTime()
	for b.Loop() {
		ms := make([]*Msg, batchSize)
		for i := range ms {
			seq++
			ms[i] = msg(seq)
			ms[i].EventID = fmt.Sprint("ev", seq/batchSize)
			ms[i].Key = ms[i].EventID + "|r|" + ms[i].Recipient
		}
		now += int64(time.Millisecond)
		if err := s.Insert(ms, now); err != nil {
			b.Fatal(err)
		}
		got, err := s.Claim(now, batchSize, "bench")
		if err != nil || len(got) != batchSize {
			b.Fatalf("claimed %d of %d: %v", len(got), batchSize, err)
		}
		subs := make([]Submission, len(got))
		var rs []Receipt
		for j, m := range got {
			ids := []string{fmt.Sprintf("%xa", m.ID), fmt.Sprintf("%xb", m.ID)}
			subs[j] = Submission{ID: m.ID, Carrier: m.Carrier, CarrierIDs: ids, At: now}
			for _, id := range ids {
				rs = append(rs, Receipt{m.Carrier, id, "DELIVRD", now})
			}
		}
		if err := s.Submitted(subs); err != nil {
			b.Fatal(err)
		}
		for len(rs) > 0 {
			n := min(len(rs), 50)
			res, err := s.Receipts(rs[:n], now)
			if err != nil || res[n-1] != Matched {
				b.Fatalf("receipts: %v %v", res, err)
			}
			rs = rs[n:]
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*batchSize), "cpu-µs/msg")
}

// benchSmall: batches of one or two 2-part messages, the three stages
// concurrent, as at low load (see ledgertest.benchSmall).
func benchSmall(b *testing.B, fsync bool, hot Mode) {
	s := open(b, fsync, hot)
	seq, msgs := 0, 0
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixNano()
	toClaim := 0
	var toReceipt []*Msg
	cpu0 := cpuTime()
	for b.Loop() {
		n := 1 + msgs%2
		ms := make([]*Msg, n)
		for i := range ms {
			seq++
			ms[i] = msg(seq)
			ms[i].Key = fmt.Sprint("small", seq, "|r|", ms[i].Recipient)
		}
		msgs += n
		now += int64(time.Millisecond)
		var wg sync.WaitGroup
		var errs [3]error
		var sent []*Msg
		wg.Go(func() { errs[0] = s.Insert(ms, now) })
		if toClaim > 0 {
			wg.Go(func() {
				got, err := s.Claim(now, toClaim, "bench")
				if err == nil && len(got) != toClaim {
					err = fmt.Errorf("claimed %d of %d", len(got), toClaim)
				}
				if err != nil {
					errs[1] = err
					return
				}
				subs := make([]Submission, len(got))
				for j, m := range got {
					subs[j] = Submission{ID: m.ID, Carrier: m.Carrier, CarrierIDs: []string{fmt.Sprintf("%xa", m.ID), fmt.Sprintf("%xb", m.ID)}, At: now}
				}
				errs[1] = s.Submitted(subs)
				sent = got
			})
		}
		if len(toReceipt) > 0 {
			wg.Go(func() {
				rs := make([]Receipt, 0, 2*len(toReceipt))
				for _, m := range toReceipt {
					for _, p := range []string{"a", "b"} {
						rs = append(rs, Receipt{m.Carrier, fmt.Sprintf("%x%s", m.ID, p), "DELIVRD", now})
					}
				}
				res, err := s.Receipts(rs, now)
				if err == nil && res[len(res)-1] != Matched {
					err = fmt.Errorf("receipt: %v", res)
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

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemtable: Lean with larger memtables, and with uncompressed
// table blocks.
func BenchmarkMemtable(b *testing.B) {
	defer func(v uint64) { memtableBytes = v }(memtableBytes)
	for _, mb := range []uint64{4, 16, 64} {
		memtableBytes = mb << 20
		b.Run(fmt.Sprint(mb, "MB"), func(b *testing.B) { benchTwoParts(b, false, Lean) })
	}
	memtableBytes = 4 << 20
	compress = false
	defer func() { compress = true }()
	b.Run("4MBUncompressed", func(b *testing.B) { benchTwoParts(b, false, Lean) })
}

// BenchmarkRecord: Lean with the whole record rewritten at every
// transition, against a small state record beside it.
func BenchmarkRecord(b *testing.B) { benchToggle(b, &splitState, "Whole", "Split") }

// BenchmarkLazyIndexes: Lean without the keys only trace and prune read.
func BenchmarkLazyIndexes(b *testing.B) { benchToggle(b, &lazyIndexes, "All", "Lazy") }

// benchToggle runs Lean's two pipeline shapes with *flag false (named
// off), then true (on), and puts the flag back.
func benchToggle(b *testing.B, flag *bool, off, on string) {
	defer func(v bool) { *flag = v }(*flag)
	for i, name := range []string{off, on} {
		*flag = i == 1
		b.Run(name+"Pipeline2Parts", func(b *testing.B) { benchTwoParts(b, false, Lean) })
		b.Run(name+"PipelineSmall", func(b *testing.B) { benchSmall(b, false, Lean) })
	}
}

// BenchmarkLiveMemory reports the heap Lean keeps per message not yet
// final (queued ones here): what a backlog or messages waiting for
// receipts would cost in memory.
func BenchmarkLiveMemory(b *testing.B) {
	for b.Loop() {
		s := open(b, false, Lean)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 100_000
		now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC).UnixNano()
		for i := 0; i < n; i += batchSize {
			ms := make([]*Msg, batchSize)
			for j := range ms {
				ms[j] = msg(i + j)
			}
			if err := s.Insert(ms, now); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/n, "heap-B/live-msg")
		runtime.KeepAlive(s)
	}
}
