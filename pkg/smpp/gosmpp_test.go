package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	fpdu "github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
)

// frame builds a PDU from raw body octets.
func frame(cmd CommandID, status Status, seq uint32, body ...[]byte) []byte {
	b := make([]byte, HeaderLen)
	binary.BigEndian.PutUint32(b[4:], uint32(cmd))
	binary.BigEndian.PutUint32(b[8:], uint32(status))
	binary.BigEndian.PutUint32(b[12:], seq)
	for _, x := range body {
		b = append(b, x...)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

// smHead is a submit_sm/deliver_sm body up to sm_length.
func smHead(esm byte, smLen int) []byte {
	return []byte("\x00\x01\x018613800138000\x00\x05\x0012123\x00" + string([]byte{esm, 0, 0}) + "\x00\x00" + string([]byte{0, 0, 8, 0, byte(smLen)}))
}

func tlv(tag Tag, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(tag))
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func serializeGoSMPP(t *testing.T, body fpdu.Body) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := body.SerializeTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGoSMPPOnWirePath checks that the PDUs a session reads and writes go
// through go-smpp, and that go-smpp's bytes and values are exactly those of
// the hand-written reference codec.
func TestGoSMPPOnWirePath(t *testing.T) {
	viaGoSMPP := map[CommandID]bool{
		BindTransceiver: true, BindTransceiverResp: true, SubmitSM: true, SubmitSMResp: true,
		DeliverSM: true, DeliverSMResp: true, EnquireLink: true, EnquireLinkResp: true,
		Unbind: true, UnbindResp: true, GenericNack: true, QuerySM: true, QuerySMResp: true,
	}
	for _, p := range samplePDUs(t) {
		t.Run(p.Command.String(), func(t *testing.T) {
			want, err := p.appendHand(nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendTo\n got % X\nwant % X", got, want)
			}
			e := p.goSMPPEnc()
			encGo := e != nil
			if e != nil {
				e.release()
			}
			bodiless := newBody(p.Command) == nil
			if encGo != (viaGoSMPP[p.Command] && (p.Body != nil || bodiless)) {
				t.Fatalf("encoded by go-smpp: %v", encGo)
			}
			if !decodedByGoSMPP(p.Command) {
				return
			}
			q, ok, err := decodeGoSMPP(want, p.Command, fpdu.Decode)
			if err != nil || !ok {
				t.Fatalf("go-smpp refused: ok=%v err=%v", ok, err)
			}
			h, err := decodeHand(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(q, h) {
				t.Fatalf("go-smpp decoded\n%#v\nhand-written\n%#v", q.Body, h.Body)
			}
		})
	}
}

// TestGoSMPPDefects shows, for each case the hand-written codec covers,
// what go-smpp does with it and what Decode / AppendTo do instead.
func TestGoSMPPDefects(t *testing.T) {
	t.Run("deliver_sm encoding inserts a stray octet", func(t *testing.T) {
		text := []byte("id:1 stat:DELIVRD")
		d := fpdu.NewDeliverSM()
		f := d.Fields()
		f.Set(pdufield.SourceAddr, "8613800138000")
		f.Set(pdufield.DestinationAddr, "12123")
		f.Set(pdufield.ESMClass, ESMClassReceipt)
		f.Set(pdufield.ShortMessage, text)
		d.Header().Seq = 5
		theirs := serializeGoSMPP(t, d)
		ours, err := (&PDU{Command: DeliverSM, Seq: 5, Body: &SM{Source: Address{Addr: "8613800138000"}, Dest: Address{Addr: "12123"}, ESMClass: ESMClassReceipt, ShortMessage: text}}).AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		k := len(ours) - len(text) // where short_message starts
		if len(theirs) != len(ours)+1 || theirs[k] != 0 || !bytes.Equal(theirs[k+1:], text) {
			t.Fatalf("go-smpp deliver_sm\n% X\nours\n% X", theirs, ours)
		}
		p, err := Decode(ours)
		if err != nil || !bytes.Equal(p.SM().ShortMessage, text) {
			t.Fatalf("decode ours: %v", err)
		}
	})
	t.Run("data_sm not implemented", func(t *testing.T) {
		b, _ := samplePDUs(t)[13].MarshalBinary()
		if _, err := fpdu.Decode(bytes.NewReader(b)); err == nil {
			t.Fatal("go-smpp decoded data_sm")
		}
		if p, err := Decode(b); err != nil || p.Body.(*DataSMBody).DataCoding != 8 {
			t.Fatalf("Decode: %v", err)
		}
	})
	t.Run("query_sm_resp integers read as strings", func(t *testing.T) {
		b := frame(QuerySMResp, 0, 1, []byte("abc\x00\x00"), []byte{2, 5})
		body, err := fpdu.Decode(bytes.NewReader(b))
		if err == nil {
			if _, fixed := body.Fields()[pdufield.MessageState].(*pdufield.Fixed); fixed && body.Fields()[pdufield.ErrorCode] != nil {
				t.Fatal("go-smpp reads query_sm_resp right: drop the fallback")
			}
		}
		p, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if r := p.Body.(*QuerySMRespBody); r.MessageState != 2 || r.ErrorCode != 5 {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("truncated body is not an error", func(t *testing.T) {
		b := frame(SubmitSM, 0, 1, []byte("\x00\x01\x01861380"))
		body, err := fpdu.Decode(bytes.NewReader(b))
		if err != nil || body.Fields()[pdufield.ShortMessage] != nil {
			t.Fatalf("go-smpp: %v", err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode: %v", err)
		}
	})
	t.Run("UDHI with message_payload refused", func(t *testing.T) {
		payload := []byte{5, 0, 3, 7, 2, 1, 0x4F, 0x60}
		b := frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, 0), tlv(TagMessagePayload, payload))
		if _, err := fpdu.Decode(bytes.NewReader(b)); err == nil {
			t.Fatal("go-smpp decoded it")
		}
		p, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := p.SM().TLVs.Get(TagMessagePayload); !bytes.Equal(v, payload) {
			t.Fatalf("payload % X", v)
		}
	})
	t.Run("UDH whose IEs overrun its length", func(t *testing.T) {
		sm := []byte{2, 0, 3, 7, 2, 1, 'a', 'b', 'c'} // UDHL 2, but a 5-octet IE
		b := frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, len(sm)), sm, tlv(TagMessageState, []byte{2}))
		body, err := fpdu.Decode(bytes.NewReader(b))
		if err == nil {
			if got := body.Fields()[pdufield.ShortMessage]; got != nil && bytes.Equal(got.Bytes(), sm[3:]) {
				t.Fatal("go-smpp read the text right")
			}
		}
		p, err := Decode(b)
		if err != nil || !bytes.Equal(p.SM().ShortMessage, sm) {
			t.Fatalf("Decode: %v", err)
		}
		if st, _ := p.SM().TLVs.Uint8(TagMessageState); st != 2 {
			t.Fatal("message_state lost")
		}
	})
	t.Run("consistent UDH is re-joined", func(t *testing.T) {
		sm := []byte{5, 0, 3, 7, 2, 1, 0x4F, 0x60}
		b := frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, len(sm)), sm)
		p, ok, err := decodeGoSMPP(b, DeliverSM, fpdu.Decode)
		if err != nil || !ok || !bytes.Equal(p.SM().ShortMessage, sm) {
			t.Fatalf("ok=%v err=%v", ok, err)
		}
	})
	t.Run("PDU above 4096 octets", func(t *testing.T) {
		payload := bytes.Repeat([]byte{0x4F, 0x60}, 3000)
		b := frame(DeliverSM, 0, 1, smHead(0, 0), tlv(TagMessagePayload, payload))
		if _, err := fpdu.Decode(bytes.NewReader(b)); err == nil {
			t.Fatal("go-smpp decoded it")
		}
		p, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := p.SM().TLVs.Get(TagMessagePayload); len(v) != len(payload) {
			t.Fatal("payload lost")
		}
	})
	t.Run("repeated TLV tag collapsed", func(t *testing.T) {
		b := frame(SubmitSMResp, 0, 1, []byte("id\x00"), tlv(TagAdditionalStatusInfoText, []byte("a\x00")), tlv(TagAdditionalStatusInfoText, []byte("b\x00")))
		body, err := fpdu.Decode(bytes.NewReader(b))
		if err != nil || len(body.TLVFields()) != 1 {
			t.Fatalf("go-smpp: %v %d", err, len(body.TLVFields()))
		}
		p, err := Decode(b)
		if err != nil || len(p.Body.(*SMResp).TLVs) != 2 {
			t.Fatalf("Decode: %v", err)
		}
	})
	t.Run("trailing octets dropped", func(t *testing.T) {
		b := frame(BindTransceiver, 0, 1, []byte("gw\x00pw\x00\x00\x34\x00\x00\x00"), []byte{1, 2, 3})
		if _, err := fpdu.Decode(bytes.NewReader(b)); err != nil {
			t.Fatalf("go-smpp: %v", err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode: %v", err)
		}
	})
	t.Run("C-Octet String unbounded", func(t *testing.T) {
		b := frame(SubmitSMResp, 0, 1, []byte(strings.Repeat("9", 300)+"\x00"))
		body, err := fpdu.Decode(bytes.NewReader(b))
		if err != nil || len(body.Fields()[pdufield.MessageID].String()) != 300 {
			t.Fatalf("go-smpp: %v", err)
		}
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Decode: %v", err)
		}
	})
	t.Run("sm_length wraps", func(t *testing.T) {
		long := make([]byte, 300)
		s := fpdu.NewSubmitSM(nil)
		s.Fields().Set(pdufield.ShortMessage, long)
		b := serializeGoSMPP(t, s)
		if b[len(b)-len(long)-1] != byte(300&0xFF) {
			t.Fatalf("sm_length %d", b[len(b)-len(long)-1])
		}
		_, err := (&PDU{Command: SubmitSM, Body: &SM{ShortMessage: long}}).AppendTo(nil)
		if !errors.Is(err, ErrFieldTooLong) {
			t.Fatalf("AppendTo: %v", err)
		}
	})
	t.Run("TLV order", func(t *testing.T) {
		sm := &SM{ShortMessage: []byte("x"), TLVs: TLVs{{TagSARMsgRefNum, Uint16Value(7)}, {TagSARTotalSegments, []byte{2}}, {TagSARSegmentSeqnum, []byte{1}}, {TagDestAddrSubunit, []byte{1}}}}
		want, _ := (&PDU{Command: SubmitSM, Body: sm}).appendHand(nil)
		for range 20 { // go-smpp's map would come out in random order
			got, err := (&PDU{Command: SubmitSM, Body: sm}).AppendTo(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("% X", got)
			}
			p, _ := Decode(got)
			if !reflect.DeepEqual(p.SM().TLVs, sm.TLVs) {
				t.Fatalf("order %v", p.SM().TLVs)
			}
		}
	})
}

// panicky is a go-smpp decoder that panics part way, as a defect in
// go-smpp would, when its input's last octet is odd.
func panicky(r io.Reader) (fpdu.Body, error) {
	b, _ := io.ReadAll(r)
	if len(b) > 0 && b[len(b)-1]&1 == 1 {
		panic("go-smpp defect: odd last octet")
	}
	return fpdu.Decode(bytes.NewReader(b))
}

// FuzzGoSMPPPanic proves that a panic inside go-smpp's decoder never
// escapes Decode: it becomes a *MalformedError and the PDU's header is
// still returned, so the session answers it and keeps the link.
func FuzzGoSMPPPanic(f *testing.F) {
	for _, p := range samplePDUs(f) {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Add(frame(EnquireLink, 0, 3, []byte{1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decode(b, panicky)
		if checkFrame(b) != nil || !decodedByGoSMPP(CommandID(binary.BigEndian.Uint32(b[4:]))) || len(b) > fpdu.MaxSize {
			return
		}
		if b[len(b)-1]&1 == 1 {
			var me *MalformedError
			if !errors.As(err, &me) || me.Field != "go-smpp" || !errors.Is(err, ErrMalformed) || p == nil || p.Seq != binary.BigEndian.Uint32(b[12:]) {
				t.Fatalf("panic became %v, %+v", err, p)
			}
		}
	})
}

// FuzzGoSMPPAgreesWithHand decodes every input with go-smpp and with the
// hand-written decoder: where go-smpp's result is used it must be the
// hand-written one, and whatever go-smpp refuses the fallback decides.
func FuzzGoSMPPAgreesWithHand(f *testing.F) {
	for _, p := range samplePDUs(f) {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Add(frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, 8), []byte{5, 0, 3, 7, 2, 1, 0x4F, 0x60}, tlv(TagMessageState, []byte{2})))
	f.Add(frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, 4), []byte{0, 'a', 'b', 'c'}))
	f.Add(frame(DeliverSM, 0, 1, smHead(ESMClassUDHI, 0), tlv(TagMessagePayload, []byte{5, 0, 3, 7, 2, 1})))
	f.Add(frame(SubmitSMResp, 0, 1, []byte("id\x00"), tlv(TagAdditionalStatusInfoText, []byte("a\x00")), tlv(TagAdditionalStatusInfoText, []byte("b\x00"))))
	f.Add(frame(BindTransceiverResp, 0, 1, []byte("S\x00"), tlv(TagSCInterfaceVersion, []byte{0x34}), []byte{1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if checkFrame(b) != nil {
			return
		}
		cmd := CommandID(binary.BigEndian.Uint32(b[4:]))
		if !decodedByGoSMPP(cmd) || len(b) > fpdu.MaxSize {
			return
		}
		g, ok, gerr := decodeGoSMPP(b, cmd, fpdu.Decode)
		if gerr != nil {
			t.Fatalf("go-smpp panicked: %v", gerr) // a new go-smpp defect: Decode reported it as malformed
		}
		h, herr := decodeHand(b)
		if ok {
			if herr != nil || !reflect.DeepEqual(g, h) {
				t.Fatalf("go-smpp\n%#v\nhand (%v)\n%#v", g.Body, herr, h.Body)
			}
			if err != nil || !reflect.DeepEqual(p, g) {
				t.Fatalf("Decode did not use go-smpp's result: %v", err)
			}
			return
		}
		if (err == nil) != (herr == nil) || !reflect.DeepEqual(p, h) {
			t.Fatalf("fallback: Decode %v, hand %v", err, herr)
		}
	})
}
