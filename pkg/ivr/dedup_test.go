package ivr_test

import (
	"context"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// TestOnePressOneDigit: with inband_dtmf on, a caller that sends every key
// as RFC 4733, as SIP INFO and as a tone verifies (each press is one
// digit; "11" in the ID stays two) and nothing counts against the lockout.
func TestOnePressOneDigit(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	recs.ids[phone] = "110101199001011123"
	e := startServer(t, func(o *ivr.Options) { o.InBandDTMF, o.Records = true, recs })
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "1", ivr.KeysAll)
	step(t, e, call, "enter_id", 1, "011123#", ivr.KeysAll)
	step(t, e, call, "after_query", 1, "", "")
	if !containsSeq(call.Transcript(e.lib), []string{"verified", "licence_status"}) {
		t.Fatalf("heard %v", call.Transcript(e.lib))
	}
	if f := counter(t, e.reg, "ivr_verifications_total", "failed"); f != 0 {
		t.Fatalf("%v failed verifications", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call.Hangup(ctx)
	c := waitCDR(t, e)
	if c.Keys != 8 {
		t.Fatalf("CDR counts %d keys for 8 presses", c.Keys)
	}
	if d := counterSum(t, e, "ivr_dtmf_duplicates_total"); d != 16 {
		t.Fatalf("%v duplicates dropped, want 16 (2 per press)", d)
	}
}
