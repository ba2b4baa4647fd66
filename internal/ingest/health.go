package ingest

import (
	"context"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// health is what the consumer knows about its own progress, for /readyz
// and for the lag metrics that must stay right while a partition is
// stalled (the fetch-side lag stops updating then).
type health struct {
	progress    time.Time // last commit, or last time the group had no lag
	committed   int64     // the group's committed lag at the last look; -1 unknown
	brokerErr   error     // the last look at the brokers failed
	brokerSince time.Time // since when the looks fail
}

// progressed records a successful commit.
func (c *Consumer) progressed() {
	now := time.Now()
	c.mu.Lock()
	c.health.progress = now
	c.mu.Unlock()
	c.m.LastProgress.Set(float64(now.UnixNano()) / 1e9)
}

// watchLag reads the group's committed lag from the brokers every
// LagEvery, so the lag gauge is right even when nothing is fetched (a
// stalled handler) and a broker that cannot be reached is noticed.
func (c *Consumer) watchLag(ctx context.Context) {
	c.m.LastProgress.Set(float64(time.Now().UnixNano()) / 1e9)
	t := time.NewTicker(c.cfg.LagEvery)
	defer t.Stop()
	tr := Transport(c.cfg.TLS, c.cfg.SASL) // one connection pool for every look
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 5 * time.Second, Transport: tr}
	for {
		c.lookLag(ctx, cl)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Consumer) lookLag(ctx context.Context, cl *kafka.Client) {
	lctx, cancel := context.WithTimeout(ctx, max(c.cfg.LagEvery, 5*time.Second))
	defer cancel()
	per, err := groupLagPerTopic(lctx, cl, c.cfg.GroupID, c.cfg.Topics)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.health.brokerErr == nil {
			c.health.brokerSince = now
		}
		c.health.brokerErr = err
		c.m.BrokerUp.Set(0)
		return
	}
	c.health.brokerErr = nil
	c.m.BrokerUp.Set(1)
	var total int64
	for _, t := range c.cfg.Topics {
		c.m.CommittedLag.WithLabelValues(t).Set(float64(per[t]))
		total += per[t]
	}
	c.health.committed = total
	if total == 0 {
		c.health.progress = now
		c.m.LastProgress.Set(float64(now.UnixNano()) / 1e9)
	}
	stalled := total > 0 && now.Sub(c.health.progress) > c.cfg.StallAfter
	c.m.Stalled.Set(b2f(stalled))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Health says whether the consumer is making progress: an error when the
// brokers could not be reached for longer than LagEvery twice, or when the
// group has committed lag and nothing was committed for StallAfter.
func (c *Consumer) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.health.brokerErr != nil && now.Sub(c.health.brokerSince) >= 2*c.cfg.LagEvery {
		return errBroker{c.health.brokerErr}
	}
	if c.health.committed > 0 && now.Sub(c.health.progress) > c.cfg.StallAfter {
		return errStalled{lag: c.health.committed, since: c.health.progress}
	}
	return nil
}

// CommittedLag is the group's committed lag at the last look (-1 before
// the first).
func (c *Consumer) CommittedLag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health.committed
}

type errBroker struct{ err error }

func (e errBroker) Error() string { return "brokers unreachable: " + e.err.Error() }

type errStalled struct {
	lag   int64
	since time.Time
}

func (e errStalled) Error() string {
	return "consumption stalled: " + strconv.FormatInt(e.lag, 10) + " records behind, no commit since " + e.since.UTC().Format(time.RFC3339)
}

// groupLagPerTopic is GroupLag per topic.
func groupLagPerTopic(ctx context.Context, c *kafka.Client, group string, topics []string) (map[string]int64, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	parts := map[string][]int{}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		if t.Error != nil {
			continue // not created yet: no lag
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	out := map[string]int64{}
	if len(req) == 0 {
		return out, nil
	}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, err
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return nil, err
	}
	if committed.Error != nil {
		return nil, committed.Error
	}
	for t, ps := range ends.Topics {
		done := map[int]int64{}
		for _, p := range committed.Topics[t] {
			done[p.Partition] = p.CommittedOffset
		}
		for _, p := range ps {
			if p.Error != nil {
				return nil, p.Error
			}
			out[t] += max(p.LastOffset-max(done[p.Partition], 0), 0)
		}
	}
	return out, nil
}
