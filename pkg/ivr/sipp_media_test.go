package ivr_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/dtmf"
)

// Media rows of issue 14 driven by sipp: RTP while the IVR waits for keys,
// and one press sent both as RFC 4733 and as a tone.

// TestSippSilenceWhileWaiting: a sipp call that keys nothing stays 3 s;
// after the welcome and the menu (16 frames) the IVR keeps sending RTP,
// silence frames, while it waits for a key.
func TestSippSilenceWhileWaiting(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	tap := newRTPTap(t)
	sippRun{scenario: "uac_wait.xml", keys: map[string]string{"rtp_port": fmt.Sprint(tap.port())}}.run(t, e)
	c := waitCDR(t, e)
	tap.close()
	if c.Cause != "caller_hangup" || c.Keys != 0 {
		t.Fatalf("cdr %+v", c)
	}
	pcmu, packets, silent := tap.audio()
	if !containsSeq(e.lib.Transcribe(ivr.PCMU, pcmu), []string{"welcome", "main_menu"}) {
		t.Fatalf("the caller did not hear the menu: %v", e.lib.Transcribe(ivr.PCMU, pcmu))
	}
	// About 2.7 s of the call are waiting, 135 frames; without silence
	// there would be none. Half of that leaves room for a busy machine.
	if silent < 60 {
		t.Fatalf("%d RTP packets, %d of them silence, in a 3 s call: nothing keeps the media alive while waiting", packets, silent)
	}
	t.Logf("%d RTP packets, %d silence", packets, silent)
}

// pcapPacket is one RTP packet of a capture and when it is sent.
type pcapPacket struct {
	at  time.Duration
	rtp []byte
}

// writePcap writes packets as an Ethernet/IPv4/UDP capture that sipp's
// play_pcap_audio replays (it rewrites addresses and ports, keeps the
// timing and the RTP as they are).
func writePcap(path string, pkts []pcapPacket) error {
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	for _, p := range pkts {
		udpLen := 8 + len(p.rtp)
		frame := make([]byte, 14+20+udpLen)
		binary.BigEndian.PutUint16(frame[12:], 0x0800)
		ip := frame[14:34]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
		ip[8], ip[9] = 64, 17
		copy(ip[12:], []byte{127, 0, 0, 1})
		copy(ip[16:], []byte{127, 0, 0, 1})
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := frame[34:]
		binary.BigEndian.PutUint16(udp[0:], 6000)
		binary.BigEndian.PutUint16(udp[2:], 6000)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		copy(udp[8:], p.rtp)
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(1_700_000_000+p.at/time.Second))
		le.PutUint32(rec[4:], uint32((p.at%time.Second)/time.Microsecond))
		le.PutUint32(rec[8:], uint32(len(frame)))
		le.PutUint32(rec[12:], uint32(len(frame)))
		b.Write(rec)
		b.Write(frame)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// dualKeys is what a phone that sends every key twice puts on the wire:
// audio (PCMU) all along, each key as 100 ms of its dual tone in that
// audio and at the same time as an RFC 4733 event (payload type 101, end
// packet sent three times), then 100 ms of silence. One RTP stream, as a
// phone sends it.
func dualKeys(keys string, ssrc uint32, seq uint16, ts0 uint32) []pcapPacket {
	var out []pcapPacket
	frame := 0 // 20 ms frames since the start
	rtp := func(pt uint8, marker bool, ts uint32, payload []byte) []byte {
		p := make([]byte, 12+len(payload))
		p[0] = 0x80
		p[1] = pt
		if marker {
			p[1] |= 0x80
		}
		binary.BigEndian.PutUint16(p[2:], seq)
		seq++
		binary.BigEndian.PutUint32(p[4:], ts)
		binary.BigEndian.PutUint32(p[8:], ssrc)
		copy(p[12:], payload)
		return p
	}
	at := func() time.Duration { return time.Duration(frame) * 20 * time.Millisecond }
	ts := func() uint32 { return ts0 + uint32(frame*ivr.FrameSamples) }
	silence := ivr.Encode(ivr.PCMU, make([]int16, ivr.FrameSamples))
	quiet := func(n int) {
		for range n {
			out = append(out, pcapPacket{at(), rtp(0, false, ts(), silence)})
			frame++
		}
	}
	quiet(5)
	for _, k := range keys {
		code, _ := dtmf.Code(k)
		tone := ivr.Encode(ivr.PCMU, dtmf.Synth(k, 5*ivr.FrameSamples, 10000))
		start := ts()
		for i := range 5 {
			out = append(out, pcapPacket{at(), rtp(0, false, ts(), tone[i*ivr.FrameSamples:(i+1)*ivr.FrameSamples])})
			dur := uint16((i + 1) * ivr.FrameSamples)
			out = append(out, pcapPacket{at(), rtp(101, i == 0, start, []byte{code, 10, byte(dur >> 8), byte(dur)})})
			frame++
		}
		for range 3 {
			dur := uint16(5 * ivr.FrameSamples)
			out = append(out, pcapPacket{at(), rtp(101, false, start, []byte{code, 0x80 | 10, byte(dur >> 8), byte(dur)})})
		}
		quiet(5)
	}
	quiet(5)
	return out
}

// TestSippOnePressOneDigit: with inband_dtmf on, sipp plays captures in
// which every key is both an RFC 4733 event and a tone in the audio (made
// here, as a phone that duplicates keys sends them). The caller keys 1 and
// an ID with a repeated digit; it is verified, each press is one key, and
// nothing counts against the lockout.
func TestSippOnePressOneDigit(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	recs.ids[phone] = "110101199001011123"
	e := startServer(t, func(o *ivr.Options) { o.InBandDTMF, o.Records = true, recs })
	dir := t.TempDir()
	menu, id := filepath.Join(dir, "menu_1.pcap"), filepath.Join(dir, "id_011123.pcap")
	if err := writePcap(menu, dualKeys("1", 0x1212_3000, 1000, 0)); err != nil {
		t.Fatal(err)
	}
	// The ID continues the stream: the same SSRC, later sequence numbers
	// and timestamps.
	if err := writePcap(id, dualKeys("011123#", 0x1212_3000, 2000, 80_000)); err != nil {
		t.Fatal(err)
	}
	play := func(file string) string {
		return fmt.Sprintf("<nop><action><exec play_pcap_audio=%q/></action></nop>\n", file)
	}
	sippRun{scenario: "uac_keys.xml", subst: map[string]string{
		"<!-- menu keys -->": play(menu),
		"<!-- id keys -->":   play(id),
	}}.run(t, e)
	c := waitCDR(t, e)
	if c.Verification != "ok" || !slices.Contains(c.Queries, "licence") {
		t.Fatalf("cdr %+v", c)
	}
	if c.Keys != 8 {
		t.Fatalf("CDR counts %d keys for 8 presses (1, then 011123#)", c.Keys)
	}
	r, tone := counter(t, e.reg, "ivr_dtmf_total", "rfc4733"), counter(t, e.reg, "ivr_dtmf_total", "inband")
	if r != 8 || tone != 8 {
		t.Fatalf("keys received: %v by RFC 4733, %v as tones; want 8 each", r, tone)
	}
	if d := counterSum(t, e, "ivr_dtmf_duplicates_total"); d != 8 {
		t.Fatalf("%v duplicates dropped, want 8 (one per press)", d)
	}
	if f := counter(t, e.reg, "ivr_verifications_total", "failed"); f != 0 {
		t.Fatalf("%v failed verifications", f)
	}
}
