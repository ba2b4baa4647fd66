package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/traffic12123/gateway/internal/directory"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
)

// Reasons for messages the pipeline itself does not let through; policy
// adds its own (policy.Reasons).
const (
	ReasonInvalidRecipient = "invalid_recipient" // a malformed phone number in the event
	ReasonNoRecipient      = "no_recipient"      // the rule matched but the event gave no phone (or no regions)
	ReasonUnroutable       = "unroutable"        // no carrier for the number
	ReasonNoCarrier        = "carrier_not_configured"
)

// Evaluator is a compiled rules set.
type Evaluator interface {
	Evaluate(ev *event.Event, now time.Time) (rules.Result, error)
}

// Router maps a number to its carrier.
type Router interface {
	Route(number string) (route.Carrier, error)
}

// Intake is the part of the ledger the pipeline writes to.
type Intake interface {
	Insert(ctx context.Context, msgs []*message.Message) error
	Cancel(ctx context.Context, cancelKeys []string, reason string) (int, error)
}

// Directory is the contacts directory (directory.Writer): Add queues a
// batch's contacts, Wait returns once they are as durable as the directory
// promises, ContactsInRegions is an advisory's audience and includes every
// contact added before it.
type Directory interface {
	Add(ctx context.Context, cs []ledger.Contact) (directory.Ticket, error)
	Wait(ctx context.Context, t directory.Ticket) error
	ContactsInRegions(ctx context.Context, regions []string, fn func(phone string) error) error
}

var _ Directory = (*directory.Writer)(nil)

// PipelineConfig wires a Pipeline.
type PipelineConfig struct {
	Rules     *atomic.Pointer[Evaluator] // swapped on reload; each batch uses one set throughout
	Policy    *policy.Policy
	Router    Router
	Ledger    Intake
	Directory Directory
	Carriers  map[route.Carrier]bool // carriers that have an account configured
	Source    string                 // source address, default "12123"
	Now       func() time.Time
	Wake      func() // tells the sender that new messages are due
	Safety    Safety // content check, audience limit, id conflicts (safety.go)
	// NoFallbackCalls: this gateway places no calls (no voice.trunk), so
	// a rule's fallback plan is dropped instead of arming a call nothing
	// would ever settle (it would keep its message from being pruned).
	// Voice-only plans are kept: their calls wait in the ledger.
	NoFallbackCalls bool
	Logger          *slog.Logger
	Metrics         *Metrics
}

// Pipeline turns batches of events into messages in the ledger. It is
// the ingest.Handler: when Handle returns nil, every message the batch
// produced is durable, and the offsets may be committed.
type Pipeline struct {
	cfg    PipelineConfig
	states ledger.StateStore // nil: the ledger keeps no states (no re-check, no inhibition of earlier batches)
}

var _ ingest.Handler = (*Pipeline)(nil)

// NewPipeline returns a pipeline.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	if cfg.Source == "" {
		cfg.Source = "12123"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, _ := cfg.Ledger.(ledger.StateStore)
	return &Pipeline{cfg: cfg, states: st}
}

// Handle evaluates every event of the batch against one rules set,
// applies policy, routes, and stores the resulting messages in one ledger
// transaction. Any error leaves nothing half-done that a retry of the same
// batch would duplicate. The batch's contacts go to the Directory, whose
// Wait says how durable they are when Handle returns (directory.Config.Sync).
func (p *Pipeline) Handle(ctx context.Context, batch []ingest.Record) error {
	now := p.cfg.Now()
	ev := *p.cfg.Rules.Load()
	m := p.cfg.Metrics
	var (
		cands    []policy.Candidate
		cancels  []string
		contacts []ledger.Contact
		inhs     []ledger.Inhibition
		evs      = make([]*event.Event, 0, len(batch))
		due      bool         // a message to send now: the sender is woken once the batch's states and cancellations are stored
		decided  []int        // records that made decisions (their ids are checked for conflicts)
		crowd    map[int]bool // candidates of an audience over Safety.MaxAudience
	)
	for i := range batch {
		e := batch[i].Event
		evs = append(evs, e)
		contacts = appendContacts(contacts, e)
		res, err := ev.Evaluate(e, now)
		if err != nil {
			// A rule that fails at run time on a valid event is an
			// operator's bug: the batch is retried (the failure shows in
			// metrics and logs); if the event keeps failing alone while
			// the ledger is healthy, the consumer dead-letters it as
			// unprocessable (ingest) so it cannot stall its partition.
			m.ruleErrors.Inc()
			// The error names the type, not the id: an id may carry a
			// licence number (the record's position is in the consumer's log).
			return fmt.Errorf("dispatch: evaluate a %s event: %w", e.Type, err)
		}
		for _, c := range res.Cancels {
			cancels = append(cancels, c.CancelKey)
		}
		for _, s := range res.Skipped {
			m.skipped.WithLabelValues(s.RuleID, s.Reason).Inc()
			if s.Reason == rules.SkipNoRecipient {
				cands = append(cands, noRecipient(e, s.RuleID, now))
			}
		}
		if len(res.Decisions) > 0 {
			decided = append(decided, i)
		}
		for j := range res.Decisions {
			d := &res.Decisions[j]
			m.fired.WithLabelValues(d.RuleID).Inc()
			inhs = append(inhs, inhibitions(d)...)
			if len(d.Regions) > 0 {
				first := len(cands)
				if err := p.cfg.Directory.ContactsInRegions(ctx, d.Regions, func(phone string) error {
					cands = append(cands, p.candidate(e, d, phone, now))
					return nil
				}); err != nil {
					return fmt.Errorf("dispatch: audience of %s: %w", d.RuleID, err)
				}
				if n, limit := len(cands)-first, p.cfg.Safety.MaxAudience; limit > 0 && n > limit {
					p.cfg.Logger.Warn("advisory audience over the limit: held for approval", "rule", d.RuleID, "audience", audienceNote(n, limit))
					if crowd == nil {
						crowd = map[int]bool{}
					}
					for j := first; j < len(cands); j++ {
						crowd[j] = true
					}
				}
				continue
			}
			cands = append(cands, p.candidate(e, d, d.Recipient, now))
		}
	}
	// An id reused with different content: reject those records (they go
	// to the DLQ) before anything of the batch is stored.
	if err := p.conflicts(ctx, batch, decided); err != nil {
		return err
	}
	// An advisory reaches the contacts of earlier batches (the directory
	// flushes its queue first), as when each batch wrote its own. A Sync
	// directory stores these while the messages are.
	ticket, err := p.cfg.Directory.Add(ctx, contacts)
	if err != nil {
		return fmt.Errorf("dispatch: contacts: %w", err)
	}
	if err := p.cancelInhibited(ctx, inhs); err != nil {
		return err
	}
	inhibitInBatch(cands, inhs)
	if len(cands) > 0 {
		if err := p.cfg.Policy.ApplyCaps(ctx, cands, now, setCaps(ev)); err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		p.hold(cands, crowd)
		voiceOnly(cands)
		msgs := make([]*message.Message, len(cands))
		keep := map[string]bool{}
		for i, c := range cands {
			msgs[i] = c.Msg
			if c.Msg.Entity != "" && (c.Msg.State == message.StateQueued || c.Msg.State == message.StateScheduled) {
				keep[c.Msg.Entity] = true
			}
		}
		// The newest states first: once inserted, a message can be claimed
		// at once, and its re-check must see a snapshot of this batch that
		// resolves it.
		if err := p.putStates(ctx, evs, keep); err != nil {
			return err
		}
		start := time.Now()
		if err := p.cfg.Ledger.Insert(ctx, msgs); err != nil {
			return fmt.Errorf("dispatch: store %d messages: %w", len(msgs), err)
		}
		m.ledgerSeconds.WithLabelValues("insert").Observe(time.Since(start).Seconds())
		p.countHeld(msgs, func(msg *message.Message) bool { return msg.CreatedAt.Equal(now) })
		for _, msg := range msgs {
			if !msg.CreatedAt.Equal(now) {
				m.duplicates.Inc() // an earlier delivery of this event stored it already
				continue
			}
			m.created.WithLabelValues(string(msg.State)).Inc()
			if msg.State == message.StateSuppressed {
				m.suppressed.WithLabelValues(msg.Reason).Inc()
			}
			due = due || msg.State == message.StateQueued
		}
	}
	if len(cands) == 0 {
		if err := p.putStates(ctx, evs, nil); err != nil {
			return err
		}
	}
	if len(cancels) > 0 {
		n, err := p.cfg.Ledger.Cancel(ctx, cancels, rules.ReasonCancelOn)
		if err != nil {
			return fmt.Errorf("dispatch: cancel: %w", err)
		}
		m.cancelled.Add(float64(n))
	}
	if due {
		p.cfg.Wake()
	}
	if err := p.cfg.Directory.Wait(ctx, ticket); err != nil {
		return fmt.Errorf("dispatch: contacts: %w", err)
	}
	return nil
}

// candidate builds the message of one decision for one recipient.
func (p *Pipeline) candidate(e *event.Event, d *rules.Decision, phone string, now time.Time) policy.Candidate {
	msg := &message.Message{
		EventID:   e.ID,
		EventType: string(e.Type),
		Entity:    e.Entity(),
		RuleID:    d.RuleID,
		Template:  d.Template,
		Priority:  d.Priority,
		Urgent:    d.Urgent,
		Source:    p.cfg.Source,
		Text:      d.Text,
		Encoding:  d.Encoding,
		Segments:  d.Segments,
		NotBefore: d.NotBefore,
		ExpiresAt: d.ExpiresAt,
		CancelKey: d.CancelKey,
		CreatedAt: now,
		State:     message.StateQueued,
		Voice:     cloneVoice(d.Voice),
	}
	if p.cfg.NoFallbackCalls && msg.Voice != nil && !msg.Voice.Only {
		msg.Voice = nil
	}
	if msg.NotBefore.After(now) {
		msg.State = message.StateScheduled
	} else {
		msg.NotBefore = now
	}
	n, err := route.Normalize(phone)
	if err != nil {
		msg.Recipient = phone
		msg.Key = message.Key(e.ID, d.RuleID, phone)
		msg.State, msg.Reason = message.StateSuppressed, ReasonInvalidRecipient
		return policy.Candidate{Msg: msg}
	}
	msg.Recipient = n
	msg.Key = message.Key(e.ID, d.RuleID, n)
	if d.DedupeKey != "" {
		// dedupe is "do not tell this person the same thing twice"
		msg.DedupeKey = d.DedupeKey + "|" + n
	}
	c, err := p.cfg.Router.Route(n)
	switch {
	case d.InhibitedBy != "": // a more severe reminder of the same event says it all
		msg.Carrier = string(c)
		msg.State, msg.Reason = message.StateSuppressed, rules.InhibitedReason(d.InhibitedBy)
	case msg.Voice != nil && msg.Voice.Only: // no SMS to route: the call does not need a carrier
		if err == nil {
			msg.Carrier = string(c)
		}
	case err != nil: // ErrUnroutable: no carrier data and no fallback
		msg.State, msg.Reason = message.StateFailed, ReasonUnroutable
	case !p.cfg.Carriers[c]:
		msg.Carrier = string(c)
		msg.State, msg.Reason = message.StateFailed, ReasonNoCarrier
	default:
		msg.Carrier = string(c)
	}
	return policy.Candidate{Msg: msg, DedupeWindow: d.DedupeWindow}
}

// cloneVoice copies a decision's voice plan for one message (an audience
// decision would otherwise share it between its recipients' messages).
func cloneVoice(v *message.Voice) *message.Voice {
	if v == nil {
		return nil
	}
	c := *v
	c.Say = slices.Clone(v.Say)
	return &c
}

// voiceOnly stores the message of a voice-only rule suppressed with
// reason voice_only once policy and the safety nets let it through (it
// would otherwise be queued or scheduled): it keeps its voice plan, and
// the ledger queues the call for NotBefore. One stopped for another
// reason (opt-out, dedupe, caps, inhibited, held) keeps that state and
// reason, and its plan: the ledger decides about its call as for any
// message.
func voiceOnly(cands []policy.Candidate) {
	for _, c := range cands {
		m := c.Msg
		if m.Voice != nil && m.Voice.Only && (m.State == message.StateQueued || m.State == message.StateScheduled) {
			m.State, m.Reason = message.StateSuppressed, message.ReasonVoiceOnly
		}
	}
}

// appendContacts records who can be reached in which region, for
// region-targeted advisories: every person seen with a phone and a region,
// from any event type (a driver known only from violations too).
func appendContacts(cs []ledger.Contact, e *event.Event) []ledger.Contact {
	add := func(phone, region, entity string) {
		if n, err := route.Normalize(phone); err == nil && len(region) == 6 {
			cs = append(cs, ledger.Contact{Phone: n, Region: region, Entity: entity})
		}
	}
	switch {
	case e.ViolationRecorded != nil:
		v := &e.ViolationRecorded.Vehicle
		add(v.Phone, v.Region, v.Plate)
	case e.ViolationProcessed != nil:
		l := &e.ViolationProcessed.Licence
		add(l.Phone, l.Region, l.Number)
	case e.LicenceSnapshot != nil:
		l := &e.LicenceSnapshot.Licence
		add(l.Phone, l.Region, l.Number)
	case e.LicenceStatusChanged != nil:
		l := &e.LicenceStatusChanged.Licence
		add(l.Phone, l.Region, l.Number)
	case e.VehicleSnapshot != nil:
		v := &e.VehicleSnapshot.Vehicle
		add(v.Phone, v.Region, v.Plate)
	case e.VehicleStatusChanged != nil:
		v := &e.VehicleStatusChanged.Vehicle
		add(v.Phone, v.Region, v.Plate)
	}
	return cs
}
