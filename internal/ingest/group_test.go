package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/eventgen"
)

func TestRestartResumesAtCommittedOffsets(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	const first, second = 1500, 700
	publish(t, b, 4, first, eventgen.PublishOptions{})

	// The first consumer stops itself once it has handled 500 records.
	cfg := config(b, "restart")
	cfg.MaxBatch = 100
	ctx, cancel := context.WithCancel(context.Background())
	a := newRecorder()
	a.onOK = func(total int) {
		if total >= 500 {
			cancel()
		}
	}
	ca, err := New(cfg, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Run(ctx); err != nil {
		t.Fatal(err)
	}
	seenA := a.snapshot()
	if len(seenA) < 500 || len(seenA) >= first {
		t.Fatalf("first consumer handled %d records", len(seenA))
	}
	b.Close()

	// Broker restart from its data directory, more records, a new member.
	b = startBroker(t, dir)
	defer b.Close()
	publish(t, b, 5, second, eventgen.PublishOptions{})
	cfg = config(b, "restart")
	rb := newRecorder()
	cb, err := New(cfg, rb)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, cb)
	waitFor(t, "the rest handled", func() bool { return rb.unique() >= first+second-len(seenA) })
	time.Sleep(100 * time.Millisecond)
	stop()
	seenB := rb.snapshot()
	for p := range seenB {
		if seenA[p] > 0 {
			t.Errorf("%v handled before and after the restart", p)
		}
	}
	if len(seenA)+len(seenB) != first+second {
		t.Errorf("handled %d + %d, want %d", len(seenA), len(seenB), first+second)
	}
}

func TestRebalanceSharesPartitions(t *testing.T) {
	b := startBroker(t, "")
	defer b.Close()
	cfg := config(b, "shared")
	cfg.MaxBatch = 50
	ra, rb := newRecorder(), newRecorder()
	ca, err := New(cfg, ra)
	if err != nil {
		t.Fatal(err)
	}
	stopA := run(t, ca)
	publish(t, b, 6, 500, eventgen.PublishOptions{})
	waitFor(t, "first member consuming", func() bool { return ra.unique() > 0 })

	cb, err := New(cfg, rb)
	if err != nil {
		t.Fatal(err)
	}
	stopB := run(t, cb)
	// Keep producing until the second member has had records of its own.
	var mu sync.Mutex
	produced := 500
	seed := int64(100)
	waitFor(t, "second member gets a share", func() bool {
		mu.Lock()
		defer mu.Unlock()
		publish(t, b, seed, 200, eventgen.PublishOptions{})
		seed++
		produced += 200
		return rb.unique() > 0
	})
	publish(t, b, seed, 500, eventgen.PublishOptions{})
	produced += 500
	all := func() map[pos]bool {
		u := map[pos]bool{}
		for p := range ra.snapshot() {
			u[p] = true
		}
		for p := range rb.snapshot() {
			u[p] = true
		}
		return u
	}
	waitFor(t, "every record handled by one of the members", func() bool { return len(all()) == produced })
	stopB()
	stopA()
	a, bb := ra.snapshot(), rb.snapshot()
	partsA, partsB := map[[2]any]bool{}, map[[2]any]bool{}
	for p := range a {
		partsA[[2]any{p.topic, p.partition}] = true
	}
	for p := range bb {
		partsB[[2]any{p.topic, p.partition}] = true
	}
	t.Logf("member A: %d records from %d partitions; member B: %d records from %d partitions", len(a), len(partsA), len(bb), len(partsB))
	if len(bb) == 0 || len(partsB) == 0 {
		t.Error("second member got nothing")
	}
}
