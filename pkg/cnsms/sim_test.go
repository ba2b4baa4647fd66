package cnsms

import (
	"testing"
	"time"

	"log/slog"
)

func TestHandsets(t *testing.T) {
	h := NewHandsets[int]()
	udh := func(ref, total, seq byte) []byte { return []byte{5, 0, 3, ref, total, seq} }
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, []byte("single"), false, 1)
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, append(udh(7, 2, 2), "world"...), true, 3)
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, append(udh(7, 2, 1), "hello "...), true, 2)
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, append(udh(7, 2, 1), "hello "...), true, 9) // after completion: a new message's part
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, append(udh(8, 3, 1), "a"...), true, 4)
	h.Record("sp", "12123", []string{"13800138000"}, FmtASCII, append(udh(8, 3, 1), "a"...), true, 5) // duplicate
	got := h.Received("13800138000")
	if len(got) != 4 || got[0].Text != "single" || got[1].Text != "hello world" || got[1].Parts != 2 ||
		len(got[1].IDs) != 2 || got[1].IDs[0] != 2 || got[1].IDs[1] != 3 {
		t.Fatalf("received %+v", got)
	}
	if !got[2].Incomplete || got[2].Parts != 1 || !got[3].Incomplete || got[3].Parts != 1 {
		t.Fatalf("incomplete %+v", got[2:])
	}
	if h.Duplicates() != 1 {
		t.Fatalf("duplicates %d", h.Duplicates())
	}
	parts := h.Parts()
	if len(parts) != 6 || parts[0].Total != 1 || parts[1].Seq != 2 || parts[1].Ref != 7 || parts[1].ID != 3 {
		t.Fatalf("parts %+v", parts)
	}
	if d := h.Dests(); len(d) != 1 || d[0] != "13800138000" {
		t.Fatalf("dests %v", d)
	}
}

// TestHandsetsUndelivered checks that a part whose report is a failure is
// logged but never on the handset.
func TestHandsetsUndelivered(t *testing.T) {
	h := NewHandsets[int]()
	udh := func(ref, total, seq byte) []byte { return []byte{5, 0, 3, ref, total, seq} }
	h.RecordOutcome("sp", "12123", []string{"13800138000"}, FmtASCII, []byte("single"), false, 1, false)
	h.RecordOutcome("sp", "12123", []string{"13800138001"}, FmtASCII, append(udh(7, 2, 1), "hello "...), true, 2, true)
	h.RecordOutcome("sp", "12123", []string{"13800138001"}, FmtASCII, append(udh(7, 2, 2), "world"...), true, 3, false)
	if got := h.Received("13800138000"); len(got) != 0 {
		t.Errorf("undelivered single on the handset: %+v", got)
	}
	if got := h.Received("13800138001"); len(got) != 1 || !got[0].Incomplete || got[0].Parts != 1 {
		t.Errorf("want one part of two on the handset: %+v", got)
	}
	if d := h.Dests(); len(d) != 0 { // none got a whole message
		t.Errorf("dests %v", d)
	}
	ps := h.Parts()
	if len(ps) != 3 || !ps[0].Undelivered || ps[1].Undelivered || !ps[2].Undelivered {
		t.Errorf("parts %+v", ps)
	}
}

func TestReportQueueRedelivers(t *testing.T) {
	q := NewReportQueue[string](map[string]string{"sp": ""}, time.Millisecond, 3, slog.New(slog.DiscardHandler))
	q.Add("sp", "r1", 0)
	done := make(chan struct{})
	sends := make(chan string, 4)
	tries := 0
	go q.Serve("sp", done, func(r string) (acked, gone bool) {
		tries++
		sends <- r
		return tries == 2, false // refused once, then acked
	})
	for i := range 2 {
		select {
		case r := <-sends:
			if r != "r1" {
				t.Fatalf("sent %q", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("send %d never came", i+1)
		}
	}
	select {
	case r := <-sends:
		t.Fatalf("acked report sent again: %q", r)
	case <-time.After(50 * time.Millisecond):
	}
	close(done)
}

func TestRepeatingIDs(t *testing.T) {
	n := 0
	g := NewRepeatingIDs(3, func() int { n++; return n })
	var got []int
	for range 7 {
		got = append(got, g.Next())
	}
	if want := []int{1, 2, 3, 1, 2, 3, 1}; len(got) != len(want) || got[3] != 1 || got[6] != 1 || got[5] != 3 {
		t.Fatalf("ids %v", got)
	}
}
