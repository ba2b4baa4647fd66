package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
	"github.com/traffic12123/gateway/internal/message"
)

// dsn returns the test database, skipping when none is configured (failing
// under CI=true, where .ci/postgres.sh must have provided one).
func dsn(tb testing.TB) string {
	tb.Helper()
	d := os.Getenv("SMSGW_TEST_POSTGRES_DSN")
	if d == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("SMSGW_TEST_POSTGRES_DSN unset under CI: run .ci/postgres.sh")
		}
		tb.Skip("SMSGW_TEST_POSTGRES_DSN unset; eval \"$(.ci/postgres.sh)\" to run")
	}
	return d
}

// factory opens a store in a fresh schema, dropped after the test.
func factory(tb testing.TB, clock func() time.Time) ledger.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), schemaDSN(tb), ledger.Options{Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// schemaDSN creates a fresh schema, dropped after the test, and returns a
// DSN that uses it.
func schemaDSN(tb testing.TB) string {
	tb.Helper()
	base := dsn(tb)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "ledger_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) { ledgertest.Run(t, factory) }

func BenchmarkLedger(b *testing.B) { ledgertest.Bench(b, factory) }

// TestInstancesShareWork runs two stores (two pools, as two gateway
// instances would) on one database: their claims are disjoint and cover
// every due message.
func TestInstancesShareWork(t *testing.T) {
	d := schemaDSN(t)
	var stores [2]ledger.Store
	for i := range stores {
		s, err := postgres.Open(t.Context(), d, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var ms []*message.Message
	for i := range 2000 {
		ms = append(ms, ledgertest.Msg("ev", "r", i))
	}
	// Both instances insert the same batch (a redelivered event after a
	// rebalance): one row per key.
	var wg sync.WaitGroup
	for _, s := range stores {
		batch := make([]*message.Message, len(ms))
		for i, m := range ms {
			c := *m
			batch[i] = &c
		}
		wg.Go(func() {
			if err := s.Insert(t.Context(), batch); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	claimed := make([]map[int64]bool, 2)
	for i, s := range stores {
		claimed[i] = map[int64]bool{}
		wg.Go(func() {
			for {
				got, err := s.Claim(t.Context(), time.Now(), 50, fmt.Sprint("instance", i))
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, m := range got {
					claimed[i][m.ID] = true
				}
			}
		})
	}
	wg.Wait()
	for id := range claimed[0] {
		if claimed[1][id] {
			t.Fatalf("message %d claimed by both instances", id)
		}
	}
	if n := len(claimed[0]) + len(claimed[1]); n != len(ms) {
		t.Fatalf("claimed %d of %d", n, len(ms))
	}
	t.Logf("instance claims: %d and %d", len(claimed[0]), len(claimed[1]))
	// Instance 1 recovers only its own rows.
	n, err := stores[1].Recover(t.Context(), "instance1", time.Time{})
	if err != nil || n != len(claimed[1]) {
		t.Fatalf("recover = %d %v, want %d", n, err, len(claimed[1]))
	}
}

// TestConcurrentDuplicateReceipts has two instances apply the same receipts
// at the same time (an SMSC redelivering on another bind): each receipt is
// applied once, the other copy is a duplicate.
func TestConcurrentDuplicateReceipts(t *testing.T) {
	d := schemaDSN(t)
	var stores [2]ledger.Store
	for i := range stores {
		s, err := postgres.Open(t.Context(), d, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var ms []*message.Message
	for i := range 300 {
		ms = append(ms, ledgertest.Msg("ev", "r", i))
	}
	if err := stores[0].Insert(t.Context(), ms); err != nil {
		t.Fatal(err)
	}
	got, err := stores[0].Claim(t.Context(), time.Now(), len(ms), "a")
	if err != nil || len(got) != len(ms) {
		t.Fatalf("claim %d %v", len(got), err)
	}
	var subs []ledger.Submission
	var rs []ledger.Receipt
	for _, m := range got {
		id := fmt.Sprintf("%x", m.ID)
		subs = append(subs, ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{id}})
		rs = append(rs, ledger.Receipt{Carrier: "cmcc", MessageID: id, Stat: "DELIVRD"})
	}
	if err := stores[0].Submitted(t.Context(), subs); err != nil {
		t.Fatal(err)
	}
	var results [2][]ledger.ReceiptResult
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			var err error
			if results[i], err = s.Receipts(t.Context(), rs); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for j := range rs {
		a, b := results[0][j], results[1][j]
		if (a.Outcome == ledger.OutcomeMatched) == (b.Outcome == ledger.OutcomeMatched) {
			t.Fatalf("receipt %d applied %s and %s", j, a.Outcome, b.Outcome)
		}
	}
	pend, err := stores[1].PendingStatus(t.Context(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for _, c := range pend {
		if c.State == message.StateDelivered {
			delivered++
		}
	}
	if delivered != len(ms) {
		t.Fatalf("%d delivered status changes for %d messages", delivered, len(ms))
	}
}

// TestReceiptRacesSubmit applies receipts on one instance while another
// records the submits of the same ids: whichever commits first, every
// receipt ends up applied (none stranded in pending).
func TestReceiptRacesSubmit(t *testing.T) {
	d := schemaDSN(t)
	var stores [2]ledger.Store
	for i := range stores {
		s, err := postgres.Open(t.Context(), d, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	for round := range 20 {
		var ms []*message.Message
		for i := range 50 {
			ms = append(ms, ledgertest.Msg(fmt.Sprint("ev", round), "r", i))
		}
		if err := stores[0].Insert(t.Context(), ms); err != nil {
			t.Fatal(err)
		}
		got, err := stores[0].Claim(t.Context(), time.Now(), len(ms), "a")
		if err != nil || len(got) != len(ms) {
			t.Fatalf("claim %d %v", len(got), err)
		}
		var subs []ledger.Submission
		var rs []ledger.Receipt
		for _, m := range got {
			id := fmt.Sprintf("%x", m.ID)
			subs = append(subs, ledger.Submission{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{id}})
			rs = append(rs, ledger.Receipt{Carrier: "cmcc", MessageID: id, Stat: "DELIVRD"})
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := stores[0].Submitted(t.Context(), subs); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := stores[1].Receipts(t.Context(), rs); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		sum, err := stores[1].Summary(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if sum.Pending != 0 || sum.States[message.StateDelivered] != (round+1)*len(ms) {
			t.Fatalf("round %d: %d pending, states %v", round, sum.Pending, sum.States)
		}
	}
}

// TestOutboxNoGaps publishes status changes (read, then acknowledge up to
// the last id) while several transactions on two instances write them: ids
// are taken in commit order, so acknowledging up to an id never skips a
// change committed later with a smaller id.
func TestOutboxNoGaps(t *testing.T) {
	d := schemaDSN(t)
	var stores [2]ledger.Store
	for i := range stores {
		s, err := postgres.Open(t.Context(), d, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted = map[int64]bool{}
		done     = make(chan struct{})
	)
	for w := range 6 {
		s := stores[w%2]
		wg.Go(func() {
			for b := range 40 {
				var ms []*message.Message
				for i := range 5 {
					ms = append(ms, ledgertest.Msg(fmt.Sprintf("w%d-b%d", w, b), "r", i))
				}
				if err := s.Insert(t.Context(), ms); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range ms {
					inserted[m.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	published := map[int64]bool{}
	var pub sync.WaitGroup
	pub.Go(func() {
		for {
			// A read that starts after every writer committed, and finds
			// nothing, ends the drain (an empty read before that proves
			// nothing: the last commit may come right after it).
			finished := false
			select {
			case <-done:
				finished = true
			default:
			}
			cs, err := stores[0].PendingStatus(t.Context(), 7)
			if err != nil {
				t.Error(err)
				return
			}
			for _, c := range cs {
				published[c.MessageID] = true
			}
			if len(cs) > 0 {
				if err := stores[0].AckStatus(t.Context(), cs[len(cs)-1].ID); err != nil {
					t.Error(err)
					return
				}
				continue
			}
			if finished {
				return
			}
		}
	})
	wg.Wait()
	close(done)
	pub.Wait()
	if len(inserted) != 6*40*5 {
		t.Fatalf("inserted %d", len(inserted))
	}
	for id := range inserted {
		if !published[id] {
			t.Fatalf("status change of message %d never published", id)
		}
	}
}
