package ingest

import (
	"context"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupLag is how many records of topics the consumer group has not
// committed yet, summed over their partitions: 0 means everything
// published so far was handled. It asks the brokers directly, so it works
// from another process than the consumers'.
func GroupLag(ctx context.Context, brokers []string, group string, topics []string) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, err
	}
	parts := map[string][]int{}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
			req[t.Name] = append(req[t.Name], kafka.LastOffsetOf(p.ID))
		}
	}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return 0, err
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil {
		return 0, err
	}
	if committed.Error != nil {
		return 0, committed.Error
	}
	var lag int64
	for t, ps := range ends.Topics {
		done := map[int]int64{}
		for _, p := range committed.Topics[t] {
			done[p.Partition] = p.CommittedOffset
		}
		for _, p := range ps {
			if p.Error != nil {
				return 0, p.Error
			}
			c := max(done[p.Partition], 0)
			lag += max(p.LastOffset-c, 0)
		}
	}
	return lag, nil
}
