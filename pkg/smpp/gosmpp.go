package smpp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"

	fpdu "github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// The wire codec is github.com/fiorix/go-smpp's smpp/pdu package (with
// pdufield and pdutlv), pinned at v0.0.0-20210403173735-2894b96e70ba: Decode
// runs every PDU it knows through pdu.Decode and converts the pdu.Body into
// this package's types, and AppendTo builds a go-smpp body from them and
// serializes it with the body's SerializeTo. Only the session layer above
// it (session.go, client.go) is this package's own.
//
// The hand-written codec in codec.go stays as the fallback, for exactly
// these defects of go-smpp at that version (each has a test in
// gosmpp_test.go):
//
//   - PDUs it does not implement: pdu.Decode answers "PDU not implemented"
//     for data_sm, data_sm_resp, alert_notification, outbind, cancel_sm,
//     cancel_sm_resp, replace_sm, replace_sm_resp, and it has no
//     constructors for them.
//   - query_sm_resp: its field list reads message_state and error_code,
//     one-octet integers, as NUL-terminated strings, so it mis-parses.
//   - submit_multi(_resp): this package keeps them as *Raw.
//   - deliver_sm encoding: pdu.NewDeliverSM's field list still carries the
//     UDH fields, and SerializeTo fills a missing gsm_sms_ud.udh.len with a
//     default, writing a stray 0x00 between sm_length and short_message.
//     We serialize deliver_sm with go-smpp's submit_sm body (same layout in
//     SMPP 3.4) under the deliver_sm command id instead, which is correct.
//   - deliver_sm decoding with esm_class UDHI: go-smpp splits the UDH out of
//     short_message and walks it IE by IE; a UDH whose IEs do not add up to
//     its length is mis-parsed (the walk runs into the text), and a UDHI
//     deliver_sm that carries its text in message_payload (sm_length 0) is
//     refused because it reads the UDH length from the TLV tag. Consistent
//     UDHs are re-joined here; the rest goes to the hand-written decoder.
//   - Truncated bodies: a C-Octet String cut by the end of the body ends
//     the field list without an error (io.EOF is a "break"), so a truncated
//     PDU decodes with fields missing. We require every field of the list.
//   - Lengths: it bounds a PDU at pdu.MaxSize (4096 octets), too little for
//     a message_payload, and nothing else: C-Octet Strings are unbounded,
//     sm_length and TLV lengths are written as byte(len) / uint16(len)
//     without a check (a 300-octet short_message goes out with sm_length
//     44). PDUs above 4096 octets are decoded by hand; before encoding,
//     validate applies SMPP 3.4's limits; after decoding, strings longer
//     than maxDecodedCString are refused. Framing (ReadFrame) stays ours:
//     pdu.Decode reads the body before it knows whether it can parse it,
//     which leaves nothing for a fallback and a stream out of step.
//   - TLVs: pdutlv.Map loses their order and all but one of a repeated
//     tag, and trailing octets too short for a TLV are dropped silently.
//     Decoded TLVs are put back in wire order; when the octets go-smpp
//     accounts for do not add up to the body, the hand-written decoder
//     decides. On encoding each TLV is serialized with pdutlv.Field in
//     this package's order rather than from a map in random order.
//   - Error responses: a response with a non-zero status whose body does
//     not parse is still a response with that status; go-smpp fails it.
//   - Panics: none found by fuzzing pdu.Decode at that version, but a
//     decoder fed by the network must not take the process down: a panic
//     inside go-smpp becomes a *MalformedError (FuzzGoSMPPPanic).
//
// Whenever go-smpp refuses a PDU, the hand-written decoder decides: a
// PDU both refuse is a *MalformedError naming the field.

// goSMPPDecoder is pdu.Decode's signature; tests pass decoders that panic
// to prove a panic never escapes Decode.
type goSMPPDecoder func(io.Reader) (fpdu.Body, error)

// decodedByGoSMPP reports whether Decode hands a command to pdu.Decode.
func decodedByGoSMPP(c CommandID) bool {
	switch c {
	case BindReceiver, BindTransmitter, BindTransceiver,
		BindReceiverResp, BindTransmitterResp, BindTransceiverResp,
		SubmitSM, SubmitSMResp, DeliverSM, DeliverSMResp, QuerySM,
		EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack:
		return true
	}
	return false
}

// Decode parses one whole PDU (header included). The body may keep
// references into b: do not reuse b while the PDU is in use.
//
// A response with a non-zero status and an empty body decodes with a nil
// Body, as does a response whose body is empty where SMPP 3.4 expects one
// (some SMSCs send deliver_sm_resp without its empty message_id). Unknown
// command ids decode with a *Raw body; the caller answers generic_nack.
//
// PDUs go-smpp knows are decoded by go-smpp's pdu.Decode; see the comment
// at the top of gosmpp.go for the ones decoded by hand and why.
func Decode(b []byte) (*PDU, error) { return decode(b, fpdu.Decode) }

func decode(b []byte, dec goSMPPDecoder) (*PDU, error) {
	if err := checkFrame(b); err != nil {
		return nil, err
	}
	cmd := CommandID(binary.BigEndian.Uint32(b[4:]))
	if decodedByGoSMPP(cmd) && len(b) <= fpdu.MaxSize {
		p, ok, err := decodeGoSMPP(b, cmd, dec)
		if err != nil || ok {
			return p, err
		}
	}
	return decodeHand(b)
}

// decodeGoSMPP decodes b with go-smpp. ok false means go-smpp refused or
// mis-parsed it and the hand-written decoder must decide; err is set only
// for a panic inside go-smpp.
func decodeGoSMPP(b []byte, cmd CommandID, dec goSMPPDecoder) (p *PDU, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = &PDU{
				Command: cmd,
				Status:  Status(binary.BigEndian.Uint32(b[8:])),
				Seq:     binary.BigEndian.Uint32(b[12:]),
			}
			ok = false
			err = &MalformedError{Command: cmd, Field: "go-smpp", Err: fmt.Errorf("%w: go-smpp pdu.Decode panicked: %v", ErrMalformed, r)}
		}
	}()
	r := readerPool.Get().(*bytes.Reader)
	r.Reset(b)
	body, gerr := dec(r)
	r.Reset(nil)
	readerPool.Put(r)
	if gerr != nil {
		return nil, false, nil
	}
	h := body.Header()
	p = &PDU{Command: CommandID(h.ID), Status: Status(h.Status), Seq: h.Seq}
	bodyLen := len(b) - HeaderLen
	nb := newBody(p.Command)
	if nb == nil {
		// Bodiless commands: stray octets are tolerated and ignored.
		return p, true, nil
	}
	if bodyLen == 0 && p.Command.IsResponse() {
		return p, true, nil
	}
	c := fromGoSMPP{f: body.Fields()}
	switch x := nb.(type) {
	case *Bind:
		x.SystemID = c.str(pdufield.SystemID)
		x.Password = c.str(pdufield.Password)
		x.SystemType = c.str(pdufield.SystemType)
		x.InterfaceVersion = c.u8(pdufield.InterfaceVersion)
		x.AddrTON = c.u8(pdufield.AddrTON)
		x.AddrNPI = c.u8(pdufield.AddrNPI)
		x.AddressRange = c.str(pdufield.AddressRange)
		c.noTLVs(body.TLVFields())
	case *BindResp:
		x.SystemID = c.str(pdufield.SystemID)
		x.TLVs = c.tlvs(body.TLVFields())
	case *SM:
		x.ServiceType = c.str(pdufield.ServiceType)
		x.Source = c.addr(pdufield.SourceAddrTON, pdufield.SourceAddrNPI, pdufield.SourceAddr)
		x.Dest = c.addr(pdufield.DestAddrTON, pdufield.DestAddrNPI, pdufield.DestinationAddr)
		x.ESMClass = c.u8(pdufield.ESMClass)
		x.ProtocolID = c.u8(pdufield.ProtocolID)
		x.PriorityFlag = c.u8(pdufield.PriorityFlag)
		x.ScheduleDeliveryTime = c.str(pdufield.ScheduleDeliveryTime)
		x.ValidityPeriod = c.str(pdufield.ValidityPeriod)
		x.RegisteredDelivery = c.u8(pdufield.RegisteredDelivery)
		x.ReplaceIfPresent = c.u8(pdufield.ReplaceIfPresentFlag)
		x.DataCoding = c.u8(pdufield.DataCoding)
		x.SMDefaultMsgID = c.u8(pdufield.SMDefaultMsgID)
		c.u8(pdufield.SMLength) // present; rewritten by go-smpp when it split a UDH
		x.ShortMessage = c.shortMessage()
		x.TLVs = c.tlvs(body.TLVFields())
	case *SMResp:
		x.MessageID = c.str(pdufield.MessageID)
		x.TLVs = c.tlvs(body.TLVFields())
	case *QuerySMBody:
		x.MessageID = c.str(pdufield.MessageID)
		x.Source = c.addr(pdufield.SourceAddrTON, pdufield.SourceAddrNPI, pdufield.SourceAddr)
		c.noTLVs(body.TLVFields())
	default:
		return nil, false, nil
	}
	if c.bad || c.n != bodyLen {
		// A field missing (truncated body), too long, a UDH that does
		// not add up, or octets go-smpp did not account for.
		return nil, false, nil
	}
	p.Body = nb
	return p, true, nil
}

var readerPool = sync.Pool{New: func() any { return new(bytes.Reader) }}

// fromGoSMPP converts go-smpp's decoded field map, counting the octets it
// accounts for (n) and noting anything missing or out of bounds (bad).
type fromGoSMPP struct {
	f   pdufield.Map
	n   int
	bad bool
}

func (c *fromGoSMPP) str(k pdufield.Name) string {
	v, ok := c.f[k].(*pdufield.Variable)
	if !ok || len(v.Data) == 0 || v.Data[len(v.Data)-1] != 0 || len(v.Data) > maxDecodedCString {
		c.bad = true
		return ""
	}
	c.n += len(v.Data)
	return string(v.Data[:len(v.Data)-1])
}

func (c *fromGoSMPP) u8(k pdufield.Name) byte {
	v, ok := c.f[k].(*pdufield.Fixed)
	if !ok {
		c.bad = true
		return 0
	}
	c.n++
	return v.Data
}

func (c *fromGoSMPP) addr(ton, npi, addr pdufield.Name) Address {
	return Address{TON: c.u8(ton), NPI: c.u8(npi), Addr: c.str(addr)}
}

// shortMessage returns short_message, UDH included: go-smpp's deliver_sm
// decoder splits the UDH off (gsm_sms_ud.udh.len, gsm_sms_ud.udh).
func (c *fromGoSMPP) shortMessage() []byte {
	sm, ok := c.f[pdufield.ShortMessage].(*pdufield.SM)
	if !ok {
		c.bad = true
		return nil
	}
	text := sm.Data[:len(sm.Data):len(sm.Data)]
	ul, hasUDH := c.f[pdufield.UDHLength].(*pdufield.Fixed)
	if !hasUDH {
		c.n += len(text)
		return text
	}
	ies, ok := c.f[pdufield.GSMUserData].(*pdufield.UDHList)
	if !ok || ul.Data == 0 {
		// A zero UDH length: go-smpp does not take the length octet off
		// sm_length and reads the text one octet too far.
		c.bad = true
		return nil
	}
	out := make([]byte, 0, 1+int(ul.Data)+len(text))
	out = append(out, ul.Data)
	for _, ie := range ies.Data {
		// IEData is a pdufield.Variable, whose Bytes() appends a NUL:
		// take Data as read.
		out = append(out, ie.IEI.Data, ie.IELength.Data)
		out = append(out, ie.IEData.Data...)
	}
	if len(out) != 1+int(ul.Data) {
		c.bad = true // the IE walk ran past the UDH length
		return nil
	}
	out = append(out, text...)
	c.n += len(out)
	return out
}

// tlvs converts go-smpp's TLV map back into wire order: each value is a
// slice of the body buffer pdu.Decode read, so the earlier a TLV stands,
// the larger the capacity of its value.
func (c *fromGoSMPP) tlvs(m pdutlv.Map) TLVs {
	if len(m) == 0 {
		return nil
	}
	t := make(TLVs, 0, len(m))
	caps := make([]int, 0, len(m))
	for tag, v := range m {
		f, ok := v.(*pdutlv.Field)
		if !ok {
			c.bad = true
			return nil
		}
		c.n += 4 + len(f.Data)
		val := f.Data[:len(f.Data):len(f.Data)]
		// Insertion sort by capacity, descending: a handful of TLVs.
		i := len(t)
		t = append(t, TLV{})
		caps = append(caps, 0)
		for i > 0 && caps[i-1] < cap(f.Data) {
			t[i], caps[i] = t[i-1], caps[i-1]
			i--
		}
		t[i], caps[i] = TLV{Tag: Tag(tag), Value: val}, cap(f.Data)
	}
	return t
}

// noTLVs marks bodies that SMPP 3.4 ends without optional parameters:
// go-smpp reads whatever follows as TLVs, the hand-written decoder refuses it.
func (c *fromGoSMPP) noTLVs(m pdutlv.Map) {
	if len(m) != 0 {
		c.bad = true
	}
}

// Encoding.

// AppendTo appends the wire form of p to b. PDUs go-smpp can build are
// built as go-smpp bodies and serialized by go-smpp; see the comment at
// the top of gosmpp.go for the ones encoded by hand and why. Fields are
// checked against SMPP 3.4's limits first: go-smpp checks none.
func (p *PDU) AppendTo(b []byte) ([]byte, error) {
	if err := p.validate(); err != nil {
		return b, err
	}
	if e := p.goSMPPEnc(); e != nil {
		out, err := appendGoSMPP(b, e.body, p.tlvs())
		e.release()
		return out, err
	}
	return p.appendHand(b)
}

func (p *PDU) tlvs() TLVs {
	switch x := p.Body.(type) {
	case *BindResp:
		return x.TLVs
	case *SM:
		return x.TLVs
	case *SMResp:
		return x.TLVs
	}
	return nil
}

// appendWriter is the io.Writer go-smpp serializes into.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

var writerPool = sync.Pool{New: func() any { return new(appendWriter) }}

// appendGoSMPP serializes body (whose TLV map is empty) with go-smpp, then
// each TLV with pdutlv.Field in order, and patches command_length.
func appendGoSMPP(b []byte, body fpdu.Body, tlvs TLVs) ([]byte, error) {
	start := len(b)
	w := writerPool.Get().(*appendWriter)
	w.b = b
	err := body.SerializeTo(w)
	for i := 0; err == nil && i < len(tlvs); i++ {
		f := pdutlv.Field{Tag: pdutlv.Tag(tlvs[i].Tag), Data: tlvs[i].Value}
		err = f.SerializeTo(w)
	}
	out := w.b
	w.b = nil
	writerPool.Put(w)
	if err != nil {
		return b[:start], err
	}
	binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start))
	return out, nil
}

// goSMPPEnc is a go-smpp body with what fills its field map. Encoders
// are pooled per command and reused: go-smpp's constructors build two
// maps per PDU and its field map grows entry by entry, which cost more
// than the serialization itself. Reuse writes the same keys again, so a
// reused map does not grow, and the values point into arrays the encoder
// owns: the strings of one PDU share one NUL-terminated arena (a Variable
// whose Data ends in NUL is written as is, without an append), the fixed
// fields one array. The TLV map stays empty (see appendGoSMPP).
type goSMPPEnc struct {
	body  fpdu.Body
	f     pdufield.Map
	arena []byte
	fixed []pdufield.Fixed
	vars  []pdufield.Variable
	sm    pdufield.SM
	pool  *sync.Pool
}

var encPools = func() map[CommandID]*sync.Pool {
	submit := func() fpdu.Body { return fpdu.NewSubmitSM(nil) }
	ctors := map[CommandID]func() fpdu.Body{
		EnquireLink: fpdu.NewEnquireLink, EnquireLinkResp: fpdu.NewEnquireLinkResp,
		Unbind: fpdu.NewUnbind, UnbindResp: fpdu.NewUnbindResp, GenericNack: fpdu.NewGenericNACK,
		BindReceiver: fpdu.NewBindReceiver, BindTransmitter: fpdu.NewBindTransmitter, BindTransceiver: fpdu.NewBindTransceiver,
		BindReceiverResp: fpdu.NewBindReceiverResp, BindTransmitterResp: fpdu.NewBindTransmitterResp, BindTransceiverResp: fpdu.NewBindTransceiverResp,
		SubmitSM: submit,
		// deliver_sm too is built as go-smpp's submit_sm: NewDeliverSM
		// writes a stray 0x00 for its UDH length field.
		DeliverSM:    submit,
		SubmitSMResp: fpdu.NewSubmitSMResp, DeliverSMResp: fpdu.NewDeliverSMResp,
		QuerySM: fpdu.NewQuerySM, QuerySMResp: fpdu.NewQuerySMResp,
	}
	m := make(map[CommandID]*sync.Pool, len(ctors))
	for c, ctor := range ctors {
		pool := &sync.Pool{}
		pool.New = func() any {
			b := ctor()
			return &goSMPPEnc{body: b, f: b.Fields(), arena: make([]byte, 0, 64),
				fixed: make([]pdufield.Fixed, 0, 11), vars: make([]pdufield.Variable, 0, 5), pool: pool}
		}
		m[c] = pool
	}
	return m
}()

func (e *goSMPPEnc) str(k pdufield.Name, s string) {
	i := len(e.arena)
	e.arena = append(e.arena, s...)
	e.arena = append(e.arena, 0)
	e.vars = append(e.vars, pdufield.Variable{Data: e.arena[i:len(e.arena):len(e.arena)]})
	e.f[k] = &e.vars[len(e.vars)-1]
}

func (e *goSMPPEnc) u8(k pdufield.Name, v byte) {
	e.fixed = append(e.fixed, pdufield.Fixed{Data: v})
	e.f[k] = &e.fixed[len(e.fixed)-1]
}

// release returns e to its pool without keeping the caller's octets.
func (e *goSMPPEnc) release() {
	e.sm.Data = nil
	e.pool.Put(e)
}

// goSMPPEnc returns p as a go-smpp body with an empty TLV map, or nil when
// go-smpp cannot encode it (the hand-written encoder does). The caller
// releases it after serializing.
func (p *PDU) goSMPPEnc() *goSMPPEnc {
	switch p.Body.(type) {
	case nil:
		switch p.Command {
		case EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack:
		default:
			// A response without its body (an error status): go-smpp
			// would write its fields' defaults.
			return nil
		}
	case *Bind:
		switch p.Command {
		case BindReceiver, BindTransmitter, BindTransceiver:
		default:
			return nil
		}
	case *BindResp:
		switch p.Command {
		case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		default:
			return nil
		}
	case *SM:
		if p.Command != SubmitSM && p.Command != DeliverSM {
			return nil
		}
	case *SMResp:
		if p.Command != SubmitSMResp && p.Command != DeliverSMResp {
			return nil // data_sm_resp: go-smpp has no such PDU
		}
	case *QuerySMBody:
		if p.Command != QuerySM {
			return nil
		}
	case *QuerySMRespBody:
		if p.Command != QuerySMResp {
			return nil
		}
	default:
		return nil
	}
	pool := encPools[p.Command]
	if pool == nil {
		return nil
	}
	e := pool.Get().(*goSMPPEnc)
	e.arena, e.fixed, e.vars = e.arena[:0], e.fixed[:0], e.vars[:0]
	switch x := p.Body.(type) {
	case *Bind:
		e.str(pdufield.SystemID, x.SystemID)
		e.str(pdufield.Password, x.Password)
		e.str(pdufield.SystemType, x.SystemType)
		e.u8(pdufield.InterfaceVersion, x.InterfaceVersion)
		e.u8(pdufield.AddrTON, x.AddrTON)
		e.u8(pdufield.AddrNPI, x.AddrNPI)
		e.str(pdufield.AddressRange, x.AddressRange)
	case *BindResp:
		e.str(pdufield.SystemID, x.SystemID)
	case *SM:
		e.str(pdufield.ServiceType, x.ServiceType)
		e.u8(pdufield.SourceAddrTON, x.Source.TON)
		e.u8(pdufield.SourceAddrNPI, x.Source.NPI)
		e.str(pdufield.SourceAddr, x.Source.Addr)
		e.u8(pdufield.DestAddrTON, x.Dest.TON)
		e.u8(pdufield.DestAddrNPI, x.Dest.NPI)
		e.str(pdufield.DestinationAddr, x.Dest.Addr)
		e.u8(pdufield.ESMClass, x.ESMClass)
		e.u8(pdufield.ProtocolID, x.ProtocolID)
		e.u8(pdufield.PriorityFlag, x.PriorityFlag)
		e.str(pdufield.ScheduleDeliveryTime, x.ScheduleDeliveryTime)
		e.str(pdufield.ValidityPeriod, x.ValidityPeriod)
		e.u8(pdufield.RegisteredDelivery, x.RegisteredDelivery)
		e.u8(pdufield.ReplaceIfPresentFlag, x.ReplaceIfPresent)
		e.u8(pdufield.DataCoding, x.DataCoding)
		e.u8(pdufield.SMDefaultMsgID, x.SMDefaultMsgID)
		e.u8(pdufield.SMLength, byte(len(x.ShortMessage))) // validate bounds it
		e.sm.Data = x.ShortMessage
		e.f[pdufield.ShortMessage] = &e.sm
	case *SMResp:
		e.str(pdufield.MessageID, x.MessageID)
	case *QuerySMBody:
		e.str(pdufield.MessageID, x.MessageID)
		e.u8(pdufield.SourceAddrTON, x.Source.TON)
		e.u8(pdufield.SourceAddrNPI, x.Source.NPI)
		e.str(pdufield.SourceAddr, x.Source.Addr)
	case *QuerySMRespBody:
		e.str(pdufield.MessageID, x.MessageID)
		e.str(pdufield.FinalDate, x.FinalDate)
		e.u8(pdufield.MessageState, x.MessageState)
		e.u8(pdufield.ErrorCode, x.ErrorCode)
	}
	h := e.body.Header()
	h.ID = fpdu.ID(p.Command)
	h.Status = fpdu.Status(p.Status)
	h.Seq = p.Seq
	return e
}

// validate applies SMPP 3.4's field limits, which go-smpp does not check,
// to the bodies go-smpp encodes. The hand-written encoder checks the rest
// as it writes.
func (p *PDU) validate() error {
	var v validator
	switch x := p.Body.(type) {
	case *Bind:
		v.cstr("system_id", x.SystemID, 16)
		v.cstr("password", x.Password, 9)
		v.cstr("system_type", x.SystemType, 13)
		v.cstr("address_range", x.AddressRange, 41)
	case *BindResp:
		v.cstr("system_id", x.SystemID, 16)
		v.tlvs(x.TLVs)
	case *SM:
		v.cstr("service_type", x.ServiceType, 6)
		v.cstr("source_addr", x.Source.Addr, 21)
		v.cstr("destination_addr", x.Dest.Addr, 21)
		v.time("schedule_delivery_time", x.ScheduleDeliveryTime)
		v.time("validity_period", x.ValidityPeriod)
		if v.err == nil && len(x.ShortMessage) > 254 {
			v.err = &MalformedError{Field: "short_message", Err: fmt.Errorf("%w: %d octets, at most 254", ErrFieldTooLong, len(x.ShortMessage))}
		}
		v.tlvs(x.TLVs)
	case *SMResp:
		v.cstr("message_id", x.MessageID, 65)
		v.tlvs(x.TLVs)
	case *QuerySMBody:
		v.cstr("message_id", x.MessageID, 65)
		v.cstr("source_addr", x.Source.Addr, 21)
	case *QuerySMRespBody:
		v.cstr("message_id", x.MessageID, 65)
		v.time("final_date", x.FinalDate)
	}
	if v.err != nil {
		v.err.Command = p.Command
		return v.err
	}
	return nil
}

type validator struct{ err *MalformedError }

func (v *validator) cstr(field, s string, maxLen int) {
	if v.err != nil {
		return
	}
	if len(s) > maxLen-1 {
		v.err = &MalformedError{Field: field, Err: fmt.Errorf("%w: %d octets, at most %d", ErrFieldTooLong, len(s), maxLen-1)}
	} else if strings.IndexByte(s, 0) >= 0 {
		v.err = &MalformedError{Field: field, Err: fmt.Errorf("%w: NUL inside", ErrMalformed)}
	}
}

func (v *validator) time(field, s string) {
	if v.err == nil && s != "" && len(s) != 16 {
		v.err = &MalformedError{Field: field, Err: fmt.Errorf("%w: time must be empty or 16 characters", ErrMalformed)}
		return
	}
	v.cstr(field, s, 17)
}

func (v *validator) tlvs(t TLVs) {
	for _, x := range t {
		if v.err == nil && len(x.Value) > 0xFFFF {
			v.err = &MalformedError{Field: "tlv", Err: ErrFieldTooLong}
		}
	}
}
