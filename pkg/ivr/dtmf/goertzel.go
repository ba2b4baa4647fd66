package dtmf

import "math"

// Tone detects in-band DTMF in 8 kHz 16-bit PCM with the Goertzel
// algorithm over 20 ms blocks (160 samples). A key is reported once when it
// has been present for two consecutive blocks, and again only after a block
// without it. The zero value is not ready: use NewTone.
type Tone struct {
	coeff   [8]float64
	last    rune
	count   int
	emitted bool
}

var toneFreqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

var toneKeys = [4][4]rune{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// BlockSamples is the number of samples Block expects.
const BlockSamples = 160

// NewTone returns an in-band detector for 8 kHz audio.
func NewTone() *Tone {
	t := &Tone{}
	for i, f := range toneFreqs {
		t.coeff[i] = 2 * math.Cos(2*math.Pi*f/8000)
	}
	return t
}

// Block feeds 160 samples (20 ms) and returns a key when one starts.
func (t *Tone) Block(samples []int16) (rune, bool) {
	k := t.detect(samples)
	if k == 0 {
		t.last, t.count, t.emitted = 0, 0, false
		return 0, false
	}
	if k != t.last {
		t.last, t.count, t.emitted = k, 1, false
		return 0, false
	}
	t.count++
	if t.count >= 2 && !t.emitted {
		t.emitted = true
		return k, true
	}
	return 0, false
}

func (t *Tone) detect(samples []int16) rune {
	if len(samples) == 0 {
		return 0
	}
	var power [8]float64
	var energy float64
	for _, s := range samples {
		x := float64(s)
		energy += x * x
	}
	if energy/float64(len(samples)) < 1e4 { // about -50 dBFS: silence
		return 0
	}
	for i, c := range t.coeff {
		var s1, s2 float64
		for _, s := range samples {
			s0 := float64(s) + c*s1 - s2
			s2, s1 = s1, s0
		}
		power[i] = s1*s1 + s2*s2 - c*s1*s2
	}
	row, col := maxIdx(power[:4]), maxIdx(power[4:])
	rp, cp := power[row], power[4+col]
	// Both tones must carry a good share of the block's energy and dominate
	// the other tones of their group.
	total := energy * float64(len(samples)) / 2
	if rp < total*0.1 || cp < total*0.1 {
		return 0
	}
	for i := range 4 {
		if i != row && power[i]*4 > rp {
			return 0
		}
		if i != col && power[4+i]*4 > cp {
			return 0
		}
	}
	// Twist: the tones' powers within 8 dB of each other.
	if rp > cp*6.3 || cp > rp*6.3 {
		return 0
	}
	return toneKeys[row][col]
}

func maxIdx(p []float64) int {
	m := 0
	for i := range p {
		if p[i] > p[m] {
			m = i
		}
	}
	return m
}

// Synth writes n samples of the key's dual tone at the given amplitude into
// a new slice (for tests and for a caller that sends in-band tones).
func Synth(key rune, n int, amp float64) []int16 {
	out := make([]int16, n)
	for r := range 4 {
		for c := range 4 {
			if toneKeys[r][c] != key {
				continue
			}
			f1, f2 := toneFreqs[r], toneFreqs[4+c]
			for i := range out {
				t := float64(i) / 8000
				out[i] = int16(amp * (math.Sin(2*math.Pi*f1*t) + math.Sin(2*math.Pi*f2*t)) / 2)
			}
			return out
		}
	}
	return out
}
