// Package cdr publishes the IVR's call detail records: to Kafka (topic
// ivr.cdr by default, one JSON record per call keyed by call id) and to
// several sinks at once. Storing them is internal/records' job.
package cdr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// DefaultTopic is where call records go.
const DefaultTopic = "ivr.cdr"

// Kafka writes call records to a topic.
type Kafka struct {
	w *kafka.Writer
}

var _ ivr.CDRSink = (*Kafka)(nil)

// NewKafka returns a sink writing to topic on brokers.
func NewKafka(brokers []string, topic string) *Kafka {
	if topic == "" {
		topic = DefaultTopic
	}
	return &Kafka{w: &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}}
}

// Record writes one call record and waits for the broker.
func (k *Kafka) Record(ctx context.Context, c ivr.CDR) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("cdr encode: %w", err)
	}
	if err := k.w.WriteMessages(ctx, kafka.Message{Key: []byte(c.CallID), Value: v}); err != nil {
		return fmt.Errorf("cdr publish: %w", err)
	}
	return nil
}

// Close flushes and closes the writer.
func (k *Kafka) Close() error { return k.w.Close() }

// Multi records to every sink; all are tried, errors joined.
type Multi []ivr.CDRSink

// Record calls Record on each sink.
func (m Multi) Record(ctx context.Context, c ivr.CDR) error {
	var errs []error
	for _, s := range m {
		if err := s.Record(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
