package e2e

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// TestCrash kills the gateway with SIGKILL at random moments, twelve
// times, and the broker once, while events stream in; then lets a last
// gateway finish. Every message the rules decided must be in the ledger,
// every message the ledger says was accepted must have reached the
// simulators exactly once, and every one must have a final receipt.
// SQLite ledger; TestCrashPostgres does the same on PostgreSQL.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test")
	}
	runCrash(t, "", 12)
}

// TestCrashPostgres is TestCrash on a PostgreSQL ledger, with six kills
// (the broker's after the third) to keep CI time down.
func TestCrashPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test")
	}
	runCrash(t, postgresSchema(t), 6)
}

// runCrash runs the crash test on the ledger at dsn ("": a SQLite file)
// with that many gateway kills.
func runCrash(t *testing.T, dsn string, killRuns int) {
	bin, dir, base, clock, ctx := setup(t)

	brokerAddr := freeAddr(t)
	brokerData := filepath.Join(dir, "kafka")
	brokerLog := filepath.Join(dir, "broker.log")
	br := startBroker(t, bin, brokerAddr, brokerData, brokerLog)

	// Slow responses and receipts keep submits and receipts in flight when
	// the kills land.
	sims := simulators(t, 300*time.Millisecond, smsc.Faults{SlowResponse: 30 * time.Millisecond})
	dsn, view := ledgerAt(t, dir, dsn)
	cfgPath := gatewayConfig(t, dir, "crash-gw", brokerAddr, dsn, sims)
	gwLog := filepath.Join(dir, "gateway.log")

	const events = 2400
	seed := int64(20261127)
	pubDone := make(chan error, 1)
	// a steady stream over the whole kill period
	go func() {
		pubDone <- publish(ctx, brokerAddr, eventgen.New(seed, base), events, 40, 500*time.Millisecond)
	}()

	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	kills := 0
	for i := range killRuns {
		before := view.accepted()
		gw := start(t, "gateway", gwLog, bin, "run", "--config", cfgPath, "--now", clock())
		// Kill while it works: once it has had new messages accepted
		// (after a kill the group takes a session timeout to hand the
		// partitions over), at a random moment within half a second.
		for wait := time.Now().Add(20 * time.Second); time.Now().Before(wait) && view.accepted() <= before; {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		if gw.exited() {
			t.Fatalf("gateway exited by itself (run %d):\n%s", i, tail(gwLog, 30))
		}
		gw.kill()
		kills++
		if i == killRuns/2-1 {
			br.kill()
			time.Sleep(300 * time.Millisecond)
			br = startBroker(t, bin, brokerAddr, brokerData, brokerLog)
		}
	}
	if err := <-pubDone; err != nil {
		t.Fatalf("publish: %v", err)
	}
	t.Logf("gateway killed %d times, broker once", kills)

	// A last gateway finishes the work.
	gw := start(t, "gateway", gwLog, bin, "run", "--config", cfgPath, "--now", clock())
	states := settle(t, ctx, view, brokerAddr, func() bool { return !gw.exited() }, gwLog, 3*time.Minute)
	if err := gw.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	t.Logf("ledger states: %v", states)
	interrupted := countLines(gwLog, "submits interrupted by the last stop")
	t.Logf("restarts that found interrupted submits: %d", interrupted)
	if interrupted == 0 {
		t.Errorf("no kill landed while a submit was in flight: the test proved nothing")
	}
	checkExactlyOnce(t, view, sims, expectedKeys(t, seed, base, events))
	if t.Failed() {
		t.Logf("gateway log tail:\n%s", tail(gwLog, 60))
	}
}
