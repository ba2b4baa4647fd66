package smsc

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
)

// idGen hands out unique message ids: a counter from a random base, shown
// in the configured format.
type idGen struct {
	format string
	n      atomic.Uint64
	base   uint64
	mask   uint64 // uuid: scrambles the counter bits (xor keeps them unique)
	hi     [10]byte
}

func newIDGen(format string, r func() uint64) *idGen {
	g := &idGen{format: format, mask: r() & (1<<48 - 1)}
	switch format {
	case IDDecimal, IDPadded:
		g.base = 1_000_000_000 + r()%1_000_000_000
	default:
		g.base = 1<<36 | r()&(1<<35-1)
	}
	binary.BigEndian.PutUint64(g.hi[0:8], r())
	binary.BigEndian.PutUint16(g.hi[8:10], uint16(r()))
	g.hi[6] = g.hi[6]&0x0f | 0x40 // version 4
	g.hi[8] = g.hi[8]&0x3f | 0x80 // RFC 4122 variant
	return g
}

func (g *idGen) next() string {
	n := g.n.Add(1)
	switch g.format {
	case IDDecimal:
		return strconv.FormatUint(g.base+n, 10)
	case IDPadded:
		return fmt.Sprintf("%016d", g.base+n)
	case IDUUID:
		var b [16]byte
		copy(b[:10], g.hi[:])
		v := (n ^ g.mask) & (1<<48 - 1)
		b[10], b[11], b[12], b[13], b[14], b[15] = byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		var s [36]byte
		hex.Encode(s[0:8], b[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], b[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], b[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], b[8:10])
		s[23] = '-'
		hex.Encode(s[24:36], b[10:16])
		return string(s[:])
	default:
		return strconv.FormatUint(g.base+n, 16)
	}
}

// restart makes the ids start again from the first one.
func (g *idGen) restart() { g.n.Store(0) }
