package smpp

import "encoding/binary"

// Tag is an optional parameter tag.
type Tag uint16

// Optional parameter tags of SMPP 3.4 section 5.3.2 that this package or
// its users read or write.
const (
	TagDestAddrSubunit          Tag = 0x0005
	TagSourcePort               Tag = 0x020A
	TagDestinationPort          Tag = 0x020B
	TagAdditionalStatusInfoText Tag = 0x001D
	TagReceiptedMessageID       Tag = 0x001E
	TagUserMessageReference     Tag = 0x0204
	TagSARMsgRefNum             Tag = 0x020C
	TagSARTotalSegments         Tag = 0x020E
	TagSARSegmentSeqnum         Tag = 0x020F
	TagSCInterfaceVersion       Tag = 0x0210
	TagNetworkErrorCode         Tag = 0x0423
	TagMessagePayload           Tag = 0x0424
	TagDeliveryFailureReason    Tag = 0x0425
	TagMoreMessagesToSend       Tag = 0x0426
	TagMessageState             Tag = 0x0427
)

// TLV is one optional parameter.
type TLV struct {
	Tag   Tag
	Value []byte
}

// TLVs is the optional part of a PDU body, in wire order.
type TLVs []TLV

// Get returns the value of the first TLV with the tag.
func (t TLVs) Get(tag Tag) ([]byte, bool) {
	for _, v := range t {
		if v.Tag == tag {
			return v.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of the first TLV with the tag or appends one.
func (t *TLVs) Set(tag Tag, value []byte) {
	for i := range *t {
		if (*t)[i].Tag == tag {
			(*t)[i].Value = value
			return
		}
	}
	*t = append(*t, TLV{Tag: tag, Value: value})
}

// Uint8 returns a one-octet TLV value.
func (t TLVs) Uint8(tag Tag) (byte, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// Uint16 returns a two-octet TLV value.
func (t TLVs) Uint16(tag Tag) (uint16, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// String returns a C-Octet String TLV value without its terminating NUL.
func (t TLVs) String(tag Tag) (string, bool) {
	v, ok := t.Get(tag)
	if !ok {
		return "", false
	}
	for i, c := range v {
		if c == 0 {
			v = v[:i]
			break
		}
	}
	return string(v), true
}

// CStringValue returns s as a C-Octet String TLV value (NUL-terminated).
func CStringValue(s string) []byte { return append([]byte(s), 0) }

// Uint16Value returns v as a two-octet TLV value.
func Uint16Value(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func (t TLVs) appendTo(b []byte) ([]byte, error) {
	for _, v := range t {
		if len(v.Value) > 0xFFFF {
			return b, &MalformedError{Field: "tlv", Err: ErrFieldTooLong}
		}
		b = binary.BigEndian.AppendUint16(b, uint16(v.Tag))
		b = binary.BigEndian.AppendUint16(b, uint16(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b, nil
}
