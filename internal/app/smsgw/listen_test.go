package smsgw

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/broker"
	carriersgip "github.com/traffic12123/gateway/internal/carrier/sgip"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/eventgen"
)

// TestCarrierListenPortInUse: an SGIP carrier whose listen port is taken
// stops the gateway's start with the carrier and the reason. It used to
// start anyway, with that carrier's binds up and nowhere for the SMG to
// deliver its reports (a CI run, 2026-12-03, where the port of a test's
// gateway was taken in the seconds before it started).
func TestCarrierListenPortInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	topics := map[string]int{"events.dlq": 1, "sms.status": 1}
	for _, tp := range eventgen.TopicNames() {
		topics[tp] = 1
	}
	b, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cfg := config.Default()
	cfg.Instance = "listen-test"
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(dir, "ledger.db")
	cfg.Rules.Dir = filepath.Join(repoRoot, "rules")
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.Carriers = []config.Carrier{{
		Name: "china_unicom", Addr: "127.0.0.1:1", Protocol: carriersgip.Name, Source: "1065512123", Password: "pw", Binds: 1, Window: 16,
		ResponseTimeout: config.Duration(time.Second),
		Sections: carriersgip.Sections(carriersgip.Section{Login: "sp12123", NodeID: 3053112123, Listen: busy.Addr().String(),
			SMGLogin: "unicom", SMGPassword: "smgpw"}),
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(ctx, Options{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(ctx)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "carrier china_unicom") {
		t.Fatalf("Run: %v; want the start stopped: carrier china_unicom, address in use", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned only when the test's time ran out")
	}
}
