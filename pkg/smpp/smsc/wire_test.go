package smsc

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// TestDecodeSubmitAgrees encodes submit_sm with pkg/smpp's codec and
// decodes it with the simulator's.
func TestDecodeSubmitAgrees(t *testing.T) {
	udh8 := []byte{5, 0x00, 3, 0x42, 2, 1}
	udh16 := []byte{6, 0x08, 4, 0x12, 0x34, 3, 2}
	tests := []struct {
		name       string
		sm         smpp.SM
		wantText   string
		ref        uint16
		total, seq uint8
		sar        bool
	}{
		{name: "gsm7", sm: smpp.SM{DataCoding: 0, ShortMessage: mustGSM7(t, "Hi {there} €")}, wantText: "Hi {there} €"},
		{name: "ucs2", sm: smpp.SM{DataCoding: 8, ShortMessage: coding.EncodeUCS2("交管12123 😀")}, wantText: "交管12123 😀"},
		{name: "udh 8-bit", sm: smpp.SM{ESMClass: 0x40, DataCoding: 8, ShortMessage: append(slices.Clone(udh8), coding.EncodeUCS2("第一")...)}, wantText: "第一", ref: 0x42, total: 2, seq: 1},
		{name: "udh 16-bit", sm: smpp.SM{ESMClass: 0x40, DataCoding: 8, ShortMessage: append(slices.Clone(udh16), coding.EncodeUCS2("第二")...)}, wantText: "第二", ref: 0x1234, total: 3, seq: 2},
		{name: "sar", sm: smpp.SM{DataCoding: 3, ShortMessage: []byte("caf\xe9"), TLVs: smpp.TLVs{
			{Tag: smpp.TagSARMsgRefNum, Value: []byte{0, 9}}, {Tag: smpp.TagSARTotalSegments, Value: []byte{2}}, {Tag: smpp.TagSARSegmentSeqnum, Value: []byte{2}},
		}}, wantText: "café", ref: 9, total: 2, seq: 2, sar: true},
		{name: "message_payload", sm: smpp.SM{DataCoding: 8, TLVs: smpp.TLVs{{Tag: smpp.TagMessagePayload, Value: coding.EncodeUCS2(strings.Repeat("长", 200))}}}, wantText: strings.Repeat("长", 200)},
		{name: "binary", sm: smpp.SM{DataCoding: 4, ShortMessage: []byte{0xde, 0xad}}, wantText: "hex:dead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sm.Source = smpp.Address{TON: 5, Addr: "12123"}
			tt.sm.Dest = smpp.Address{TON: 1, NPI: 1, Addr: "8613800138000"}
			tt.sm.RegisteredDelivery = 1
			b, err := (&smpp.PDU{Command: smpp.SubmitSM, Seq: 1, Body: &tt.sm}).AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			var p submitBody
			if err := decodeSubmit(b[headerLen:], &p); err != nil {
				t.Fatal(err)
			}
			if string(p.Source) != "12123" || string(p.Dest) != "8613800138000" || p.DestTON != 1 || p.DestNPI != 1 || p.SourceTON != 5 || p.RegisteredDelivery != 1 {
				t.Errorf("addresses %+v", p)
			}
			if got := DecodeText(p.DataCoding, p.Payload); got != tt.wantText {
				t.Errorf("text %q, want %q", got, tt.wantText)
			}
			if p.Ref != tt.ref || p.Total != tt.total || p.Seq != tt.seq || p.SAR != tt.sar {
				t.Errorf("concat ref %d %d/%d sar %v", p.Ref, p.Seq, p.Total, p.SAR)
			}
		})
	}
}

// TestDeliverSMDecodes checks pkg/smpp reads the simulator's deliver_sm
// field by field (no stray octets as go-smpp's encoder adds).
func TestDeliverSMDecodes(t *testing.T) {
	b := appendDeliverSM(nil, 77, &deliverReceipt{
		SourceTON: 1, SourceNPI: 1, Source: "13800138000", DestTON: 5, Dest: "12123",
		Text: []byte("id:1f sub:001 dlvrd:001 submit date:2611270101 done date:2611270101 stat:DELIVRD err:000 text:hi"), MessageID: "1f", State: 2,
	})
	p, err := smpp.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := smpp.ParseReceipt(p.SM())
	if err != nil {
		t.Fatal(err)
	}
	if p.Seq != 77 || r.MessageID != "1f" || r.Stat != "DELIVRD" || r.State != smpp.StateDelivered || r.Source.Addr != "13800138000" || r.Dest.Addr != "12123" || r.Text != "hi" {
		t.Errorf("pdu %s receipt %+v", p, r)
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		dc   uint8
		in   []byte
		want string
	}{
		{0, []byte{0x00, 0x02, 0x1B, 0x65, 0x1B, 0x28, 0x11}, "@$€{_"},
		{0, []byte{0x1B}, " "},
		{0, []byte{0x80}, "?"},
		{8, []byte{0xD8, 0x3D, 0xDE, 0x00}, "😀"},
		{8, []byte{0xD8, 0x3D}, "\uFFFD"},
		{8, []byte{0x4E}, "\uFFFD"},
		{3, []byte{0xe9}, "é"},
		{1, []byte("abc"), "abc"},
		{0xF5, []byte{1}, "hex:01"},
	}
	for _, tt := range tests {
		if got := DecodeText(tt.dc, tt.in); got != tt.want {
			t.Errorf("DecodeText(%d, % x) = %q, want %q", tt.dc, tt.in, got, tt.want)
		}
	}
	if got := receiptText("【交管12123】hello world and more"); got != "???12123?hello world" {
		t.Errorf("receiptText %q", got)
	}
	if got := Mask("13812345678"); got != "138****5678" {
		t.Errorf("Mask %q", got)
	}
}

func mustGSM7(t *testing.T, s string) []byte {
	b, err := coding.EncodeGSM7(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodeSubmit(f *testing.F) {
	for _, sm := range []smpp.SM{
		{Source: smpp.Address{Addr: "12123"}, Dest: smpp.Address{Addr: "13800138000"}, DataCoding: 8, ShortMessage: coding.EncodeUCS2("你好")},
		{ESMClass: 0x40, DataCoding: 8, ShortMessage: []byte{5, 0, 3, 1, 2, 1, 0, 0x41}},
		{ESMClass: 0x40, ShortMessage: []byte{6, 8, 4, 1, 2, 2, 1, 0x41}},
		{TLVs: smpp.TLVs{{Tag: smpp.TagSARMsgRefNum, Value: []byte{0, 1}}, {Tag: smpp.TagMessagePayload, Value: []byte("x")}}},
	} {
		b, err := (&smpp.PDU{Command: smpp.SubmitSM, Body: &sm}).AppendTo(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[headerLen:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p submitBody
		if err := decodeSubmit(b, &p); err != nil {
			return
		}
		if !bytes.HasSuffix(p.Message, p.Payload) || len(p.UDH)+len(p.Payload) != len(p.Message) {
			t.Fatalf("payload % x not the tail of % x after udh % x", p.Payload, p.Message, p.UDH)
		}
		if p.Total == 0 && (p.Seq != 0 || p.Ref != 0) {
			t.Fatalf("concat fields without a total: %+v", p)
		}
		if s := DecodeText(p.DataCoding, p.Payload); !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	})
}

func FuzzDecodeBind(f *testing.F) {
	b, _ := (&smpp.PDU{Command: smpp.BindTransceiver, Body: &smpp.Bind{SystemID: "gw", Password: "pw", InterfaceVersion: 0x34}}).AppendTo(nil)
	f.Add(b[headerLen:])
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeBind(b)
		if err != nil {
			return
		}
		if len(p.SystemID) > 15 || len(p.Password) > 8 || len(p.SystemType) > 12 {
			t.Fatalf("over-long fields accepted: %+v", p)
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	f.Add(uint8(0), []byte{0x1B, 0x65, 0x41})
	f.Add(uint8(8), []byte{0xD8, 0x3D, 0xDE, 0x00, 0x4E})
	f.Add(uint8(3), []byte{0xFF})
	f.Fuzz(func(t *testing.T, dc uint8, b []byte) {
		s := DecodeText(dc, b)
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
		if dc == 8 && !strings.ContainsRune(s, utf8.RuneError) {
			if again := DecodeText(8, coding.EncodeUCS2(s)); again != s {
				t.Fatalf("UCS2 round trip %q → %q", s, again)
			}
		}
	})
}

func FuzzSplitMO(f *testing.F) {
	f.Add("TD")
	f.Add(strings.Repeat("退订😀", 30))
	f.Add(strings.Repeat("STOP ", 40))
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) || len(text) > 2000 {
			return
		}
		dc, parts := splitMO(text, 1)
		var all []byte
		for _, p := range parts {
			if len(p) > 140 && dc == CodingUCS2 || len(p) > 160 {
				t.Fatalf("part of %d octets", len(p))
			}
			if len(parts) > 1 {
				p = p[6:]
			}
			all = append(all, p...)
		}
		want := text
		if dc == CodingUCS2 {
			want = strings.ToValidUTF8(text, "\uFFFD")
		}
		if got := DecodeText(dc, all); got != want {
			t.Fatalf("round trip %q → %q", text, got)
		}
	})
}
