package smsc

import (
	"sync"
	"time"
)

// Submit is one submit_sm as the simulator received it.
type Submit struct {
	Bind       uint64 // connection number, 1 for the first connection since start
	SystemID   string
	Source     string
	Dest       string
	ESMClass   uint8
	DataCoding uint8
	// RegisteredDelivery is the submit's registered_delivery field.
	RegisteredDelivery uint8
	UDH                []byte // with its length byte; nil without UDHI
	Payload            []byte // short_message (or message_payload) without the UDH
	Text               string // Payload decoded with DecodeText
	// Concatenation: Total parts of reference Ref, this is part Seq
	// (1-based); Total is 0 for a single message. SAR says the SAR TLVs
	// carried it rather than the UDH.
	Ref        uint16
	Total, Seq int
	SAR        bool
	MessageID  string // empty when refused
	Status     uint32 // command_status answered (or that would have been)
	// Stat is the part's outcome at the handset, the stat of its
	// receipt (sent or not: LoseReceipts, registered_delivery 2); empty
	// when refused or when no receipt was asked for (then the handset
	// gets it).
	Stat     string
	Answered bool // false when a fault swallowed the response
	Time     time.Time
}

// OnHandset reports whether the handset got the part: the SMSC accepted
// it and its outcome is not a failure (a part whose receipt says
// UNDELIV, REJECTD, EXPIRED, DELETED or UNKNOWN never reached it).
func (s *Submit) OnHandset() bool {
	return s.Status == StatusOK && (s.Stat == "" || s.Stat == StatDelivered || s.Stat == StatAccepted)
}

// Delivered is a complete message the SMSC accepted: all parts of a
// concatenated message joined, or a single message. The handset shows it
// when every part is on it (OnHandset).
type Delivered struct {
	Source, Dest string
	Text         string
	DataCoding   uint8
	Parts        int
	MessageIDs   []string  // one per part, in part order
	Stats        []string  // per part, its outcome (Submit.Stat)
	Time         time.Time // when the last part arrived
}

// OnHandset reports whether every part of d reached the handset.
func (d *Delivered) OnHandset() bool {
	for _, st := range d.Stats {
		if st != "" && st != StatDelivered && st != StatAccepted {
			return false
		}
	}
	return true
}

type partKey struct {
	source, dest string
	ref          uint16
	total        int
}

type partial struct {
	payloads [][]byte
	ids      []string
	stats    []string
	got      int
	dc       uint8
	seq      uint64 // arrival order, for eviction
}

// maxPartials bounds concatenated messages waiting for parts.
const maxPartials = 10_000

// store keeps the latest submits and delivered messages (rings bounded by
// max) and reassembles concatenated messages.
type store struct {
	mu        sync.Mutex
	max       int
	submits   ring[Submit]
	messages  ring[Delivered]
	partials  map[partKey]*partial
	nextSeq   uint64
	evicted   uint64
	delivered uint64
}

func newStore(limit int) *store {
	return &store{max: limit, partials: map[partKey]*partial{}}
}

// ring keeps the latest limit items.
type ring[T any] struct {
	items []T
	start int
}

func (r *ring[T]) add(limit int, v T) {
	if len(r.items) < limit {
		r.items = append(r.items, v)
		return
	}
	r.items[r.start] = v
	r.start = (r.start + 1) % limit
}

func (r *ring[T]) list() []T {
	out := make([]T, 0, len(r.items))
	out = append(out, r.items[r.start:]...)
	return append(out, r.items[:r.start]...)
}

// add records a submit and, if it was accepted, what the handset gets.
func (st *store) add(sub Submit) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.max > 0 {
		st.submits.add(st.max, sub)
	}
	if sub.Status != StatusOK {
		return
	}
	if sub.Total <= 1 || sub.Seq < 1 || sub.Seq > sub.Total {
		st.deliver(Delivered{
			Source: sub.Source, Dest: sub.Dest, Text: sub.Text, DataCoding: sub.DataCoding,
			Parts: 1, MessageIDs: []string{sub.MessageID}, Stats: []string{sub.Stat}, Time: sub.Time,
		})
		return
	}
	k := partKey{source: sub.Source, dest: sub.Dest, ref: sub.Ref, total: sub.Total}
	p := st.partials[k]
	if p == nil {
		if len(st.partials) >= maxPartials {
			st.evictOldest()
		}
		st.nextSeq++
		p = &partial{payloads: make([][]byte, sub.Total), ids: make([]string, sub.Total), stats: make([]string, sub.Total), dc: sub.DataCoding, seq: st.nextSeq}
		st.partials[k] = p
	}
	i := sub.Seq - 1
	if p.payloads[i] == nil {
		p.got++
	}
	p.payloads[i] = sub.Payload // owned by the record, never modified
	if p.payloads[i] == nil {
		p.payloads[i] = []byte{}
	}
	p.ids[i] = sub.MessageID
	p.stats[i] = sub.Stat
	if p.got < sub.Total {
		return
	}
	delete(st.partials, k)
	var all []byte
	for _, b := range p.payloads {
		all = append(all, b...)
	}
	st.deliver(Delivered{
		Source: sub.Source, Dest: sub.Dest, Text: DecodeText(p.dc, all), DataCoding: p.dc,
		Parts: sub.Total, MessageIDs: p.ids, Stats: p.stats, Time: sub.Time,
	})
}

func (st *store) deliver(d Delivered) {
	st.delivered++
	if st.max > 0 {
		st.messages.add(st.max, d)
	}
}

func (st *store) evictOldest() {
	var oldest partKey
	var seq uint64
	for k, p := range st.partials {
		if seq == 0 || p.seq < seq {
			oldest, seq = k, p.seq
		}
	}
	delete(st.partials, oldest)
	st.evicted++
}
