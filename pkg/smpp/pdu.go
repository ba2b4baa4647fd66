package smpp

import "fmt"

// CommandID is an SMPP command_id.
type CommandID uint32

// Command ids of SMPP 3.4 section 5.1.2.1.
const (
	GenericNack         CommandID = 0x80000000
	BindReceiver        CommandID = 0x00000001
	BindReceiverResp    CommandID = 0x80000001
	BindTransmitter     CommandID = 0x00000002
	BindTransmitterResp CommandID = 0x80000002
	QuerySM             CommandID = 0x00000003
	QuerySMResp         CommandID = 0x80000003
	SubmitSM            CommandID = 0x00000004
	SubmitSMResp        CommandID = 0x80000004
	DeliverSM           CommandID = 0x00000005
	DeliverSMResp       CommandID = 0x80000005
	Unbind              CommandID = 0x00000006
	UnbindResp          CommandID = 0x80000006
	ReplaceSM           CommandID = 0x00000007
	ReplaceSMResp       CommandID = 0x80000007
	CancelSM            CommandID = 0x00000008
	CancelSMResp        CommandID = 0x80000008
	BindTransceiver     CommandID = 0x00000009
	BindTransceiverResp CommandID = 0x80000009
	Outbind             CommandID = 0x0000000B
	EnquireLink         CommandID = 0x00000015
	EnquireLinkResp     CommandID = 0x80000015
	SubmitMulti         CommandID = 0x00000021
	SubmitMultiResp     CommandID = 0x80000021
	AlertNotification   CommandID = 0x00000102
	DataSM              CommandID = 0x00000103
	DataSMResp          CommandID = 0x80000103
)

var commandNames = map[CommandID]string{
	GenericNack: "generic_nack", BindReceiver: "bind_receiver", BindReceiverResp: "bind_receiver_resp",
	BindTransmitter: "bind_transmitter", BindTransmitterResp: "bind_transmitter_resp",
	QuerySM: "query_sm", QuerySMResp: "query_sm_resp", SubmitSM: "submit_sm", SubmitSMResp: "submit_sm_resp",
	DeliverSM: "deliver_sm", DeliverSMResp: "deliver_sm_resp", Unbind: "unbind", UnbindResp: "unbind_resp",
	ReplaceSM: "replace_sm", ReplaceSMResp: "replace_sm_resp", CancelSM: "cancel_sm", CancelSMResp: "cancel_sm_resp",
	BindTransceiver: "bind_transceiver", BindTransceiverResp: "bind_transceiver_resp", Outbind: "outbind",
	EnquireLink: "enquire_link", EnquireLinkResp: "enquire_link_resp", SubmitMulti: "submit_multi",
	SubmitMultiResp: "submit_multi_resp", AlertNotification: "alert_notification", DataSM: "data_sm", DataSMResp: "data_sm_resp",
}

// String returns the SMPP name, e.g. "submit_sm", or the hex id.
func (c CommandID) String() string {
	if n, ok := commandNames[c]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(c))
}

// Known reports whether c is a command id of SMPP 3.4.
func (c CommandID) Known() bool {
	_, ok := commandNames[c]
	return ok
}

// IsResponse reports whether c is a response (high bit set).
func (c CommandID) IsResponse() bool { return c&0x80000000 != 0 }

// Response returns the response command id of a request.
func (c CommandID) Response() CommandID { return c | 0x80000000 }

// HeaderLen is the length of the PDU header.
const HeaderLen = 16

// DefaultMaxPDULen bounds command_length when reading: a submit_sm with a
// 64 KiB message_payload fits.
const DefaultMaxPDULen = 70 * 1024

// PDU is one SMPP protocol data unit. Body is nil for PDUs without a body
// (enquire_link, unbind, their responses, generic_nack) and for responses
// that carry none because Status is not ESME_ROK.
type PDU struct {
	Command CommandID
	Status  Status
	Seq     uint32
	Body    Body
}

// Body is the part of a PDU after the header. Its implementations are the
// types of this package: *Bind, *BindResp, *SM, *SMResp, *DataSMBody,
// *QuerySMBody, *QuerySMRespBody, *CancelSMBody, *AlertNotificationBody,
// *OutbindBody and *Raw.
type Body interface {
	appendTo(b []byte) ([]byte, error)
	decode(d *decoder)
}

// Address is a TON, an NPI and an address.
type Address struct {
	TON  byte
	NPI  byte
	Addr string
}

// TON and NPI values used here.
const (
	TONUnknown       byte = 0x00
	TONInternational byte = 0x01
	TONNational      byte = 0x02
	TONNetwork       byte = 0x03
	TONSubscriber    byte = 0x04
	TONAlphanumeric  byte = 0x05
	TONAbbreviated   byte = 0x06
	NPIUnknown       byte = 0x00
	NPIISDN          byte = 0x01
)

// esm_class bits.
const (
	ESMClassReceipt byte = 0x04 // deliver_sm is an SMSC delivery receipt
	ESMClassUDHI    byte = 0x40 // short_message starts with a user data header
	ESMClassTypeMsk byte = 0x3C // message type bits
)

// registered_delivery values.
const (
	RegisteredDeliveryNone    byte = 0x00
	RegisteredDeliveryAlways  byte = 0x01 // receipt on success and failure
	RegisteredDeliveryFailure byte = 0x02 // receipt on failure only
)

// InterfaceVersion34 is interface_version 0x34.
const InterfaceVersion34 byte = 0x34

// Bind is the body of bind_receiver, bind_transmitter, bind_transceiver.
type Bind struct {
	SystemID         string // at most 15 characters
	Password         string // at most 8
	SystemType       string // at most 12
	InterfaceVersion byte
	AddrTON          byte
	AddrNPI          byte
	AddressRange     string // at most 40
}

// BindResp is the body of the bind responses.
type BindResp struct {
	SystemID string
	TLVs     TLVs // sc_interface_version
}

// SM is the body of submit_sm and deliver_sm, which share one layout.
type SM struct {
	ServiceType          string
	Source               Address
	Dest                 Address
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string // "" or 16 characters (SMPP time format)
	ValidityPeriod       string // "" or 16 characters
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte // at most 254 octets; longer text goes in message_payload
	TLVs                 TLVs
}

// SMResp is the body of submit_sm_resp, deliver_sm_resp and data_sm_resp.
type SMResp struct {
	MessageID string
	TLVs      TLVs
}

// DataSMBody is the body of data_sm.
type DataSMBody struct {
	ServiceType        string
	Source             Address
	Dest               Address
	ESMClass           byte
	RegisteredDelivery byte
	DataCoding         byte
	TLVs               TLVs
}

// QuerySMBody is the body of query_sm.
type QuerySMBody struct {
	MessageID string
	Source    Address
}

// QuerySMRespBody is the body of query_sm_resp.
type QuerySMRespBody struct {
	MessageID    string
	FinalDate    string
	MessageState byte
	ErrorCode    byte
}

// CancelSMBody is the body of cancel_sm.
type CancelSMBody struct {
	ServiceType string
	MessageID   string
	Source      Address
	Dest        Address
}

// AlertNotificationBody is the body of alert_notification.
type AlertNotificationBody struct {
	Source Address
	ESME   Address
	TLVs   TLVs
}

// OutbindBody is the body of outbind.
type OutbindBody struct {
	SystemID string
	Password string
}

// Raw is the body of a PDU this package does not parse (replace_sm,
// submit_multi, unknown commands): the octets after the header.
type Raw struct {
	Data []byte
}

// newBody returns an empty body for a command, nil for commands without one.
func newBody(c CommandID) Body {
	switch c {
	case BindReceiver, BindTransmitter, BindTransceiver:
		return &Bind{}
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		return &BindResp{}
	case SubmitSM, DeliverSM:
		return &SM{}
	case SubmitSMResp, DeliverSMResp, DataSMResp:
		return &SMResp{}
	case DataSM:
		return &DataSMBody{}
	case QuerySM:
		return &QuerySMBody{}
	case QuerySMResp:
		return &QuerySMRespBody{}
	case CancelSM:
		return &CancelSMBody{}
	case AlertNotification:
		return &AlertNotificationBody{}
	case Outbind:
		return &OutbindBody{}
	case GenericNack, Unbind, UnbindResp, EnquireLink, EnquireLinkResp, CancelSMResp, ReplaceSMResp:
		return nil
	}
	return &Raw{}
}
