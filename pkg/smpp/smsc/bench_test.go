package smsc_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// BenchmarkSubmitWithReceipts measures the simulator alone: one
// transceiver bind over loopback, a window of 256 pipelined UCS2 submit_sm
// (pre-encoded, so the client costs little), each with a receipt that the
// client acknowledges. msgs/s counts messages accepted whose receipts
// settled; refused/op is the share answered ESME_RMSGQFUL because receipts
// backed up past MaxPendingReceipts (the receipt window is 64, the submit
// window 256).
func BenchmarkSubmitWithReceipts(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  smsc.Config
		rd   byte
	}{
		{"no_receipts", smsc.Config{MaxRecords: -1}, 0},
		{"receipts", smsc.Config{MaxRecords: -1}, 1},
		{"receipts+records", smsc.Config{}, 1},
		{"receipts_delayed_20ms", smsc.Config{MaxRecords: -1, ReceiptDelay: 20 * time.Millisecond}, 1},
	} {
		b.Run(bc.name, func(b *testing.B) { benchSubmit(b, bc.cfg, bc.rd) })
	}
}

func benchSubmit(b *testing.B, cfg smsc.Config, rd byte) {
	s := start(b, cfg)
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64*1024)
	bw := bufio.NewWriterSize(nc, 64*1024)
	frame := func(p *smpp.PDU) []byte {
		f, err := p.AppendTo(nil)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	bw.Write(frame(&smpp.PDU{Command: smpp.BindTransceiver, Seq: 1, Body: &smpp.Bind{SystemID: "bench", InterfaceVersion: 0x34}}))
	bw.Flush()
	if _, err := smpp.ReadFrame(br, 0); err != nil {
		b.Fatal(err)
	}
	submit := frame(&smpp.PDU{Command: smpp.SubmitSM, Body: sm("12123", "13800138000", 8, ucs2("【交管12123】您的机动车检验有效期即将届满，请及时检验。"), rd)})
	ack := frame(&smpp.PDU{Command: smpp.DeliverSMResp, Body: &smpp.SMResp{}})

	const window = 256
	win := make(chan struct{}, window)
	var wmu sync.Mutex
	var readErr error
	var accepted, refused atomic.Int64
	done := make(chan struct{})
	go func() { // reader: frees the window, acknowledges receipts; ends when nc closes
		defer close(done)
		hdr := make([]byte, 16)
		body := make([]byte, 64*1024)
		for {
			if _, err := io.ReadFull(br, hdr); err != nil {
				readErr = err
				return
			}
			n := binary.BigEndian.Uint32(hdr)
			if _, err := io.ReadFull(br, body[:n-16]); err != nil {
				readErr = err
				return
			}
			switch smpp.CommandID(binary.BigEndian.Uint32(hdr[4:])) {
			case smpp.SubmitSMResp:
				if binary.BigEndian.Uint32(hdr[8:]) == 0 {
					accepted.Add(1)
				} else {
					refused.Add(1) // queue full: receipts back up
				}
				<-win
			case smpp.DeliverSM:
				wmu.Lock()
				copy(ack[12:16], hdr[12:16])
				bw.Write(ack)
				if br.Buffered() == 0 {
					bw.Flush()
				}
				wmu.Unlock()
			}
		}
	}()
	seq := uint32(1)
	b.ReportAllocs()
	t0 := time.Now()
	n := 0
	for b.Loop() {
		select {
		case win <- struct{}{}:
		default:
			wmu.Lock()
			bw.Flush()
			wmu.Unlock()
			win <- struct{}{}
		}
		seq++
		wmu.Lock()
		binary.BigEndian.PutUint32(submit[12:], seq)
		bw.Write(submit)
		wmu.Unlock()
		n++
	}
	wmu.Lock()
	bw.Flush()
	wmu.Unlock()
	answered := func() bool { return accepted.Load()+refused.Load() == int64(n) }
	deadline := time.Now().Add(time.Minute)
	settled := func() bool { return rd == 0 || s.Stats().Receipts["DELIVRD"] >= uint64(accepted.Load()) }
	for (!answered() || !settled()) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(t0)
	nc.Close()
	<-done
	if got := s.Stats().Receipts["DELIVRD"]; !answered() || !settled() {
		b.Fatalf("%d receipts settled of %d accepted, %d refused, %d sent (reader: %v)", got, accepted.Load(), refused.Load(), n, readErr)
	}
	b.ReportMetric(float64(accepted.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(refused.Load())/float64(n), "refused/op")
}
