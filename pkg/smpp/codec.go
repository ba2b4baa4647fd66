package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Encoding.

// appendHand is the hand-written encoder: the fallback for the PDUs
// go-smpp cannot encode (see encodeGoSMPP) and the reference the tests
// compare go-smpp's output with.
func (p *PDU) appendHand(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // length, patched below
	b = binary.BigEndian.AppendUint32(b, uint32(p.Command))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Status))
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	if p.Body != nil {
		var err error
		b, err = p.Body.appendTo(b)
		if err != nil {
			var me *MalformedError
			if asMalformed(err, &me) && me.Command == 0 {
				me.Command = p.Command
			}
			return b[:start], err
		}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// MarshalBinary returns the wire form of p.
func (p *PDU) MarshalBinary() ([]byte, error) { return p.AppendTo(make([]byte, 0, 64)) }

func asMalformed(err error, me **MalformedError) bool {
	return errors.As(err, me)
}

func appendCString(b []byte, field, s string, maxLen int) ([]byte, error) {
	if len(s) > maxLen-1 {
		return b, &MalformedError{Field: field, Err: fmt.Errorf("%w: %d octets, at most %d", ErrFieldTooLong, len(s), maxLen-1)}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return b, &MalformedError{Field: field, Err: fmt.Errorf("%w: NUL inside", ErrMalformed)}
	}
	b = append(b, s...)
	return append(b, 0), nil
}

func appendTime(b []byte, field, s string) ([]byte, error) {
	if s != "" && len(s) != 16 {
		return b, &MalformedError{Field: field, Err: fmt.Errorf("%w: time must be empty or 16 characters", ErrMalformed)}
	}
	return appendCString(b, field, s, 17)
}

func appendAddr(b []byte, field string, a Address, maxLen int) ([]byte, error) {
	b = append(b, a.TON, a.NPI)
	return appendCString(b, field, a.Addr, maxLen)
}

func (x *Bind) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "system_id", x.SystemID, 16); err != nil {
		return b, err
	}
	if b, err = appendCString(b, "password", x.Password, 9); err != nil {
		return b, err
	}
	if b, err = appendCString(b, "system_type", x.SystemType, 13); err != nil {
		return b, err
	}
	b = append(b, x.InterfaceVersion, x.AddrTON, x.AddrNPI)
	return appendCString(b, "address_range", x.AddressRange, 41)
}

func (x *BindResp) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "system_id", x.SystemID, 16); err != nil {
		return b, err
	}
	return x.TLVs.appendTo(b)
}

func (x *SM) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "service_type", x.ServiceType, 6); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "source_addr", x.Source, 21); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "destination_addr", x.Dest, 21); err != nil {
		return b, err
	}
	b = append(b, x.ESMClass, x.ProtocolID, x.PriorityFlag)
	if b, err = appendTime(b, "schedule_delivery_time", x.ScheduleDeliveryTime); err != nil {
		return b, err
	}
	if b, err = appendTime(b, "validity_period", x.ValidityPeriod); err != nil {
		return b, err
	}
	if len(x.ShortMessage) > 254 {
		return b, &MalformedError{Field: "short_message", Err: fmt.Errorf("%w: %d octets, at most 254", ErrFieldTooLong, len(x.ShortMessage))}
	}
	b = append(b, x.RegisteredDelivery, x.ReplaceIfPresent, x.DataCoding, x.SMDefaultMsgID, byte(len(x.ShortMessage)))
	b = append(b, x.ShortMessage...)
	return x.TLVs.appendTo(b)
}

func (x *SMResp) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "message_id", x.MessageID, 65); err != nil {
		return b, err
	}
	return x.TLVs.appendTo(b)
}

func (x *DataSMBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "service_type", x.ServiceType, 6); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "source_addr", x.Source, 65); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "destination_addr", x.Dest, 65); err != nil {
		return b, err
	}
	b = append(b, x.ESMClass, x.RegisteredDelivery, x.DataCoding)
	return x.TLVs.appendTo(b)
}

func (x *QuerySMBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "message_id", x.MessageID, 65); err != nil {
		return b, err
	}
	return appendAddr(b, "source_addr", x.Source, 21)
}

func (x *QuerySMRespBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "message_id", x.MessageID, 65); err != nil {
		return b, err
	}
	if b, err = appendTime(b, "final_date", x.FinalDate); err != nil {
		return b, err
	}
	return append(b, x.MessageState, x.ErrorCode), nil
}

func (x *CancelSMBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "service_type", x.ServiceType, 6); err != nil {
		return b, err
	}
	if b, err = appendCString(b, "message_id", x.MessageID, 65); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "source_addr", x.Source, 21); err != nil {
		return b, err
	}
	return appendAddr(b, "destination_addr", x.Dest, 21)
}

func (x *AlertNotificationBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendAddr(b, "source_addr", x.Source, 65); err != nil {
		return b, err
	}
	if b, err = appendAddr(b, "esme_addr", x.ESME, 65); err != nil {
		return b, err
	}
	return x.TLVs.appendTo(b)
}

func (x *OutbindBody) appendTo(b []byte) (_ []byte, err error) {
	if b, err = appendCString(b, "system_id", x.SystemID, 16); err != nil {
		return b, err
	}
	return appendCString(b, "password", x.Password, 9)
}

func (x *Raw) appendTo(b []byte) ([]byte, error) { return append(b, x.Data...), nil }

// Decoding.

// decoder reads fields from a PDU body. The first error sticks; later
// reads return zero values.
type decoder struct {
	b   []byte
	cmd CommandID
	err error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &MalformedError{Command: d.cmd, Field: field, Err: err}
	}
}

// maxDecodedCString is the longest C-Octet String accepted when decoding,
// terminator included. Decoding is lenient about the per-field limits that
// encoding enforces (SMSCs send longer message ids than the standard), but
// not unbounded.
const maxDecodedCString = 256

func (d *decoder) cstring(field string) string {
	if d.err != nil {
		return ""
	}
	i := bytes.IndexByte(d.b, 0)
	if i < 0 || i >= maxDecodedCString {
		d.fail(field, fmt.Errorf("%w: C-Octet String without terminator", ErrMalformed))
		return ""
	}
	s := string(d.b[:i])
	d.b = d.b[i+1:]
	return s
}

func (d *decoder) u8(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(field, fmt.Errorf("%w: body ends early", ErrMalformed))
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) addr(field string) Address {
	return Address{TON: d.u8(field + "_ton"), NPI: d.u8(field + "_npi"), Addr: d.cstring(field)}
}

func (d *decoder) octets(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(field, fmt.Errorf("%w: body ends early", ErrMalformed))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) tlvs() TLVs {
	var t TLVs
	for d.err == nil && len(d.b) > 0 {
		if len(d.b) < 4 {
			d.fail("tlv", fmt.Errorf("%w: %d trailing octets", ErrMalformed, len(d.b)))
			return nil
		}
		tag := Tag(binary.BigEndian.Uint16(d.b))
		n := int(binary.BigEndian.Uint16(d.b[2:]))
		if len(d.b) < 4+n {
			d.fail(fmt.Sprintf("tlv 0x%04X", uint16(tag)), fmt.Errorf("%w: value past end of PDU", ErrMalformed))
			return nil
		}
		t = append(t, TLV{Tag: tag, Value: d.b[4 : 4+n : 4+n]})
		d.b = d.b[4+n:]
	}
	return t
}

// end fails if octets remain after a body without optional parameters.
func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("end", fmt.Errorf("%w: %d octets after the last field", ErrMalformed, len(d.b)))
	}
}

func (x *Bind) decode(d *decoder) {
	x.SystemID = d.cstring("system_id")
	x.Password = d.cstring("password")
	x.SystemType = d.cstring("system_type")
	x.InterfaceVersion = d.u8("interface_version")
	x.AddrTON = d.u8("addr_ton")
	x.AddrNPI = d.u8("addr_npi")
	x.AddressRange = d.cstring("address_range")
	d.end()
}

func (x *BindResp) decode(d *decoder) {
	x.SystemID = d.cstring("system_id")
	x.TLVs = d.tlvs()
}

func (x *SM) decode(d *decoder) {
	x.ServiceType = d.cstring("service_type")
	x.Source = d.addr("source_addr")
	x.Dest = d.addr("destination_addr")
	x.ESMClass = d.u8("esm_class")
	x.ProtocolID = d.u8("protocol_id")
	x.PriorityFlag = d.u8("priority_flag")
	x.ScheduleDeliveryTime = d.cstring("schedule_delivery_time")
	x.ValidityPeriod = d.cstring("validity_period")
	x.RegisteredDelivery = d.u8("registered_delivery")
	x.ReplaceIfPresent = d.u8("replace_if_present_flag")
	x.DataCoding = d.u8("data_coding")
	x.SMDefaultMsgID = d.u8("sm_default_msg_id")
	n := d.u8("sm_length")
	x.ShortMessage = d.octets("short_message", int(n))
	x.TLVs = d.tlvs()
}

func (x *SMResp) decode(d *decoder) {
	x.MessageID = d.cstring("message_id")
	x.TLVs = d.tlvs()
}

func (x *DataSMBody) decode(d *decoder) {
	x.ServiceType = d.cstring("service_type")
	x.Source = d.addr("source_addr")
	x.Dest = d.addr("destination_addr")
	x.ESMClass = d.u8("esm_class")
	x.RegisteredDelivery = d.u8("registered_delivery")
	x.DataCoding = d.u8("data_coding")
	x.TLVs = d.tlvs()
}

func (x *QuerySMBody) decode(d *decoder) {
	x.MessageID = d.cstring("message_id")
	x.Source = d.addr("source_addr")
	d.end()
}

func (x *QuerySMRespBody) decode(d *decoder) {
	x.MessageID = d.cstring("message_id")
	x.FinalDate = d.cstring("final_date")
	x.MessageState = d.u8("message_state")
	x.ErrorCode = d.u8("error_code")
	d.end()
}

func (x *CancelSMBody) decode(d *decoder) {
	x.ServiceType = d.cstring("service_type")
	x.MessageID = d.cstring("message_id")
	x.Source = d.addr("source_addr")
	x.Dest = d.addr("destination_addr")
	d.end()
}

func (x *AlertNotificationBody) decode(d *decoder) {
	x.Source = d.addr("source_addr")
	x.ESME = d.addr("esme_addr")
	x.TLVs = d.tlvs()
}

func (x *OutbindBody) decode(d *decoder) {
	x.SystemID = d.cstring("system_id")
	x.Password = d.cstring("password")
	d.end()
}

func (x *Raw) decode(d *decoder) {
	x.Data = d.b
	d.b = nil
}

// checkFrame checks the header of one whole PDU.
func checkFrame(b []byte) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("%w: %d octets, shorter than a header", ErrMalformed, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if int64(n) != int64(len(b)) {
		return fmt.Errorf("%w: command_length %d, have %d octets", ErrMalformed, n, len(b))
	}
	return nil
}

// decodeHand is the hand-written decoder, for a frame checkFrame accepted:
// the fallback for what go-smpp cannot decode (see decodeGoSMPP). Its
// semantics are Decode's.
func decodeHand(b []byte) (*PDU, error) {
	p := &PDU{
		Command: CommandID(binary.BigEndian.Uint32(b[4:])),
		Status:  Status(binary.BigEndian.Uint32(b[8:])),
		Seq:     binary.BigEndian.Uint32(b[12:]),
	}
	body := b[HeaderLen:]
	nb := newBody(p.Command)
	if nb == nil {
		// Bodiless commands: tolerate and ignore stray octets.
		return p, nil
	}
	if len(body) == 0 && p.Command.IsResponse() {
		return p, nil
	}
	d := decoder{b: body, cmd: p.Command}
	nb.decode(&d)
	if d.err != nil {
		if p.Status != StatusOK && p.Command.IsResponse() {
			// An error response with a body we cannot read: the status
			// is what matters.
			return p, nil
		}
		return p, d.err
	}
	p.Body = nb
	return p, nil
}

// ReadFrame reads one PDU's octets from r: the header, then the rest of
// command_length. It fails with ErrPDUTooLong above maxLen (DefaultMaxPDULen
// if maxLen <= 0) and ErrMalformed below HeaderLen; after either the stream is
// out of step and must be closed.
func ReadFrame(r io.Reader, maxLen int) ([]byte, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxPDULen
	}
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n < HeaderLen {
		return nil, fmt.Errorf("%w: command_length %d", ErrMalformed, n)
	}
	if int64(n) > int64(maxLen) {
		return nil, fmt.Errorf("%w: command_length %d, at most %d", ErrPDUTooLong, n, maxLen)
	}
	b := make([]byte, n)
	copy(b, h[:])
	if _, err := io.ReadFull(r, b[HeaderLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// Accessors for the fields callers most often want.

// MessageID returns the message_id of a submit_sm_resp, deliver_sm_resp or
// data_sm_resp, or "" if p has none.
func (p *PDU) MessageID() string {
	if r, ok := p.Body.(*SMResp); ok {
		return r.MessageID
	}
	return ""
}

// SM returns p's body as *SM (submit_sm, deliver_sm) or nil.
func (p *PDU) SM() *SM {
	sm, _ := p.Body.(*SM)
	return sm
}

// String summarises p for logs without its addresses or text.
func (p *PDU) String() string {
	return fmt.Sprintf("%s seq=%d status=%s", p.Command, p.Seq, p.Status)
}
