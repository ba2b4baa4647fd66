package event

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error is an
// *InvalidError with a known reason, and that whatever it accepts survives
// Encode and decodes again.
func FuzzDecode(f *testing.F) {
	for _, ex := range docExamples(f) {
		f.Add(ex)
	}
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Add([]byte(`{"specversion":"1.0","id":"a","source":"b","type":"advisory.published","time":"2026-01-01T00:00:00Z","data":{"id":"x","regions":["110000"],"kind":"weather","text":"t","valid_until":"2026-01-02T00:00:00Z"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := Decode(in)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error is %T: %v", err, err)
			}
			known := false
			for _, r := range Reasons {
				known = known || r == ie.Reason
			}
			if !known {
				t.Fatalf("unknown reason %q", ie.Reason)
			}
			return
		}
		if ev.payloads() != 1 {
			t.Fatalf("accepted event with %d payloads", ev.payloads())
		}
		raw, err := Encode(ev)
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		if _, err := Decode(raw); err != nil {
			t.Fatalf("re-decode: %v\n%s", err, raw)
		}
	})
}

// FuzzFastMatchesJSON holds the fast path to encoding/json's results: the
// same event or the same error for every input.
func FuzzFastMatchesJSON(f *testing.F) {
	for _, ex := range docExamples(f) {
		f.Add(ex)
	}
	f.Add([]byte(`{"specversion":"1.0","ID":"x","data":{"Licence":{"number":"1"}}}`))
	f.Add([]byte(`{"specversion":"1.0","id":"\u4eac","data":null,"data":{"regions":[],"kind":"weather"}}`))
	f.Add([]byte(`{"type":"licence.snapshot","data":{"licence":{"points":1e2,"phone":"\ud800"}}}`))
	f.Add([]byte(`{"data":{"vehicle":{"enterprise":{"id":"a"},"enterprise":null,"missed_inspections":-0}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		fast, ferr := Decode(in)
		slow, serr := decodeJSON(in)
		if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
			t.Fatalf("errors differ:\nfast %v\njson %v", ferr, serr)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("events differ:\nfast %+v\njson %+v", fast, slow)
		}
	})
}

func TestFastPathTakenForDocs(t *testing.T) {
	for i, ex := range docExamples(t) {
		var d decoded
		if !d.fast(ex) {
			t.Errorf("example %d falls back to encoding/json", i)
		}
	}
}
