package smpp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// moPDU builds one MO part: header "udh8", "udh16" or "sar".
func moPDU(seq uint32, how string, ref uint16, total, n int, text string) *PDU {
	data := coding.EncodeUCS2(text)
	sm := &SM{Source: Address{1, 1, "8613800138000"}, Dest: Address{0, 0, "12123"}, DataCoding: 0x08}
	switch how {
	case "udh8":
		sm.ESMClass = ESMClassUDHI
		data = append([]byte{5, 0, 3, byte(ref), byte(total), byte(n)}, data...)
	case "udh16":
		sm.ESMClass = ESMClassUDHI
		data = append([]byte{6, 8, 4, byte(ref >> 8), byte(ref), byte(total), byte(n)}, data...)
	case "sar":
		sm.TLVs = TLVs{
			{Tag: TagSARMsgRefNum, Value: Uint16Value(ref)},
			{Tag: TagSARTotalSegments, Value: []byte{byte(total)}},
			{Tag: TagSARSegmentSeqnum, Value: []byte{byte(n)}},
		}
	}
	sm.ShortMessage = data
	return &PDU{Command: DeliverSM, Seq: seq, Body: sm}
}

// TestMOReassembly drives a client over a real socket with parts that a
// handset and an SMSC may produce: out of order, duplicated, 16-bit
// references, SAR TLVs, two messages interleaved. Every part is acked OK
// and each message reaches OnMessage once, whole.
func TestMOReassembly(t *testing.T) {
	type part struct {
		ref   uint16
		total int
		n     int
	}
	tests := []struct {
		how   string
		parts []part
		want  map[uint16]string // ref → text
	}{
		{"udh8", []part{{7, 3, 3}, {7, 3, 1}, {7, 3, 1}, {7, 3, 2}}, map[uint16]string{7: "甲1甲2甲3"}},
		{"udh16", []part{{0x1234, 2, 2}, {0x1235, 2, 1}, {0x1234, 2, 1}, {0x1235, 2, 2}}, map[uint16]string{0x1234: "甲1甲2", 0x1235: "甲1甲2"}},
		{"sar", []part{{300, 2, 1}, {300, 2, 1}, {300, 2, 2}}, map[uint16]string{300: "甲1甲2"}},
	}
	for _, tt := range tests {
		t.Run(tt.how, func(t *testing.T) {
			tp := newTestPeer(t)
			got := make(chan Incoming, 10)
			c := runClient(t, Config{Addr: tp.addr(),
				OnMessage: func(ctx context.Context, m Incoming) error { got <- m; return nil }})
			waitReady(t, c)
			pc := tp.lastConn()
			for i, p := range tt.parts {
				if err := pc.send(moPDU(uint32(100+i), tt.how, p.ref, p.total, p.n, fmt.Sprintf("甲%d", p.n))); err != nil {
					t.Fatal(err)
				}
				if r := tp.waitFor(t, DeliverSMResp); r.Seq != uint32(100+i) || r.Status != StatusOK {
					t.Fatalf("part %d answered %v", i, r)
				}
			}
			for range len(tt.want) { // not range tt.want: the loop deletes from it
				m := <-got
				if want, ok := tt.want[m.UDH.Ref]; !ok || m.Text != want || m.Partial || m.Parts != int(m.UDH.Total) {
					t.Fatalf("got %+v, want %v", m, tt.want)
				}
				delete(tt.want, m.UDH.Ref)
			}
			select {
			case m := <-got:
				t.Fatalf("extra MO %+v", m)
			default:
			}
		})
	}
}

// TestMOHandlerErrorRedelivery: the part that completes a message is
// answered with OnMessage's error; the SMSC's redelivery of that part
// completes the message again.
func TestMOHandlerErrorRedelivery(t *testing.T) {
	tp := newTestPeer(t)
	fail := true
	got := make(chan Incoming, 10)
	c := runClient(t, Config{Addr: tp.addr(), HandlerWorkers: 1,
		OnMessage: func(ctx context.Context, m Incoming) error {
			if fail {
				fail = false
				return errors.New("store down")
			}
			got <- m
			return nil
		}})
	waitReady(t, c)
	pc := tp.lastConn()
	steps := []struct {
		n      int
		status Status
	}{{1, StatusOK}, {2, ErrTempAppError.Status}, {2, StatusOK}}
	for i, s := range steps {
		pc.send(moPDU(uint32(10+i), "udh8", 5, 2, s.n, fmt.Sprintf("乙%d", s.n)))
		if r := tp.waitFor(t, DeliverSMResp); r.Status != s.status {
			t.Fatalf("step %d answered %v, want %v", i, r.Status, s.status)
		}
	}
	if m := <-got; m.Text != "乙1乙2" {
		t.Fatalf("%+v", m)
	}
}

// TestMOExpiryAndEviction: incomplete messages are delivered Partial
// after MOTTL, or when evicted to respect MOMaxPending.
func TestMOExpiryAndEviction(t *testing.T) {
	got := make(chan Incoming, 10)
	c, err := NewClient(Config{Name: "x", Addr: "127.0.0.1:1", MOMaxPending: 2, MOTTL: time.Minute,
		OnMessage: func(ctx context.Context, m Incoming) error { got <- m; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	part := func(ref uint16, n int) {
		if err := c.handle(ctx, moPDU(1, "udh8", ref, 3, n, fmt.Sprintf("丙%d", n))); err != nil {
			t.Fatal(err)
		}
	}
	part(1, 1)
	part(2, 3)
	part(3, 1) // evicts ref 1, the oldest
	m := <-got
	if !m.Partial || m.UDH.Ref != 1 || m.Parts != 1 || m.Text != "丙1" {
		t.Fatalf("evicted %+v", m)
	}
	// Past MOTTL the rest comes out as partial.
	out := c.reasm.expired(time.Now().Add(2 * time.Minute))
	if len(out) != 2 {
		t.Fatalf("expired %d", len(out))
	}
	for _, in := range out {
		if !in.Partial || in.Parts != 1 || (in.UDH.Ref != 2 && in.UDH.Ref != 3) {
			t.Fatalf("expired %+v", in)
		}
	}
	// A delivered message's redelivered part is a duplicate; the same
	// number with other octets under that key is a new message.
	for n := 1; n <= 3; n++ {
		part(9, n)
	}
	if m := <-got; m.Text != "丙1丙2丙3" {
		t.Fatalf("%+v", m)
	}
	part(9, 2)
	if n := len(c.reasm.m); n != 1 {
		t.Fatalf("duplicate after delivery: %d entries", n)
	}
	if err := c.handle(ctx, moPDU(1, "udh8", 9, 3, 2, "新")); err != nil {
		t.Fatal(err)
	}
	if e := c.reasm.m[moKey{"8613800138000", "12123", 9, 3}]; e == nil || e.done || e.have != 1 {
		t.Fatalf("reused reference: %+v", e)
	}
}

func TestLateTableBounds(t *testing.T) {
	var lt lateTable
	now := time.Now()
	for i := range 10 {
		lt.put(uint32(i), lateEntry{cmd: SubmitSM, expires: now.Add(time.Duration(i+1) * time.Minute)}, now, 4)
	}
	if len(lt.m) != 4 {
		t.Fatalf("%d kept, want 4", len(lt.m))
	}
	if _, ok := lt.take(3, SubmitSMResp, now); ok {
		t.Fatal("evicted entry matched")
	}
	if _, ok := lt.take(9, DeliverSMResp, now); ok {
		t.Fatal("matched another command's response")
	}
	if _, ok := lt.take(9, SubmitSMResp, now); !ok {
		t.Fatal("kept entry not matched")
	}
	if _, ok := lt.take(8, SubmitSMResp, now.Add(time.Hour)); ok {
		t.Fatal("expired entry matched")
	}
	lt.prune(now.Add(time.Hour), 4)
	if len(lt.m) != 0 || len(lt.order) != 0 {
		t.Fatalf("after expiry: %d entries, %d slots", len(lt.m), len(lt.order))
	}
}

// FuzzConcatInfo: whatever header or TLVs an MO carries, reading its
// concatenation never panics and never yields a part outside 1..total.
func FuzzConcatInfo(f *testing.F) {
	f.Add([]byte{5, 0, 3, 7, 3, 1, 0, 'a'}, []byte{1, 44}, byte(2), byte(1))
	f.Add([]byte{6, 8, 4, 1, 2, 2, 3}, []byte{}, byte(0), byte(0))
	f.Add([]byte{0}, []byte{0, 1}, byte(1), byte(2))
	f.Fuzz(func(t *testing.T, data, ref []byte, total, seq byte) {
		sm := &SM{ShortMessage: data, TLVs: TLVs{{TagSARMsgRefNum, ref}, {TagSARTotalSegments, []byte{total}}, {TagSARSegmentSeqnum, []byte{seq}}}}
		h, _, err := coding.SplitUDH(data)
		if err != nil {
			h = coding.UDH{}
		}
		_, tot, s, ok := concatInfo(sm, h)
		if ok && (tot < 2 || s < 1 || s > tot) {
			t.Fatalf("part %d of %d accepted", s, tot)
		}
	})
}
