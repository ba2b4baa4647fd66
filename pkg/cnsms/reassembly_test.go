package cnsms

import (
	"testing"
	"time"
)

func TestReassembler(t *testing.T) {
	r := NewReassembler(time.Hour, 2, nil)
	k := MOKey{Src: "138", Dest: "106", Ref: 7, Total: 3}
	if _, c, d, _ := r.Add(k, 3, []byte("c"), "meta"); c || d {
		t.Fatal("part 3 alone")
	}
	if _, c, d, _ := r.Add(k, 3, []byte("c"), nil); c || !d {
		t.Fatal("duplicate part not reported")
	}
	if _, c, d, _ := r.Add(k, 4, []byte("x"), nil); c || !d {
		t.Fatal("part 4 of 3 accepted")
	}
	r.Add(k, 1, []byte("a"), nil)
	whole, c, _, undo := r.Add(k, 2, []byte("b"), nil)
	if !c || string(whole) != "abc" {
		t.Fatalf("whole %q complete %v", whole, c)
	}
	if _, _, d, _ := r.Add(k, 1, []byte("a"), nil); !d {
		t.Fatal("part of a delivered message not a duplicate")
	}
	// Delivery failed: the redelivered last part completes it again.
	undo()
	if whole, c, _, _ := r.Add(k, 2, []byte("b"), nil); !c || string(whole) != "abc" {
		t.Fatalf("after undo: %q %v", whole, c)
	}
	// Eviction beyond MaxPending, and expiry.
	for i := range 3 {
		r.Add(MOKey{Src: "x", Ref: uint16(i), Total: 2}, 1, []byte{byte('0' + i)}, i)
	}
	ev := r.Expired(time.Now())
	if len(ev) != 1 || ev[0].Meta != 0 || string(ev[0].Data) != "0" || ev[0].Parts != 1 {
		t.Fatalf("evicted %+v", ev)
	}
	ex := r.Expired(time.Now().Add(2 * time.Hour))
	if len(ex) != 2 || r.Pending() != 0 {
		t.Fatalf("expired %+v, pending %d", ex, r.Pending())
	}
}
