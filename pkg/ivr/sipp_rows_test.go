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
)

// runSipp runs one sipp scenario from testdata/sipp against the server.
func runSipp(t *testing.T, e *env, scenario string) {
	t.Helper()
	bin, pcaps := sippPath(t)
	scen, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, scenario)
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(scen), "/usr/share/sip-tester", pcaps)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	mp := freeUDPPort(t) &^ 1
	cmd := exec.CommandContext(ctx, bin, "-sf", file, "-s", "12123", "-m", "1", "-l", "1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)), "-mp", strconv.Itoa(mp),
		"-key", "caller", phone, "-nostdin", "-timeout", "60s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"), e.srv.Addr("udp"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		t.Fatalf("sipp %s: %v\n%s\nerrors:\n%s", scenario, err, tail(out, 3000), errs)
	}
}

// TestSippMalformed: sipp sends an INVITE without From, one without To and
// OPTIONS in SIP/3.0; each gets 400 / 505, and OPTIONS afterwards 200.
func TestSippMalformed(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	runSipp(t, e, "uac_malformed.xml")
	if e.srv.ActiveCalls() != 0 {
		t.Fatal("a malformed INVITE became a call")
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
