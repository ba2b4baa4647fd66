package ivr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// Synthesizer speaks free text the recorded units cannot: place names and
// advisory texts. It returns 8 kHz mono 16-bit samples. Optional: without
// one, callers hear a fixed prompt instead (place_see_app) and advisories
// by kind only.
type Synthesizer interface {
	Synthesize(ctx context.Context, text string) ([]int16, error)
}

// ttsPrefix marks a clip name to synthesize: "tts:<fallback prompt>:<text>".
const ttsPrefix = "tts:"

func ttsClip(fallback, text string) string { return ttsPrefix + fallback + ":" + text }

// Bounds of the synthesis cache and of concurrent synthesis.
const (
	ttsCacheSize   = 4096
	ttsConcurrency = 4
	ttsTimeout     = 5 * time.Second
	ttsMaxText     = 200 // runes
)

type ttsCache struct {
	mu      sync.Mutex
	entries map[string][2][]byte
	sem     chan struct{}
}

// speak returns the encoded audio of text, synthesizing it once.
func (s *Server) speak(ctx context.Context, c Codec, text string) ([]byte, error) {
	if s.synth == nil {
		return nil, errors.New("no synthesizer")
	}
	if r := []rune(text); len(r) > ttsMaxText {
		text = string(r[:ttsMaxText])
	}
	s.tts.mu.Lock()
	e, ok := s.tts.entries[text]
	s.tts.mu.Unlock()
	if ok {
		return e[c], nil
	}
	select {
	case s.tts.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.tts.sem }()
	sctx, cancel := context.WithTimeout(ctx, ttsTimeout)
	defer cancel()
	pcm, err := s.synth.Synthesize(sctx, text)
	if err != nil {
		return nil, fmt.Errorf("synthesize: %w", err)
	}
	if len(pcm) == 0 {
		return nil, errors.New("synthesize: no audio")
	}
	e = [2][]byte{Encode(PCMU, pcm), Encode(PCMA, pcm)}
	s.tts.mu.Lock()
	if len(s.tts.entries) >= ttsCacheSize {
		for k := range s.tts.entries { // drop an arbitrary entry
			delete(s.tts.entries, k)
			break
		}
	}
	s.tts.entries[text] = e
	s.tts.mu.Unlock()
	return e[c], nil
}

// CommandSynth runs a command with the text as its last argument and reads
// an 8 kHz mono 16-bit WAV from its standard output, e.g.
//
//	sh -c 'espeak-ng -v cmn --stdout "$1" | sox -q -t wav - -r 8000 -c 1 -b 16 -t wav -' tts
type CommandSynth struct {
	Argv []string
}

// Synthesize implements Synthesizer.
func (c CommandSynth) Synthesize(ctx context.Context, text string) ([]int16, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("tts: no command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], append(append([]string(nil), c.Argv[1:]...), text)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tts %s: %w: %s", c.Argv[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return ReadWAV(bytes.NewReader(out))
}
