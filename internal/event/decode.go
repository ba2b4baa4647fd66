package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// envelope is the wire form of a record. data is decoded in the same pass
// into payload, the union of every type's data fields (no two types use one
// name with different JSON shapes), so a record is scanned once whatever the
// order of its attributes; Decode then moves the fields its type selects
// into the typed payload.
type envelope struct {
	SpecVersion     string   `json:"specversion"`
	ID              string   `json:"id"`
	Source          string   `json:"source"`
	Type            Type     `json:"type"`
	Subject         string   `json:"subject,omitempty"`
	Time            string   `json:"time"`
	DataContentType string   `json:"datacontenttype,omitempty"`
	Data            *payload `json:"data"`
}

type payload struct {
	Violation     Violation `json:"violation"`
	Vehicle       Vehicle   `json:"vehicle"`
	Licence       Licence   `json:"licence"`
	PointsApplied int64     `json:"points_applied"`
	PointsBefore  int64     `json:"points_before"`
	Plate         string    `json:"plate"`
	OldStatus     string    `json:"old_status"`
	NewStatus     string    `json:"new_status"`
	Reason        string    `json:"reason"`
	ID            string    `json:"id"`
	Regions       []string  `json:"regions"`
	Kind          string    `json:"kind"`
	Text          string    `json:"text"`
	ValidUntil    time.Time `json:"valid_until"`
}

// decoded holds an Event with its envelope and payload union in one
// allocation; the typed payload its type selects is a second one.
type decoded struct {
	ev  Event
	env envelope
	p   payload
}

// Decode parses one record value: a CloudEvents 1.0 event in structured JSON
// mode whose type is one of Types, and validates it (see Validate). Unknown
// attributes and data fields are ignored. Every error is an *InvalidError
// whose Reason says what kind of breach it is. value is not retained: the
// event holds copies.
func Decode(value []byte) (*Event, error) {
	if !utf8.Valid(value) {
		return nil, &InvalidError{Reason: ReasonMalformedJSON, Err: ErrUTF8}
	}
	d := new(decoded)
	if !d.fast(value) {
		d.env = envelope{}
		if err := json.Unmarshal(value, &d.env); err != nil {
			return nil, jsonError(err)
		}
	}
	return d.finish()
}

// decodeJSON is Decode without the fast path, for tests that compare the two.
func decodeJSON(value []byte) (*Event, error) {
	if !utf8.Valid(value) {
		return nil, &InvalidError{Reason: ReasonMalformedJSON, Err: ErrUTF8}
	}
	d := new(decoded)
	if err := json.Unmarshal(value, &d.env); err != nil {
		return nil, jsonError(err)
	}
	return d.finish()
}

func (d *decoded) finish() (*Event, error) {
	env := &d.env
	switch {
	case env.SpecVersion == "":
		return nil, missing("specversion")
	case env.SpecVersion != SpecVersion:
		return nil, &InvalidError{Reason: ReasonBadSpecVersion, Field: "specversion", Err: ErrSpecVersion}
	case env.ID == "":
		return nil, missing("id")
	case env.Source == "":
		return nil, missing("source")
	case env.Type == "":
		return nil, missing("type")
	case !KnownType(env.Type):
		return nil, unknownType(env.Type)
	case env.Time == "":
		return nil, missing("time")
	case env.DataContentType != "" && !jsonContentType(env.DataContentType):
		return nil, invalid("datacontenttype", ErrContentType)
	case env.Data == nil:
		return nil, missing("data")
	}
	t, err := time.Parse(time.RFC3339, env.Time)
	if err != nil {
		return nil, invalid("time", ErrTime) // never the value: it may be anything, a phone number too
	}
	ev := &d.ev
	ev.ID, ev.Source, ev.Type, ev.Subject, ev.Time = env.ID, env.Source, env.Type, env.Subject, t
	p := env.Data
	switch env.Type {
	case TypeViolationRecorded:
		ev.ViolationRecorded = &ViolationRecorded{Violation: p.Violation, Vehicle: p.Vehicle}
	case TypeViolationProcessed:
		ev.ViolationProcessed = &ViolationProcessed{Violation: p.Violation, PointsApplied: p.PointsApplied,
			PointsBefore: p.PointsBefore, Licence: p.Licence, Plate: p.Plate}
	case TypeLicenceSnapshot:
		ev.LicenceSnapshot = &LicenceSnapshot{Licence: p.Licence}
	case TypeLicenceStatusChanged:
		ev.LicenceStatusChanged = &LicenceStatusChanged{OldStatus: p.OldStatus, NewStatus: p.NewStatus, Reason: p.Reason, Licence: p.Licence}
	case TypeVehicleSnapshot:
		ev.VehicleSnapshot = &VehicleSnapshot{Vehicle: p.Vehicle}
	case TypeVehicleStatusChanged:
		ev.VehicleStatusChanged = &VehicleStatusChanged{OldStatus: p.OldStatus, NewStatus: p.NewStatus, Reason: p.Reason, Vehicle: p.Vehicle}
	case TypeAdvisoryPublished:
		ev.AdvisoryPublished = &AdvisoryPublished{ID: p.ID, Regions: p.Regions, Kind: p.Kind, Text: p.Text, ValidUntil: p.ValidUntil}
	}
	if err := Validate(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func jsonContentType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/json") || strings.EqualFold(mt, "application/cloudevents+json")
}

// jsonError classifies an encoding/json error: syntax errors are
// malformed_json; a value of the wrong JSON kind is malformed_json too when
// it is the whole record or data, invalid_field for a field inside data; a
// timestamp that is not RFC 3339 is invalid_field.
func jsonError(err error) *InvalidError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" || field == "data" {
			if field == "data" {
				return &InvalidError{Reason: ReasonMalformedJSON, Field: field, Err: ErrNotAnObject}
			}
			return &InvalidError{Reason: ReasonMalformedJSON, Err: err}
		}
		return invalid(field, err)
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return invalid("", ErrTime) // pe names the value, which may be personal data
	}
	return &InvalidError{Reason: ReasonMalformedJSON, Err: err}
}

// wireEnvelope is what Encode writes.
type wireEnvelope struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            Type   `json:"type"`
	Subject         string `json:"subject,omitempty"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            any    `json:"data"`
}

// Encode validates ev and returns its structured-mode CloudEvents JSON, the
// inverse of Decode. The time attribute keeps ev.Time's zone offset.
func Encode(ev *Event) ([]byte, error) {
	if err := Validate(ev); err != nil {
		return nil, err
	}
	w := wireEnvelope{
		SpecVersion:     SpecVersion,
		ID:              ev.ID,
		Source:          ev.Source,
		Type:            ev.Type,
		Subject:         ev.Subject,
		Time:            ev.Time.Format(time.RFC3339Nano),
		DataContentType: "application/json",
	}
	switch {
	case ev.ViolationRecorded != nil:
		w.Data = ev.ViolationRecorded
	case ev.ViolationProcessed != nil:
		w.Data = ev.ViolationProcessed
	case ev.LicenceSnapshot != nil:
		w.Data = ev.LicenceSnapshot
	case ev.LicenceStatusChanged != nil:
		w.Data = ev.LicenceStatusChanged
	case ev.VehicleSnapshot != nil:
		w.Data = ev.VehicleSnapshot
	case ev.VehicleStatusChanged != nil:
		w.Data = ev.VehicleStatusChanged
	case ev.AdvisoryPublished != nil:
		w.Data = ev.AdvisoryPublished
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
