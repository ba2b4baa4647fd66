package sqlite_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
)

// BenchmarkUpsertContacts inserts contactsPerOp new directory rows (random
// phones, as a daily sweep over unknown people writes them) into a fresh
// ledger per operation, in batches of the given size, and reports ns/row.
func BenchmarkUpsertContacts(b *testing.B) {
	const contactsPerOp = 200_000
	regions := []string{"110105", "110108", "310115", "440305", "440106", "500103", "130102", "320102"}
	for _, bc := range []struct {
		batch  int
		sorted bool
	}{{2000, false}, {2000, true}, {20000, true}, {100000, true}} {
		b.Run(fmt.Sprintf("batch=%d/sorted=%v", bc.batch, bc.sorted), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			cs := make([]ledger.Contact, contactsPerOp)
			for i := range cs {
				cs[i] = ledger.Contact{Region: regions[r.IntN(len(regions))], Phone: fmt.Sprintf("13%09d", r.IntN(1e9)), Entity: fmt.Sprintf("京A%05d", r.IntN(1e5))}
			}
			if bc.sorted {
				for lo := 0; lo < len(cs); lo += bc.batch {
					slices.SortFunc(cs[lo:min(lo+bc.batch, len(cs))], func(a, b ledger.Contact) int {
						return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Phone, b.Phone), cmp.Compare(a.Entity, b.Entity))
					})
				}
			}
			for b.Loop() {
				b.StopTimer()
				s := factory(b, nil)
				b.StartTimer()
				for lo := 0; lo < len(cs); lo += bc.batch {
					if err := s.UpsertContacts(b.Context(), cs[lo:min(lo+bc.batch, len(cs))]); err != nil {
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
