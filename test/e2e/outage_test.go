package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// TestSMSCOutage takes every carrier's SMSC down for a while under load:
// nothing is lost, nothing is sent twice, and while the gateway waits for
// the binds to come back it does not spin (its CPU time stays a small
// fraction of the wall time). SQLite ledger; TestSMSCOutagePostgres does
// the same on PostgreSQL.
func TestSMSCOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level fault test")
	}
	runOutage(t, "")
}

// TestSMSCOutagePostgres is TestSMSCOutage on a PostgreSQL ledger.
func TestSMSCOutagePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level fault test")
	}
	runOutage(t, postgresSchema(t))
}

// runOutage runs the outage test on the ledger at dsn ("": a SQLite file).
func runOutage(t *testing.T, dsn string) {
	bin, dir, base, clock, ctx := setup(t)

	brokerAddr := freeAddr(t)
	startBroker(t, bin, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))
	sims := simulators(t, 100*time.Millisecond, smsc.Faults{})
	dsn, view := ledgerAt(t, dir, dsn)
	cfg := gatewayConfig(t, dir, "outage-gw", brokerAddr, dsn, sims)
	logPath := filepath.Join(dir, "gateway.log")
	gw := start(t, "gateway", logPath, bin, "run", "--config", cfg, "--now", clock())

	const events = 1200
	seed := int64(977)
	gen := eventgen.New(seed, base)
	if err := publish(ctx, brokerAddr, gen, events/2, 200, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for wait := time.Now().Add(60 * time.Second); time.Now().Before(wait) && view.accepted() < 100; {
		time.Sleep(50 * time.Millisecond)
	}

	// Down for 8 s; the second half of the events arrives meanwhile.
	const down = 8 * time.Second
	for _, s := range sims {
		s.SetFaults(smsc.Faults{Down: down})
	}
	cpu0, wall0 := cpuSeconds(t, gw.cmd.Process.Pid), time.Now()
	if err := publish(ctx, brokerAddr, gen, events/2, 200, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(wall0.Add(down - time.Second)))
	cpu, wall := cpuSeconds(t, gw.cmd.Process.Pid)-cpu0, time.Since(wall0).Seconds()
	t.Logf("while the SMSCs were down: %.2f CPU seconds in %.1f s", cpu, wall)
	if cpu > 0.35*wall {
		t.Errorf("gateway used %.2f CPU seconds in %.1f s while waiting for binds: a busy loop", cpu, wall)
	}

	states := settle(t, ctx, view, brokerAddr, func() bool { return !gw.exited() }, logPath, 3*time.Minute)
	t.Logf("ledger states: %v", states)
	if err := gw.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	checkExactlyOnce(t, view, sims, expectedKeys(t, seed, base, events))
}

// cpuSeconds reads a process's user+system CPU time from /proc.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// fields after the command name, which is in parentheses
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}
