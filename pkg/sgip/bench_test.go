package sgip_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/traffic12123/gateway/pkg/sgip"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
)

// BenchmarkClientWithSMG: one connection each way (ours for SUBMIT, the
// SMG's to our listener for REPORT), window 16, a report per message,
// 256 sends in flight; msgs/s counts reports received.
func BenchmarkClientWithSMG(b *testing.B) {
	var got, target atomic.Int64
	target.Store(-1)
	done := make(chan struct{})
	r := start(b, smg.Config{}, sgip.Config{OnReceipt: func(context.Context, sgip.Receipt) error {
		if got.Add(1) == target.Load() {
			close(done)
		}
		return nil
	}})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	target.Store(got.Load() + int64(b.N))
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 256 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := r.c.Send(ctx, sgip.Message{Dest: "13012345678", Text: "您的车辆已被记录违法停车，请及时处理。"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
