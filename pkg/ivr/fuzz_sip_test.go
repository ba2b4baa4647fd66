package ivr_test

import (
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzServerInput sends arbitrary datagrams and TCP streams to a running
// server (the SIP entry: read filter, sipgo, guard, handlers): whatever
// arrives, it must keep answering OPTIONS. Its seeds run in every go test;
// `go test -fuzz FuzzServerInput -fuzztime 60s ./pkg/ivr/` explores.
func FuzzServerInput(f *testing.F) {
	f.Add([]byte("INVITE sip:12123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INFO sip:x SIP/2.0\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 8\r\n\r\nSignal=5"))
	f.Add([]byte("SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte{0, 0, 0})
	// The messages that once took the process down or were answered 200.
	seeds := seedMessages("127.0.0.1:5999", "127.0.0.1:5060")
	for _, m := range seeds {
		f.Add([]byte(m))
		f.Add([]byte(dropHeader(m, "From")))
		f.Add([]byte(dropHeader(m, "To")))
		f.Add([]byte(strings.Replace(m, " SIP/2.0\r\n", " SIP/3.0\r\n", 1)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		f.Add([]byte(mutate(r, seeds[r.IntN(len(seeds))], seeds)))
	}
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
