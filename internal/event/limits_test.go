package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestLimits: every limit of the contract, one case at the limit (decodes)
// and one past it (invalid_field with the field and the sentinel).
func TestLimits(t *testing.T) {
	regions := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "110105"
		}
		return out
	}
	cases := []struct {
		typ   Type
		path  string
		ok    any // at the limit
		bad   any // past it
		field string
		is    error
	}{
		{TypeLicenceSnapshot, "id", strings.Repeat("i", MaxIDBytes), strings.Repeat("i", MaxIDBytes+1), "id", ErrTooLong},
		{TypeLicenceSnapshot, "source", strings.Repeat("s", MaxSourceBytes), strings.Repeat("s", MaxSourceBytes+1), "source", ErrTooLong},
		{TypeLicenceSnapshot, "subject", strings.Repeat("s", MaxSubjectBytes), strings.Repeat("s", 400_000), "subject", ErrTooLong},
		{TypeLicenceSnapshot, "data.licence.holder", strings.Repeat("王", MaxNameBytes/3), strings.Repeat("王", MaxNameBytes/3+1), "data.licence.holder", ErrTooLong},
		{TypeLicenceSnapshot, "data.licence.class", "B2E", strings.Repeat("C", MaxCodeBytes+1), "data.licence.class", ErrTooLong},
		{TypeLicenceSnapshot, "data.licence.status", "A", strings.Repeat("A", MaxCodeBytes+1), "data.licence.status", ErrTooLong},
		{TypeLicenceStatusChanged, "data.reason", strings.Repeat("r", MaxPlaceBytes), strings.Repeat("r", MaxPlaceBytes+1), "data.reason", ErrTooLong},
		{TypeLicenceStatusChanged, "data.new_status", "G", strings.Repeat("G", MaxCodeBytes+1), "data.new_status", ErrTooLong},
		{TypeVehicleSnapshot, "data.vehicle.owner", strings.Repeat("o", MaxNameBytes), strings.Repeat("o", MaxNameBytes+1), "data.vehicle.owner", ErrTooLong},
		{TypeVehicleSnapshot, "data.vehicle.status", "A", strings.Repeat("A", MaxCodeBytes+1), "data.vehicle.status", ErrTooLong},
		{TypeVehicleSnapshot, "data.vehicle.plate_type", "02", strings.Repeat("0", MaxCodeBytes+1), "data.vehicle.plate_type", ErrTooLong},
		{TypeVehicleSnapshot, "data.vehicle.enterprise.id", strings.Repeat("e", MaxIDBytes), strings.Repeat("e", MaxIDBytes+1), "data.vehicle.enterprise.id", ErrTooLong},
		{TypeVehicleSnapshot, "data.vehicle.enterprise.name", strings.Repeat("n", MaxNameBytes), strings.Repeat("n", MaxNameBytes+1), "data.vehicle.enterprise.name", ErrTooLong},
		{TypeViolationRecorded, "data.violation.id", strings.Repeat("v", MaxIDBytes), strings.Repeat("v", MaxIDBytes+1), "data.violation.id", ErrTooLong},
		{TypeViolationRecorded, "data.violation.place", strings.Repeat("p", MaxPlaceBytes), strings.Repeat("p", MaxPlaceBytes+1), "data.violation.place", ErrTooLong},
		{TypeViolationRecorded, "data.violation.description", strings.Repeat("d", MaxPlaceBytes), strings.Repeat("d", MaxPlaceBytes+1), "data.violation.description", ErrTooLong},
		{TypeViolationRecorded, "data.violation.code", "1625", strings.Repeat("1", MaxCodeBytes+1), "data.violation.code", ErrTooLong},
		{TypeAdvisoryPublished, "data.id", strings.Repeat("a", MaxIDBytes), strings.Repeat("a", MaxIDBytes+1), "data.id", ErrTooLong},
		{TypeAdvisoryPublished, "data.text", strings.Repeat("t", MaxAdvisoryText), strings.Repeat("t", MaxAdvisoryText+1), "data.text", ErrTooLong},
		{TypeAdvisoryPublished, "data.regions", regions(MaxRegions), regions(MaxRegions + 1), "data.regions", ErrTooMany},
		// plausible dates
		{TypeLicenceSnapshot, "time", "1990-01-01T00:00:00Z", "1901-12-13T20:45:52Z", "time", ErrImplausible},
		{TypeLicenceSnapshot, "data.licence.valid_until", "2099-12-31T00:00:00+08:00", "9999-12-31T00:00:00+08:00", "data.licence.valid_until", ErrImplausible},
		{TypeViolationRecorded, "data.violation.time", "2026-11-27T08:12:40+08:00", "1901-01-01T00:00:00+08:00", "data.violation.time", ErrImplausible},
		{TypeVehicleSnapshot, "data.vehicle.scrap_deadline", "2027-09-30T00:00:00+08:00", "2100-01-01T00:00:00Z", "data.vehicle.scrap_deadline", ErrImplausible},
		{TypeAdvisoryPublished, "data.valid_until", "2026-11-28T18:00:00+08:00", "0001-01-02T00:00:00Z", "data.valid_until", ErrImplausible},
		// control characters
		{TypeAdvisoryPublished, "data.text", "今明两天\n有大雾", "今明两天\u0007有大雾", "data.text", ErrControl},
		{TypeLicenceSnapshot, "id", "lic-1", "lic-\u00851", "id", ErrControl},
	}
	for _, tc := range cases {
		t.Run(tc.field+"/"+tc.is.Error(), func(t *testing.T) {
			for i, v := range []any{tc.ok, tc.bad} {
				m := example(t, tc.typ)
				set(m, tc.path, v, false)
				raw, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				_, err = Decode(raw)
				if i == 0 {
					if err != nil {
						t.Fatalf("at the limit: %v", err)
					}
					continue
				}
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Reason != ReasonInvalidField || ie.Field != tc.field || !errors.Is(err, tc.is) {
					t.Fatalf("past the limit: %v, want invalid_field %s %v", err, tc.field, tc.is)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error of %d bytes echoes the value", len(err.Error()))
				}
			}
		})
	}
}

func TestInvalidUTF8(t *testing.T) {
	raw := []byte(`{"specversion":"1.0","id":"x","source":"s","type":"advisory.published","time":"2026-11-27T06:30:00+08:00","data":{"text":"` + "\xff\xfe" + `"}}`)
	_, err := Decode(raw)
	if ReasonOf(err) != ReasonMalformedJSON || !errors.Is(err, ErrUTF8) {
		t.Fatalf("got %v", err)
	}
}

func TestUnknownTypeNamed(t *testing.T) {
	m := example(t, TypeVehicleSnapshot)
	m["type"] = "vehicle.deleted"
	raw, _ := json.Marshal(m)
	_, err := Decode(raw)
	if ReasonOf(err) != ReasonUnknownType || !strings.Contains(err.Error(), `"vehicle.deleted"`) || !errors.Is(err, ErrUnknownType) {
		t.Fatalf("got %v", err)
	}
	m["type"] = strings.Repeat("x", 10_000)
	raw, _ = json.Marshal(m)
	_, err = Decode(raw)
	if len(err.Error()) > 200 {
		t.Fatalf("an unknown type of 10 kB gives an error of %d bytes", len(err.Error()))
	}
}

// TestErrorsNeverEchoValues: a phone or ID number in a field where a time
// or another kind is expected never appears in the error.
func TestErrorsNeverEchoValues(t *testing.T) {
	const phone, id = "13812345678", "310115197809042569"
	for _, c := range []struct{ path, v string }{
		{"time", phone}, {"time", id}, {"data.licence.valid_until", phone}, {"data.licence.cycle_end", id},
		{"data.licence.number", "3101151978090425"}, {"data.licence.phone", "1381234567x"},
	} {
		m := example(t, TypeLicenceSnapshot)
		set(m, c.path, c.v, false)
		raw, _ := json.Marshal(m)
		_, err := Decode(raw)
		if err == nil {
			t.Fatalf("%s=%s decoded", c.path, c.v)
		}
		if strings.Contains(err.Error(), c.v) || strings.Contains(err.Error(), phone) || strings.Contains(err.Error(), id) {
			t.Errorf("%s: error %q echoes the value", c.path, err)
		}
		if _, err := decodeJSON(raw); err != nil && strings.Contains(err.Error(), c.v) {
			t.Errorf("%s: json path error %q echoes the value", c.path, err)
		}
	}
}
