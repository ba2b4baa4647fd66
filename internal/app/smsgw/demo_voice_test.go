package smsgw

import (
	"context"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
)

// TestDemoVoice: with half the SMS undelivered, the urgent notices among
// them are called through the trunk simulator; the others' armed calls
// are cancelled when their SMS is delivered, and the demo waits for every
// call to end.
func TestDemoVoice(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	s, err := Demo(context.Background(), DemoOptions{
		Events: 600, Seed: 11, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)),
		RulesDir: "../../../rules", ReceiptDelay: 20 * time.Millisecond,
		Outcomes: map[string]float64{"DELIVRD": 0.5, "UNDELIV": 0.5}, Timeout: 3 * time.Minute,
		Voice: &DemoVoice{Prompts: "../../../prompts", Mix: map[string]int{trunksim.Confirm: 3, trunksim.Busy: 1}},
	})
	if err != nil {
		t.Fatalf("demo: %v (summary %+v)", err, s)
	}
	if !s.Complete {
		t.Fatalf("incomplete: %+v", s)
	}
	t.Logf("calls %v, trunk %v", s.Calls, s.Trunk)
	if s.Calls["confirmed"] == 0 {
		t.Errorf("no call confirmed: %v", s.Calls)
	}
	if s.Calls["cancelled"] == 0 {
		t.Errorf("no armed call was cancelled by a delivered SMS: %v", s.Calls)
	}
	for _, open := range []string{"armed", "queued", "claimed", "dialling", "ringing", "answered"} {
		if s.Calls[open] != 0 {
			t.Errorf("%d calls still %s at the end", s.Calls[open], open)
		}
	}
	placed := int64(s.Trunk["invites"] - s.Trunk["challenged"])
	if placed < int64(s.Calls["confirmed"]+s.Calls["busy"]) {
		t.Errorf("trunk took %d calls, fewer than the %d that ended confirmed or busy", placed, s.Calls["confirmed"]+s.Calls["busy"])
	}
}
