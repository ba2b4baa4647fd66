package smsc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// TestCarrierFaults covers the faults that model carriers which misbehave
// (issue 12), each switched on alone.
func TestCarrierFaults(t *testing.T) {
	t.Run("Throttle", func(t *testing.T) {
		s := start(t, smsc.Config{Seed: 1, Faults: smsc.Faults{Throttle: 0.5}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		throttled := 0
		for _, part := range concat("12123", "13800138000", strings.Repeat("长", 67*8), 7, false) {
			if e.submit(part).Status == smpp.ErrThrottled.Status {
				throttled++
			}
		}
		if throttled == 0 || throttled == 8 {
			t.Fatalf("%d of 8 parts throttled; want some", throttled)
		}
		if st := s.Stats(); st.Throttled != uint64(throttled) || st.Messages != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("Late", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{Late: 1, LateBy: 300 * time.Millisecond}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		ch := e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: sm("12123", "13800138000", 0, []byte("x"), 1)})
		select {
		case <-ch:
			t.Fatal("answered at once")
		case <-time.After(100 * time.Millisecond):
		}
		if p := <-ch; p == nil || p.Status != smpp.StatusOK || p.MessageID() == "" {
			t.Fatalf("late response %v", p)
		}
		if s.Stats().Late != 1 {
			t.Errorf("late %d", s.Stats().Late)
		}
	})
	t.Run("EmptyReceiptTextPaddedID", func(t *testing.T) {
		s := start(t, smsc.Config{IDFormat: smsc.IDPadded, Faults: smsc.Faults{EmptyReceiptText: true, ReceiptIDPadded: true}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		p := e.submit(sm("12123", "13800138000", 0, []byte("hello"), 1))
		id := p.MessageID()
		if len(id) != 16 || id[0] != '0' {
			t.Fatalf("padded id %q", id)
		}
		r := e.receipts(1, 5*time.Second)[0]
		if r.Text != "" || len(r.TextID) != 20 || strings.TrimLeft(r.TextID, "0") != strings.TrimLeft(id, "0") {
			t.Errorf("receipt text id %q text %q; submitted id %q", r.TextID, r.Text, id)
		}
	})
	t.Run("UnbindAfter", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{UnbindAfter: 2}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		e.submit(sm("12123", "13800138000", 0, []byte("a"), 0))
		ch := e.start(&smpp.PDU{Command: smpp.SubmitSM, Body: sm("12123", "13800138000", 0, []byte("b"), 0)})
		select {
		case p := <-e.others:
			if p.Command != smpp.Unbind {
				t.Fatalf("got %s, want unbind", p.Command)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no unbind")
		}
		if p := <-ch; p == nil || p.Status != smpp.StatusOK {
			t.Fatalf("response after unbind: %v", p)
		}
		e.mu.Lock()
		events := append([]string(nil), e.events...)
		e.mu.Unlock()
		if len(events) < 2 || events[len(events)-1] != "resp" {
			t.Errorf("events %v: want the response after the unbind", events)
		}
	})
	t.Run("RestartIDs", func(t *testing.T) {
		s := start(t, smsc.Config{IDFormat: smsc.IDDecimal, Faults: smsc.Faults{RestartIDsEvery: 3}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		var ids []string
		for i := range 6 {
			ids = append(ids, e.submit(sm("12123", "13800138000", 0, []byte(fmt.Sprint(i)), 0)).MessageID())
		}
		if ids[0] != ids[3] || ids[2] != ids[5] || ids[0] == ids[1] {
			t.Errorf("ids %v: want them to start again after 3", ids)
		}
		if s.Stats().IDRestarts != 2 {
			t.Errorf("restarts %d", s.Stats().IDRestarts)
		}
	})
	t.Run("LoseReceipts", func(t *testing.T) {
		s := start(t, smsc.Config{Faults: smsc.Faults{LoseReceipts: 1}})
		e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
		e.submit(sm("12123", "13800138000", 0, []byte("x"), 1))
		e.noMore(200 * time.Millisecond)
		if s.Stats().Lost != 1 {
			t.Errorf("lost %d", s.Stats().Lost)
		}
	})
}

// TestReceived checks the handset record counts a part received twice.
func TestReceived(t *testing.T) {
	s := start(t, smsc.Config{})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	parts := concat("12123", "13800138000", strings.Repeat("长", 100), 9, false)
	for _, p := range parts {
		e.submit(p)
	}
	e.submit(parts[1])
	e.submit(sm("12123", "13800138000", 0, []byte("single"), 0))
	got := s.Received()
	want := map[smsc.PartKey]int{
		{Source: "12123", Dest: "13800138000", Ref: 9, Total: 2, Seq: 1}: 1,
		{Source: "12123", Dest: "13800138000", Ref: 9, Total: 2, Seq: 2}: 2,
		{Source: "12123", Dest: "13800138000", Text: "single"}:           1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("received %v, want %v", got, want)
	}
}

// TestUndeliveredNotOnHandset checks that a part whose outcome is a
// failure is accepted and receipted but not on the handset record: the
// handset record is what the handset got.
func TestUndeliveredNotOnHandset(t *testing.T) {
	s := start(t, smsc.Config{Outcomes: map[string]float64{"DELIVRD": 0.5, "UNDELIV": 0.5}, Seed: 3})
	e := bind(t, s.Addr(), smpp.BindTransceiver, "gw")
	var parts []*smpp.SM
	for ref := range uint16(8) {
		parts = append(parts, concat("12123", "13800138000", strings.Repeat("长", 100), ref, false)...)
	}
	for _, p := range parts {
		e.submit(p)
	}
	stat := map[string]string{}
	for _, r := range e.receipts(len(parts), 5*time.Second) {
		stat[r.MessageID] = r.Stat
	}
	failed := 0
	for _, sub := range s.Submits() {
		if sub.Stat != stat[sub.MessageID] {
			t.Errorf("part %s: recorded outcome %q, receipt %q", sub.MessageID, sub.Stat, stat[sub.MessageID])
		}
		if sub.Stat != smsc.StatDelivered {
			failed++
		}
		k := smsc.PartKey{Source: sub.Source, Dest: sub.Dest, Ref: sub.Ref, Total: sub.Total, Seq: sub.Seq}
		if want := map[bool]int{true: 1}[sub.Stat == smsc.StatDelivered]; s.Received()[k] != want {
			t.Errorf("part %s (%s): on the handset %d times, want %d", sub.MessageID, sub.Stat, s.Received()[k], want)
		}
	}
	if failed == 0 || failed == len(parts) {
		t.Fatalf("%d of %d parts undelivered: want a mix", failed, len(parts))
	}
	whole := 0
	for _, d := range s.Accepted() {
		if d.OnHandset() {
			whole++
		}
	}
	if len(s.Accepted()) != 8 || len(s.Messages()) != whole || whole == 8 {
		t.Errorf("accepted %d, on the handset %d (%d with every part delivered)", len(s.Accepted()), len(s.Messages()), whole)
	}
}
