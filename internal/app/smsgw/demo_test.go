package smsgw

import (
	"context"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/config"
)

// TestDemoEndToEnd runs the whole SMS path: generated events through a
// real kfake broker, the shipped rules, a SQLite ledger and four SMSC
// simulators over TCP, until every message has its final receipt.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	s, err := Demo(ctx, DemoOptions{
		Events:       600,
		Seed:         7,
		Now:          time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)),
		RulesDir:     "../../../rules",
		BadFraction:  0.02,
		ReceiptDelay: 20 * time.Millisecond,
		Outcomes:     map[string]float64{"DELIVRD": 0.9, "UNDELIV": 0.1},
		Timeout:      3 * time.Minute,
		// One batch for all 600 events: an inspection reminder and the
		// snapshot that resolves it (the generator's next event) are then
		// ingested together, so the re-check at send time always sees the
		// newer state. Split across batches, the reminder may be sent
		// first, rightly, and the count below would depend on the load.
		Configure: func(c *config.Config) { c.Kafka.BatchGap, c.Kafka.MaxWait = 0, config.Duration(6*time.Second) },
	})
	if err != nil {
		t.Fatalf("demo: %v (summary %+v)", err, s)
	}
	if !s.Complete {
		t.Fatalf("incomplete: %+v", s)
	}
	if s.Events != 600 {
		t.Errorf("consumed %d events, want 600", s.Events)
	}
	// the generator's probationers reaching 12 points: one text per cause
	if s.Suppressed["inhibited_by:licence.probation_full"] == 0 {
		t.Errorf("no inhibition in the summary: suppressed %v", s.Suppressed)
	}
	t.Logf("cancelled %d, of which resolved at send time %d", s.Cancelled, s.Resolved)
	if s.Resolved == 0 {
		t.Errorf("no reminder was cancelled at send time (resolved): cancelled %d", s.Cancelled)
	}
	if s.DeadLettered == 0 {
		t.Errorf("no record was dead-lettered though 2%% were malformed")
	}
	if s.Messages == 0 || s.Submitted != s.Messages {
		t.Errorf("messages %d, submitted %d: every message to send now must be submitted", s.Messages, s.Submitted)
	}
	if s.Submitted != s.Delivered+s.Failed {
		t.Errorf("submitted %d != delivered %d + failed %d", s.Submitted, s.Delivered, s.Failed)
	}
	if s.Failed == 0 || s.Delivered == 0 {
		t.Errorf("outcome mix not reflected: delivered %d failed %d", s.Delivered, s.Failed)
	}
	segs := 0
	for _, name := range []string{"china_mobile", "china_unicom", "china_telecom", "china_broadnet"} {
		c := s.ByCarrier[name]
		if c.Submitted == 0 {
			t.Errorf("carrier %s got no message", name)
		}
		segs += c.Segments
		// each accepted part is one submit_sm the simulator recorded, once
		if int64(c.Segments) != s.SMSCSubmits[name] {
			t.Errorf("%s: ledger has %d segments, the SMSC accepted %d submit_sm", name, c.Segments, s.SMSCSubmits[name])
		}
	}
	if segs != s.Segments || s.Segments < s.Messages {
		t.Errorf("segments %d (sum %d) for %d messages", s.Segments, segs, s.Messages)
	}
	var receipts int64
	for _, n := range s.Receipts {
		receipts += n
	}
	if receipts < int64(s.Segments) {
		t.Errorf("%d receipts stored for %d segments", receipts, s.Segments)
	}
}

func beijing(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
