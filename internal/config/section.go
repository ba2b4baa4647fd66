package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DecodeSection decodes a section that another package owns (a carrier's
// protocol section) into v, a pointer to that package's struct, as
// strictly as the file itself: a key that is not one of v's yaml tags is
// an error with its line, as is a value of the wrong kind. where names
// the section in errors ("carriers[0].smpp"). A nil n leaves v as it is.
func DecodeSection(n *yaml.Node, v any, where string) error {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode && (n.Kind != yaml.ScalarNode || n.Tag != "!!null") {
		return fmt.Errorf("line %d: %s: want a mapping of keys", n.Line, where)
	}
	var errs []error
	unknownKeys(n, reflect.TypeOf(v), where, &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("%s: %s", where, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// unknownKeys reports the keys of mapping n that the struct type t (or
// the struct it points to) has no field for, and recurses into fields
// that are structs, slices or maps of structs.
func unknownKeys(n *yaml.Node, t reflect.Type, where string, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", where, i), errs)
		}
		return
	case n.Kind != yaml.MappingNode:
		return
	case t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			unknownKeys(n.Content[i+1], t.Elem(), where+"."+n.Content[i].Value, errs)
		}
		return
	case t.Kind() != reflect.Struct || t == reflect.TypeFor[yaml.Node]():
		return
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		ft, ok := fields[key.Value]
		if !ok {
			*errs = append(*errs, fmt.Errorf("line %d: %s: unknown key %q (known: %s)", key.Line, where, key.Value, strings.Join(sortedKeys(fields), ", ")))
			continue
		}
		unknownKeys(n.Content[i+1], ft, where+"."+key.Value, errs)
	}
}

// yamlFields maps the yaml keys of struct type t to their field types,
// inline structs included.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous { // as yaml: embedded structs count even unexported
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if f.Type.Kind() == reflect.Struct {
				for k, v := range yamlFields(f.Type) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// checkCarrierKeys reports, with file and line, the keys of each
// carriers[] entry that are neither common keys nor the section of the
// entry's protocol. The decoder collected them in Carrier.Sections.
func checkCarrierKeys(root *yaml.Node, file string) []error {
	if root == nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	doc := root.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "carriers" {
			list = doc.Content[i+1]
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	common := yamlFields(reflect.TypeFor[Carrier]())
	var errs []error
	for i, entry := range list.Content {
		if entry.Kind != yaml.MappingNode {
			continue
		}
		k := Carrier{}
		for j := 0; j+1 < len(entry.Content); j += 2 {
			if entry.Content[j].Value == "protocol" {
				k.Protocol = entry.Content[j+1].Value
			}
		}
		for j := 0; j+1 < len(entry.Content); j += 2 {
			key := entry.Content[j]
			if _, ok := common[key.Value]; ok || key.Value == k.ProtocolName() {
				continue
			}
			errs = append(errs, fmt.Errorf("%s%d: carriers[%d]: unknown key %q: a carrier has the common keys and the section of its protocol (%s:)",
				prefix(file), key.Line, i, key.Value, k.ProtocolName()))
		}
	}
	return errs
}

// Bound is the limit of one numeric key of a section another package
// owns: every numeric key has one (docs/operations.md).
type Bound struct {
	Key      string // dotted, relative to the section
	Min, Max int64  // durations in nanoseconds
	Dur      bool
}

// CheckBounds checks the keys of section n against bs; errors name the
// line. A nil n has nothing to check.
func CheckBounds(n *yaml.Node, where string, bs []Bound) []error {
	if n == nil {
		return nil
	}
	var errs []error
	for _, b := range bs {
		for _, h := range lookup(n, strings.Split(b.Key, "."), where) {
			v, err := number(h.node, b.Dur)
			if err != nil {
				continue // the decoder reports kinds
			}
			if v < b.Min || v > b.Max {
				errs = append(errs, fmt.Errorf("line %d: %s: %s is outside %s..%s", h.node.Line, h.path,
					h.node.Value, show(b.Min, b.Dur), show(b.Max, b.Dur)))
			}
		}
	}
	return errs
}
