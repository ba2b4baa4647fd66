package directory

import (
	"hash/maphash"

	"github.com/traffic12123/gateway/internal/ledger"
)

// knownSet remembers 64-bit hashes of contacts this process has stored.
// It is a 4-way set-associative table of fixed size: a hash lives in one
// bucket of four slots, and a full bucket gives up one of them (chosen by
// the hash's top bits). So memory never grows, nothing is ever cleared at
// once, and entries age out as new ones arrive. A hash collision (two
// contacts with one hash, about n²/2⁶⁵ for n contacts) would skip the
// second contact's write; a lost entry only costs a redundant write.
// Not safe for concurrent use.
type knownSet struct {
	seed  maphash.Seed
	slots []uint64 // 0 is empty
	mask  uint64   // bucket index mask, in slots, aligned to 4
}

// newKnownSet returns a set using at most bytes of memory (rounded down to
// a power of two of 32 bytes or more); bytes <= 0 gives an empty set that
// remembers nothing.
func newKnownSet(bytes int) *knownSet {
	k := &knownSet{seed: maphash.MakeSeed()}
	if bytes < 32 {
		return k
	}
	n := 4
	for n*2*8 <= bytes {
		n *= 2
	}
	k.slots = make([]uint64, n)
	k.mask = uint64(n-1) &^ 3
	return k
}

// hash returns the contact's hash (never 0), stable within the process.
func (k *knownSet) hash(c *ledger.Contact) uint64 {
	var h maphash.Hash
	h.SetSeed(k.seed)
	h.WriteString(c.Region)
	h.WriteByte(0)
	h.WriteString(c.Phone)
	h.WriteByte(0)
	h.WriteString(c.Entity)
	return max(h.Sum64(), 1)
}

// has reports whether h was added and not yet displaced.
func (k *knownSet) has(h uint64) bool {
	if k.slots == nil {
		return false
	}
	b := k.slots[h&k.mask:][:4]
	return b[0] == h || b[1] == h || b[2] == h || b[3] == h
}

// add remembers h, displacing another hash of its bucket when it is full.
func (k *knownSet) add(h uint64) {
	if k.slots == nil {
		return
	}
	b := k.slots[h&k.mask:][:4]
	for i, v := range b {
		if v == h {
			return
		}
		if v == 0 {
			b[i] = h
			return
		}
	}
	b[h>>62] = h
}

// size is the number of slots (the most hashes the set can hold).
func (k *knownSet) size() int { return len(k.slots) }
