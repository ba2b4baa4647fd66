package ingest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/eventgen"
)

// BenchmarkIngest measures end-to-end consumption from the embedded broker
// (in the same process, so it shares the CPUs): fetch, decode, handle (a
// handler that only counts), commit. Each iteration is a new consumer group
// reading the same records from the start.
func BenchmarkIngest(b *testing.B) {
	const n = 200_000
	br := startBroker(b, b.TempDir())
	defer br.Close()
	st := publish(b, br, 11, n, eventgen.PublishOptions{})
	b.Logf("published %d records in %v (%.0f/s)", n, st.Elapsed, float64(n)/st.Elapsed.Seconds())
	var total int64
	var elapsed, cpu time.Duration
	group := 0
	for b.Loop() {
		group++
		var got atomic.Int64
		var firstAt atomic.Int64
		done := make(chan struct{})
		h := HandlerFunc(func(ctx context.Context, batch []Record) error {
			firstAt.CompareAndSwap(0, time.Now().UnixNano())
			if got.Add(int64(len(batch))) == n {
				close(done)
			}
			return nil
		})
		cfg := Config{
			Brokers:         br.Addrs(),
			GroupID:         fmt.Sprintf("bench-%d", group),
			Topics:          eventgen.TopicNames(),
			DeadLetterTopic: eventgen.DefaultDeadLetterTopic,
			SessionTimeout:  time.Second,
			MaxBytes:        benchMaxBytes,
		}
		c, err := New(cfg, h)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		start, cpu0 := time.Now(), cpuTime()
		go func() { errc <- c.Run(ctx) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("consumed %d of %d", got.Load(), n)
		}
		elapsed += time.Since(start)
		cpu += cpuTime() - cpu0
		b.Logf("first batch after %v, all %d after %v", time.Unix(0, firstAt.Load()).Sub(start), n, time.Since(start))
		total += n
		cancel()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
	// CPU time of the whole process (consumer and broker) per record: less
	// sensitive than wall time to other load on the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-us/record")
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublish measures eventgen.Publish (generate, encode, produce)
// into the embedded broker.
func BenchmarkPublish(b *testing.B) {
	const n = 100_000
	br := startBroker(b, b.TempDir())
	defer br.Close()
	var total int
	var elapsed time.Duration
	seed := int64(0)
	for b.Loop() {
		seed++
		st := publish(b, br, seed, n, eventgen.PublishOptions{})
		total += st.Records
		elapsed += st.Elapsed
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "records/s")
}

var benchMaxBytes = func() int { n, _ := strconv.Atoi(os.Getenv("INGEST_BENCH_MAXBYTES")); return n }()
