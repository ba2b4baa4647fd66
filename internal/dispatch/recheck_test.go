package dispatch_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/rules"
)

// TestRecheckAtSendTime is the case on the default rules: the
// 02:00 sweep schedules an inspection reminder for 09:00; at 08:30 a
// snapshot shows the car inspected (valid two more years). At 09:00 the
// sender claims it, the re-check (still_due) finds it resolved and it ends
// cancelled with the resolving event; another car's reminder goes out
// (a fake carrier: the SMPP path is internal/carrier/smpp's test).
func TestRecheckAtSendTime(t *testing.T) {
	set, err := rules.LoadDir("../../rules", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		loc := policy.Shanghai()
		r := newRigSet(t, open, set, time.Date(2026, 11, 27, 2, 0, 0, 0, loc))
		car := func(plate, phone, validUntil string) map[string]any {
			return map[string]any{"vehicle": map[string]any{"plate": plate, "plate_type": "02", "owner": "张三", "phone": phone,
				"region": "110105", "use": "private", "status": "A", "inspection_valid_until": validUntil}}
		}
		const inspected, other = "13800138001", "13800138002"
		r.handle(r.event("vehicle.snapshot", car("京A12345", inspected, "2026-12-27T00:00:00+08:00")),
			r.event("vehicle.snapshot", car("京B54321", other, "2026-12-27T00:00:00+08:00")))
		r.clock.Set(time.Date(2026, 11, 27, 8, 30, 0, 0, loc))
		resolving := r.event("vehicle.snapshot", car("京A12345", inspected, "2028-12-31T00:00:00+08:00"))
		r.handle(resolving)
		r.clock.Set(time.Date(2026, 11, 27, 9, 0, 1, 0, loc))

		carrier := &dispatch.FakeCarrier{}
		m := dispatch.NewMetrics(nil)
		var ev dispatch.Evaluator = set
		cur := &atomic.Pointer[dispatch.Evaluator]{}
		cur.Store(&ev)
		sender := dispatch.NewSender(dispatch.SenderConfig{
			Ledger: r.store, Carriers: map[string]dispatch.Submitter{"china_mobile": carrier}, Owner: "t",
			ClaimBatch: 10, InFlight: 4, MaxAttempts: 3, RetryBackoff: 100 * time.Millisecond, RetryBackoffMax: time.Second,
			Poll: 50 * time.Millisecond, DrainTimeout: 2 * time.Second, SendTimeout: 5 * time.Second, Now: r.clock.Now, Metrics: m,
			Recheck: &dispatch.StillDue{Rules: cur, States: r.store.(ledger.StateStore), Metrics: m},
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { sender.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()

		final := func(phone string) ledger.TraceEntry {
			for _, e := range r.trace(ledger.TraceQuery{Phone: phone}) {
				return e
			}
			return ledger.TraceEntry{}
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if final(inspected).State == message.StateCancelled && final(other).State == message.StateSubmitted {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := final(inspected)
		if got.State != message.StateCancelled || got.Reason != "resolved: vehicle.snapshot "+resolving.ID || got.RuleID != "vehicle.inspection_due" {
			t.Fatalf("inspected car's reminder: %+v", got)
		}
		if st := final(other).State; st != message.StateSubmitted {
			t.Fatalf("other car's reminder: %s", st)
		}
		sent := carrier.Sent()
		for _, m := range sent {
			if m.Dest == inspected {
				t.Fatalf("the resolved reminder was sent: %+v", m)
			}
		}
		if len(sent) != 1 || sent[0].Dest != other {
			t.Fatalf("sent %+v, want the other car's reminder only", sent)
		}
	})
}

// probeStore sees, at each Insert, the state the re-check would read for
// the inserted messages' entities: a message can be claimed the moment it
// is inserted, so a resolving snapshot of the same batch must be stored
// by then.
type probeStore struct {
	ledger.Store
	ledger.StateStore
	atInsert map[string]string // entity → event id of its stored state when its message was inserted
}

func (p *probeStore) Insert(ctx context.Context, msgs []*message.Message) error {
	var ents []string
	for _, m := range msgs {
		if m.Entity != "" {
			ents = append(ents, m.Entity)
		}
	}
	got, err := p.LatestStates(ctx, ents)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p.atInsert[e] = got[e].EventID
	}
	return p.Store.Insert(ctx, msgs)
}

// TestRecheckSameBatch: a reminder and the snapshot that resolves it
// arrive in one batch (the sweep's snapshot, then the inspection a minute
// later). The resolving state is stored before the reminder is, so the
// sender cannot claim it against an older state, and it ends cancelled.
func TestRecheckSameBatch(t *testing.T) {
	set, err := rules.LoadDir("../../rules", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stores(t, func(t *testing.T, open func(func() time.Time) ledger.Store) {
		loc := policy.Shanghai()
		var probe *probeStore
		r := newRigSet(t, func(c func() time.Time) ledger.Store {
			s := open(c)
			probe = &probeStore{Store: s, StateStore: s.(ledger.StateStore), atInsert: map[string]string{}}
			return probe
		}, set, time.Date(2026, 11, 27, 10, 0, 0, 0, loc))
		car := func(validUntil string) map[string]any {
			return map[string]any{"vehicle": map[string]any{"plate": "京A12345", "plate_type": "02", "owner": "张三", "phone": "13800138001",
				"region": "110105", "use": "private", "status": "A", "inspection_valid_until": validUntil}}
		}
		due := r.event("vehicle.snapshot", car("2026-12-27T00:00:00+08:00"))
		r.clock.Set(time.Date(2026, 11, 27, 10, 1, 0, 0, loc))
		resolving := r.event("vehicle.snapshot", car("2028-12-31T00:00:00+08:00"))
		r.handle(due, resolving)
		if got := probe.atInsert["京A12345"]; got != resolving.ID {
			t.Fatalf("state stored when the reminder was inserted: %q, want the resolving snapshot %q", got, resolving.ID)
		}
		m := dispatch.NewMetrics(nil)
		var ev dispatch.Evaluator = set
		cur := &atomic.Pointer[dispatch.Evaluator]{}
		cur.Store(&ev)
		sd := &dispatch.StillDue{Rules: cur, States: probe, Metrics: m}
		var pending []*message.Message
		for _, e := range r.trace(ledger.TraceQuery{Phone: "13800138001"}) {
			if e.RuleID == "vehicle.inspection_due" && e.State == message.StateQueued {
				pending = append(pending, &message.Message{ID: e.MessageID, RuleID: e.RuleID, Entity: "京A12345", EventID: due.ID})
			}
		}
		if len(pending) != 1 {
			t.Fatalf("queued inspection reminders: %d, want 1", len(pending))
		}
		if got := sd.Recheck(t.Context(), pending, r.clock.Now()); got[pending[0].ID] != "resolved: vehicle.snapshot "+resolving.ID {
			t.Fatalf("re-check: %v", got)
		}
	})
}
