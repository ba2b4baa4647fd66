package core

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalizePredicate(t *testing.T) {
	for _, c := range []struct{ sqlite, pg string }{
		{"state IN ('queued','scheduled')", "(state = ANY (ARRAY['queued'::text, 'scheduled'::text]))"},
		{"state IN ('queued','scheduled') AND expires_at > 0", "((state = ANY (ARRAY['queued'::text, 'scheduled'::text])) AND (expires_at > 0))"},
		{"state = 'submitted' AND carrier_ids = ''", "((state = 'submitted'::text) AND (carrier_ids = ''::text))"},
		{"event_type = 'advisory.published'", "(event_type = 'advisory.published'::text)"},
	} {
		if a, b := NormalizePredicate(c.sqlite), NormalizePredicate(c.pg); a != b {
			t.Errorf("%q -> %q, %q -> %q", c.sqlite, a, c.pg, b)
		}
	}
	if NormalizePredicate("state = 'held'") == NormalizePredicate("(state = 'hold'::text)") {
		t.Error("different predicates normalise alike")
	}
}

// TestDiff: every kind of difference is reported, one line each, naming
// the table and what differs.
func TestDiff(t *testing.T) {
	want := Schema.For("sqlite")
	if d := Diff(want, want); d != nil {
		t.Fatalf("a schema differs from itself: %q", d)
	}
	got := slices.Clone(want)
	msgs := slices.IndexFunc(got, func(t Table) bool { return t.Name == "messages" })
	m := got[msgs]
	m.Columns = slices.Clone(m.Columns)
	m.Columns[1].NotNull = false               // key
	m.Columns = slices.Delete(m.Columns, 2, 3) // event_id
	m.Indexes = slices.Clone(m.Indexes[1:])    // messages_due missing
	m.Indexes[0].Where = "state = 'queued'"    // messages_expiry
	m.Indexes = append(m.Indexes, Index{Name: "x", Columns: []string{"body"}})
	m.Unique, m.Key, m.Triggers = nil, []string{"key"}, nil
	got[msgs] = m
	got = got[:len(got)-1] // the last table missing
	got = append(got, Table{Name: "extra"})
	d := Diff(want, got)
	for _, w := range []string{
		"table " + want[len(want)-1].Name + ": missing",
		"table extra: not in the description",
		"table messages: columns [id key event_type",
		"table messages: column key is text, want text NOT NULL",
		"table messages: primary key [key], want [id]",
		"table messages: unique constraints [], want [key]",
		"table messages: index messages_due: missing",
		"table messages: index messages_expiry is (expires_at) WHERE state = 'queued', want",
		"table messages: index x ((body)): not in the description",
		"table messages: triggers [], want [counters_delete counters_insert counters_update]",
	} {
		if !slices.ContainsFunc(d, func(s string) bool { return strings.HasPrefix(s, w) }) {
			t.Errorf("no line %q in\n%s", w, strings.Join(d, "\n"))
		}
	}
}
