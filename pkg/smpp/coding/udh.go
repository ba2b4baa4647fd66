package coding

import (
	"fmt"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// UDH is what this package reads from a user data header: the
// concatenation element (IEI 0x00, 8-bit reference, or 0x08, 16-bit
// reference) if there is one. Other elements are skipped.
type UDH struct {
	Concat bool   // a concatenation element was found
	Ref    uint16 // reference shared by the parts of one message
	Total  uint8  // number of parts
	Seq    uint8  // this part, from 1
}

// SplitUDH reads the user data header at the start of b (whose first octet
// is the header length) and returns it and the rest of b.
func SplitUDH(b []byte) (UDH, []byte, error) {
	var h UDH
	if len(b) == 0 {
		return h, nil, ErrBadUDH
	}
	n := int(b[0])
	if 1+n > len(b) {
		return h, nil, ErrBadUDH
	}
	ies, rest := b[1:1+n], b[1+n:]
	for len(ies) > 0 {
		if len(ies) < 2 {
			return h, nil, ErrBadUDH
		}
		id, l := ies[0], int(ies[1])
		if 2+l > len(ies) {
			return h, nil, ErrBadUDH
		}
		v := ies[2 : 2+l]
		switch {
		case id == 0x00 && l == 3:
			h = UDH{Concat: true, Ref: uint16(v[0]), Total: v[1], Seq: v[2]}
		case id == 0x08 && l == 4:
			h = UDH{Concat: true, Ref: uint16(v[0])<<8 | uint16(v[1]), Total: v[2], Seq: v[3]}
		}
		ies = ies[2+l:]
	}
	return h, rest, nil
}

// Decode turns short_message octets of the given data_coding into text:
// 0x00 GSM 03.38 unpacked, 0x01 IA5 (ASCII), 0x03 Latin-1, 0x08 UCS2, and
// 0x0F GBK, which Chinese carriers use for mobile-originated text (a "退订"
// reply may arrive so).
// Other codings (binary, national) are ErrUnsupportedDataCoding. Strip a
// user data header with SplitUDH first.
//
// Many SMSCs send delivery receipts in data_coding 0 as plain ASCII; the
// GSM alphabet agrees with ASCII on letters, digits, space and ":" so such
// text decodes the same, except "@" and "_" (see DecodeReceiptText in smpp).
func Decode(dataCoding byte, b []byte) (string, error) {
	switch dataCoding {
	case 0x00:
		return DecodeGSM7(b)
	case 0x01:
		for _, c := range b {
			if c > 0x7F {
				return DecodeLatin1(b), nil
			}
		}
		return string(b), nil
	case 0x03:
		return DecodeLatin1(b), nil
	case 0x08:
		return DecodeUCS2(b)
	case 0x0F:
		out, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
		if err != nil {
			return "", fmt.Errorf("coding: GBK: %w", err)
		}
		return string(out), nil
	}
	return "", ErrUnsupportedDataCoding
}

// DecodeLatin1 decodes ISO-8859-1.
func DecodeLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
