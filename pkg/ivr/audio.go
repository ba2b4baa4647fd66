package ivr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zaf/g711"
)

// FrameSamples is 20 ms at 8 kHz: one RTP packet of G.711.
const FrameSamples = 160

// Codec is a G.711 law.
type Codec uint8

// The codecs the IVR speaks.
const (
	PCMU Codec = iota
	PCMA
)

func (c Codec) String() string {
	if c == PCMA {
		return "PCMA"
	}
	return "PCMU"
}

// ReadWAV decodes an 8 kHz mono 16-bit PCM WAV file into samples.
func ReadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, ErrBadWAV
	}
	var fmtOK bool
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, fmt.Errorf("wav chunk: %w", err)
		}
		size := binary.LittleEndian.Uint32(ch[4:])
		if size > 64<<20 {
			if string(ch[:4]) != "data" {
				return nil, ErrBadWAV
			}
			size = 64 << 20 // written to a pipe: the length is unknown, read to the end
		}
		switch string(ch[:4]) {
		case "fmt ":
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, fmt.Errorf("wav fmt: %w", err)
			}
			if size < 16 {
				return nil, ErrBadWAV
			}
			format := binary.LittleEndian.Uint16(b[0:])
			channels := binary.LittleEndian.Uint16(b[2:])
			rate := binary.LittleEndian.Uint32(b[4:])
			bits := binary.LittleEndian.Uint16(b[14:])
			if (format != 1 && format != 0xfffe) || channels != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("%w: want 8 kHz mono 16-bit PCM, got format %d, %d channels, %d Hz, %d bits",
					ErrBadWAV, format, channels, rate, bits)
			}
			fmtOK = true
		case "data":
			if !fmtOK {
				return nil, ErrBadWAV
			}
			b, err := io.ReadAll(io.LimitReader(r, int64(size)))
			if err != nil {
				return nil, fmt.Errorf("wav data: %w", err)
			}
			n := len(b)
			b = b[:n-n%2]
			out := make([]int16, len(b)/2)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return out, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size+size%2)); err != nil {
				return nil, fmt.Errorf("wav chunk: %w", err)
			}
		}
	}
}

// WriteWAV writes samples as an 8 kHz mono 16-bit PCM WAV file.
func WriteWAV(w io.Writer, pcm []int16) error {
	b := make([]byte, 44+2*len(pcm))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*len(pcm)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*len(pcm)))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	_, err := w.Write(b)
	return err
}

// Encode turns samples into G.711 bytes, padded with silence to whole
// 20 ms frames.
func Encode(c Codec, pcm []int16) []byte {
	n := (len(pcm) + FrameSamples - 1) / FrameSamples * FrameSamples
	out := make([]byte, n)
	for i := range out {
		var s int16
		if i < len(pcm) {
			s = pcm[i]
		}
		if c == PCMA {
			out[i] = g711.EncodeAlawFrame(s)
		} else {
			out[i] = g711.EncodeUlawFrame(s)
		}
	}
	return out
}

// Decode turns G.711 bytes into samples.
func Decode(c Codec, b []byte) []int16 {
	out := make([]int16, len(b))
	for i, x := range b {
		if c == PCMA {
			out[i] = g711.DecodeAlawFrame(x)
		} else {
			out[i] = g711.DecodeUlawFrame(x)
		}
	}
	return out
}

// Library holds every prompt and unit of a prompt directory, decoded once
// and encoded for both laws. Prompts are <dir>/<name>.wav; units of the say
// engine are <dir>/units/<name>.wav. A Library is immutable.
type Library struct {
	dir   string
	audio [2]map[string][]byte // by Codec: "name" or "units/name" → frames
}

// LoadLibrary reads every WAV file of dir and dir/units.
func LoadLibrary(dir string) (*Library, error) {
	l := &Library{dir: dir, audio: [2]map[string][]byte{{}, {}}}
	for _, sub := range []string{"", "units"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			if sub != "" && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read prompt directory: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".wav") {
				continue
			}
			path := filepath.Join(dir, sub, e.Name())
			f, err := os.Open(path)
			if err != nil {
				return nil, fmt.Errorf("open prompt: %w", err)
			}
			pcm, err := ReadWAV(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("prompt %s: %w", path, err)
			}
			key := strings.TrimSuffix(e.Name(), ".wav")
			if sub != "" {
				key = sub + "/" + key
			}
			l.audio[PCMU][key] = Encode(PCMU, pcm)
			l.audio[PCMA][key] = Encode(PCMA, pcm)
		}
	}
	return l, nil
}

// Dir is the directory the library was loaded from.
func (l *Library) Dir() string { return l.dir }

// HasPrompt reports whether a prompt exists.
func (l *Library) HasPrompt(name string) bool {
	_, ok := l.audio[PCMU][name]
	return ok
}

// HasUnit reports whether a say unit exists.
func (l *Library) HasUnit(name string) bool {
	_, ok := l.audio[PCMU]["units/"+name]
	return ok
}

// Prompt returns a prompt's encoded frames.
func (l *Library) Prompt(c Codec, name string) ([]byte, bool) {
	b, ok := l.audio[c][name]
	return b, ok
}

// Unit returns a say unit's encoded frames.
func (l *Library) Unit(c Codec, name string) ([]byte, bool) {
	b, ok := l.audio[c]["units/"+name]
	return b, ok
}

// index maps the first frame of every clip to the clips starting with it,
// for the test caller's transcript.
type index struct {
	first map[string][]string
	clips map[string][]byte
}

var indexes sync.Map // *Library+Codec → *index

func (l *Library) index(c Codec) *index {
	type key struct {
		l *Library
		c Codec
	}
	if v, ok := indexes.Load(key{l, c}); ok {
		return v.(*index)
	}
	ix := &index{first: map[string][]string{}, clips: l.audio[c]}
	for name, b := range l.audio[c] {
		if len(b) >= FrameSamples {
			k := string(b[:FrameSamples])
			ix.first[k] = append(ix.first[k], name)
		}
	}
	v, _ := indexes.LoadOrStore(key{l, c}, ix)
	return v.(*index)
}

// Transcribe names the clips found in received audio: each clip that
// starts on a frame boundary and plays to its end (or to where the audio
// stops, marked with a trailing "~") becomes one entry, units as
// "units/<name>". Anything else is skipped.
func (l *Library) Transcribe(c Codec, audio []byte) []string {
	ix := l.index(c)
	var out []string
	for i := 0; i+FrameSamples <= len(audio); {
		cands := ix.first[string(audio[i:i+FrameSamples])]
		best, bestLen, full := "", 0, false
		for _, name := range cands {
			clip := ix.clips[name]
			n := 0
			for n+FrameSamples <= len(clip) && i+n+FrameSamples <= len(audio) &&
				string(clip[n:n+FrameSamples]) == string(audio[i+n:i+n+FrameSamples]) {
				n += FrameSamples
			}
			if n > bestLen || (n == bestLen && n == len(clip) && !full) {
				best, bestLen, full = name, n, n == len(clip)
			}
		}
		if bestLen == 0 {
			i += FrameSamples
			continue
		}
		if !full {
			best += "~"
		}
		out = append(out, best)
		i += bestLen
	}
	return out
}
