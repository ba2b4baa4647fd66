package ivr_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippPath finds sipp (Debian package sip-tester, installed by .ci/sipp.sh).
// Without it the test is skipped, unless CI=true: then it fails.
func sippPath(t *testing.T) (bin, pcaps string) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	pcaps = "/usr/share/sip-tester"
	if _, perr := os.Stat(filepath.Join(pcaps, "dtmf_2833_1.pcap")); err == nil && perr != nil {
		err = perr
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp or its captures missing (run .ci/sipp.sh): %v", err)
		}
		t.Skipf("sipp not installed: %v", err)
	}
	return bin, pcaps
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestSipp drives the IVR with sipp as an independent peer: RFC 4733 keys
// replayed from the captures sipp ships (each digit starts with duration
// 0), then SIP INFO keys (application/dtmf-relay and application/dtmf).
func TestSipp(t *testing.T) {
	t.Parallel()
	bin, pcaps := sippPath(t)
	e := startServer(t, nil)
	scen, err := os.ReadFile(filepath.Join("testdata", "sipp", "uac_dtmf.xml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "uac_dtmf.xml")
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
		t.Fatalf("sipp: %v\n%s\nerrors:\n%s", err, tail(out, 3000), errs)
	}
	c := waitCDR(t, e)
	if c.Verification != "ok" {
		t.Fatalf("verification %q (cdr %+v)", c.Verification, c)
	}
	for _, want := range []string{"main:1", "after_licence:9", "main:3"} {
		if !slices.Contains(c.Path, want) {
			t.Fatalf("path %v lacks %s", c.Path, want)
		}
	}
	if c.Cause != "caller_hangup" || !slices.Equal(c.Queries, []string{"licence", "violations"}) {
		t.Fatalf("cdr %+v", c)
	}
	if got := counter(t, e.reg, "ivr_dtmf_total", "rfc4733"); got != 8 {
		t.Fatalf("rfc4733 keys %v, want 8 (1, then 12345*#)", got)
	}
	if got := counter(t, e.reg, "ivr_dtmf_total", "info"); got != 2 {
		t.Fatalf("info keys %v, want 2", got)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
