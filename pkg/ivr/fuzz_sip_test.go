package ivr_test

import (
	"net"
	"testing"
	"time"
)

// FuzzServerInput sends arbitrary datagrams and TCP streams to a running
// server: whatever arrives, it must keep answering OPTIONS.
func FuzzServerInput(f *testing.F) {
	f.Add([]byte("INVITE sip:12123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INFO sip:x SIP/2.0\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 8\r\n\r\nSignal=5"))
	f.Add([]byte("SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte{0, 0, 0})
	e := startServer(f, nil) // one server for every input
	c := udpClient(f)        // asks OPTIONS
	junk := udpClient(f)     // sends the input (its answers must not be read as ours)
	f.Fuzz(func(t *testing.T, b []byte) {
		to, _ := net.ResolveUDPAddr("udp", e.srv.Addr("udp"))
		junk.WriteTo(b, to)
		if tc, err := net.DialTimeout("tcp", e.srv.Addr("tcp"), time.Second); err == nil {
			tc.Write(b)
			tc.Close()
		}
		got := rawSIP(t, c, e.srv.Addr("udp"), request("OPTIONS", c.LocalAddr().String(), e.srv.Addr("udp"), ""))
		if got != "SIP/2.0 200 OK" {
			t.Fatalf("OPTIONS after %q answered %q", b, got)
		}
	})
}
