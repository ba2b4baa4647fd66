package dtmf

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ev(code uint8, end bool, dur uint16) []byte {
	b := []byte{code, 10, byte(dur >> 8), byte(dur)}
	if end {
		b[1] |= 0x80
	}
	return b
}

type pkt struct {
	ts      uint32
	payload []byte
}

func feed(d *Decoder, pkts []pkt) string {
	var sb strings.Builder
	now := time.Unix(0, 0)
	for i, p := range pkts {
		now = now.Add(20 * time.Millisecond)
		if r, ok := d.PacketAt(now, uint16(i+100), p.ts, p.payload); ok {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func TestDecoder(t *testing.T) {
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"duration zero start, three ends", []pkt{
			{1000, ev(5, false, 0)}, {1000, ev(5, false, 160)}, {1000, ev(5, false, 320)},
			{1000, ev(5, true, 480)}, {1000, ev(5, true, 480)}, {1000, ev(5, true, 480)},
		}, "5"},
		{"start at 160 like baresip", []pkt{
			{2000, ev(1, false, 160)}, {2000, ev(1, true, 320)},
		}, "1"},
		{"same digit twice", []pkt{
			{1000, ev(7, false, 0)}, {1000, ev(7, true, 320)}, {1000, ev(7, true, 320)},
			{3000, ev(7, false, 0)}, {3000, ev(7, true, 320)},
		}, "77"},
		{"only end packets survive", []pkt{
			{500, ev(11, true, 800)}, {500, ev(11, true, 800)}, {500, ev(11, true, 800)},
		}, "#"},
		{"late packet of previous event ignored", []pkt{
			{1000, ev(2, false, 0)}, {2000, ev(3, false, 0)}, {1000, ev(2, true, 320)},
		}, "23"},
		{"timestamp wraps", []pkt{
			{0xfffffff0, ev(4, false, 0)}, {0xfffffff0, ev(4, true, 160)}, {0x100, ev(6, false, 0)},
		}, "46"},
		{"same timestamp reused for a new key after end", []pkt{
			{1000, ev(8, false, 0)}, {1000, ev(8, true, 160)}, {1000, ev(9, false, 0)},
		}, "89"},
		{"timestamp never advances, same key twice (diago writer without audio)", []pkt{
			{1000, ev(1, false, 160)}, {1000, ev(1, true, 320)}, {1000, ev(1, true, 320)},
			{1000, ev(1, false, 160)}, {1000, ev(1, true, 320)}, {1000, ev(1, true, 320)},
		}, "11"},
		{"star and letters", []pkt{{10, ev(10, false, 0)}, {20, ev(12, false, 0)}}, "*A"},
		{"flash and short payload ignored", []pkt{{10, ev(16, false, 0)}, {20, []byte{1, 2}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			if got := feed(&d, tt.pkts); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// readPcapRTP returns the UDP payloads of an Ethernet/IPv4 pcap file.
func readPcapRTP(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("no pcap: %v", err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: short pcap", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if binary.BigEndian.Uint32(b) == 0xa1b2c3d4 {
		bo = binary.BigEndian
	}
	link := bo.Uint32(b[20:])
	var out [][]byte
	for off := 24; off+16 <= len(b); {
		incl := int(bo.Uint32(b[off+8:]))
		off += 16
		if off+incl > len(b) {
			break
		}
		frame := b[off : off+incl]
		off += incl
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(frame) < 14 {
				continue
			}
			ip = frame[14:]
		case 113: // Linux cooked
			if len(frame) < 16 {
				continue
			}
			ip = frame[16:]
		default:
			ip = frame
		}
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < ihl+8 {
			continue
		}
		out = append(out, ip[ihl+8:])
	}
	return out
}

// TestSippCaptures decodes the RFC 2833 captures that sipp ships, which
// start every digit with duration 0 (diago v0.42.1 misses these digits).
func TestSippCaptures(t *testing.T) {
	dir := "/usr/share/sip-tester"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("sip-tester not installed")
	}
	cases := map[string]string{"0": "0", "1": "1", "5": "5", "9": "9", "pound": "#", "star": "*"}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			var d Decoder
			var got strings.Builder
			for _, p := range readPcapRTP(t, filepath.Join(dir, "dtmf_2833_"+name+".pcap")) {
				if len(p) < 12 || p[0]>>6 != 2 {
					continue
				}
				if p[1]&0x7f < 96 {
					continue // audio
				}
				seq := binary.BigEndian.Uint16(p[2:])
				ts := binary.BigEndian.Uint32(p[4:])
				if r, ok := d.Packet(seq, ts, p[12:]); ok {
					got.WriteRune(r)
				}
			}
			if got.String() != want {
				t.Fatalf("decoded %q, want %q", got.String(), want)
			}
		})
	}
}

// TestReplayedCaptures replays sipp's captures the way play_pcap_audio
// does: the same file twice, and files out of timestamp order.
func TestReplayedCaptures(t *testing.T) {
	dir := "/usr/share/sip-tester"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("sip-tester not installed")
	}
	var d Decoder
	now := time.Unix(1000, 0)
	var got strings.Builder
	for _, name := range []string{"1", "1", "5", "2", "star", "pound", "0"} {
		for _, p := range readPcapRTP(t, filepath.Join(dir, "dtmf_2833_"+name+".pcap")) {
			if len(p) < 12 || p[1]&0x7f < 96 {
				continue
			}
			now = now.Add(20 * time.Millisecond)
			if r, ok := d.PacketAt(now, binary.BigEndian.Uint16(p[2:]), binary.BigEndian.Uint32(p[4:]), p[12:]); ok {
				got.WriteRune(r)
			}
		}
		now = now.Add(500 * time.Millisecond)
	}
	if got.String() != "1152*#0" {
		t.Fatalf("decoded %q", got.String())
	}
}

func TestParseInfo(t *testing.T) {
	tests := []struct {
		ct, body string
		want     rune
		err      error
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', nil},
		{"application/dtmf-relay", "signal= #\nduration=100", '#', nil},
		{"Application/DTMF-Relay; charset=utf-8", "Signal=*\r\n", '*', nil},
		{"application/dtmf-relay", "Signal=11\r\n", '#', nil},
		{"application/dtmf-relay", "Duration=160", 0, ErrNoSignal},
		{"application/dtmf", "7", '7', nil},
		{"application/dtmf", "d\r\n", 'D', nil},
		{"application/dtmf", "x", 0, ErrNoSignal},
		{"text/plain", "Signal=5", 0, ErrNoSignal},
	}
	for _, tt := range tests {
		t.Run(tt.ct+"/"+tt.body, func(t *testing.T) {
			got, err := ParseInfo(tt.ct, []byte(tt.body))
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestTone(t *testing.T) {
	for _, key := range "0123456789*#ABCD" {
		t.Run(string(key), func(t *testing.T) {
			det := NewTone()
			samples := append(make([]int16, 320), Synth(key, 800, 8000)...)
			samples = append(samples, make([]int16, 320)...)
			samples = append(samples, Synth(key, 800, 8000)...)
			var got []rune
			for i := 0; i+BlockSamples <= len(samples); i += BlockSamples {
				if r, ok := det.Block(samples[i : i+BlockSamples]); ok {
					got = append(got, r)
				}
			}
			if string(got) != string([]rune{key, key}) {
				t.Fatalf("got %q", string(got))
			}
		})
	}
	t.Run("speech-like single tone is no key", func(t *testing.T) {
		det := NewTone()
		one := make([]int16, BlockSamples)
		for i := range one {
			one[i] = int16(8000 * sinTable(i, 440))
		}
		for range 10 {
			if r, ok := det.Block(one); ok {
				t.Fatalf("reported %q for a 440 Hz tone", r)
			}
		}
	})
}

func FuzzDecoder(f *testing.F) {
	f.Add(uint16(1), uint32(1000), []byte{5, 10, 0, 0})
	f.Add(uint16(9), uint32(1000), []byte{5, 0x8a, 1, 0xe0})
	f.Add(uint16(0), uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, seq uint16, ts uint32, p []byte) {
		var d Decoder
		now := time.Unix(0, 0)
		r1, ok1 := d.PacketAt(now, seq, ts, p)
		if ok1 {
			if _, valid := Code(r1); !valid {
				t.Fatalf("reported non-key %q", r1)
			}
		}
		// The same packet again is never a new key.
		if _, ok := d.PacketAt(now.Add(20*time.Millisecond), seq, ts, p); ok {
			t.Fatal("duplicate packet reported twice")
		}
	})
}

func FuzzParseInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		r, err := ParseInfo(ct, body)
		if err == nil {
			if _, ok := Code(r); !ok {
				t.Fatalf("non-key %q", r)
			}
		}
	})
}

func BenchmarkDecoder(b *testing.B) {
	var d Decoder
	p := ev(5, false, 160)
	ts := uint32(0)
	seq := uint16(0)
	for b.Loop() {
		ts += 160
		seq++
		d.Packet(seq, ts, p)
	}
}

func sinTable(i int, f float64) float64 { return math.Sin(2 * math.Pi * f * float64(i) / 8000) }
