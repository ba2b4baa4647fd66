package smpp_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmpp "github.com/fiorix/go-smpp/smpp"
	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"

	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// BenchmarkGoSMPPWithSimulator is the baseline for
// BenchmarkClientWithSimulator/1bind: github.com/fiorix/go-smpp's
// Transceiver, one bind, the same simulator, the same message, a receipt
// per message, 256 submits in flight (its window fails rather than
// waits, so the concurrency stays at the window).
func BenchmarkGoSMPPWithSimulator(b *testing.B) {
	sim := startSim(b, smsc.Config{MaxRecords: -1})
	var got atomic.Int64
	tx := &gosmpp.Transceiver{
		Addr: sim.Addr(), User: "gw", Passwd: "pw", WindowSize: 256, RespTimeout: 10 * time.Second,
		Handler: func(p pdu.Body) {
			if p.Header().ID == pdu.DeliverSMID {
				got.Add(1)
			}
		},
	}
	status := tx.Bind()
	if st := <-status; st.Error() != nil {
		b.Fatal(st.Error())
	}
	defer tx.Close()
	text := pdutext.UCS2(text(1))
	const inflight = 256
	work := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	for range inflight {
		wg.Go(func() {
			for range work {
				_, err := tx.Submit(&gosmpp.ShortMessage{Src: "12123", Dst: "8613800138000", Text: text, Register: pdufield.FinalDeliveryReceipt})
				if err != nil {
					failed.Add(1)
					continue
				}
				sent.Add(1)
			}
		})
	}
	start := time.Now()
	n := 0
	for b.Loop() {
		work <- struct{}{}
		n++
	}
	close(work)
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for got.Load()+int64(sim.Stats().ReceiptsDropped) < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(sent.Load())/el, "msgs/s")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(sent.Load()-got.Load()), "receipts_missing")
}
