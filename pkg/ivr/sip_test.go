package ivr_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// rawSIP sends one datagram and returns the first line of the first final
// response (skipping 100 Trying), "" on timeout.
func rawSIP(t testing.TB, conn net.PacketConn, to string, msg string) string {
	t.Helper()
	addr, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteTo([]byte(msg), addr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn.SetReadDeadline(deadline)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}

var seqNo atomic.Int64

func request(method, local, to, body string) string {
	seq := seqNo.Add(1)
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s sip:12123@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-test-%d\r\n"+
		"From: <sip:13800138000@127.0.0.1>;tag=t%d\r\n"+
		"To: <sip:12123@%s>\r\n"+
		"Call-ID: raw-%d@test\r\n"+
		"CSeq: 1 %s\r\n"+
		"Contact: <sip:13800138000@%s>\r\n"+
		"Max-Forwards: 70\r\n%s"+
		"Content-Length: %d\r\n\r\n%s", method, to, local, seq, seq, to, seq, method, local, ct, len(body), body)
}

func udpClient(t testing.TB) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSIPEdges(t *testing.T) {
	t.Run("options and malformed input", func(t *testing.T) {
		e := startServer(t, nil)
		c := udpClient(t)
		to := e.srv.Addr("udp")
		addr, _ := net.ResolveUDPAddr("udp", to)
		for _, junk := range []string{"\x00\x01garbage", "INVITE\r\n\r\n", "SIP/2.0 200 OK\r\nVia: x\r\n\r\n",
			"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", strings.Repeat("A", 60000)} {
			c.WriteTo([]byte(junk), addr)
		}
		// Over TCP too: garbage, a truncated message, an absurd length.
		for _, junk := range []string{"\x16\x03\x01garbage\r\n\r\n", "INVITE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nab",
			"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n"} {
			tc, err := net.Dial("tcp", e.srv.Addr("tcp"))
			if err != nil {
				t.Fatal(err)
			}
			tc.Write([]byte(junk))
			tc.Close()
		}
		if got := rawSIP(t, c, to, request("OPTIONS", c.LocalAddr().String(), to, "")); got != "SIP/2.0 200 OK" {
			t.Fatalf("OPTIONS answered %q", got)
		}
	})
	t.Run("no usable codec", func(t *testing.T) {
		e := startServer(t, nil)
		c := udpClient(t)
		to := e.srv.Addr("udp")
		sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
		if got := rawSIP(t, c, to, request("INVITE", c.LocalAddr().String(), to, sdp)); !strings.HasPrefix(got, "SIP/2.0 488") {
			t.Fatalf("INVITE answered %q", got)
		}
	})
	t.Run("untrusted source", func(t *testing.T) {
		e := startServer(t, func(o *ivr.Options) { o.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
		c := udpClient(t)
		to := e.srv.Addr("udp")
		if got := rawSIP(t, c, to, request("OPTIONS", c.LocalAddr().String(), to, "")); !strings.HasPrefix(got, "SIP/2.0 403") {
			t.Fatalf("OPTIONS answered %q", got)
		}
	})
	t.Run("invite rate per source", func(t *testing.T) {
		e := startServer(t, func(o *ivr.Options) { o.InviteRate, o.InviteBurst = 0.01, 1 })
		c := udpClient(t)
		to := e.srv.Addr("udp")
		g722 := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
		if got := rawSIP(t, c, to, request("INVITE", c.LocalAddr().String(), to, g722)); !strings.HasPrefix(got, "SIP/2.0 488") {
			t.Fatalf("first INVITE answered %q", got)
		}
		if got := rawSIP(t, c, to, request("INVITE", c.LocalAddr().String(), to, "")); !strings.HasPrefix(got, "SIP/2.0 503") {
			t.Fatalf("second INVITE answered %q", got)
		}
	})
	t.Run("cancel while ringing", func(t *testing.T) {
		e := startServer(t, func(o *ivr.Options) { o.RingFor = 10 * time.Second })
		c := udpClient(t)
		to := e.srv.Addr("udp")
		local := c.LocalAddr().String()
		sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
		inv := request("INVITE", local, to, sdp)
		addr, _ := net.ResolveUDPAddr("udp", to)
		c.WriteTo([]byte(inv), addr)
		buf := make([]byte, 65535)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no 180: %v", err)
			}
			if strings.HasPrefix(string(buf[:n]), "SIP/2.0 180") {
				break
			}
		}
		// CANCEL: same Call-ID, branch and CSeq number as the INVITE.
		cancel := strings.Replace(inv, "INVITE sip:", "CANCEL sip:", 1)
		cancel = strings.Replace(cancel, "CSeq: 1 INVITE", "CSeq: 1 CANCEL", 1)
		cancel = cancel[:strings.Index(cancel, "Content-Type:")] + "Content-Length: 0\r\n\r\n"
		c.WriteTo([]byte(cancel), addr)
		got := map[string]bool{}
		for !got["200 CANCEL"] || !got["487 INVITE"] {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				t.Fatalf("answers to CANCEL: %v (got %v)", err, got)
			}
			msg := string(buf[:n])
			line, _, _ := strings.Cut(msg, "\r\n")
			code := strings.Fields(line)[1]
			method := "INVITE"
			if strings.Contains(msg, "CSeq: 1 CANCEL") {
				method = "CANCEL"
			}
			got[code+" "+method] = true
		}
		if cdr := waitCDR(t, e); cdr.Cause != "cancelled" {
			t.Fatalf("cdr %+v", cdr)
		}
		for deadline := time.Now().Add(5 * time.Second); e.srv.ActiveCalls() != 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("active calls %d after CANCEL", e.srv.ActiveCalls())
			}
		}
	})
	t.Run("max calls", func(t *testing.T) {
		e := startServer(t, func(o *ivr.Options) { o.MaxCalls = 1 })
		call := dial(t, e, "udp", phone)
		step(t, e, call, "welcome", 1, "", "")
		c := udpClient(t)
		to := e.srv.Addr("udp")
		if got := rawSIP(t, c, to, request("INVITE", c.LocalAddr().String(), to, "")); !strings.HasPrefix(got, "SIP/2.0 503") {
			t.Fatalf("INVITE beyond the limit answered %q", got)
		}
		if e.srv.ActiveCalls() != 1 {
			t.Fatalf("active calls %d", e.srv.ActiveCalls())
		}
	})
}
