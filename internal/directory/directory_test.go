package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/internal/ledger"
)

// fakeStore records UpsertContacts calls; gate, when set, holds each call
// until it can receive, and failures makes that many calls fail first.
type fakeStore struct {
	mu       sync.Mutex
	calls    [][]ledger.Contact
	rows     map[ledger.Contact]int
	gate     chan struct{}
	failures int
}

func (s *fakeStore) UpsertContacts(ctx context.Context, cs []ledger.Contact) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures > 0 {
		s.failures--
		return errors.New("database is locked")
	}
	if s.rows == nil {
		s.rows = map[ledger.Contact]int{}
	}
	s.calls = append(s.calls, slices.Clone(cs))
	for _, c := range cs {
		s.rows[c]++
	}
	return nil
}

func (s *fakeStore) ContactsInRegions(_ context.Context, regions []string, fn func(string) error) error {
	s.mu.Lock()
	var phones []string
	for c := range s.rows {
		for _, r := range regions {
			if lo, hi, _ := ledger.RegionRange(r); c.Region >= lo && c.Region < hi || c.Region == lo {
				phones = append(phones, c.Phone)
			}
		}
	}
	s.mu.Unlock()
	slices.Sort(phones)
	for _, p := range slices.Compact(phones) {
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeStore) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

func contacts(n int, region string) []ledger.Contact {
	cs := make([]ledger.Contact, n)
	for i := range cs {
		cs[i] = ledger.Contact{Region: region, Phone: fmt.Sprintf("138%08d", (i*7919)%100_000_000), Entity: fmt.Sprintf("京A%05d", i)}
	}
	return cs
}

// start runs w until the returned stop is called; stop waits for Run.
func start(w *Writer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	return func() { cancel(); wg.Wait() }
}

func TestKnownSet(t *testing.T) {
	tests := []struct {
		bytes, slots int
	}{{0, 0}, {31, 0}, {32, 4}, {1000, 64}, {1 << 20, 1 << 17}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.bytes), func(t *testing.T) {
			k := newKnownSet(tc.bytes)
			if k.size() != tc.slots {
				t.Fatalf("slots %d, want %d", k.size(), tc.slots)
			}
			cs := contacts(10_000, "110105")
			hits := 0
			for i := range cs {
				h := k.hash(&cs[i])
				k.add(h)
				if k.has(h) {
					hits++
				}
			}
			if k.size() != tc.slots {
				t.Fatalf("grew to %d slots", k.size())
			}
			if want := min(tc.slots, 1) * len(cs); hits != want { // just added: always there, if it remembers at all
				t.Fatalf("%d hits right after add, want %d", hits, want)
			}
			again := 0
			for i := range cs {
				if k.has(k.hash(&cs[i])) {
					again++
				}
			}
			if again > tc.slots {
				t.Fatalf("%d remembered in %d slots", again, tc.slots)
			}
			if tc.slots >= 4*len(cs) && again < len(cs)*99/100 { // a quarter full: almost no bucket overflows
				t.Fatalf("only %d of %d remembered in %d slots", again, len(cs), tc.slots)
			}
		})
	}
}

func TestSortedOrderAndPrefixKey(t *testing.T) {
	w := New(Config{Store: &fakeStore{}})
	r := rand.New(rand.NewPCG(7, 8))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(3)) // few digits: many shared prefixes
		}
		return string(b)
	}
	for _, odd := range []bool{false, true} {
		var batch []entry
		for i := range 3000 {
			c := ledger.Contact{Region: "1" + digits(5), Phone: digits(8 + r.IntN(6)), Entity: digits(2)}
			if odd && i%100 == 0 {
				c.Region = "x" + c.Region[1:] // not digits: exact comparison throughout
			}
			batch = append(batch, entry{c: c}, entry{c: c}) // each twice
		}
		rows := w.sorted(batch)
		for i := 1; i < len(rows); i++ {
			if a, b := &rows[i-1], &rows[i]; cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Phone, b.Phone), cmp.Compare(a.Entity, b.Entity)) >= 0 {
				t.Fatalf("odd=%v: %v before %v", odd, *a, *b)
			}
		}
		uniq := map[ledger.Contact]bool{}
		for _, e := range batch {
			uniq[e.c] = true
		}
		if len(rows) != len(uniq) {
			t.Fatalf("odd=%v: %d rows, want %d distinct", odd, len(rows), len(uniq))
		}
	}
}

func TestHashSeparatesFields(t *testing.T) {
	k := newKnownSet(0)
	a := ledger.Contact{Region: "110105", Phone: "13800000001", Entity: "京A1"}
	b := ledger.Contact{Region: "110105", Phone: "1380000000", Entity: "1京A1"}
	if k.hash(&a) == k.hash(&b) || k.hash(&a) != k.hash(&ledger.Contact{Region: "110105", Phone: "13800000001", Entity: "京A1"}) {
		t.Fatal("hash does not separate the fields or is not stable")
	}
}

func TestSkipsKnownWritesSortedUnique(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		reg := prometheus.NewRegistry()
		w := New(Config{Store: s, KnownMB: 1, Metrics: NewMetrics(reg)})
		stop := start(w)
		defer stop()
		ctx := t.Context()
		cs := append(contacts(500, "440305"), contacts(500, "110105")...)
		cs = append(cs, cs[:10]...) // duplicates within the queue
		if _, err := w.Add(ctx, cs); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Add(ctx, cs[:700]); err != nil { // all known now
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.calls) != 1 || len(s.calls[0]) != 1000 {
			t.Fatalf("calls %d (first %d rows), want one of 1000", len(s.calls), len(s.calls[0]))
		}
		if !slices.IsSortedFunc(s.calls[0], func(a, b ledger.Contact) int {
			return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Phone, b.Phone), cmp.Compare(a.Entity, b.Entity))
		}) { // the tuple order, spelt differently from compareKeys
			t.Fatal("rows not sorted by primary key")
		}
		for c, n := range s.rows {
			if n != 1 {
				t.Fatalf("%v written %d times", c, n)
			}
		}
		if got := testutil.ToFloat64(w.cfg.Metrics.known); got != 700 {
			t.Fatalf("known %v, want 700", got)
		}
		if got := testutil.ToFloat64(w.cfg.Metrics.written); got != 1000 {
			t.Fatalf("written %v, want 1000", got)
		}
	})
}

func TestFlushesInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		w := New(Config{Store: s, FlushRows: 100, TxRows: 100})
		stop := start(w)
		defer stop()
		if _, err := w.Add(t.Context(), contacts(10, "110105")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s.stored() != 0 {
			t.Fatal("flushed before the interval with few queued")
		}
		if _, err := w.Add(t.Context(), contacts(150, "110108")); err != nil { // over FlushRows: at once
			t.Fatal(err)
		}
		synctest.Wait()
		if s.stored() != 160 || len(s.calls) != 2 || len(s.calls[0]) != 100 {
			t.Fatalf("stored %d in %d transactions, want 160 in transactions of at most 100", s.stored(), len(s.calls))
		}
		if _, err := w.Add(t.Context(), contacts(5, "120101")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s.stored() != 160 {
			t.Fatal("flushed before the interval")
		}
		time.Sleep(DefaultFlushEvery)
		synctest.Wait()
		if s.stored() != 165 {
			t.Fatalf("stored %d after the interval, want 165", s.stored())
		}
	})
}

func TestFlushesOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		w := New(Config{Store: s, FlushEvery: time.Hour})
		stop := start(w)
		if _, err := w.Add(t.Context(), contacts(42, "110105")); err != nil {
			t.Fatal(err)
		}
		stop()
		if s.stored() != 42 {
			t.Fatalf("stored %d at stop, want 42", s.stored())
		}
		if _, err := w.Add(t.Context(), contacts(1, "310115")); !errors.Is(err, ErrStopped) {
			t.Fatalf("Add after stop: %v", err)
		}
		if err := w.Flush(t.Context()); err != nil { // nothing queued
			t.Fatal(err)
		}
	})
}

func TestBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{gate: make(chan struct{})}
		reg := prometheus.NewRegistry()
		w := New(Config{Store: s, FlushRows: 10, MaxPending: 20, Metrics: NewMetrics(reg)})
		stop := start(w)
		defer stop()
		ctx := t.Context()
		if _, err := w.Add(ctx, contacts(15, "110105")); err != nil { // flush starts, held at the gate
			t.Fatal(err)
		}
		synctest.Wait()
		if _, err := w.Add(ctx, contacts(5, "110108")); err != nil { // 20: still fits
			t.Fatal(err)
		}
		var added sync.WaitGroup
		done := false
		added.Go(func() {
			if _, err := w.Add(ctx, contacts(3, "440305")); err != nil {
				t.Error(err)
			}
			done = true
		})
		synctest.Wait()
		if done {
			t.Fatal("Add did not wait with the queue full")
		}
		if got := testutil.ToFloat64(w.cfg.Metrics.pending); got != 20 {
			t.Fatalf("pending gauge %v, want 20", got)
		}
		for !done {
			s.gate <- struct{}{} // let one transaction through
			synctest.Wait()
		}
		added.Wait()
		if testutil.ToFloat64(w.cfg.Metrics.waits) == 0 {
			t.Fatal("wait not counted")
		}
		close(s.gate)

		// A blocked Add gives up with its context.
		s2 := &fakeStore{gate: make(chan struct{})}
		w2 := New(Config{Store: s2, FlushRows: 10, MaxPending: 10})
		stop2 := start(w2)
		if _, err := w2.Add(ctx, contacts(10, "500103")); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		go cancel()
		if _, err := w2.Add(cctx, contacts(1, "130102")); !errors.Is(err, context.Canceled) {
			t.Fatalf("blocked Add with a cancelled context: %v", err)
		}
		close(s2.gate)
		stop2()
		if s2.stored() != 10 {
			t.Fatalf("stored %d, want the 10 accepted", s2.stored())
		}
	})
}

func TestSyncWaitsForStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{gate: make(chan struct{})}
		w := New(Config{Store: s, KnownMB: 1, Sync: true, FlushEvery: time.Hour})
		stop := start(w)
		defer stop()
		ctx := t.Context()
		tk, err := w.Add(ctx, contacts(3, "110105"))
		if err != nil || tk == 0 {
			t.Fatalf("ticket %d, %v", tk, err)
		}
		waited := false
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := w.Wait(ctx, tk); err != nil {
				t.Error(err)
			}
			waited = true
		})
		synctest.Wait()
		if waited {
			t.Fatal("Wait returned before the contacts were stored")
		}
		close(s.gate)
		wg.Wait()
		if s.stored() != 3 {
			t.Fatalf("stored %d", s.stored())
		}
		if tk, err := w.Add(ctx, contacts(3, "110105")); err != nil || tk != 0 {
			t.Fatalf("known contacts: ticket %d, %v", tk, err)
		}
		if err := w.Wait(ctx, 0); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAsyncWaitReturnsAtOnce(t *testing.T) {
	w := New(Config{Store: &fakeStore{}}) // Run not started: nothing is ever stored
	tk, err := w.Add(t.Context(), contacts(3, "110105"))
	if err != nil || tk == 0 {
		t.Fatalf("ticket %d, %v", tk, err)
	}
	if err := w.Wait(t.Context(), tk); err != nil {
		t.Fatal(err)
	}
}

func TestAdvisorySeesQueuedContacts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		w := New(Config{Store: s, FlushEvery: time.Hour})
		stop := start(w)
		defer stop()
		if _, err := w.Add(t.Context(), append(contacts(2, "440305"), contacts(3, "110108")...)); err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := w.ContactsInRegions(t.Context(), []string{"440000"}, func(p string) error { got = append(got, p); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("advisory reached %v, want the 2 queued contacts of 440000", got)
		}
	})
}

func TestRetriesFailedWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{failures: 3}
		var logs strings.Builder
		reg := prometheus.NewRegistry()
		w := New(Config{Store: s, Metrics: NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		stop := start(w)
		defer stop()
		if _, err := w.Add(t.Context(), contacts(7, "110105")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if s.stored() != 7 || testutil.ToFloat64(w.cfg.Metrics.errors) != 3 || !strings.Contains(logs.String(), "retrying") {
			t.Fatalf("stored %d after %v errors; log %q", s.stored(), testutil.ToFloat64(w.cfg.Metrics.errors), logs.String())
		}
	})
}

func TestStopGivesUpAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{failures: 1 << 30}
		var logs strings.Builder
		w := New(Config{Store: s, FlushEvery: time.Hour, StopTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		stop := start(w)
		if _, err := w.Add(t.Context(), contacts(4, "110105")); err != nil {
			t.Fatal(err)
		}
		stop()
		if !strings.Contains(logs.String(), "contacts=4") {
			t.Fatalf("loss not logged: %q", logs.String())
		}
		if err := w.Flush(t.Context()); !errors.Is(err, ErrStopped) {
			t.Fatalf("Flush after a failed stop: %v", err)
		}
	})
}
