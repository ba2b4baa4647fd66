package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/broker"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// TestRebalance runs two gateways in one consumer group on one PostgreSQL
// ledger and kills one in the middle of the load, never to return: the
// other takes its partitions over (Kafka) and its claims (the claim
// lease), and in the end every message went out exactly once.
func TestRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level rebalance test")
	}
	dsn := postgresSchema(t)
	bin, dir, base, clock, ctx := setup(t)

	topics := map[string]int{"events.dlq": 1, "sms.status": 4}
	for _, n := range eventgen.TopicNames() {
		topics[n] = 6
	}
	b, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokerAddr := b.Addrs()[0]
	sims := simulators(t, 300*time.Millisecond, smscFaultsSlow())

	cfgA := gatewayConfig(t, dir, "gw-a", brokerAddr, dsn, sims)
	cfgB := gatewayConfig(t, dir, "gw-b", brokerAddr, dsn, sims)
	logA, logB := filepath.Join(dir, "gw-a.log"), filepath.Join(dir, "gw-b.log")
	a := start(t, "gw-a", logA, bin, "run", "--config", cfgA, "--now", clock())
	gb := start(t, "gw-b", logB, bin, "run", "--config", cfgB, "--now", clock())

	const events = 2400
	seed := int64(1212301)
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- publish(ctx, brokerAddr, eventgen.New(seed, base), events, 40, 400*time.Millisecond)
	}()

	view := openViewDSN(t, "pgx", dsn)
	// Kill gw-a once both have been working for a while.
	for wait := time.Now().Add(60 * time.Second); time.Now().Before(wait) && view.accepted() < 600; {
		time.Sleep(50 * time.Millisecond)
	}
	if a.exited() || gb.exited() {
		t.Fatalf("a gateway exited early:\n%s\n%s", tail(logA, 20), tail(logB, 20))
	}
	a.kill()
	t.Logf("gw-a killed with %d messages accepted", view.accepted())
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	states := settle(t, ctx, view, brokerAddr, func() bool { return !gb.exited() }, logB, 3*time.Minute)
	t.Logf("ledger states: %v", states)
	if err := gb.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	t.Logf("gw-b took over expired claims %d times", countLines(logB, "claims of a stopped instance expired"))
	if countLines(logA, "smsgw started") == 0 {
		t.Errorf("gw-a never started")
	}
	checkExactlyOnce(t, view, sims, expectedKeys(t, seed, base, events))
	if t.Failed() {
		t.Logf("gw-b log tail:\n%s", tail(logB, 60))
	}
}
