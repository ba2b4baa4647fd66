package ivr_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// dropHeader removes the header lines starting with name (case-insensitive,
// "name:" ) from a raw message.
func dropHeader(msg, name string) string {
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	out := lines[:1]
	for _, l := range lines[1:] {
		if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n" + body
}

const offerSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"

// TestMalformedRequests: each mandatory header missing, a SIP version other
// than 2.0 and a CSeq naming another method are answered 400 / 505 over UDP
// and TCP, and the server keeps answering.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := udpClient(t)
	to := e.srv.Addr("udp")
	local := c.LocalAddr().String()
	cases := []struct {
		name, msg, want string
	}{
		{"INVITE without From", dropHeader(request("INVITE", local, to, offerSDP), "From"), "SIP/2.0 400"},
		{"INVITE without To", dropHeader(request("INVITE", local, to, offerSDP), "To"), "SIP/2.0 400"},
		{"INVITE without Call-ID", dropHeader(request("INVITE", local, to, offerSDP), "Call-ID"), "SIP/2.0 400"},
		{"INVITE without CSeq", dropHeader(request("INVITE", local, to, offerSDP), "CSeq"), "SIP/2.0 400"},
		{"INVITE without Max-Forwards", dropHeader(request("INVITE", local, to, offerSDP), "Max-Forwards"), "SIP/2.0 400"},
		{"INVITE without Contact", dropHeader(request("INVITE", local, to, offerSDP), "Contact"), "SIP/2.0 400"},
		{"INVITE without Via", dropHeader(request("INVITE", local, to, offerSDP), "Via"), "SIP/2.0 400"},
		{"OPTIONS without From", dropHeader(request("OPTIONS", local, to, ""), "From"), "SIP/2.0 400"},
		{"BYE without To", dropHeader(request("BYE", local, to, ""), "To"), "SIP/2.0 400"},
		{"INFO without From", dropHeader(request("INFO", local, to, ""), "From"), "SIP/2.0 400"},
		{"SIP/3.0", strings.Replace(request("INVITE", local, to, offerSDP), " SIP/2.0\r\n", " SIP/3.0\r\n", 1), "SIP/2.0 505"},
		{"OPTIONS SIP/3.0", strings.Replace(request("OPTIONS", local, to, ""), " SIP/2.0\r\n", " SIP/3.0\r\n", 1), "SIP/2.0 505"},
		{"CSeq method mismatch", strings.Replace(request("INVITE", local, to, offerSDP), "CSeq: 1 INVITE", "CSeq: 1 OPTIONS", 1), "SIP/2.0 400"},
		{"OPTIONS CSeq says INVITE", strings.Replace(request("OPTIONS", local, to, ""), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), "SIP/2.0 400"},
	}
	for _, tc := range cases {
		if got := rawSIP(t, c, to, tc.msg); !strings.HasPrefix(got, tc.want) {
			t.Errorf("udp %s: answered %q, want %s", tc.name, got, tc.want)
		}
	}
	// TCP: the same checks on each framed message.
	for _, tc := range cases {
		msg := strings.ReplaceAll(tc.msg, "SIP/2.0/UDP", "SIP/2.0/TCP")
		if got := rawTCP(t, e.srv.Addr("tcp"), msg); !strings.HasPrefix(got, tc.want) {
			t.Errorf("tcp %s: answered %q, want %s", tc.name, got, tc.want)
		}
	}
	if got := rawSIP(t, c, to, request("OPTIONS", local, to, "")); got != "SIP/2.0 200 OK" {
		t.Fatalf("OPTIONS afterwards answered %q", got)
	}
	if got := counter(t, e.reg, "ivr_sip_rejected_total", "from"); got < 3 {
		t.Fatalf("ivr_sip_rejected_total{reason=from} = %v", got)
	}
	if e.srv.ActiveCalls() != 0 {
		t.Fatalf("a malformed INVITE became a call")
	}
}

// rawTCP sends one message on a new connection and returns the first line
// of the first final response.
func rawTCP(t testing.TB, addr, msg string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	var got []byte
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		for {
			head, rest, ok := strings.Cut(string(got), "\r\n\r\n")
			if !ok {
				break
			}
			line, _, _ := strings.Cut(head, "\r\n")
			if !strings.HasPrefix(line, "SIP/2.0 1") {
				return line
			}
			got = []byte(rest)
		}
		if err != nil {
			return ""
		}
	}
}

// seedMessages are real requests of every method the IVR handles.
func seedMessages(local, to string) []string {
	info := strings.Replace(request("INFO", local, to, ""), "Content-Length: 0\r\n\r\n",
		"Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n", 1)
	return []string{
		request("INVITE", local, to, offerSDP),
		request("INVITE", local, to, ""),
		request("ACK", local, to, ""),
		request("BYE", local, to, ""),
		info,
		request("CANCEL", local, to, ""),
		request("OPTIONS", local, to, ""),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + to + ";branch=z9hG4bK-x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
	}
}

var junkValues = []string{"", " ", "<", ">", "<sip:>", "sip:", ";tag", ";;;", "\x00", "\xff\xfe", "SIP/2.0/", "4294967296 INVITE",
	"-1 INVITE", "1", "1 ", "INVITE", "x INVITE", "99999999999999999999", "<sip:a@b>;tag=" + strings.Repeat("x", 3000),
	"\"unterminated <sip:a@b>", "sip:a@[::1", "sip:a@b:99999", "SIP/2.0/UDP", "SIP/2.0/UDP :;branch", "a=b=c", "%%", "\t",
	"tel:", "<tel:+86>", "sips:x@y;transport=", "application/dtmf-relay", "-5", "70 70"}

var methods = []string{"INVITE", "ACK", "BYE", "INFO", "CANCEL", "OPTIONS", "UPDATE", "REFER", "NOTIFY", "PRACK", "MESSAGE", "", "invite", "X"}

// mutate returns a damaged copy of msg: header lines dropped, doubled,
// given junk values or compact names, bytes flipped, inserted or cut,
// the start line, version, CSeq or Content-Length changed.
func mutate(r *rand.Rand, msg string, seeds []string) string {
	b := []byte(msg)
	for range 1 + r.IntN(3) {
		head, body, _ := strings.Cut(string(b), "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		switch r.IntN(12) {
		case 0: // drop a header
			if len(lines) > 1 {
				i := 1 + r.IntN(len(lines)-1)
				lines = append(lines[:i], lines[i+1:]...)
			}
		case 1: // double one
			i := r.IntN(len(lines))
			lines = append(lines[:i+1], lines[i:]...)
		case 2: // junk value
			if len(lines) > 1 {
				i := 1 + r.IntN(len(lines)-1)
				name, _, _ := strings.Cut(lines[i], ":")
				lines[i] = name + ": " + junkValues[r.IntN(len(junkValues))]
			}
		case 3: // start line
			parts := strings.SplitN(lines[0], " ", 3)
			if len(parts) == 3 {
				switch r.IntN(3) {
				case 0:
					parts[0] = methods[r.IntN(len(methods))]
				case 1:
					parts[1] = junkValues[r.IntN(len(junkValues))]
				case 2:
					parts[2] = []string{"SIP/3.0", "SIP/2", "SIP/1.0", "", "HTTP/1.1", "SIP/2.0 x"}[r.IntN(6)]
				}
			}
			lines[0] = strings.Join(parts, " ")
		case 4: // CSeq
			for i, l := range lines {
				if strings.HasPrefix(l, "CSeq:") {
					lines[i] = "CSeq: " + strconv.Itoa(r.IntN(5)) + " " + methods[r.IntN(len(methods))]
				}
			}
		case 5: // Content-Length
			for i, l := range lines {
				if strings.HasPrefix(l, "Content-Length:") {
					lines[i] = "Content-Length: " + []string{"0", "-1", "5", "100000", "x", "4294967297"}[r.IntN(6)]
				}
			}
		case 6: // compact form
			compact := map[string]string{"From:": "f:", "To:": "t:", "Call-ID:": "i:", "Via:": "v:", "Contact:": "m:", "Content-Length:": "l:"}
			i := r.IntN(len(lines))
			for long, short := range compact {
				if strings.HasPrefix(lines[i], long) {
					lines[i] = short + strings.TrimPrefix(lines[i], long)
				}
			}
		case 7: // splice with another seed
			other := seeds[r.IntN(len(seeds))]
			cut := r.IntN(len(other) + 1)
			b = append([]byte(strings.Join(lines, "\r\n")[:r.IntN(len(head)+1)]), other[cut:]...)
			continue
		case 8: // header name junk
			i := r.IntN(len(lines))
			lines[i] = strings.Repeat(":", r.IntN(3)) + lines[i][r.IntN(len(lines[i])+1):]
		}
		b = []byte(strings.Join(lines, "\r\n") + "\r\n\r\n" + body)
		switch r.IntN(6) {
		case 0: // flip bytes
			for range 1 + r.IntN(8) {
				if len(b) > 0 {
					b[r.IntN(len(b))] = byte(r.IntN(256))
				}
			}
		case 1: // truncate
			b = b[:r.IntN(len(b)+1)]
		case 2: // insert bytes
			i := r.IntN(len(b) + 1)
			ins := make([]byte, 1+r.IntN(16))
			for k := range ins {
				ins[k] = byte(r.IntN(256))
			}
			b = append(b[:i], append(ins, b[i:]...)...)
		}
	}
	return string(b)
}

// datagrams is how many mutated datagrams TestSurvivesMutatedDatagrams
// sends: IVR_MUTATED_DATAGRAMS, else 100,000.
func datagrams(t *testing.T) int {
	if v := os.Getenv("IVR_MUTATED_DATAGRAMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("IVR_MUTATED_DATAGRAMS: %v", err)
		}
		return n
	}
	return 100000
}

// TestSurvivesMutatedDatagrams sends 100,000 mutated INVITE, ACK, BYE, INFO,
// CANCEL and OPTIONS datagrams (and responses) over UDP from a trusted
// source, then completes a normal verified call. A panic anywhere in the
// server (any goroutine) ends this test process, so passing means none.
func TestSurvivesMutatedDatagrams(t *testing.T) {
	t.Parallel()
	n := datagrams(t)
	// The junk comes from 127.0.0.2: its own INVITE bucket keeps the few
	// mutations that are still valid INVITEs from turning into many calls.
	e := startServer(t, func(o *ivr.Options) {
		o.InviteRate, o.InviteBurst = 0.5, 2
		// A recovered panic is a bug: its log line (with the stack) shows.
		o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	})
	junk, err := net.ListenPacket("udp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	defer junk.Close()
	go func() { // drain what the server answers
		buf := make([]byte, 65535)
		for {
			if _, _, err := junk.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	probe := udpClient(t)
	to := e.srv.Addr("udp")
	addr, _ := net.ResolveUDPAddr("udp", to)
	seeds := seedMessages(junk.LocalAddr().String(), to)
	r := rand.New(rand.NewPCG(12123, 14))
	start := time.Now()
	for i := range n {
		msg := mutate(r, seeds[r.IntN(len(seeds))], seeds)
		if len(msg) > 65000 {
			msg = msg[:65000]
		}
		if _, err := junk.WriteTo([]byte(msg), addr); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		// Every 50 datagrams wait for an OPTIONS answer: it proves the
		// server alive and keeps the socket buffer from dropping (much)
		// junk.
		if i%50 == 49 {
			if got := probeOptions(t, probe, to); got != "SIP/2.0 200 OK" {
				t.Fatalf("OPTIONS after %d datagrams answered %q; last datagram %q", i+1, got, msg)
			}
		}
	}
	t.Logf("%d mutated datagrams in %v; rejected before any handler: %v", n, time.Since(start).Round(time.Millisecond),
		counterSum(t, e, "ivr_sip_rejected_total"))
	// A recovered panic is the guard doing its job (the process served
	// on), but it points at a library bug worth a look: its stack is in
	// the log above.
	if p := counterSum(t, e, "ivr_panics_total"); p != 0 {
		t.Logf("%v panics recovered (see the stacks logged above)", p)
	}
	// A normal verified call afterwards.
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "1", ivr.KeysRFC4733)
	step(t, e, call, "enter_id", 1, "12345*#", ivr.KeysRFC4733)
	step(t, e, call, "after_query", 1, "", "")
	heard := call.Transcript(e.lib)
	if !containsSeq(heard, []string{"verified", "licence_status", "status_licence_A"}) {
		t.Fatalf("licence not heard after the junk: %v", heard)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call.Hangup(ctx)
	for {
		c := waitCDR(t, e)
		if c.Verification == "ok" {
			break
		}
	}
}

// probeOptions sends OPTIONS and returns the answer's first line,
// retransmitting (as RFC 3261 17.1.2 does) when the datagram was lost: a
// full socket buffer drops the probe as readily as the junk.
func probeOptions(t *testing.T, c net.PacketConn, to string) string {
	t.Helper()
	req := request("OPTIONS", c.LocalAddr().String(), to, "")
	addr, _ := net.ResolveUDPAddr("udp", to)
	buf := make([]byte, 65535)
	for try := 0; try < 10; try++ {
		if _, err := c.WriteTo([]byte(req), addr); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break
			}
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			return line
		}
	}
	return ""
}

// testWriter sends log output to t.Log, but only lines about panics (the
// rest is the expected noise of 100,000 bad messages).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "panic") {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func counterSum(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestTCPFraming: on one TCP connection a CRLF ping gets its pong, a bad
// request pipelined with a good one gets 400 and the good one 200, and a
// message without Content-Length closes the connection.
func TestTCPFraming(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	addr := e.srv.Addr("tcp")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	to := e.srv.Addr("udp")
	tcp := func(m string) string { return strings.ReplaceAll(m, "SIP/2.0/UDP", "SIP/2.0/TCP") }
	bad := tcp(dropHeader(request("OPTIONS", local, to, ""), "From"))
	good := tcp(request("OPTIONS", local, to, ""))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	pong := make([]byte, 2)
	if _, err := io.ReadFull(conn, pong); err != nil || string(pong) != "\r\n" {
		t.Fatalf("ping answered %q, %v", pong, err)
	}
	if _, err := conn.Write([]byte(bad + good)); err != nil {
		t.Fatal(err)
	}
	var lines []string
	buf := make([]byte, 65535)
	var got string
	for len(lines) < 2 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("answers %v: %v", lines, err)
		}
		got += string(buf[:n])
		for {
			head, rest, ok := strings.Cut(got, "\r\n\r\n")
			if !ok {
				break
			}
			line, _, _ := strings.Cut(head, "\r\n")
			lines = append(lines, line)
			got = rest
		}
	}
	if !strings.HasPrefix(lines[0], "SIP/2.0 400") || lines[1] != "SIP/2.0 200 OK" {
		t.Fatalf("pipelined bad and good OPTIONS answered %v", lines)
	}
	// No Content-Length on a stream: no boundary, the connection closes.
	if _, err := conn.Write([]byte(dropHeader(good, "Content-Length"))); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := conn.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("connection still open after a message without Content-Length")
			}
			break
		}
	}
}
