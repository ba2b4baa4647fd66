package ivr_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

type onceGuard struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *onceGuard) BeforeDial(_ context.Context, notice, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen[notice] {
		return errors.New("already called")
	}
	g.seen[notice] = true
	return nil
}

// TestAppOutbound: with outbound.trunk set the app runs the dialler; a call
// through the trunk simulator (digest auth) is confirmed and its CDR lands
// in the same store as inbound calls'.
func TestAppOutbound(t *testing.T) {
	sim, err := trunksim.Start(trunksim.Config{Keys: "1", KeyDelay: 200 * time.Millisecond,
		Username: "gw", Password: "trunk-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("trunk-password-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := appivr.ParseConfig("ivr.yaml", []byte(`
sip: {udp: 127.0.0.1:0}
prompts: `+filepath.Join("..", "..", "..", "prompts")+`
flows: `+filepath.Join("..", "..", "..", "config", "ivr-flows.yaml")+`
records: {dsn: `+filepath.Join(dir, "r.db")+`}
outbound: {trunk: "`+sim.Addr()+`", bind: 127.0.0.1:0, username: gw, password_file: `+pw+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var states []ivr.CallState
	a, err := appivr.New(context.Background(), appivr.Options{Config: cfg, DialGuard: &onceGuard{seen: map[string]bool{}},
		OnCallState: func(tr ivr.Transition) {
			mu.Lock()
			states = append(states, tr.State)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	d := a.Dialler()
	for deadline := time.Now().Add(5 * time.Second); !d.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("dialler not started")
		}
	}
	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	n := ivr.Notice{ID: "app-1", Phone: "13800138000", Say: []ivr.SayItem{{Kind: "plate", Value: "京A12345"}}}
	r, err := d.Call(cctx, n)
	if err != nil || r.Outcome != ivr.Confirmed {
		t.Fatalf("call: %+v %v", r, err)
	}
	if _, err := d.Call(cctx, n); !errors.Is(err, ivr.ErrGuardRefused) {
		t.Fatalf("second call of one notice: %v", err)
	}
	cdrs, err := a.Store().CDRs(cctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cdrs) != 1 || cdrs[0].CallID != r.CallID || cdrs[0].Outcome != "confirmed" || cdrs[0].NoticeID != "app-1" {
		t.Fatalf("stored cdrs %+v", cdrs)
	}
	mu.Lock()
	defer mu.Unlock()
	// The refused second call was queued (waiting for a slot) before the
	// guard refused it, and went no further.
	if len(states) != 6 || states[4] != ivr.StateConfirmed || states[5] != ivr.StateQueued {
		t.Fatalf("states %v", states)
	}
}
