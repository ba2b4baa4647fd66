package ivr

import (
	"log/slog"
	"net"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzSIPEntry runs the SIP entry in process, without sockets: sipgo's
// parser and checkRequest without a recover (a panic fails the target),
// then the read filter. A request checkRequest lets through has every
// header the handlers dereference.
func FuzzSIPEntry(f *testing.F) {
	f.Add([]byte("INVITE sip:12123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"From: <sip:13800138000@127.0.0.1>;tag=1\r\nTo: <sip:12123@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:13800138000@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:12123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"To: <sip:12123@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:x SIP/3.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK2\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\n" +
		"i: b\r\nCSeq: 2 INVITE\r\nMax-Forwards: 1\r\nl: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n" +
		"Call-ID: c\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INFO sip:x SIP/2.0\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 8\r\n\r\nSignal=5"))
	s := &Server{m: NewMetrics(nil), log: slog.New(slog.DiscardHandler)}
	props := sip.TransportReadProps{Transport: "UDP", LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060},
		RemoteAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5070}}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := sip.ParseMessage(append([]byte(nil), b...))
		if err == nil {
			if req, ok := msg.(*sip.Request); ok {
				if code, _, _ := checkRequest(req); code == 0 {
					if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil ||
						req.Via() == nil || req.MaxForwards() == nil || req.SipVersion != "SIP/2.0" ||
						req.CSeq().MethodName != req.Method {
						t.Fatalf("checkRequest let through %q", b)
					}
				}
			}
		}
		if _, err := s.readFilter(props, append([]byte(nil), b...)); err != nil {
			t.Fatalf("read filter returned an error (it would stop the listener): %v", err)
		}
	})
}
