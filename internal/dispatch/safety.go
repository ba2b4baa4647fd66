package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
)

// Reasons of the safety nets.
const (
	ReasonIDConflict       = "id_conflict"         // dead-letter reason: an event id reused with different content
	ReasonAudienceTooLarge = "audience_over_limit" // held: an advisory reaching more recipients than safety.max_audience
)

// ErrIDConflict is the error of a record rejected as id_conflict.
var ErrIDConflict = errors.New("dispatch: event id already used for an event with different content")

// ContentChecker checks a rendered text before it becomes a message
// (contentcheck.Checker): "" passes, anything else is the reason to hold it.
type ContentChecker interface {
	Check(text string) string
}

// EventRecorder stores event content hashes (the ledger's RecordEvents).
type EventRecorder interface {
	RecordEvents(ctx context.Context, hs []ledger.EventHash) (map[string]string, error)
}

// Pinger checks that the ledger takes writes.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Safety configures the pipeline's safety nets; the zero value turns
// them off.
type Safety struct {
	Content     ContentChecker // nil: no content check
	MaxAudience int            // an advisory decision reaching more recipients is held; 0: no limit
	Events      EventRecorder  // nil: no id-conflict check
	Pinger      Pinger         // Probe's health check; nil: always healthy
	Metrics     *SafetyMetrics
}

// SafetyMetrics count what the safety nets stopped.
type SafetyMetrics struct {
	held        *prometheus.CounterVec
	idConflicts prometheus.Counter
}

// NewSafetyMetrics registers the safety metrics with reg (nil: unregistered).
func NewSafetyMetrics(reg prometheus.Registerer, reasons []string) *SafetyMetrics {
	f := promauto.With(reg)
	m := &SafetyMetrics{
		held: f.NewCounterVec(prometheus.CounterOpts{Name: "smsgw_messages_held_total",
			Help: "Messages held for an operator instead of sent, by reason (content_* from the content check, audience_over_limit)."}, []string{"reason"}),
		idConflicts: f.NewCounter(prometheus.CounterOpts{Name: "smsgw_event_id_conflicts_total",
			Help: "Events whose id was already used for an event with different content (dead-lettered as id_conflict)."}),
	}
	for _, r := range append(reasons, ReasonAudienceTooLarge) {
		m.held.WithLabelValues(r)
	}
	return m
}

// Probe implements ingest.Prober: the ledger takes writes.
func (p *Pipeline) Probe(ctx context.Context) error {
	if p.cfg.Safety.Pinger == nil {
		return nil
	}
	return p.cfg.Safety.Pinger.Ping(ctx)
}

var _ ingest.Prober = (*Pipeline)(nil)

// eventHash is the hash of an event's content: its canonical encoding, so
// a redelivered or re-serialised copy has the same hash.
func eventHash(e *event.Event) string {
	b, err := event.Encode(e)
	if err != nil {
		b = []byte(e.ID) // cannot happen for a decoded event
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// conflicts records the content hashes of the batch's events that made
// decisions and returns a RejectError for the records whose id was used
// before for other content (nil when none).
func (p *Pipeline) conflicts(ctx context.Context, batch []ingest.Record, decided []int) error {
	if p.cfg.Safety.Events == nil || len(decided) == 0 {
		return nil
	}
	hs := make([]ledger.EventHash, len(decided))
	for i, idx := range decided {
		hs[i] = ledger.EventHash{EventID: batch[idx].Event.ID, Hash: eventHash(batch[idx].Event)}
	}
	stored, err := p.cfg.Safety.Events.RecordEvents(ctx, hs)
	if err != nil {
		return err
	}
	var rj ingest.RejectError
	for i, idx := range decided {
		if stored[hs[i].EventID] != hs[i].Hash {
			rj.Rejected = append(rj.Rejected, ingest.Rejection{Index: idx, Reason: ReasonIDConflict, Err: ErrIDConflict})
			if m := p.cfg.Safety.Metrics; m != nil {
				m.idConflicts.Inc()
			}
		}
	}
	if len(rj.Rejected) == 0 {
		return nil
	}
	p.cfg.Logger.Warn("event ids reused with different content; dead-lettered", "records", len(rj.Rejected))
	return &rj
}

// hold holds the candidates policy let through whose text fails the
// content check, or that belong to an audience over the limit (crowd).
func (p *Pipeline) hold(cands []policy.Candidate, crowd map[int]bool) {
	sf := &p.cfg.Safety
	if sf.Content == nil && len(crowd) == 0 {
		return
	}
	verdict := map[string]string{} // an advisory's text is checked once for all its recipients
	for i := range cands {
		msg := cands[i].Msg
		if msg.State != message.StateQueued && msg.State != message.StateScheduled {
			continue
		}
		reason := ""
		if sf.Content != nil {
			r, ok := verdict[msg.Text]
			if !ok {
				r = sf.Content.Check(msg.Text)
				verdict[msg.Text] = r
			}
			reason = r
		}
		if reason == "" && crowd[i] {
			reason = ReasonAudienceTooLarge
		}
		if reason != "" {
			msg.State, msg.Reason = message.StateHeld, reason
		}
	}
}

// countHeld counts the held messages the batch created (not those an
// earlier delivery created).
func (p *Pipeline) countHeld(msgs []*message.Message, created func(*message.Message) bool) {
	m := p.cfg.Safety.Metrics
	if m == nil {
		return
	}
	n := 0
	for _, msg := range msgs {
		if msg.State == message.StateHeld && created(msg) {
			m.held.WithLabelValues(msg.Reason).Inc()
			n++
		}
	}
	if n > 0 {
		p.cfg.Logger.Warn("messages held for an operator (smsgw held list)", "messages", n)
	}
}

// audienceNote is the log note of an advisory over the audience limit.
func audienceNote(n, limit int) string {
	return strconv.Itoa(n) + " recipients, limit " + strconv.Itoa(limit)
}
