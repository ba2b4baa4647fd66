package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// TestCallOut places one call by hand through the trunk simulator with
// digest credentials, and refuses a call without a number.
func TestCallOut(t *testing.T) {
	sim, err := trunksim.Start(trunksim.Config{Keys: "1", KeyDelay: 100 * time.Millisecond,
		Username: "gw", Password: "call-out-password"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("call-out-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := run([]string{"call-out", "--trunk", sim.Addr(), "--user", "gw", "--password-file", pw,
		"--prompts", filepath.Join("..", "..", "prompts"), "--to", "13800138000", "--id", "hand-1",
		"--say", "plate:京A12345,number:12"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	for _, want := range []string{"dialling", "ringing", "answered", "confirmed", `"Outcome": "confirmed"`, `"NoticeID": "hand-1"`, "138****8000"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "13800138000") {
		t.Fatal("full number printed")
	}
	if code := run([]string{"call-out", "--trunk", sim.Addr()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--to") {
		t.Fatalf("without --to: exit %d %s", code, errb.String())
	}
}
