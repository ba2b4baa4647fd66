package ledgerproto

import (
	"fmt"
	"slices"
	"testing"
)

func msg(i int) *Msg {
	r := fmt.Sprintf("138%08d", i)
	return &Msg{Key: "ev|r|" + r, EventID: "ev", Entity: fmt.Sprint("京A", 10000+i), RuleID: "r", Recipient: r,
		Carrier: "cmcc", DedupeKey: fmt.Sprint("r|京A", 10000+i), Segments: 2,
		Body: "【交管12123】您的车辆检验有效期将于2026年04月30日届满，请及时检验。"}
}

// TestLifecycle walks messages through the hot path and checks what the
// real ledger guarantees there: idempotent insert, one message in flight
// per recipient, receipts before the submit result, duplicates, the
// outbox, and everything still there after a reopen.
func TestLifecycle(t *testing.T) {
	defer func() { splitState = true }()
	for _, split := range []bool{false, true} {
		splitState = split
		for _, mode := range []Mode{Plain, Hot, Lean, Bounded} {
			t.Run(fmt.Sprint("split=", split, ",mode=", mode), func(t *testing.T) { lifecycle(t, mode) })
		}
	}
}

func lifecycle(t *testing.T, hot Mode) {
	dir := t.TempDir()
	s, err := Open(dir, false, hot)
	if err != nil {
		t.Fatal(err)
	}
	a, b, again := msg(1), msg(2), msg(1)
	second := msg(1) // same recipient, another rule
	second.Key = "ev|r2|" + second.Recipient
	if err := s.Insert([]*Msg{a, b, second}, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert([]*Msg{again}, 11); err != nil {
		t.Fatal(err)
	}
	if again.ID != a.ID || again.CreatedAt != 0 {
		t.Fatalf("duplicate key: id %d created %d, want id %d and nothing stored", again.ID, again.CreatedAt, a.ID)
	}
	got, err := s.Claim(20, 10, "w1")
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ms []*Msg) []uint64 {
		var out []uint64
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	if !slices.Equal(ids(got), []uint64{a.ID, b.ID}) {
		t.Fatalf("claimed %v, want %v (one per recipient)", ids(got), []uint64{a.ID, b.ID})
	}
	if more, err := s.Claim(20, 10, "w1"); err != nil || len(more) != 0 {
		t.Fatalf("second claim: %v %v, want nothing while the recipient's message is in flight", ids(more), err)
	}
	// b's first part's receipt comes before its submit result.
	res, err := s.Receipts([]Receipt{{"cmcc", "b1", "DELIVRD", 25}, {"cmcc", "b1", "DELIVRD", 25}}, 25)
	if err != nil || !slices.Equal(res, []string{Pending, Duplicate}) {
		t.Fatalf("early receipts: %v %v", res, err)
	}
	if err := s.Submitted([]Submission{{a.ID, "cmcc", []string{"a1", "a2"}, 30}, {b.ID, "cmcc", []string{"b1", "b2"}, 30}}); err != nil {
		t.Fatal(err)
	}
	// Every part of a's message accepted: its recipient may have the
	// next one (the SQLite ledger's rule), before any receipt.
	got, err = s.Claim(35, 10, "w1")
	if err != nil || !slices.Equal(ids(got), []uint64{second.ID}) {
		t.Fatalf("claim after submit: %v %v, want %d", ids(got), err, second.ID)
	}
	res, err = s.Receipts([]Receipt{{"cmcc", "a1", "DELIVRD", 40}, {"cmcc", "a2", "UNDELIV", 40}, {"cmcc", "a2", "UNDELIV", 40}, {"cmcc", "b2", "DELIVRD", 40}}, 40)
	if err != nil || !slices.Equal(res, []string{Matched, Matched, Duplicate, Matched}) {
		t.Fatalf("receipts: %v %v", res, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, false, hot); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		id    uint64
		state byte
	}{{a.ID, Failed}, {b.ID, Delivered}, {second.ID, Sending}} {
		m, err := s.Get(c.id)
		if err != nil || m.State != c.state {
			t.Fatalf("message %d after reopen: %+v %v, want state %d", c.id, m, err, c.state)
		}
	}
	// second is still in flight after the reopen: a third message to
	// the same recipient waits.
	third := msg(1)
	third.Key = "ev|r3|" + third.Recipient
	if err := s.Insert([]*Msg{third}, 50); err != nil || third.ID != second.ID+1 {
		t.Fatalf("insert after reopen: id %d %v, want id %d", third.ID, err, second.ID+1)
	}
	if got, err = s.Claim(50, 10, "w1"); err != nil || len(got) != 0 {
		t.Fatalf("claim after reopen: %v %v, want nothing while %d is sending", ids(got), err, second.ID)
	}
	out, err := s.Outbox(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprint(a.ID, " ", Queued), fmt.Sprint(b.ID, " ", Queued), fmt.Sprint(second.ID, " ", Queued),
		fmt.Sprint(a.ID, " ", Submitted), fmt.Sprint(b.ID, " ", Submitted),
		fmt.Sprint(a.ID, " ", Failed), fmt.Sprint(b.ID, " ", Delivered), fmt.Sprint(third.ID, " ", Queued),
	}
	if !slices.Equal(out, want) {
		t.Fatalf("outbox %v, want %v", out, want)
	}
}

func TestClaimNotDue(t *testing.T) {
	for _, mode := range []Mode{Plain, Hot, Lean, Bounded} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) { claimNotDue(t, mode) })
	}
}

func claimNotDue(t *testing.T, hot Mode) {
	s, err := Open(t.TempDir(), false, hot)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	later, now, urgent := msg(1), msg(2), msg(3)
	later.NotBefore, urgent.Priority = 100, 255
	if err := s.Insert([]*Msg{later, now, urgent}, 10); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(50, 10, "w")
	if err != nil || len(got) != 2 || got[0].ID != urgent.ID || got[1].ID != now.ID {
		t.Fatalf("claim at 50: %+v %v, want the urgent one, then the due one", got, err)
	}
}

func TestDecodeRejectsShort(t *testing.T) {
	b := encode(nil, msg(1))
	for i := range len(b) {
		if _, err := decode(b[:i]); err == nil {
			t.Fatalf("decode of %d of %d bytes: no error", i, len(b))
		}
	}
	if m, err := decode(b); err != nil || m.Body != msg(1).Body {
		t.Fatalf("decode: %+v %v", m, err)
	}
	m := msg(1)
	m.State, m.CarrierIDs, m.Stats = Submitted, []string{"a1", "a2"}, []string{"", "DELIVRD"}
	b = encodeState(nil, m)
	for i := range len(b) {
		if err := decodeState(b[:i], &Msg{}); err == nil {
			t.Fatalf("decodeState of %d of %d bytes: no error", i, len(b))
		}
	}
	var got Msg
	if err := decodeState(b, &got); err != nil || got.State != Submitted || !slices.Equal(got.Stats, m.Stats) || got.Recipient != m.Recipient {
		t.Fatalf("decodeState: %+v %v", got, err)
	}
}
