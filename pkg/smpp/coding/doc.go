// Package coding turns message text into SMPP short_message octets and back:
// the GSM 03.38 default alphabet (unpacked, one septet per octet, as SMPP
// carries it, plus septet packing helpers), UCS2 (UTF-16BE with surrogate
// pairs), the choice between them, and splitting long text into parts with a
// 6-byte concatenation user data header.
//
// It does no I/O and knows nothing of sessions or carriers; the smpp package
// puts the octets into submit_sm PDUs, and template code uses Count to bill
// segments before anything is sent.
package coding
