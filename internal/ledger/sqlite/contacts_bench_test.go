package sqlite_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
)

// BenchmarkUpsertContacts inserts a million new directory rows (random
// phones, as a sweep over people the ledger does not know writes them)
// into a fresh ledger per operation, and reports ns/row. Rows are sorted
// by key in runs of sort rows (0: not sorted) and written in transactions
// of tx rows: the B-tree pages a transaction dirties, each written whole
// to the WAL, are what a row costs.
func BenchmarkUpsertContacts(b *testing.B) {
	const contactsPerOp = 1_000_000
	regions := []string{"110105", "110108", "310115", "440305", "440106", "500103", "130102", "320102"}
	for _, bc := range []struct{ sort, tx int }{
		{0, 2000},          // each ingest batch written with the batch (before the directory writer)
		{10_000, 10_000},   // small flushes
		{100_000, 100_000}, // one transaction per large flush
		{100_000, 10_000},  // a large sorted flush in key-range transactions
		{100_000, 2_000},   // ... smaller ones
	} {
		b.Run(fmt.Sprintf("sort=%d/tx=%d", bc.sort, bc.tx), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			cs := make([]ledger.Contact, contactsPerOp)
			for i := range cs {
				cs[i] = ledger.Contact{Region: regions[r.IntN(len(regions))], Phone: fmt.Sprintf("13%09d", r.IntN(1e9)), Entity: fmt.Sprintf("京A%05d", r.IntN(1e5))}
			}
			for lo := 0; bc.sort > 0 && lo < len(cs); lo += bc.sort {
				slices.SortFunc(cs[lo:min(lo+bc.sort, len(cs))], func(a, b ledger.Contact) int {
					return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Phone, b.Phone), cmp.Compare(a.Entity, b.Entity))
				})
			}
			for b.Loop() {
				b.StopTimer()
				s := factory(b, nil)
				b.StartTimer()
				for lo := 0; lo < len(cs); lo += bc.tx {
					if err := s.UpsertContacts(b.Context(), cs[lo:min(lo+bc.tx, len(cs))]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*contactsPerOp), "ns/row")
		})
	}
}
