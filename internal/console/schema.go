package console

import (
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/event"
)

// Field is one leaf of an event's data, for the playground's form.
type Field struct {
	Path string `json:"path"` // JSON path under "data", dot-separated
	Kind string `json:"kind"` // string, number, bool, time, list (of strings)
}

// payloadOf is the Go type of each event type's data.
func payloadOf(t event.Type) reflect.Type {
	switch t {
	case event.TypeViolationRecorded:
		return reflect.TypeFor[event.ViolationRecorded]()
	case event.TypeViolationProcessed:
		return reflect.TypeFor[event.ViolationProcessed]()
	case event.TypeLicenceSnapshot:
		return reflect.TypeFor[event.LicenceSnapshot]()
	case event.TypeLicenceStatusChanged:
		return reflect.TypeFor[event.LicenceStatusChanged]()
	case event.TypeVehicleSnapshot:
		return reflect.TypeFor[event.VehicleSnapshot]()
	case event.TypeVehicleStatusChanged:
		return reflect.TypeFor[event.VehicleStatusChanged]()
	case event.TypeAdvisoryPublished:
		return reflect.TypeFor[event.AdvisoryPublished]()
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

// fields lists the leaves of t by their JSON names.
func fields(t reflect.Type, prefix string, out []Field) []Field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return append(out, Field{Path: prefix, Kind: "time"})
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out = fields(f.Type, p, out)
		}
		return out
	case reflect.Slice, reflect.Array:
		return append(out, Field{Path: prefix, Kind: "list"})
	case reflect.Bool:
		return append(out, Field{Path: prefix, Kind: "bool"})
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return append(out, Field{Path: prefix, Kind: "number"})
	}
	return append(out, Field{Path: prefix, Kind: "string"})
}

// schema answers GET /api/rules/schema: the data fields of every event
// type, for the playground's form.
func (c *Console) schema(w http.ResponseWriter, _ *http.Request, _ *session) {
	out := map[string][]Field{}
	for _, t := range event.Types {
		if pt := payloadOf(t); pt != nil {
			out[string(t)] = fields(pt, "", nil)
		}
	}
	writeJSON(w, out)
}
