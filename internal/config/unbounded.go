package config

import (
	"reflect"
	"strings"
)

// UnboundedKeys lists the numeric yaml keys of v's type (a struct or a
// pointer to one; integers, floats and Durations, nested structs and
// slices of structs included) that no bound in bs names. Tests call it
// so that a numeric key added without a bound fails them: every numeric
// key has an upper limit (issue 13). prefix is put before every key
// (e.g. "" for Config, where a slice of carriers is "carriers[].").
func UnboundedKeys(v any, prefix string, bs []Bound) []string {
	have := map[string]bool{}
	for _, b := range bs {
		have[b.Key] = true
	}
	var out []string
	walkNumeric(reflect.TypeOf(v), prefix, func(key string) {
		if !have[key] {
			out = append(out, key)
		}
	})
	return out
}

var durationType = reflect.TypeOf(Duration(0))

func walkNumeric(t reflect.Type, prefix string, found func(string)) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || strings.Contains(f.Tag.Get("yaml"), "inline") {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == durationType:
			found(prefix + name)
		case ft.Kind() == reflect.Struct:
			walkNumeric(ft, prefix+name+".", found)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkNumeric(ft.Elem(), prefix+name+"[].", found)
		case isNumber(ft.Kind()):
			found(prefix + name)
		}
	}
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
