package directory

import (
	"context"
	"fmt"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
)

type discardStore struct{}

func (discardStore) UpsertContacts(context.Context, []ledger.Contact) error { return nil }
func (discardStore) ContactsInRegions(context.Context, []string, func(string) error) error {
	return nil
}

// BenchmarkAdd is the pipeline's cost per ingest batch of 2,000 contacts:
// new ones (hash, queue, and the flush's sort and set updates, the store
// discarding the rows) and known ones (hash and set lookup only).
func BenchmarkAdd(b *testing.B) {
	const batch = 2000
	regions := []string{"110105", "110108", "310115", "440305", "440106", "500103", "130102", "320102"}
	next := 0
	gen := func() []ledger.Contact {
		cs := make([]ledger.Contact, batch)
		for i := range cs {
			next++
			cs[i] = ledger.Contact{Region: regions[next%len(regions)], Phone: fmt.Sprintf("13%09d", (next*7919)%1e9), Entity: fmt.Sprintf("京A%05d", next%1e5)}
		}
		return cs
	}
	b.Run("new", func(b *testing.B) {
		w := New(Config{Store: discardStore{}, KnownMB: 16})
		i := 0
		for b.Loop() {
			b.StopTimer()
			cs := gen() // never seen
			b.StartTimer()
			if _, err := w.Add(b.Context(), cs); err != nil {
				b.Fatal(err)
			}
			i++
			if i%25 == 0 { // a flush per 50,000, as in a sweep
				w.flush(b.Context())
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/contact")
	})
	b.Run("known", func(b *testing.B) {
		w := New(Config{Store: discardStore{}, KnownMB: 16})
		cs := gen()
		if _, err := w.Add(b.Context(), cs); err != nil {
			b.Fatal(err)
		}
		w.flush(b.Context())
		for b.Loop() {
			if tk, err := w.Add(b.Context(), cs); err != nil || tk != 0 {
				b.Fatal(tk, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/contact")
	})
}
