package smsc

import (
	"encoding/binary"
	"fmt"
)

// The simulator speaks SMPP 3.4 with its own small codec: it parses only the
// PDUs an SMSC receives and encodes only the ones it sends, without reflection
// or per-PDU maps, so that one bind can carry tens of thousands of submit_sm
// per second. It is deliberately independent of pkg/smpp's codec, which is
// github.com/fiorix/go-smpp's pdu package (pdu.Decode and go-smpp bodies'
// SerializeTo) with pkg/smpp's hand-written codec as the fallback for what
// go-smpp cannot do (data_sm, alert_notification, deliver_sm's encoding,
// PDUs over 4096 octets, malformed input): two implementations that must
// agree on the wire catch each other's mistakes.

// Command ids (SMPP 3.4 section 5.1.2.1).
const (
	cmdGenericNack        uint32 = 0x80000000
	cmdBindReceiver       uint32 = 0x00000001
	cmdBindTransmitter    uint32 = 0x00000002
	cmdQuerySM            uint32 = 0x00000003
	cmdSubmitSM           uint32 = 0x00000004
	cmdDeliverSM          uint32 = 0x00000005
	cmdUnbind             uint32 = 0x00000006
	cmdBindTransceiver    uint32 = 0x00000009
	cmdEnquireLink        uint32 = 0x00000015
	cmdSubmitSMResp       uint32 = 0x80000004
	cmdDeliverSMResp      uint32 = 0x80000005
	cmdUnbindResp         uint32 = 0x80000006
	cmdEnquireLinkResp    uint32 = 0x80000015
	respBit               uint32 = 0x80000000
	headerLen                    = 16
	maxPDULen                    = 64 * 1024
	minReadBuffer                = maxPDULen
	interfaceVersion34           = 0x34
	tagSCInterfaceVersion        = 0x0210
)

// Command status values the simulator answers with.
const (
	StatusOK            uint32 = 0x00000000
	StatusInvalidMsgLen uint32 = 0x00000001 // ESME_RINVMSGLEN
	StatusInvalidCmdLen uint32 = 0x00000002 // ESME_RINVCMDLEN
	StatusInvalidCmdID  uint32 = 0x00000003 // ESME_RINVCMDID
	StatusInvalidBind   uint32 = 0x00000004 // ESME_RINVBNDSTS
	StatusAlreadyBound  uint32 = 0x00000005 // ESME_RALYBND
	StatusSystemError   uint32 = 0x00000008 // ESME_RSYSERR
	StatusInvalidDest   uint32 = 0x0000000B // ESME_RINVDSTADR
	StatusBindFailed    uint32 = 0x0000000D // ESME_RBINDFAIL
	StatusInvalidPasswd uint32 = 0x0000000E // ESME_RINVPASWD
	StatusInvalidSysID  uint32 = 0x0000000F // ESME_RINVSYSID
	StatusQueueFull     uint32 = 0x00000014 // ESME_RMSGQFUL
	StatusThrottled     uint32 = 0x00000058 // ESME_RTHROTTLED
)

// TLV tags the simulator reads or writes.
const (
	tagReceiptedMessageID = 0x001E
	tagSARMsgRefNum       = 0x020C
	tagSARTotalSegments   = 0x020E
	tagSARSegmentSeqnum   = 0x020F
	tagMessagePayload     = 0x0424
	tagMessageState       = 0x0427
)

// header is the 16-byte PDU header.
type header struct {
	Len, ID, Status, Seq uint32
}

func parseHeader(b []byte) header {
	return header{
		Len:    binary.BigEndian.Uint32(b[0:4]),
		ID:     binary.BigEndian.Uint32(b[4:8]),
		Status: binary.BigEndian.Uint32(b[8:12]),
		Seq:    binary.BigEndian.Uint32(b[12:16]),
	}
}

// decoder walks a PDU body. Errors are sticky: after the first one every
// read returns zero values and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.b = nil
}

func (d *decoder) byte1(what string) uint8 {
	if len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// cstring reads a NUL-terminated string of at most max bytes (NUL included).
func (d *decoder) cstring(what string, maxLen int) []byte {
	for i, c := range d.b {
		if c == 0 {
			if i+1 > maxLen {
				d.fail(what + " too long")
				return nil
			}
			v := d.b[:i]
			d.b = d.b[i+1:]
			return v
		}
		if i+1 >= maxLen {
			break
		}
	}
	d.fail(what + " not terminated")
	return nil
}

func (d *decoder) bytes(what string, n int) []byte {
	if n > len(d.b) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// bindBody is a decoded bind_transmitter, bind_receiver or bind_transceiver.
type bindBody struct {
	SystemID, Password, SystemType string
	InterfaceVersion               uint8
}

func decodeBind(b []byte) (bindBody, error) {
	d := decoder{b: b}
	var p bindBody
	p.SystemID = string(d.cstring("system_id", 16))
	p.Password = string(d.cstring("password", 9))
	p.SystemType = string(d.cstring("system_type", 13))
	p.InterfaceVersion = d.byte1("interface_version")
	d.byte1("addr_ton")
	d.byte1("addr_npi")
	d.cstring("address_range", 41)
	return p, d.err
}

// submitBody is a decoded submit_sm. Its byte slices alias the read buffer
// and are valid only until the next read.
type submitBody struct {
	ServiceType          []byte
	SourceTON, SourceNPI uint8
	Source               []byte
	DestTON, DestNPI     uint8
	Dest                 []byte
	ESMClass             uint8
	ProtocolID           uint8
	Priority             uint8
	RegisteredDelivery   uint8
	DataCoding           uint8
	Message              []byte // short_message, or message_payload when sm_length is 0

	// Concatenation, from the UDH when esm_class has UDHI set, else from the
	// SAR TLVs. Total 0 means a single message.
	UDH        []byte
	Ref        uint16
	Total, Seq uint8
	SAR        bool
	Payload    []byte // Message without the UDH
}

func decodeSubmit(b []byte, p *submitBody) error {
	*p = submitBody{}
	d := decoder{b: b}
	p.ServiceType = d.cstring("service_type", 6)
	p.SourceTON = d.byte1("source_addr_ton")
	p.SourceNPI = d.byte1("source_addr_npi")
	p.Source = d.cstring("source_addr", 21)
	p.DestTON = d.byte1("dest_addr_ton")
	p.DestNPI = d.byte1("dest_addr_npi")
	p.Dest = d.cstring("destination_addr", 21)
	p.ESMClass = d.byte1("esm_class")
	p.ProtocolID = d.byte1("protocol_id")
	p.Priority = d.byte1("priority_flag")
	d.cstring("schedule_delivery_time", 17)
	d.cstring("validity_period", 17)
	p.RegisteredDelivery = d.byte1("registered_delivery")
	d.byte1("replace_if_present_flag")
	p.DataCoding = d.byte1("data_coding")
	d.byte1("sm_default_msg_id")
	n := int(d.byte1("sm_length"))
	p.Message = d.bytes("short_message", n)
	if d.err != nil {
		return d.err
	}
	var sarRef, sarTotal, sarSeq bool
	for len(d.b) > 0 {
		if len(d.b) < 4 {
			d.fail("truncated TLV header")
			return d.err
		}
		tag := binary.BigEndian.Uint16(d.b[0:2])
		l := int(binary.BigEndian.Uint16(d.b[2:4]))
		d.b = d.b[4:]
		v := d.bytes("TLV value", l)
		if d.err != nil {
			return d.err
		}
		switch tag {
		case tagMessagePayload:
			if n == 0 {
				p.Message = v
			}
		case tagSARMsgRefNum:
			if l == 2 {
				p.Ref, sarRef = binary.BigEndian.Uint16(v), true
			}
		case tagSARTotalSegments:
			if l == 1 {
				p.Total, sarTotal = v[0], true
			}
		case tagSARSegmentSeqnum:
			if l == 1 {
				p.Seq, sarSeq = v[0], true
			}
		}
	}
	p.Payload = p.Message
	if p.ESMClass&0x40 != 0 {
		udh, rest, ok := splitUDH(p.Message)
		if !ok {
			d.fail("UDH longer than the message")
			return d.err
		}
		p.UDH, p.Payload = udh, rest
		if ref, total, seq, ok := concatFromUDH(udh); ok {
			p.Ref, p.Total, p.Seq, p.SAR = ref, total, seq, false
			return nil
		}
	}
	if sarRef && sarTotal && sarSeq {
		p.SAR = true
	} else if !p.SAR {
		p.Ref, p.Total, p.Seq = 0, 0, 0
	}
	return nil
}

// splitUDH cuts the user data header (its length byte included) off msg.
func splitUDH(msg []byte) (udh, rest []byte, ok bool) {
	if len(msg) == 0 {
		return nil, nil, false
	}
	n := int(msg[0]) + 1
	if n > len(msg) {
		return nil, nil, false
	}
	return msg[:n], msg[n:], true
}

// concatFromUDH finds a concatenation information element (0x00, 8-bit
// reference, or 0x08, 16-bit reference) in a UDH that includes its length
// byte.
func concatFromUDH(udh []byte) (ref uint16, total, seq uint8, ok bool) {
	ies := udh[1:]
	for len(ies) >= 2 {
		iei, l := ies[0], int(ies[1])
		if 2+l > len(ies) {
			return 0, 0, 0, false
		}
		v := ies[2 : 2+l]
		switch {
		case iei == 0x00 && l == 3:
			return uint16(v[0]), v[1], v[2], v[1] > 0
		case iei == 0x08 && l == 4:
			return binary.BigEndian.Uint16(v[0:2]), v[2], v[3], v[2] > 0
		}
		ies = ies[2+l:]
	}
	return 0, 0, 0, false
}

// encoder appends a PDU to a byte slice; finish fills in the length.
type encoder struct {
	b     []byte
	start int
}

func (e *encoder) begin(id, status, seq uint32) {
	e.start = len(e.b)
	e.b = binary.BigEndian.AppendUint32(e.b, 0)
	e.b = binary.BigEndian.AppendUint32(e.b, id)
	e.b = binary.BigEndian.AppendUint32(e.b, status)
	e.b = binary.BigEndian.AppendUint32(e.b, seq)
}

func (e *encoder) cstring(s string) {
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *encoder) byte1(v uint8) { e.b = append(e.b, v) }

func (e *encoder) tlv(tag uint16, v []byte) {
	e.b = binary.BigEndian.AppendUint16(e.b, tag)
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) finish() {
	binary.BigEndian.PutUint32(e.b[e.start:], uint32(len(e.b)-e.start))
}

// appendEmpty appends a PDU without a body: enquire_link, unbind, their
// responses and generic_nack.
func appendEmpty(b []byte, id, status, seq uint32) []byte {
	e := encoder{b: b}
	e.begin(id, status, seq)
	e.finish()
	return e.b
}

// appendBindResp appends a bind_*_resp carrying our system_id and, on
// success, the sc_interface_version TLV.
func appendBindResp(b []byte, id, status, seq uint32, systemID string) []byte {
	e := encoder{b: b}
	e.begin(id|respBit, status, seq)
	e.cstring(systemID)
	if status == StatusOK {
		e.tlv(tagSCInterfaceVersion, []byte{interfaceVersion34})
	}
	e.finish()
	return e.b
}

// appendSubmitResp appends a submit_sm_resp. SMPP 3.4 says the body is
// omitted on error; many SMSCs send an empty message_id anyway, and both are
// accepted by clients, so we always send the C-string.
func appendSubmitResp(b []byte, status, seq uint32, id string) []byte {
	e := encoder{b: b}
	e.begin(cmdSubmitSMResp, status, seq)
	e.cstring(id)
	e.finish()
	return e.b
}

// deliverReceipt is what the simulator puts into a receipt deliver_sm.
type deliverReceipt struct {
	SourceTON, SourceNPI uint8
	Source               string // the handset: the submit's destination
	DestTON, DestNPI     uint8
	Dest                 string // the submit's source
	Text                 []byte // standard receipt text, GSM/ASCII
	MessageID            string
	State                uint8
}

// appendDeliverSM appends a receipt deliver_sm (esm_class 0x04, data_coding
// 0) with the receipted_message_id and message_state TLVs. Unlike
// go-smpp's pdu package it writes no UDH fields: the body is exactly the
// SMPP 3.4 field list.
func appendDeliverSM(b []byte, seq uint32, r *deliverReceipt) []byte {
	e := encoder{b: b}
	e.begin(cmdDeliverSM, 0, seq)
	e.cstring("") // service_type
	e.byte1(r.SourceTON)
	e.byte1(r.SourceNPI)
	e.cstring(r.Source)
	e.byte1(r.DestTON)
	e.byte1(r.DestNPI)
	e.cstring(r.Dest)
	e.byte1(0x04) // esm_class: SMSC delivery receipt
	e.byte1(0)    // protocol_id
	e.byte1(0)    // priority_flag
	e.cstring("") // schedule_delivery_time
	e.cstring("") // validity_period
	e.byte1(0)    // registered_delivery
	e.byte1(0)    // replace_if_present_flag
	e.byte1(0)    // data_coding
	e.byte1(0)    // sm_default_msg_id
	text := r.Text
	if len(text) > 254 {
		text = text[:254]
	}
	e.byte1(uint8(len(text)))
	e.b = append(e.b, text...)
	// receipted_message_id is a C-octet string: its length counts the NUL.
	e.b = binary.BigEndian.AppendUint16(e.b, tagReceiptedMessageID)
	e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(r.MessageID)+1))
	e.cstring(r.MessageID)
	e.tlv(tagMessageState, []byte{r.State})
	e.finish()
	return e.b
}
