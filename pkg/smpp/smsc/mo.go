package smsc

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// MO is a mobile-originated message: a handset writing to an ESME (a reply,
// an opt-out keyword).
type MO struct {
	SystemID string // the ESME account it is for
	From     string // the handset
	To       string // the ESME's address, e.g. "12123"
	Text     string
}

// gsmASCII lists the ASCII characters whose GSM 03.38 code is their ASCII
// code, so unpacked GSM7 is the ASCII bytes themselves.
const gsmASCII = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !\"#%&'()*+,-./:;<=>?\n\r"

// Deliver queues a mobile-originated message for the receiver binds of
// m.SystemID as deliver_sm with esm_class 0: GSM7 (data_coding 0, unpacked)
// when every character is ASCII with the same GSM code, else UCS2; longer
// than one message, it is split into parts with an 8-bit concatenation UDH.
// It travels like a receipt: windowed, waiting for a receiver bind,
// redelivered on error or timeout. Stats().MODelivered counts the parts
// acknowledged.
func (s *Server) Deliver(m MO) error {
	if m.From == "" || m.To == "" {
		return fmt.Errorf("%w: MO needs From and To", ErrConfig)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	dc, parts := splitMO(m.Text, uint8(s.moRef.Add(1)))
	if s.pending.Add(int64(len(parts))) > int64(s.cfg.MaxPendingReceipts) {
		s.pending.Add(-int64(len(parts)))
		return ErrBusy
	}
	now := time.Now()
	for _, p := range parts {
		esm := uint8(0)
		if len(parts) > 1 {
			esm = 0x40
		}
		s.route(&receipt{
			systemID: m.SystemID, submitted: now, due: now,
			handset: addr{1, 1, m.From}, esme: addr{0, 0, m.To},
			mo: &moPart{dc: dc, esm: esm, payload: p},
		})
	}
	return nil
}

type moPart struct {
	dc, esm uint8
	payload []byte // with the UDH
}

// splitMO encodes text and cuts it into short_message payloads.
func splitMO(text string, ref uint8) (uint8, [][]byte) {
	gsm := true
	for _, r := range text {
		if r > 0x7F || !strings.ContainsRune(gsmASCII, r) {
			gsm = false
			break
		}
	}
	if gsm {
		b := []byte(text)
		if len(b) <= 160 {
			return CodingGSM7, [][]byte{b}
		}
		var chunks [][]byte
		for len(b) > 153 {
			chunks = append(chunks, b[:153])
			b = b[153:]
		}
		return CodingGSM7, withUDH(append(chunks, b), ref)
	}
	var units []uint16
	for _, r := range text {
		units = utf16.AppendRune(units, r)
	}
	enc := func(u []uint16) []byte {
		out := make([]byte, 0, 2*len(u))
		for _, x := range u {
			out = append(out, byte(x>>8), byte(x))
		}
		return out
	}
	if len(units) <= 70 {
		return CodingUCS2, [][]byte{enc(units)}
	}
	var chunks [][]byte
	for len(units) > 67 {
		n := 67
		if utf16.IsSurrogate(rune(units[n-1])) && units[n-1] < 0xDC00 {
			n-- // keep a surrogate pair together
		}
		chunks = append(chunks, enc(units[:n]))
		units = units[n:]
	}
	return CodingUCS2, withUDH(append(chunks, enc(units)), ref)
}

func withUDH(chunks [][]byte, ref uint8) [][]byte {
	out := make([][]byte, len(chunks))
	for i, c := range chunks {
		out[i] = append([]byte{5, 0x00, 3, ref, byte(len(chunks)), byte(i + 1)}, c...)
	}
	return out
}

// appendDeliverMO appends a mobile-originated deliver_sm.
func appendDeliverMO(b []byte, seq uint32, r *receipt) []byte {
	e := encoder{b: b}
	e.begin(cmdDeliverSM, 0, seq)
	e.cstring("")
	e.byte1(r.handset.ton)
	e.byte1(r.handset.npi)
	e.cstring(r.handset.number)
	e.byte1(r.esme.ton)
	e.byte1(r.esme.npi)
	e.cstring(r.esme.number)
	e.byte1(r.mo.esm)
	e.byte1(0) // protocol_id
	e.byte1(0) // priority_flag
	e.cstring("")
	e.cstring("")
	e.byte1(0) // registered_delivery
	e.byte1(0) // replace_if_present_flag
	e.byte1(r.mo.dc)
	e.byte1(0) // sm_default_msg_id
	e.byte1(uint8(len(r.mo.payload)))
	e.b = append(e.b, r.mo.payload...)
	e.finish()
	return e.b
}
