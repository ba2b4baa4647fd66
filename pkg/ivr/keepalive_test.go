package ivr_test

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestSilenceWhileWaiting: after the menu prompt, while the call waits for
// a key, RTP keeps flowing (silence), as carriers' media timers expect.
func TestSilenceWhileWaiting(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil) // test prompts are 160 ms; the menu then waits 2 s
	to := e.srv.Addr("udp")
	addr, _ := net.ResolveUDPAddr("udp", to)
	c := udpClient(t)
	rtp := udpClient(t)
	local := c.LocalAddr().String()
	offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n", rtp.LocalAddr().(*net.UDPAddr).Port)
	inv := request("INVITE", local, to, offer)
	c.WriteTo([]byte(inv), addr)
	res := readFinal(t, c, "INVITE")
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", res.StatusCode)
	}
	c.WriteTo([]byte(inDialog("ACK", local, 1, inv, res, "")), addr)
	defer func() {
		c.WriteTo([]byte(inDialog("BYE", local, 2, inv, res, "")), addr)
	}()
	// welcome + main_menu are 16 frames; over 1.6 s of the wait that
	// follows, 80 frames are due. Without silence none would come.
	buf := make([]byte, 2048)
	silence := bytes.Repeat([]byte{0xff}, 160)
	rtp.SetReadDeadline(time.Now().Add(10 * time.Second))
	total, silent := 0, 0
	var first time.Time
	for {
		n, _, err := rtp.ReadFrom(buf)
		if err != nil {
			break
		}
		if n < 12 || buf[1]&0x7f != 0 {
			continue
		}
		if total == 0 {
			first = time.Now()
		}
		total++
		if bytes.Equal(buf[12:n], silence) {
			silent++
		}
		if time.Since(first) > 2*time.Second {
			break
		}
	}
	if silent < 40 {
		t.Fatalf("%d RTP packets, %d of them silence, in 2 s after the first: nothing keeps the media alive", total, silent)
	}
	t.Logf("%d RTP packets, %d silence, in 2 s", total, silent)
}
