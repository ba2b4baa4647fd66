package ivr_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// Verification rows of issue 14 driven by sipp: parallel guessing from one
// number, and the same prompts before an ID is keyed.

// capturePlays turns keys into the <exec play_pcap_audio> lines of
// uac_keys.xml: one of sipp's own RFC 2833 captures per key, 400 ms apart.
// No pause follows the last: the IVR may hang up right after it, and sipp
// takes a BYE only where the scenario waits for one.
func capturePlays(keys string) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("<pause milliseconds=\"400\"/>\n")
		}
		name := string(k)
		switch k {
		case '*':
			name = "star"
		case '#':
			name = "pound"
		}
		fmt.Fprintf(&b, "<nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_%s.pcap\"/></action></nop>\n", name)
	}
	return b.String()
}

// collectCDRs waits for n CDRs.
func collectCDRs(t *testing.T, e *env, n int) []ivr.CDR {
	t.Helper()
	out := make([]ivr.CDR, 0, n)
	for range n {
		out = append(out, waitCDR(t, e))
	}
	return out
}

// TestSippParallelGuesses: 20 sipp calls at once from one number key 1 and
// a wrong ID by RFC 4733; then a sipp call from that number keys the right
// ID. (Six digits complete the ID: the IVR answers before a "#" would
// come.) Only max_failures (3) guesses are compared, the rest and the right ID
// are refused as locked, and nobody is verified.
func TestSippParallelGuesses(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	const n = 20
	sippRun{scenario: "uac_keys.xml", calls: n, subst: map[string]string{
		"<!-- menu keys -->": capturePlays("1"),
		"<!-- id keys -->":   capturePlays("654321"),
	}}.run(t, e)
	got := map[string]int{}
	for _, c := range collectCDRs(t, e, n) {
		if c.Caller != "138****8000" || !slices.Contains(c.Path, "main:1") {
			t.Fatalf("cdr %+v", c)
		}
		got[c.Verification]++
	}
	// Three guesses are compared; the third locks, so that call hears
	// "locked" too: 2 failed, 18 locked.
	if got["failed"] != 2 || got["locked"] != n-2 {
		t.Fatalf("CDRs of the wrong guesses: verification %v, want 2 failed and %d locked", got, n-2)
	}
	if f, l := counter(t, e.reg, "ivr_verifications_total", "failed"), counter(t, e.reg, "ivr_verifications_total", "locked"); f != 3 || l != n-3 {
		t.Fatalf("verifications: %v failed, %v refused as locked; want 3 and %d", f, l, n-3)
	}

	sippRun{scenario: "uac_keys.xml", subst: map[string]string{
		"<!-- menu keys -->": capturePlays("1"),
		"<!-- id keys -->":   capturePlays("12345*"),
	}}.run(t, e)
	if c := waitCDR(t, e); c.Verification != "locked" || c.Cause != "locked" || slices.Contains(c.Queries, "licence") {
		t.Fatalf("the right ID after %d parallel guesses: cdr %+v", n, c)
	}
	if ok := counter(t, e.reg, "ivr_verifications_total", "ok"); ok != 0 {
		t.Fatalf("%v verified", ok)
	}
	if f := counter(t, e.reg, "ivr_verifications_total", "failed"); f != 3 {
		t.Fatalf("%v guesses compared, want 3", f)
	}
}

// rtpTap is a UDP port that a sipp call names in its SDP: it keeps the RTP
// the IVR sends there, in arrival order.
type rtpTap struct {
	conn net.PacketConn
	mu   sync.Mutex
	pkts [][]byte
	done chan struct{}
}

func newRTPTap(t *testing.T) *rtpTap {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tap := &rtpTap{conn: c, done: make(chan struct{})}
	go func() {
		defer close(tap.done)
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			tap.mu.Lock()
			tap.pkts = append(tap.pkts, bytes.Clone(buf[:n]))
			tap.mu.Unlock()
		}
	}()
	t.Cleanup(tap.close)
	return tap
}

func (tap *rtpTap) port() int { return tap.conn.LocalAddr().(*net.UDPAddr).Port }

func (tap *rtpTap) close() {
	tap.conn.Close()
	<-tap.done
}

// audio returns the PCMU payloads received, concatenated, and how many of
// the packets were silence frames.
func (tap *rtpTap) audio() (pcmu []byte, packets, silent int) {
	silence := bytes.Repeat([]byte{0xff}, ivr.FrameSamples)
	tap.mu.Lock()
	defer tap.mu.Unlock()
	for _, p := range tap.pkts {
		if len(p) < 12 || p[0]>>6 != 2 || p[1]&0x7f != 0 {
			continue
		}
		packets++
		if bytes.Equal(p[12:], silence) {
			silent++
		}
		pcmu = append(pcmu, p[12:]...)
	}
	return pcmu, packets, silent
}

// TestSippSamePromptsBeforeID: sipp calls from a registered, an
// unregistered and a locked number at once, each keys 1 (licence) by SIP
// INFO and stays 2 s without keying an ID. What the IVR sent each of them
// (recorded where their SDP points) names the same prompts in the same
// order, and none of them tells registration or the lock.
func TestSippSamePromptsBeforeID(t *testing.T) {
	t.Parallel()
	const locked = "13700001111"
	recs := sampleRecords()
	recs.licences[locked] = recs.licences[phone]
	recs.ids[locked] = "110101199001019999"
	lo := ivr.NewLockout()
	for range 3 {
		lo.Attempt(context.Background(), []string{ivr.PhoneKey(locked)}, time.Now(), 3, time.Hour)
	}
	e := startServer(t, func(o *ivr.Options) { o.Records, o.Lockout = recs, lo })
	callers := []string{phone, "13900000000", locked}
	taps := make([]*rtpTap, len(callers))
	inj := "SEQUENTIAL\n"
	for i, p := range callers {
		taps[i] = newRTPTap(t)
		inj += fmt.Sprintf("%s;%d;\n", p, taps[i].port())
	}
	file := filepath.Join(t.TempDir(), "callers.csv")
	if err := os.WriteFile(file, []byte(inj), 0o644); err != nil {
		t.Fatal(err)
	}
	sippRun{scenario: "uac_info_key.xml", calls: len(callers), args: []string{"-inf", file}}.run(t, e)
	byCaller := map[string]ivr.CDR{}
	for _, c := range collectCDRs(t, e, len(callers)) {
		byCaller[c.Caller] = c
	}
	var heard [][]string
	for i, p := range callers {
		taps[i].close()
		pcmu, _, _ := taps[i].audio()
		// A prompt cut short (by the key, on a slow machine, or by the BYE)
		// is marked "~": it was heard all the same.
		var names []string
		for _, h := range e.lib.Transcribe(ivr.PCMU, pcmu) {
			names = append(names, strings.TrimSuffix(h, "~"))
		}
		heard = append(heard, names)
		c, ok := byCaller[ivr.MaskPhone(p)]
		if !ok || c.Verification != "none" || c.Cause != "caller_hangup" || !slices.Equal(c.Path, []string{"welcome", "main", "main:1"}) {
			t.Fatalf("%s: cdr %+v (found %v)", p, c, ok)
		}
	}
	if !containsSeq(heard[0], []string{"welcome", "main_menu", "enter_id"}) {
		t.Fatalf("the registered caller heard %v, want welcome, main_menu, enter_id", heard[0])
	}
	for i := 1; i < len(heard); i++ {
		if !slices.Equal(heard[i], heard[0]) {
			t.Fatalf("before an ID was keyed, %s heard %v but %s heard %v", callers[0], heard[0], callers[i], heard[i])
		}
	}
	for _, h := range heard[0] {
		if h == "locked" || h == "not_registered" || h == "verify_failed" {
			t.Fatalf("heard %q before an ID was keyed: %v", h, heard[0])
		}
	}
	if v := counterSum(t, e, "ivr_verifications_total"); v != 0 {
		t.Fatalf("%v verifications without an ID keyed", v)
	}
}
