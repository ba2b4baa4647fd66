package sqlite_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
)

// TestCrashDuringSubmit runs a child process that inserts and claims
// messages and dies without closing the ledger (as a crash between the
// claim and submit_sm would). The claims survive it, and Recover turns
// them into unknown: nothing is sent blindly again.
func TestCrashDuringSubmit(t *testing.T) {
	if path := os.Getenv("LEDGER_CRASH_CHILD"); path != "" {
		s, err := sqlite.Open(t.Context(), path, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ms []*message.Message
		for i := range 100 {
			ms = append(ms, ledgertest.Msg("ev", "r", i))
		}
		if err := s.Insert(t.Context(), ms); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Claim(t.Context(), time.Now(), 60, "gw-1"); err != nil || len(got) != 60 {
			t.Fatalf("claim %d %v", len(got), err)
		}
		os.Exit(3) // no Close: the process dies
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashDuringSubmit$")
	cmd.Env = append(os.Environ(), "LEDGER_CRASH_CHILD="+path)
	out, err := cmd.CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s, err := sqlite.Open(t.Context(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Recover(t.Context(), "gw-1", time.Time{})
	if err != nil || n != 60 {
		t.Fatalf("recover = %d %v, want 60", n, err)
	}
	sum, err := s.Summary(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.States[message.StateUnknown] != 60 || sum.States[message.StateQueued] != 40 {
		t.Fatalf("after recovery %v", sum.States)
	}
	// The redelivered event after the crash creates nothing new.
	var again []*message.Message
	for i := range 100 {
		again = append(again, ledgertest.Msg("ev", "r", i))
	}
	if err := s.Insert(t.Context(), again); err != nil {
		t.Fatal(err)
	}
	if sum, _ := s.Summary(t.Context()); sum.States[message.StateQueued] != 40 {
		t.Fatalf("redelivery added messages: %v", sum.States)
	}
	if got, _ := s.Claim(t.Context(), time.Now(), 100, "gw-1"); len(got) != 40 {
		t.Fatalf("claim after recovery: %d, want the 40 never claimed", len(got))
	}
}
