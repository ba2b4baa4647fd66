package ivr_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// TestSippOutbound dials sipp playing the callee (UAS scenarios): keys by
// RFC 4733 captures, a callee hang-up, 486 and a callee that never answers.
// Skipped without sipp, required with CI=true.
func TestSippOutbound(t *testing.T) {
	t.Parallel()
	bin, pcaps := sippPath(t)
	cases := []struct {
		scenario string
		outcome  ivr.Outcome
		status   int
		reason   string
		keys     string
		plays    int
	}{
		{"uas_confirm.xml", ivr.Confirmed, 200, "confirmed", "1", 1},
		{"uas_again_confirm.xml", ivr.Confirmed, 200, "confirmed", "21", 2},
		{"uas_hangup.xml", ivr.AnsweredUnconfirmed, 200, "remote_hangup", "", 1},
		{"uas_busy.xml", ivr.Busy, 486, "sip_486", "", 0},
		{"uas_noanswer.xml", ivr.NoAnswer, 0, "ring_timeout", "", 0},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.scenario, ".xml"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			scen, err := os.ReadFile(filepath.Join("testdata", "sipp", c.scenario))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, c.scenario)
			if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(scen), "/usr/share/sip-tester", pcaps)), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			port := freeUDPPort(t)
			mp := freeUDPPort(t) &^ 1
			cmd := exec.CommandContext(ctx, bin, "-sf", file, "-m", "1", "-i", "127.0.0.1",
				"-p", strconv.Itoa(port), "-mp", strconv.Itoa(mp), "-nostdin", "-timeout", "40s", "-timeout_error",
				"-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "TERM=dumb")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			e := startDialler(t, "127.0.0.1:"+strconv.Itoa(port), nil)
			r := callOut(t, e, notice("sipp-"+c.scenario))
			if err := cmd.Wait(); err != nil {
				errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
				t.Fatalf("sipp: %v\n%s\nerrors:\n%s\nresult %+v", err, tail([]byte(out.String()), 3000), errs, r)
			}
			if r.Outcome != c.outcome || r.SIPStatus != c.status || r.Reason != c.reason || r.Keys != c.keys || r.Plays != c.plays {
				t.Fatalf("result %+v, want %s %d %s keys %q plays %d", r, c.outcome, c.status, c.reason, c.keys, c.plays)
			}
			cdr := waitOutCDR(t, e)
			if cdr.CallID != r.CallID || cdr.Outcome != string(c.outcome) || cdr.Plays != c.plays {
				t.Fatalf("cdr %+v", cdr)
			}
		})
	}
}
