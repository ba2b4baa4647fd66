package ivr_test

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runSipp runs one sipp scenario from testdata/sipp against the server.
func runSipp(t *testing.T, e *env, scenario string) {
	t.Helper()
	sippRun{scenario: scenario}.run(t, e)
}

// sippRun is one sipp process: a scenario from testdata/sipp, with text
// replaced in it (subst, after the captures' directory), calls placed
// (-m, all at once: -l and -r), -key values (caller defaults to phone) and
// further arguments.
type sippRun struct {
	scenario string
	subst    map[string]string
	calls    int
	keys     map[string]string
	args     []string
}

// run runs sipp to its end and fails the test if any call failed. It
// returns sipp's output and its working directory (its logs).
func (r sippRun) run(t *testing.T, e *env) (out []byte, dir string) {
	t.Helper()
	bin, pcaps := sippPath(t)
	scen, err := os.ReadFile(filepath.Join("testdata", "sipp", r.scenario))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(scen), "/usr/share/sip-tester", pcaps)
	for from, to := range r.subst {
		if !strings.Contains(text, from) {
			t.Fatalf("%s has no %q to replace", r.scenario, from)
		}
		text = strings.ReplaceAll(text, from, to)
	}
	dir = t.TempDir()
	file := filepath.Join(dir, r.scenario)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	calls := strconv.Itoa(max(r.calls, 1))
	mp := freeUDPPort(t) &^ 1
	args := []string{"-sf", file, "-s", "12123", "-m", calls, "-l", calls, "-r", calls,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)), "-mp", strconv.Itoa(mp),
		"-nostdin", "-timeout", "60s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	keys := map[string]string{"caller": phone}
	maps.Copy(keys, r.keys)
	for k, v := range keys {
		args = append(args, "-key", k, v)
	}
	args = append(append(args, r.args...), e.srv.Addr("udp"))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb")
	out, err = cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		t.Fatalf("sipp %s: %v\n%s\nerrors:\n%s", r.scenario, err, tail(out, 3000), errs)
	}
	return out, dir
}

// TestSippMalformed: sipp sends an INVITE without From, one without To,
// OPTIONS in SIP/3.0 and an INVITE whose CSeq names BYE; each gets 400 /
// 505 (sipp fails the call on any other answer), and OPTIONS afterwards
// 200.
func TestSippMalformed(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	runSipp(t, e, "uac_malformed.xml")
	if e.srv.ActiveCalls() != 0 {
		t.Fatal("a malformed INVITE became a call")
	}
	for _, reason := range []string{"from", "to", "version", "cseq_method"} {
		if n := counter(t, e.reg, "ivr_sip_rejected_total", reason); n != 1 {
			t.Errorf("refused for %s: %v, want 1", reason, n)
		}
	}
	if n := counterSum(t, e, "ivr_sip_rejected_total"); n != 4 {
		t.Errorf("%v requests refused, want 4 (the ACK of the 400 is no request to refuse)", n)
	}
}

// TestSippLateOffer: sipp calls without SDP, takes the IVR's offer from the
// 200 OK, answers in the ACK and verifies with RFC 4733 keys.
func TestSippLateOffer(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	runSipp(t, e, "uac_late_offer.xml")
	c := waitCDR(t, e)
	if !c.LateOffer || c.Verification != "ok" || c.Cause != "caller_hangup" {
		t.Fatalf("cdr %+v", c)
	}
}
