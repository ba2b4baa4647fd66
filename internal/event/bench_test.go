package event

import "testing"

func BenchmarkDecode(b *testing.B) {
	for _, ex := range docExamples(b) {
		ev, err := Decode(ex)
		if err != nil {
			b.Fatal(err)
		}
		// Compact form, as producers send it.
		raw, err := Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(ev.Type), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	ev, err := Decode(docExamples(b)[2])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeJSON is the encoding/json path alone, the baseline the
// fast path is measured against.
func BenchmarkDecodeJSON(b *testing.B) {
	ev, err := Decode(docExamples(b)[2])
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := Encode(ev)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeJSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}
