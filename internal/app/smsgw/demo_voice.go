package smsgw

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// DemoVoice configures the demo's fallback calls.
type DemoVoice struct {
	// Mix weighs the trunk simulator's callees (trunksim.Behaviours:
	// confirm, silent, hangup, busy, no_answer); empty: confirm 6, busy
	// 2, no_answer 1, hangup 1.
	Mix map[string]int
	// Prompts is the prompt directory ("prompts").
	Prompts string
	// Hours are the calling hours ("" : any time).
	Hours string
}

// demoTrunk starts the trunk simulator and points the voice section at
// it: short ring and key timeouts and retries a few seconds apart, so the
// demo sees every outcome in seconds.
func demoTrunk(cfg *config.Config, o DemoOptions, dir string) (*trunksim.Sim, error) {
	mix := o.Voice.Mix
	if len(mix) == 0 {
		mix = map[string]int{trunksim.Confirm: 6, trunksim.Busy: 2, trunksim.NoAnswer: 1, trunksim.HangUp: 1}
	}
	sim, err := trunksim.Start(trunksim.Config{Listen: "127.0.0.1:0", Mix: mix, Seed: uint64(o.Seed),
		KeyDelay: 300 * time.Millisecond, Username: "12123", Password: "demo-trunk", Logger: o.Logger})
	if err != nil {
		return nil, fmt.Errorf("demo: trunk simulator: %w", err)
	}
	pw := filepath.Join(dir, "trunk-password")
	if err := os.WriteFile(pw, []byte("demo-trunk\n"), 0o600); err != nil {
		sim.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	prompts := o.Voice.Prompts
	if prompts == "" {
		prompts = "prompts"
	}
	v := &cfg.Voice
	v.Trunk, v.Bind, v.Username, v.PasswordFile = sim.Addr(), "127.0.0.1:0", "12123", pw
	v.Prompts, v.Hours = prompts, o.Voice.Hours
	v.CallsPerSecond, v.MaxConcurrent = 50, 50
	v.RingTimeout, v.KeyTimeout, v.MaxPlays = config.Duration(2*time.Second), config.Duration(2*time.Second), 2
	v.Poll = config.Duration(200 * time.Millisecond)
	v.Retry.MaxAttempts, v.Retry.Backoff, v.Retry.MaxBackoff = 2, config.Duration(2*time.Second), config.Duration(5*time.Second)
	return sim, nil
}

// fillCalls adds the calls to the summary; it reports whether none is
// still to end (armed calls of SMS not yet final count as to end).
func fillCalls(sum *Summary, s ledger.Summary, trunk *trunksim.Sim) bool {
	if trunk == nil {
		return true
	}
	sum.Calls = map[string]int{}
	open := 0
	for st, n := range s.Calls {
		sum.Calls[string(st)] = n
		switch st {
		case ledger.CallArmed, ledger.CallQueued, ledger.CallClaimed, ledger.CallDialling, ledger.CallRinging, ledger.CallAnswered:
			open += n
		}
	}
	ts := trunk.Stats()
	sum.Trunk = map[string]int64{"invites": ts.Invites, "challenged": ts.Challenged, "answered": ts.Answered}
	for b, n := range ts.By {
		sum.Trunk[b] = n
	}
	return open == 0
}
