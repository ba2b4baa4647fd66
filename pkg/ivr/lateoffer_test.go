package ivr_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// readFinal reads datagrams until a final response to method arrives.
func readFinal(t *testing.T, c net.PacketConn, method string) *sip.Response {
	t.Helper()
	buf := make([]byte, 65535)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no final answer to %s: %v", method, err)
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= 200 && res.CSeq() != nil && string(res.CSeq().MethodName) == method {
			return res
		}
	}
}

func headerLine(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}

// inDialog builds a request in the dialog the INVITE inv and its 200 res
// made.
func inDialog(method, local string, cseq int, inv string, res *sip.Response, body string) string {
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d\r\n%s\r\nTo: %s\r\n%s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, res.Contact().Address.String(), local, strings.ToLower(method), time.Now().UnixNano(),
		headerLine(inv, "From"), res.To().Value(), headerLine(inv, "Call-ID"), cseq, method, ct, len(body), body)
}

// TestLateOffer: an INVITE without SDP gets our offer in the 200 OK; the
// answer in the ACK starts the media; an ACK without an answer ends the
// call.
func TestLateOffer(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	to := e.srv.Addr("udp")
	addr, _ := net.ResolveUDPAddr("udp", to)

	t.Run("answer in ACK", func(t *testing.T) {
		c := udpClient(t)
		rtp := udpClient(t)
		local := c.LocalAddr().String()
		inv := request("INVITE", local, to, "")
		c.WriteTo([]byte(inv), addr)
		res := readFinal(t, c, "INVITE")
		offer := strings.ToUpper(string(res.Body())) // rtpmap names are case-insensitive
		if res.StatusCode != 200 || !strings.Contains(offer, "M=AUDIO ") || !strings.Contains(offer, "PCMU/8000") ||
			!strings.Contains(offer, "TELEPHONE-EVENT/8000") {
			t.Fatalf("late offer answered %d with %q", res.StatusCode, offer)
		}
		rtpPort := rtp.LocalAddr().(*net.UDPAddr).Port
		answer := fmt.Sprintf("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n", rtpPort)
		c.WriteTo([]byte(inDialog("ACK", local, 1, inv, res, answer)), addr)
		// The welcome prompt arrives as PCMU at the address the ACK gave.
		buf := make([]byte, 2048)
		rtp.SetReadDeadline(time.Now().Add(10 * time.Second))
		packets := 0
		for packets < 10 {
			n, _, err := rtp.ReadFrom(buf)
			if err != nil {
				select {
				case c := <-e.cdrs.ch:
					t.Logf("cdr %+v", c)
				default:
				}
				t.Fatalf("%d RTP packets after the ACK: %v", packets, err)
			}
			if n > 12 && buf[1]&0x7f == 0 {
				packets++
			}
		}
		c.WriteTo([]byte(inDialog("BYE", local, 2, inv, res, "")), addr)
		if bye := readFinal(t, c, "BYE"); bye.StatusCode != 200 {
			t.Fatalf("BYE answered %d", bye.StatusCode)
		}
		for {
			cdr := waitCDR(t, e)
			if cdr.LateOffer && cdr.Cause == "caller_hangup" && cdr.Codec == "PCMU" {
				break
			}
			if cdr.LateOffer {
				t.Fatalf("cdr %+v", cdr)
			}
		}
	})
	t.Run("no answer in ACK", func(t *testing.T) {
		c := udpClient(t)
		local := c.LocalAddr().String()
		inv := request("INVITE", local, to, "")
		c.WriteTo([]byte(inv), addr)
		res := readFinal(t, c, "INVITE")
		if res.StatusCode != 200 {
			t.Fatalf("late offer answered %d", res.StatusCode)
		}
		c.WriteTo([]byte(inDialog("ACK", local, 1, inv, res, "")), addr)
		for {
			cdr := waitCDR(t, e)
			if cdr.LateOffer && cdr.Cause == "answer_failed" {
				break
			}
			if cdr.LateOffer {
				t.Fatalf("cdr %+v", cdr)
			}
		}
	})
}
