package dispatch

import (
	"context"
	"sync"
)

// FakeCarrier is a Submitter for tests: it answers each Send with Answer
// (nil: every part accepted, one part per message, id "id-<ref>") and
// records what it was asked to send.
type FakeCarrier struct {
	Answer func(ctx context.Context, m SMS) (SendResult, error)

	mu   sync.Mutex
	sent []SMS
}

// Send records m and answers it.
func (f *FakeCarrier) Send(ctx context.Context, m SMS) (SendResult, error) {
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	if f.Answer != nil {
		return f.Answer(ctx, m)
	}
	return SendResult{ConcatRef: m.ConcatRef, Outcomes: []PartOutcome{{State: PartAccepted, ID: "id-" + m.Ref}}}, nil
}

// Sent is every SMS asked for so far.
func (f *FakeCarrier) Sent() []SMS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SMS(nil), f.sent...)
}
