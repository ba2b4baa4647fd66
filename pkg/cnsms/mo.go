package cnsms

import (
	"context"
	"log/slog"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// MOJoiner hands a client's MO messages to its OnMessage, joining
// multi-part ones first (Reassembler): M is the protocol's Incoming.
// Each part is acked once held; the part that completes a message gets
// OnMessage's answer, and if that is an error the other parts are put
// back so the redelivered part completes it again. Messages still
// incomplete after the TTL, evicted, or held at shutdown are delivered
// marked partial; one OnMessage refuses then is dropped and counted.
type MOJoiner[M any] struct {
	r   *Reassembler
	ttl time.Duration
	cfg MOJoinerConfig[M]
}

// MOJoinerConfig configures an MOJoiner.
type MOJoinerConfig[M any] struct {
	TTL        time.Duration // 0: DefaultMOTTL
	MaxPending int
	OnMessage  func(context.Context, M) error
	// Join sets m's content to data (parts joined), its part count and
	// its partial mark, and decodes its text.
	Join func(m *M, data []byte, parts int, partial bool)
	// Source is m's handset, for logs (masked).
	Source  func(m *M) string
	Metrics *CarrierMetrics
	Logger  *slog.Logger
}

// NewMOJoiner returns a joiner for cfg.
func NewMOJoiner[M any](cfg MOJoinerConfig[M]) *MOJoiner[M] {
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = DefaultMOTTL
	}
	return &MOJoiner[M]{r: NewReassembler(cfg.TTL, cfg.MaxPending, cfg.Metrics), ttl: ttl, cfg: cfg}
}

// Deliver hands m to OnMessage: data is its content without the UDH,
// udh its header (zero when none), k its source and destination. A part
// of a longer message is held (nil: ack it) until its message is
// complete. With no OnMessage every message is acked and dropped.
func (j *MOJoiner[M]) Deliver(ctx context.Context, k MOKey, udh coding.UDH, data []byte, m M) error {
	if j.cfg.OnMessage == nil {
		return nil
	}
	if !udh.Concat || udh.Total <= 1 {
		j.cfg.Join(&m, data, 1, false)
		return j.cfg.OnMessage(ctx, m)
	}
	k.Ref, k.Total = udh.Ref, udh.Total
	whole, complete, _, undo := j.r.Add(k, udh.Seq, data, m)
	if !complete {
		return nil // held (acked) or a duplicate
	}
	j.cfg.Join(&m, whole, int(udh.Total), false)
	err := j.cfg.OnMessage(ctx, m)
	if err != nil {
		undo() // the redelivered last part completes it again
	}
	return err
}

// Run delivers the messages given up on (TTL passed) until ctx ends.
func (j *MOJoiner[M]) Run(ctx context.Context) {
	t := time.NewTicker(min(j.ttl/10, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			j.Flush(ctx, now)
		}
	}
}

// Flush hands OnMessage the messages expired at now, marked partial;
// one it refuses is dropped (the gateway was acked part by part). At
// shutdown, a time far ahead flushes everything held.
func (j *MOJoiner[M]) Flush(ctx context.Context, now time.Time) {
	for _, p := range j.r.Expired(now) {
		m, ok := p.Meta.(M)
		if !ok || j.cfg.OnMessage == nil {
			continue
		}
		j.cfg.Join(&m, p.Data, p.Parts, true)
		if err := j.cfg.OnMessage(ctx, m); err != nil {
			j.cfg.Metrics.MOPart("dropped")
			j.cfg.Logger.Warn("partial MO dropped", "from", MaskNumber(j.cfg.Source(&m)), "parts", p.Parts, "err", err)
			continue
		}
		j.cfg.Metrics.MOPart("partial")
	}
}

// Pending is the number of multi-part messages awaiting parts.
func (j *MOJoiner[M]) Pending() int { return j.r.Pending() }
