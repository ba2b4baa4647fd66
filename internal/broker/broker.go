// Package broker runs an embedded Kafka-protocol broker (franz-go's kfake)
// for the demo, tests and single-box deployments: one node on a chosen
// address, topics seeded with their partition counts, and with a DataDir
// everything (records, committed offsets) survives a restart. It is not a
// production Kafka: no replication, no quotas, no tuning; deploy/ has a real
// Kafka for that. Producing and consuming are left to internal/ingest and
// internal/eventgen, which speak to it like to any Kafka.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultMinSessionTimeout is the smallest consumer-group session timeout
// the broker accepts unless Config says otherwise; real Kafka's 6 s floor
// makes rebalances in tests and the demo needlessly slow.
const DefaultMinSessionTimeout = 100 * time.Millisecond

// Config configures Start.
type Config struct {
	Addr              string         // listen address; default "127.0.0.1:0"
	DataDir           string         // persist records and offsets here; empty: memory only (grows without bound)
	Topics            map[string]int // topic -> partitions, created if missing (also after a restart; an existing topic keeps its partition count)
	MinSessionTimeout time.Duration  // default DefaultMinSessionTimeout
	SyncWrites        bool           // fsync every produced batch (about 20 % slower)
	// Users, when set, turns SASL authentication on: user -> password,
	// accepted with PLAIN and SCRAM-SHA-256/512. Clients then need them.
	Users  map[string]string
	Logger *slog.Logger
}

// Broker is a running embedded broker.
type Broker struct {
	c     *kfake.Cluster
	log   *slog.Logger
	admin sasl.Mechanism // credentials of the broker's own admin client, when SASL is on
}

// Start starts the broker, creates the configured topics that do not exist
// yet (a DataDir's own topics are reloaded as they were), and returns once
// it answers on Addrs. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = DefaultMinSessionTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "broker")
	for name, n := range cfg.Topics {
		if name == "" || n < 1 {
			return nil, fmt.Errorf("broker: topic %q: %w", name, ErrBadTopic)
		}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, cfg.Addr) }),
		kfake.WithLogger(logger{log}),
		kfake.GroupMinSessionTimeout(cfg.MinSessionTimeout),
		kfake.ClusterID("gateway"),
	}
	if cfg.DataDir != "" {
		// kfake creates its files 0644 in 0755 directories: a 0700 data
		// directory keeps them (phone numbers, ID numbers) from other users.
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("broker: data dir: %w", err)
		}
		if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("broker: data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	for name, n := range cfg.Topics {
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	var admin sasl.Mechanism
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for u, pw := range cfg.Users {
			for _, m := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
				opts = append(opts, kfake.Superuser(m, u, pw))
			}
			admin = plain.Mechanism{Username: u, Password: pw}
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	b := &Broker{c: c, log: log, admin: admin}
	if err := b.ensureTopics(ctx, cfg.Topics); err != nil {
		c.Close()
		return nil, err
	}
	log.Info("broker started", "addrs", b.Addrs(), "data_dir", cfg.DataDir, "topics", len(cfg.Topics))
	return b, nil
}

// ensureTopics creates the topics a reloaded DataDir does not have (kfake
// seeds topics only into an empty directory).
func (b *Broker) ensureTopics(ctx context.Context, topics map[string]int) error {
	if len(topics) == 0 {
		return nil
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	req := &kafka.CreateTopicsRequest{}
	for _, name := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: topics[name], ReplicationFactor: 1})
	}
	cl := &kafka.Client{Addr: kafka.TCP(b.Addrs()...), Timeout: 10 * time.Second}
	if b.admin != nil {
		cl.Transport = &kafka.Transport{SASL: b.admin}
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("broker: create topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("broker: create topic %s: %w", name, err)
		}
	}
	return nil
}

// Addrs returns the broker's host:port, for kafka-go's Brokers lists.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker, persisting its state when it has a DataDir. Close
// the clients first: a consumer left connected idles until its session
// expires.
func (b *Broker) Close() {
	b.c.Close()
	b.log.Info("broker stopped")
}

type logger struct{ l *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lv slog.Level
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	case kfake.LogLevelNone:
		return
	default: // kfake logs every request at Info
		lv = slog.LevelDebug
	}
	if !l.l.Enabled(context.Background(), lv) {
		return
	}
	l.l.Log(context.Background(), lv, fmt.Sprintf(format, args...))
}
