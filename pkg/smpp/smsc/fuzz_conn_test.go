package smsc_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// FuzzConn feeds arbitrary octets to a live simulator: whatever arrives, it
// must neither panic nor hang, and must stay usable for the next ESME.
func FuzzConn(f *testing.F) {
	frame := func(p *smpp.PDU) []byte {
		b, err := p.AppendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	bindPDU := frame(&smpp.PDU{Command: smpp.BindTransceiver, Seq: 1, Body: &smpp.Bind{SystemID: "gw", InterfaceVersion: 0x34}})
	submit := frame(&smpp.PDU{Command: smpp.SubmitSM, Seq: 2, Body: &smpp.SM{
		Source: smpp.Address{Addr: "12123"}, Dest: smpp.Address{Addr: "13800138000"},
		ESMClass: 0x40, DataCoding: 8, RegisteredDelivery: 1, ShortMessage: []byte{5, 0, 3, 1, 2, 1, 0x4e, 0x2d},
	}})
	f.Add(append(append([]byte{}, bindPDU...), submit...))
	f.Add(append(append([]byte{}, bindPDU...), 0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 3))
	f.Add(append(append([]byte{}, bindPDU...), 0, 0, 0, 5, 1, 2, 3, 4))
	f.Add([]byte{0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})

	s := smsc.New(smsc.Config{ReceiptTimeout: 50 * time.Millisecond, MaxRedeliveries: 1, RedeliveryDelay: time.Millisecond})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(in)
		nc.(*net.TCPConn).CloseWrite()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			t.Fatalf("the simulator did not hang up after EOF: %v", err)
		}
	})
}
