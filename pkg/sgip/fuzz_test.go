package sgip

import (
	"reflect"
	"testing"
)

// FuzzDecode runs every decoder on arbitrary input; what SUBMIT, DELIVER
// and REPORT accept encodes and decodes back to the same value.
func FuzzDecode(f *testing.F) {
	b, _ := AppendSubmit(nil, &Submit{Users: []string{"8613000000000"}, Content: []byte("hi")})
	f.Add(b)
	b, _ = AppendDeliver(nil, &Deliver{UserNumber: "86130", Content: []byte("x")})
	f.Add(b)
	b, _ = AppendReport(nil, &Report{UserNumber: "86130"})
	f.Add(b)
	b, _ = AppendBind(nil, &Bind{LoginType: 2, Name: "n"})
	f.Add(b)
	f.Add(AppendResp(nil, &Resp{Result: 11}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSubmit(b); err == nil {
			out, err := AppendSubmit(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			if s2, err := DecodeSubmit(out); err != nil || !reflect.DeepEqual(s, s2) {
				t.Fatalf("submit round trip: %v", err)
			}
		}
		if d, err := DecodeDeliver(b); err == nil {
			out, err := AppendDeliver(nil, d)
			if err != nil {
				t.Fatal(err)
			}
			if d2, err := DecodeDeliver(out); err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("deliver round trip: %v", err)
			}
		}
		if r, err := DecodeReport(b); err == nil {
			out, _ := AppendReport(nil, r)
			if r2, err := DecodeReport(out); err != nil || !reflect.DeepEqual(r, r2) {
				t.Fatalf("report round trip: %v", err)
			}
		}
		_, _ = DecodeBind(b)
		_, _ = DecodeResp(CmdSubmitResp, b)
		_, _ = ParseSeqID(string(b))
	})
}
