package ivr

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/traffic12123/gateway/pkg/ivr/say"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func TestWAVRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(&buf)
	if err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestShippedPrompts checks the committed prompt set: every prompt the
// shipped flow and the answers use and every say unit is there, 8 kHz mono.
func TestShippedPrompts(t *testing.T) {
	lib, err := LoadLibrary(filepath.Join("..", "..", "prompts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range AnswerPrompts {
		if !lib.HasPrompt(p) {
			t.Errorf("prompt %s missing", p)
		}
	}
	for _, u := range say.Units() {
		if !lib.HasUnit(u.Name) {
			t.Errorf("unit %s missing", u.Name)
		}
	}
}

func TestTranscribe(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "units"), 0o755)
	mk := func(path string, seed int16, frames int) {
		pcm := make([]int16, frames*FrameSamples)
		for i := range pcm {
			pcm[i] = int16(i*int(seed)) % 9000
		}
		f, _ := os.Create(path)
		defer f.Close()
		WriteWAV(f, pcm)
	}
	mk(filepath.Join(dir, "hello.wav"), 7, 4)
	mk(filepath.Join(dir, "units", "d2.wav"), 13, 2)
	lib, err := LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := lib.Prompt(PCMA, "hello")
	u, _ := lib.Unit(PCMA, "d2")
	audio := slices.Concat(bytes.Repeat([]byte{0xd5}, FrameSamples), h, u, u, h[:2*FrameSamples])
	got := lib.Transcribe(PCMA, audio)
	if want := []string{"hello", "units/d2", "units/d2", "hello~"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func BenchmarkPacerStep(b *testing.B) {
	st := &stream{w: discardWriter{}, clips: [][]byte{make([]byte, 160*500)}}
	for b.Loop() {
		if st.step() {
			st.clip, st.off = 0, 0
		}
	}
}

type discardWriter struct{}

func (discardWriter) WriteSamples(p []byte, _ uint32, _ bool, _ uint8) (int, error) {
	return len(p), nil
}

func TestCommandSynth(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed")
	}
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox not installed")
	}
	s := CommandSynth{Argv: []string{"sh", "-c", `espeak-ng -v cmn --stdout "$1" | sox -q -t wav - -r 8000 -c 1 -b 16 -t wav -`, "tts"}}
	pcm, err := s.Synthesize(context.Background(), "北京市朝阳区建国路")
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 8000/2 { // at least half a second of speech
		t.Fatalf("%d samples", len(pcm))
	}
}
