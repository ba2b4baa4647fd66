// Package dtmf turns the three ways a telephone network carries key presses
// into digits: RFC 4733 telephone-event RTP payloads, SIP INFO bodies
// (application/dtmf-relay and application/dtmf) and in-band tones (Goertzel).
// It does no I/O: callers feed it packets, bodies or samples and get runes.
//
// The RFC 4733 decoder reports a digit on the first packet of an event,
// identified by its RTP timestamp, so it tolerates senders that start a digit
// with duration 0 (sipp's shipped captures), retransmitted end packets and the
// same key pressed twice in a row (a new timestamp each time).
package dtmf

import (
	"errors"
	"time"
)

// ErrShortPayload is returned for a telephone-event payload under 4 bytes.
var ErrShortPayload = errors.New("dtmf: telephone-event payload shorter than 4 bytes")

// Event is one decoded RFC 4733 payload.
type Event struct {
	Code     uint8 // 0-9, 10 '*', 11 '#', 12-15 A-D, others non-DTMF
	End      bool
	Volume   uint8
	Duration uint16 // in RTP timestamp units
}

// ParseEvent decodes a telephone-event payload (RFC 4733 section 2.3).
func ParseEvent(p []byte) (Event, error) {
	if len(p) < 4 {
		return Event{}, ErrShortPayload
	}
	return Event{
		Code:     p[0],
		End:      p[1]&0x80 != 0,
		Volume:   p[1] & 0x3f,
		Duration: uint16(p[2])<<8 | uint16(p[3]),
	}, nil
}

// Rune maps an event code to its key, false when the code is no DTMF key.
func Rune(code uint8) (rune, bool) {
	const keys = "0123456789*#ABCD"
	if int(code) < len(keys) {
		return rune(keys[code]), true
	}
	return 0, false
}

// Code maps a key to its event code, false when r is no DTMF key.
func Code(r rune) (uint8, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint8(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return uint8(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return uint8(r-'a') + 12, true
	}
	return 0, false
}

// Decoder follows one RTP stream of telephone-events. The zero value is
// ready. It is not safe for concurrent use.
type Decoder struct {
	started bool
	ts      uint32 // timestamp of the current event
	ended   bool
	endSeq  uint16    // sequence number of the first end packet seen
	last    time.Time // arrival of the current event's latest packet
}

// Replayed is how long an event must have been quiet before a packet that
// looks like its own (same or older timestamp and sequence number, no end
// bit) counts as a new key: what replaying the same capture twice, or
// captures out of order, sends (sipp's play_pcap_audio). Retransmitted and
// reordered packets arrive well within it.
const Replayed = 250 * time.Millisecond

// Packet feeds one telephone-event packet with its RTP sequence number and
// timestamp, arriving now, and returns the key when it starts a new event.
//
// An event is its timestamp. Senders that never advance the timestamp (no
// audio flowing, as diago's writer) are handled: after an event ended, a
// packet without the end bit and a newer sequence number starts a new one,
// while retransmitted end packets and late packets do not.
func (d *Decoder) Packet(seq uint16, timestamp uint32, payload []byte) (rune, bool) {
	return d.PacketAt(time.Now(), seq, timestamp, payload)
}

// PacketAt is Packet with the arrival time given.
func (d *Decoder) PacketAt(now time.Time, seq uint16, timestamp uint32, payload []byte) (rune, bool) {
	ev, err := ParseEvent(payload)
	if err != nil {
		return 0, false
	}
	r, ok := Rune(ev.Code)
	if !ok {
		return 0, false
	}
	if d.started {
		quiet := now.Sub(d.last) > Replayed
		diff := int32(timestamp - d.ts)
		switch {
		case diff < 0:
			if ev.End || !quiet {
				return 0, false // a late packet of an earlier event
			}
			// An older capture replayed: a new key.
		case diff == 0:
			if !d.ended {
				d.last = now
				if ev.End {
					d.ended, d.endSeq = true, seq
				}
				return 0, false
			}
			if ev.End || (int16(seq-d.endSeq) <= 0 && !quiet) {
				d.last = now
				return 0, false // retransmitted end or late packet
			}
			// The timestamp was reused for a new key.
		}
	}
	d.started = true
	d.ts = timestamp
	d.ended = ev.End
	d.endSeq = seq
	d.last = now
	return r, true
}
