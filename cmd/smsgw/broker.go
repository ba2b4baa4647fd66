package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/traffic12123/gateway/internal/broker"
)

// cmdBroker runs the embedded Kafka-protocol broker (kfake) on its own,
// for a single machine without a Kafka cluster and for tests that need to
// kill the broker separately from the gateway. It prints its address on
// stdout once it answers.
func cmdBroker(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9092", "listen address")
	data := fs.String("data", "data/kafka", "data directory (records and committed offsets survive restarts)")
	topics := fs.String("topics", "events.licence:12,events.vehicle:12,events.violation:12,events.advisory:4,events.dlq:1,sms.status:12",
		"topics to create if missing, name:partitions,...")
	sync := fs.Bool("sync", false, "fsync every produced batch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ts, err := parseTopics(*topics)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := broker.Start(startCtx, broker.Config{Addr: *listen, DataDir: *data, Topics: ts, SyncWrites: *sync, Logger: newLogger(stderr, "text", "warn")})
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintln(stdout, strings.Join(b.Addrs(), ","))
	<-ctx.Done()
	return nil
}

func parseTopics(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, n, ok := strings.Cut(part, ":")
		p, err := strconv.Atoi(n)
		if !ok || err != nil || p <= 0 || name == "" {
			return nil, fmt.Errorf("--topics: %q is not name:partitions", part)
		}
		out[name] = p
	}
	return out, nil
}
