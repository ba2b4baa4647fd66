package event

import (
	"bytes"
	"os"
	"testing"
)

// docExamples returns the ```json blocks of docs/events.md in order.
func docExamples(tb testing.TB) [][]byte {
	tb.Helper()
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for {
		_, rest, ok := bytes.Cut(md, []byte("```json\n"))
		if !ok {
			return out
		}
		block, after, ok := bytes.Cut(rest, []byte("\n```"))
		if !ok {
			tb.Fatal("unterminated json block in docs/events.md")
		}
		out = append(out, block)
		md = after
	}
}

func TestDocExamplesDecode(t *testing.T) {
	examples := docExamples(t)
	seen := map[Type]bool{}
	for _, ex := range examples {
		ev, err := Decode(ex)
		if err != nil {
			t.Fatalf("docs example does not decode: %v\n%s", err, ex)
		}
		if seen[ev.Type] {
			t.Errorf("type %s has two examples", ev.Type)
		}
		seen[ev.Type] = true
		if ev.Entity() == "" {
			t.Errorf("%s: empty entity key", ev.Type)
		}
	}
	for _, typ := range Types {
		if !seen[typ] {
			t.Errorf("docs/events.md has no example of %s", typ)
		}
	}
}
