package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// example returns the docs example of typ as a generic JSON tree to mutate.
func example(t *testing.T, typ Type) map[string]any {
	t.Helper()
	for _, ex := range docExamples(t) {
		var m map[string]any
		if err := json.Unmarshal(ex, &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] == string(typ) {
			return m
		}
	}
	t.Fatalf("no example of %s", typ)
	return nil
}

// set changes (or with del removes) the value at a dotted path.
func set(m map[string]any, path string, v any, del bool) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	if del {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = v
}

const del = "\x00delete"

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		typ    Type
		path   string
		value  any
		reason Reason
		field  string
		is     error
	}{
		{"no specversion", TypeLicenceSnapshot, "specversion", del, ReasonMissingField, "specversion", ErrMissing},
		{"specversion 0.3", TypeLicenceSnapshot, "specversion", "0.3", ReasonBadSpecVersion, "specversion", ErrSpecVersion},
		{"no id", TypeLicenceSnapshot, "id", "", ReasonMissingField, "id", ErrMissing},
		{"no source", TypeVehicleSnapshot, "source", del, ReasonMissingField, "source", ErrMissing},
		{"no type", TypeVehicleSnapshot, "type", del, ReasonMissingField, "type", ErrMissing},
		{"unknown type", TypeVehicleSnapshot, "type", "vehicle.deleted", ReasonUnknownType, "type", ErrUnknownType},
		{"no time", TypeVehicleSnapshot, "time", del, ReasonMissingField, "time", ErrMissing},
		{"time not rfc3339", TypeVehicleSnapshot, "time", "2026-11-27 09:00:00", ReasonInvalidField, "time", nil},
		{"xml content type", TypeVehicleSnapshot, "datacontenttype", "application/xml", ReasonInvalidField, "datacontenttype", ErrContentType},
		{"no data", TypeAdvisoryPublished, "data", del, ReasonMissingField, "data", ErrMissing},
		{"null data", TypeAdvisoryPublished, "data", nil, ReasonMissingField, "data", ErrMissing},
		{"string data", TypeAdvisoryPublished, "data", "hello", ReasonMalformedJSON, "data", ErrNotAnObject},
		{"id not a string", TypeAdvisoryPublished, "id", 42, ReasonInvalidField, "id", nil},
		{"bad id number checksum", TypeLicenceSnapshot, "data.licence.number", "310115197809042560", ReasonInvalidField, "data.licence.number", ErrIDNumber},
		{"15-digit id number", TypeLicenceSnapshot, "data.licence.number", "310115780904256", ReasonInvalidField, "data.licence.number", ErrIDNumber},
		{"no licence", TypeLicenceSnapshot, "data.licence", del, ReasonMissingField, "data.licence.number", ErrMissing},
		{"licence phone short", TypeLicenceSnapshot, "data.licence.phone", "1861234567", ReasonInvalidField, "data.licence.phone", ErrMobile},
		{"licence phone +86", TypeLicenceSnapshot, "data.licence.phone", "+8618612345678", ReasonInvalidField, "data.licence.phone", ErrMobile},
		{"licence region 4 digits", TypeLicenceSnapshot, "data.licence.region", "3101", ReasonInvalidField, "data.licence.region", ErrRegion},
		{"licence region bad province", TypeLicenceSnapshot, "data.licence.region", "990101", ReasonInvalidField, "data.licence.region", ErrRegion},
		{"negative points", TypeLicenceSnapshot, "data.licence.points", -1, ReasonInvalidField, "data.licence.points", ErrNegative},
		{"points a string", TypeLicenceSnapshot, "data.licence.points", "4", ReasonInvalidField, "data.licence.points", nil},
		{"empty date", TypeLicenceSnapshot, "data.licence.review_due", "", ReasonInvalidField, "", nil},
		{"another type's field of another kind", TypeLicenceSnapshot, "data.vehicle", "x", ReasonInvalidField, "data.vehicle", nil},
		{"no class", TypeLicenceSnapshot, "data.licence.class", del, ReasonMissingField, "data.licence.class", ErrMissing},
		{"status change without new", TypeLicenceStatusChanged, "data.new_status", del, ReasonMissingField, "data.new_status", ErrMissing},
		{"plate without province", TypeVehicleSnapshot, "data.vehicle.plate", "AB12345", ReasonInvalidField, "data.vehicle.plate", ErrPlate},
		{"plate too short", TypeVehicleSnapshot, "data.vehicle.plate", "京A1234", ReasonInvalidField, "data.vehicle.plate", ErrPlate},
		{"use unknown", TypeVehicleSnapshot, "data.vehicle.use", "taxi", ReasonInvalidField, "data.vehicle.use", ErrEnum},
		{"enterprise without id", TypeVehicleSnapshot, "data.vehicle.enterprise.id", del, ReasonMissingField, "data.vehicle.enterprise.id", ErrMissing},
		{"enterprise bad phone", TypeVehicleSnapshot, "data.vehicle.enterprise.contact_phone", "010-12345678", ReasonInvalidField, "data.vehicle.enterprise.contact_phone", ErrMobile},
		{"negative unprocessed", TypeVehicleStatusChanged, "data.vehicle.unprocessed_violations", -2, ReasonInvalidField, "data.vehicle.unprocessed_violations", ErrNegative},
		{"violation without code", TypeViolationRecorded, "data.violation.code", "", ReasonMissingField, "data.violation.code", ErrMissing},
		{"negative fine", TypeViolationRecorded, "data.violation.fine", -200, ReasonInvalidField, "data.violation.fine", ErrNegative},
		{"13 points", TypeViolationRecorded, "data.violation.points", 13, ReasonInvalidField, "data.violation.points", ErrOutOfRange},
		{"violation without time", TypeViolationProcessed, "data.violation.time", del, ReasonMissingField, "data.violation.time", ErrMissing},
		{"processed bad plate", TypeViolationProcessed, "data.plate", "粤B·D1234567", ReasonInvalidField, "data.plate", ErrPlate},
		{"negative points applied", TypeViolationProcessed, "data.points_applied", -3, ReasonInvalidField, "data.points_applied", ErrNegative},
		{"advisory no regions", TypeAdvisoryPublished, "data.regions", []string{}, ReasonMissingField, "data.regions", ErrMissing},
		{"advisory bad region", TypeAdvisoryPublished, "data.regions", []string{"130100", "13"}, ReasonInvalidField, "data.regions", ErrRegion},
		{"advisory unknown kind", TypeAdvisoryPublished, "data.kind", "earthquake", ReasonInvalidField, "data.kind", ErrEnum},
		{"advisory no text", TypeAdvisoryPublished, "data.text", del, ReasonMissingField, "data.text", ErrMissing},
		{"advisory no expiry", TypeAdvisoryPublished, "data.valid_until", del, ReasonMissingField, "data.valid_until", ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := example(t, tt.typ)
			set(m, tt.path, tt.value, tt.value == del)
			raw, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := Decode(raw)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", ev)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not an *InvalidError", err, err)
			}
			if ie.Reason != tt.reason || ie.Field != tt.field {
				t.Errorf("got reason %q field %q (%v), want %q %q", ie.Reason, ie.Field, err, tt.reason, tt.field)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if ReasonOf(err) != tt.reason {
				t.Errorf("ReasonOf = %q", ReasonOf(err))
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, in := range []string{"", "{", "null", "[]", "42", `"x"`, "{\"specversion\":\"1.0\",}", "\xff\xfe"} {
		_, err := Decode([]byte(in))
		if ReasonOf(err) != ReasonMalformedJSON && ReasonOf(err) != ReasonMissingField {
			t.Errorf("Decode(%q) = %v, want malformed_json or missing_field", in, err)
		}
	}
	if _, err := Decode([]byte("{")); ReasonOf(err) != ReasonMalformedJSON {
		t.Errorf("truncated JSON: %v", err)
	}
}

func TestDecodeKeepsUnknownFieldsAndIgnoresThem(t *testing.T) {
	m := example(t, TypeVehicleSnapshot)
	m["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	set(m, "data.vehicle.colour", "白", false)
	set(m, "data.extra", map[string]any{"nested": []any{1, "two"}}, false)
	raw, _ := json.Marshal(m)
	ev, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.VehicleSnapshot.Vehicle.Plate != "苏E·B7789" {
		t.Errorf("plate = %q", ev.VehicleSnapshot.Vehicle.Plate)
	}
}

func TestDecodeOnlySelectedPayload(t *testing.T) {
	ev, err := Decode(docExamples(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != TypeViolationRecorded || ev.ViolationRecorded == nil || ev.payloads() != 1 {
		t.Fatalf("payloads: %+v", ev)
	}
	v := ev.ViolationRecorded
	if v.Violation.Points != 6 || v.Violation.Fine != 200 || !v.Violation.Monitoring || v.Vehicle.Phone != "13812345678" {
		t.Errorf("fields not decoded: %+v", v)
	}
	want := time.Date(2026, 11, 27, 8, 12, 40, 0, time.FixedZone("", 8*3600))
	if !v.Violation.Time.Equal(want) {
		t.Errorf("violation time = %v, want %v", v.Violation.Time, want)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, ex := range docExamples(t) {
		ev, err := Decode(ex)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(string(ev.Type), func(t *testing.T) {
			raw, err := Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Decode(raw)
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			if !equalEvents(ev, back) {
				t.Errorf("round trip changed the event:\n%+v\n%+v", ev, back)
			}
			if strings.Contains(string(raw), "0001-01-01") {
				t.Errorf("zero dates written: %s", raw)
			}
		})
	}
}

// equalEvents compares two events with time.Time compared as instants.
func equalEvents(a, b *Event) bool {
	ja, _ := json.Marshal(normalise(a))
	jb, _ := json.Marshal(normalise(b))
	return string(ja) == string(jb) && reflect.DeepEqual(a.Entity(), b.Entity())
}

func normalise(e *Event) any {
	raw, _ := Encode(e)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func TestEncodeRefusesInvalid(t *testing.T) {
	ev := &Event{ID: "x", Source: "s", Type: TypeLicenceSnapshot, Time: time.Now(),
		LicenceSnapshot: &LicenceSnapshot{Licence: Licence{Number: "123"}}}
	if _, err := Encode(ev); ReasonOf(err) != ReasonInvalidField {
		t.Errorf("Encode of a bad licence: %v", err)
	}
	ev = &Event{ID: "x", Source: "s", Type: TypeVehicleSnapshot, Time: time.Now(),
		LicenceSnapshot: &LicenceSnapshot{Licence: Licence{Number: "310115197809042569", Region: "310115", Class: "C1", Status: "A"}}}
	if _, err := Encode(ev); !errors.Is(err, ErrPayloadAbsent) {
		t.Errorf("Encode with the wrong payload: %v", err)
	}
}

func TestValidators(t *testing.T) {
	plates := map[string]bool{
		"京A12345": true, "粤B·D12345": true, "粤BD12345": true, "沪A1234学": true, "苏E·B7789": true,
		"苏EB7789Z": true, "京a12345": false, "京A123456学": false, "XA12345": false, "京": false, "": false,
		"京A1234": false, "京A1234567": false, "京A12 345": false, "警A12345": false, "京A1234挂": true,
	}
	for p, want := range plates {
		if got := ValidPlate(p); got != want {
			t.Errorf("ValidPlate(%q) = %v, want %v", p, got, want)
		}
	}
	ids := map[string]bool{
		"110105198503174029": true, "11010519850317402X": false, "110105198502304029": false,
		"000105198503174029": false, "11010519850317402": false, "1101051985031740290": false,
		"11010519850317402a": false,
	}
	for s, want := range ids {
		if got := ValidIDNumber(s); got != want {
			t.Errorf("ValidIDNumber(%q) = %v, want %v", s, got, want)
		}
	}
	// An ID whose check character is X.
	base := "11010519900101002"
	for i := 0; i < 1000; i++ {
		s := base[:14] + string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
		if IDCheckChar(s) == 'X' {
			if !ValidIDNumber(s+"X") || ValidIDNumber(s+"x") {
				t.Errorf("check character X: %s", s)
			}
			break
		}
	}
	mobiles := map[string]bool{
		"13812345678": true, "19212345678": true, "12812345678": false, "1381234567": false,
		"138123456789": false, "1381234567a": false, "23812345678": false,
	}
	for s, want := range mobiles {
		if got := ValidMobile(s); got != want {
			t.Errorf("ValidMobile(%q) = %v, want %v", s, got, want)
		}
	}
	regions := map[string]bool{"110105": true, "820000": true, "710000": true, "100000": false, "660000": false, "11010": false, "11010a": false}
	for s, want := range regions {
		if got := ValidRegion(s); got != want {
			t.Errorf("ValidRegion(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestDecodeDoesNotRetainInput(t *testing.T) {
	for _, ex := range docExamples(t) {
		buf := append([]byte(nil), ex...)
		ev, err := Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := Encode(ev)
		for i := range buf {
			buf[i] = 'x'
		}
		after, _ := Encode(ev)
		if string(before) != string(after) {
			t.Fatalf("event changed when the input buffer was overwritten:\n%s\n%s", before, after)
		}
	}
}
