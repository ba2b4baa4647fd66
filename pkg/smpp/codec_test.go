package smpp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	fpdu "github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

func samplePDUs(t testing.TB) []*PDU {
	plan, err := coding.Split("【交管12123】您的机动车检验有效期将至，请及时检验。", coding.Auto, 7)
	if err != nil {
		t.Fatal(err)
	}
	return []*PDU{
		{Command: BindTransceiver, Seq: 1, Body: &Bind{SystemID: "gw12123", Password: "secret", SystemType: "SMS", InterfaceVersion: InterfaceVersion34, AddrTON: 1, AddrNPI: 1, AddressRange: "^86"}},
		{Command: BindTransceiverResp, Seq: 1, Body: &BindResp{SystemID: "SMSC", TLVs: TLVs{{TagSCInterfaceVersion, []byte{0x34}}}}},
		{Command: BindTransmitterResp, Status: ErrInvalidPassword.Status, Seq: 2},
		{Command: SubmitSM, Seq: 3, Body: &SM{
			Source: Address{TONAlphanumeric, NPIUnknown, "12123"}, Dest: Address{TONInternational, NPIISDN, "8613800138000"},
			ESMClass: 0, RegisteredDelivery: RegisteredDeliveryAlways, DataCoding: plan.DataCoding,
			ValidityPeriod: "000001000000000R", ShortMessage: plan.Parts[0],
			TLVs: TLVs{{TagUserMessageReference, Uint16Value(42)}},
		}},
		{Command: SubmitSMResp, Seq: 3, Body: &SMResp{MessageID: "5f2a9c01"}},
		{Command: SubmitSMResp, Status: ErrThrottled.Status, Seq: 4},
		{Command: DeliverSM, Seq: 9, Body: &SM{
			Source: Address{1, 1, "8613800138000"}, Dest: Address{5, 0, "12123"}, ESMClass: ESMClassReceipt,
			ShortMessage: []byte("id:5f2a9c01 sub:001 dlvrd:001 submit date:2611270830 done date:2611270831 stat:DELIVRD err:000 text:"),
			TLVs:         TLVs{{TagReceiptedMessageID, CStringValue("5f2a9c01")}, {TagMessageState, []byte{2}}},
		}},
		{Command: DeliverSMResp, Seq: 9, Body: &SMResp{}},
		{Command: EnquireLink, Seq: 10},
		{Command: EnquireLinkResp, Seq: 10},
		{Command: Unbind, Seq: 11},
		{Command: UnbindResp, Seq: 11},
		{Command: GenericNack, Status: ErrInvalidCmdID.Status, Seq: 12},
		{Command: DataSM, Seq: 13, Body: &DataSMBody{Source: Address{1, 1, "8613800138000"}, Dest: Address{5, 0, "12123"}, DataCoding: 8, TLVs: TLVs{{TagMessagePayload, coding.EncodeUCS2("查询")}}}},
		{Command: DataSMResp, Seq: 13, Body: &SMResp{MessageID: "x"}},
		{Command: QuerySM, Seq: 14, Body: &QuerySMBody{MessageID: "abc", Source: Address{5, 0, "12123"}}},
		{Command: QuerySMResp, Seq: 14, Body: &QuerySMRespBody{MessageID: "abc", FinalDate: "261127083100000+", MessageState: 2}},
		{Command: CancelSM, Seq: 15, Body: &CancelSMBody{MessageID: "abc", Source: Address{5, 0, "12123"}, Dest: Address{1, 1, "8613800138000"}}},
		{Command: AlertNotification, Seq: 16, Body: &AlertNotificationBody{Source: Address{1, 1, "8613800138000"}, ESME: Address{5, 0, "12123"}}},
		{Command: Outbind, Seq: 17, Body: &OutbindBody{SystemID: "SMSC", Password: "pw"}},
		{Command: CommandID(0x00000999), Seq: 18, Body: &Raw{Data: []byte{1, 2, 3}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range samplePDUs(t) {
		t.Run(p.Command.String(), func(t *testing.T) {
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			f, err := ReadFrame(bytes.NewReader(b), 0)
			if err != nil || !bytes.Equal(f, b) {
				t.Fatalf("ReadFrame: %v", err)
			}
			q, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			// Empty bodies of responses come back nil.
			if r, ok := p.Body.(*SMResp); ok && r.MessageID == "" && r.TLVs == nil {
				if q.Body == nil {
					t.Fatalf("empty SMResp body lost")
				}
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", q.Body, p.Body)
			}
			b2, _ := q.MarshalBinary()
			if !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs")
			}
		})
	}
}

// TestGoSMPPDecodesOurs has github.com/fiorix/go-smpp's pdu package read
// what AppendTo writes and checks its fields one by one, apart from the
// conversion Decode does (which TestGoSMPPOnWirePath compares with the
// hand-written decoder).
func TestGoSMPPDecodesOurs(t *testing.T) {
	ps := samplePDUs(t)
	sub := ps[3]
	b, _ := sub.MarshalBinary()
	body, err := fpdu.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	f := body.Fields()
	sm := sub.SM()
	checks := map[pdufield.Name]string{
		pdufield.SourceAddr:           sm.Source.Addr,
		pdufield.DestinationAddr:      sm.Dest.Addr,
		pdufield.ValidityPeriod:       sm.ValidityPeriod,
		pdufield.ShortMessage:         string(sm.ShortMessage),
		pdufield.ServiceType:          "",
		pdufield.ScheduleDeliveryTime: "",
	}
	for name, want := range checks {
		if got := f[name].String(); got != want {
			t.Errorf("go-smpp read %s = %q, want %q", name, got, want)
		}
	}
	if got := f[pdufield.DataCoding].Bytes()[0]; got != 8 {
		t.Errorf("data_coding %d", got)
	}
	if got := f[pdufield.RegisteredDelivery].Bytes()[0]; got != 1 {
		t.Errorf("registered_delivery %d", got)
	}
	if v := body.TLVFields()[pdutlv.Tag(TagUserMessageReference)]; v == nil || !bytes.Equal(v.Bytes(), []byte{0, 42}) {
		t.Errorf("user_message_reference TLV %v", v)
	}
	if body.Header().Seq != 3 || body.Header().ID != fpdu.SubmitSMID {
		t.Errorf("header %+v", body.Header())
	}
	// A bind and enquire_link too.
	for _, p := range []*PDU{ps[0], ps[8]} {
		b, _ := p.MarshalBinary()
		got, err := fpdu.Decode(bytes.NewReader(b))
		if err != nil || uint32(got.Header().ID) != uint32(p.Command) || got.Header().Seq != p.Seq {
			t.Fatalf("go-smpp decode %s: %v %+v", p.Command, err, got)
		}
	}
	b, _ = ps[0].MarshalBinary()
	got, _ := fpdu.Decode(bytes.NewReader(b))
	if got.Fields()[pdufield.SystemID].String() != "gw12123" || got.Fields()[pdufield.Password].String() != "secret" {
		t.Fatalf("bind fields %v", got.Fields())
	}
}

// TestWeDecodeGoSMPP reads what go-smpp writes: a submit_sm_resp and a
// submit_sm (its deliver_sm encoder is known to insert a stray octet).
func TestWeDecodeGoSMPP(t *testing.T) {
	resp := fpdu.NewSubmitSMResp()
	resp.Header().Seq = 77
	resp.Fields().Set(pdufield.MessageID, "abc123")
	var buf bytes.Buffer
	if err := resp.SerializeTo(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := Decode(buf.Bytes())
	if err != nil || p.Command != SubmitSMResp || p.Seq != 77 || p.MessageID() != "abc123" {
		t.Fatalf("decode go-smpp submit_sm_resp: %v %+v", err, p)
	}

	sub := fpdu.NewSubmitSM(pdutlv.Fields{pdutlv.TagReceiptedMessageID: pdutlv.CString("r1")})
	sub.Header().Seq = 78
	fs := sub.Fields()
	fs.Set(pdufield.SourceAddr, "12123")
	fs.Set(pdufield.DestinationAddr, "13800138000")
	fs.Set(pdufield.ShortMessage, []byte{0x4F, 0x60})
	fs.Set(pdufield.DataCoding, uint8(8))
	buf.Reset()
	if err := sub.SerializeTo(&buf); err != nil {
		t.Fatal(err)
	}
	p, err = Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sm := p.SM()
	if sm == nil || sm.Source.Addr != "12123" || sm.Dest.Addr != "13800138000" || !bytes.Equal(sm.ShortMessage, []byte{0x4F, 0x60}) || sm.DataCoding != 8 {
		t.Fatalf("decoded %+v", sm)
	}
	if id, _ := sm.TLVs.String(TagReceiptedMessageID); id != "r1" {
		t.Fatalf("TLV %q", id)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := samplePDUs(t)[3].MarshalBinary()
	trunc := func(n int) []byte {
		b := append([]byte(nil), good[:n]...)
		b[0], b[1], b[2], b[3] = 0, 0, byte(n>>8), byte(n)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"short header", good[:10], ErrMalformed},
		{"length mismatch", good[:len(good)-1], ErrMalformed},
		{"cut in address", trunc(20), ErrMalformed},
		{"cut in short_message", trunc(len(good) - 40), ErrMalformed},
		{"cut in tlv", trunc(len(good) - 2), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// An error response with a garbled body still yields its status.
	b := []byte{0, 0, 0, 18, 0x80, 0, 0, 4, 0, 0, 0, 0x58, 0, 0, 0, 1, 'x', 'y'}
	p, err := Decode(b)
	if err != nil || p.Status != ErrThrottled.Status || p.Body != nil {
		t.Fatalf("error response: %v %+v", err, p)
	}
	// ReadFrame refuses a huge command_length before allocating.
	huge := []byte{0x7F, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1}
	if _, err := ReadFrame(bytes.NewReader(huge), 0); !errors.Is(err, ErrPDUTooLong) {
		t.Fatalf("ReadFrame huge: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ReadFrame tiny: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		p    *PDU
	}{
		{"system_id too long", &PDU{Command: BindTransmitter, Body: &Bind{SystemID: "0123456789abcdef"}}},
		{"password too long", &PDU{Command: BindTransmitter, Body: &Bind{Password: "123456789"}}},
		{"short_message too long", &PDU{Command: SubmitSM, Body: &SM{ShortMessage: make([]byte, 255)}}},
		{"address with NUL", &PDU{Command: SubmitSM, Body: &SM{Dest: Address{Addr: "1\x002"}}}},
		{"bad validity", &PDU{Command: SubmitSM, Body: &SM{ValidityPeriod: "1h"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.p.AppendTo([]byte{9})
			var me *MalformedError
			if !errors.As(err, &me) || me.Command != tc.p.Command {
				t.Fatalf("err = %v", err)
			}
			if !bytes.Equal(b, []byte{9}) {
				t.Fatalf("buffer not restored: % X", b)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	if StatusOK.Err() != nil {
		t.Fatal("ROK is an error")
	}
	err := Status(0x58).Err()
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("0x58 → %v", err)
	}
	var se *StatusError
	if !errors.As(err, &se) || !se.Retryable {
		t.Fatalf("throttled not retryable")
	}
	vendor := Status(0x401).Err()
	if !errors.As(vendor, &se) || se.Retryable || !errors.Is(vendor, Status(0x401).Err()) || errors.Is(vendor, ErrThrottled) {
		t.Fatalf("vendor status: %v", vendor)
	}
	if StatusOf(nil) != StatusOK || StatusOf(ErrTempAppError) != 0x64 || StatusOf(errors.New("x")) != 0x08 {
		t.Fatal("StatusOf")
	}
	if Status(0x0E).String() != "ESME_RINVPASWD" || SubmitSM.String() != "submit_sm" {
		t.Fatal("names")
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range samplePDUs(f) {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		b2, err := p.MarshalBinary()
		if err != nil {
			// Decoding is lenient about lengths that encoding enforces.
			var me *MalformedError
			if errors.As(err, &me) {
				return
			}
			t.Fatal(err)
		}
		p2, err := Decode(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("unstable:\n%#v\n%#v", p.Body, p2.Body)
		}
	})
}

func BenchmarkEncodeSubmitSM(b *testing.B) {
	p := samplePDUs(b)[3]
	buf := make([]byte, 0, 512)
	for b.Loop() {
		var err error
		if buf, err = p.AppendTo(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDeliverSM(b *testing.B) {
	raw, _ := samplePDUs(b)[6].MarshalBinary()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
