package smgp_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/traffic12123/gateway/pkg/smgp"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

// BenchmarkClientWithSMGW: one connection (window 16 each way), every
// message asks for and gets a status report, parsed and handed to
// OnReceipt; 256 sends in flight. msgs/s counts messages whose report
// arrived.
func BenchmarkClientWithSMGW(b *testing.B) {
	{
		b.Run("SMGP3.0", func(b *testing.B) {
			sim := startSMGW(b, smgw.Config{})
			var got atomic.Int64
			done := make(chan struct{})
			var target atomic.Int64
			target.Store(-1)
			c, _ := startClient(b, smgp.Config{Addr: sim.Addr(), SrcTermID: "1069012123",
				OnReceipt: func(context.Context, smgp.Receipt) error {
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
						if _, err := c.Send(ctx, smgp.Message{Dest: "13312345678", Text: "您的车辆已被记录违法停车，请及时处理。"}); err != nil {
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
		})
	}
}
