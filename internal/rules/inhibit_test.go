package rules

import (
	"strings"
	"testing"
)

func TestInhibitLoadErrors(t *testing.T) {
	base := `rules:
  - id: a
    on: [violation.processed]
    when: "true"
    recipient: event.licence.phone
    template: {text: "甲"}
  - id: b
    on: [violation.processed]
    when: "true"
    recipient: event.licence.phone
    template: {text: "乙"}
  - id: adv
    on: [advisory.published]
    when: "true"
    audience: regions
    template: {text: "丙"}
`
	for _, tc := range []struct{ inhibit, want string }{
		{"  - {source: a, target: nope}", `inhibit.target: no rule "nope"`},
		{"  - {source: a, target: a}", "rule a is both source and target"},
		{"  - {source: a, target: adv}", "rule adv has an audience"},
		{"  - {source: a, target: b, equal: [phone]}", `unknown label "phone"`},
		{"  - {source: a, target: b, equal: []}", "name recipient, entity or both"},
		{"  - {target: b}", "missing source"},
	} {
		_, err := Load(map[string][]byte{"r.yaml": []byte(base + "inhibit:\n" + tc.inhibit + "\n")}, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "r.yaml:") {
			t.Errorf("%s: error %v, want %q", tc.inhibit, err, tc.want)
		}
	}
	set, err := Load(map[string][]byte{"r.yaml": []byte(base + "inhibit:\n  - {source: a, target: b, equal: [entity]}\n")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ih := set.Inhibits(); len(ih) != 1 || ih[0].Equal[0] != LabelEntity {
		t.Fatalf("inhibits %+v", ih)
	}
}
