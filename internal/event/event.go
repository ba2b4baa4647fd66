// Package event is the contract between the upstream traffic-management
// platform and this gateway: CloudEvents 1.0 envelopes in structured JSON, one
// per Kafka record, whose type selects the shape of data. It decodes and
// validates records and nothing else: it is a leaf that every other package
// may import, and it knows nothing of Kafka, rules or SMS.
package event

import (
	"time"
)

// Type is a CloudEvents type this gateway understands.
type Type string

// The event types of the contract (docs/events.md has an example of each).
const (
	TypeViolationRecorded    Type = "violation.recorded"
	TypeViolationProcessed   Type = "violation.processed"
	TypeLicenceSnapshot      Type = "licence.snapshot"
	TypeLicenceStatusChanged Type = "licence.status_changed"
	TypeVehicleSnapshot      Type = "vehicle.snapshot"
	TypeVehicleStatusChanged Type = "vehicle.status_changed"
	TypeAdvisoryPublished    Type = "advisory.published"
)

// Types lists every known type in a stable order.
var Types = []Type{
	TypeViolationRecorded, TypeViolationProcessed,
	TypeLicenceSnapshot, TypeLicenceStatusChanged,
	TypeVehicleSnapshot, TypeVehicleStatusChanged,
	TypeAdvisoryPublished,
}

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// Event is one decoded and validated record. Exactly one of the payload
// pointers is set, the one that Type selects; the others are nil. Time
// fields are absolute instants; a zero time.Time means "not given".
type Event struct {
	ID      string    `json:"id"`
	Source  string    `json:"source"`
	Type    Type      `json:"type"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`

	ViolationRecorded    *ViolationRecorded    `json:"-"`
	ViolationProcessed   *ViolationProcessed   `json:"-"`
	LicenceSnapshot      *LicenceSnapshot      `json:"-"`
	LicenceStatusChanged *LicenceStatusChanged `json:"-"`
	VehicleSnapshot      *VehicleSnapshot      `json:"-"`
	VehicleStatusChanged *VehicleStatusChanged `json:"-"`
	AdvisoryPublished    *AdvisoryPublished    `json:"-"`
}

// Violation is one traffic violation (交通违法).
type Violation struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Place       string    `json:"place"`
	Code        string    `json:"code"`        // national violation code, e.g. "1352"
	Description string    `json:"description"` // e.g. "机动车违反禁令标志指示"
	Fine        int64     `json:"fine"`        // yuan
	Points      int64     `json:"points"`
	Monitoring  bool      `json:"monitoring"` // recorded by electronic monitoring (电子监控)
}

// Enterprise is the transport company a fleet vehicle belongs to
// (重点对象: passenger, freight, school bus, hazardous goods).
type Enterprise struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ContactPhone string `json:"contact_phone"`
}

// Vehicle is the full state of one registered vehicle.
type Vehicle struct {
	Plate                 string      `json:"plate"`      // e.g. "京A12345"
	PlateType             string      `json:"plate_type"` // GA 24.7 code: "01" large, "02" small, "52" new-energy small ...
	Owner                 string      `json:"owner"`
	Phone                 string      `json:"phone"`
	Region                string      `json:"region"` // 6-digit administrative division code of registration
	Use                   string      `json:"use"`    // one of the Use* constants
	Status                string      `json:"status"` // GA status code(s), e.g. "GQ": "A" normal, "G" violation not processed, "Q" overdue inspection, "M" compulsorily deregistered ...
	InspectionValidUntil  time.Time   `json:"inspection_valid_until,omitzero"`
	MissedInspections     int64       `json:"missed_inspections"`       // consecutive inspection cycles missed
	ScrapDeadline         time.Time   `json:"scrap_deadline,omitzero"`  // forced-scrap deadline; zero when none
	TransferInDue         time.Time   `json:"transfer_in_due,omitzero"` // transfer-in registration deadline; zero when none
	UnprocessedViolations int64       `json:"unprocessed_violations"`
	Enterprise            *Enterprise `json:"enterprise,omitempty"`
}

// Vehicle uses.
const (
	UsePrivate        = "private"
	UsePassenger      = "passenger"
	UseFreight        = "freight"
	UseSchoolBus      = "school_bus"
	UseHazardousGoods = "hazardous_goods"
)

// Uses lists the valid values of Vehicle.Use.
var Uses = []string{UsePrivate, UsePassenger, UseFreight, UseSchoolBus, UseHazardousGoods}

// Licence is the full state of one driving licence (驾驶证). Its number is
// the holder's 18-character citizen ID number.
type Licence struct {
	Number         string    `json:"number"`
	Holder         string    `json:"holder"`
	Phone          string    `json:"phone"`
	Region         string    `json:"region"` // 6-digit administrative division code of issue
	Class          string    `json:"class"`  // permitted classes, e.g. "C1", "A2", "B2E"
	Status         string    `json:"status"` // GA status code: "A" normal, "B" 12 points reached, "E" revoked, "G" cancelled ...
	Points         int64     `json:"points"` // points accumulated in the current scoring cycle
	CycleEnd       time.Time `json:"cycle_end,omitzero"`
	ValidUntil     time.Time `json:"valid_until,omitzero"`
	ProbationUntil time.Time `json:"probation_until,omitzero"` // zero when not on probation
	ReviewDue      time.Time `json:"review_due,omitzero"`      // 审验 date; zero when not required
	MedicalDue     time.Time `json:"medical_due,omitzero"`     // medical certificate due; zero when not required
}

// ViolationRecorded is the data of violation.recorded.
type ViolationRecorded struct {
	Violation Violation `json:"violation"`
	Vehicle   Vehicle   `json:"vehicle"`
}

// ViolationProcessed is the data of violation.processed.
type ViolationProcessed struct {
	Violation     Violation `json:"violation"`
	PointsApplied int64     `json:"points_applied"`
	PointsBefore  int64     `json:"points_before"`
	Licence       Licence   `json:"licence"` // snapshot after the points were applied
	Plate         string    `json:"plate,omitempty"`
}

// LicenceSnapshot is the data of licence.snapshot.
type LicenceSnapshot struct {
	Licence Licence `json:"licence"`
}

// LicenceStatusChanged is the data of licence.status_changed.
type LicenceStatusChanged struct {
	OldStatus string  `json:"old_status"`
	NewStatus string  `json:"new_status"`
	Reason    string  `json:"reason"`
	Licence   Licence `json:"licence"`
}

// VehicleSnapshot is the data of vehicle.snapshot.
type VehicleSnapshot struct {
	Vehicle Vehicle `json:"vehicle"`
}

// VehicleStatusChanged is the data of vehicle.status_changed.
type VehicleStatusChanged struct {
	OldStatus string  `json:"old_status"`
	NewStatus string  `json:"new_status"`
	Reason    string  `json:"reason"`
	Vehicle   Vehicle `json:"vehicle"`
}

// AdvisoryPublished is the data of advisory.published: a safety warning for
// everyone registered in the given regions.
type AdvisoryPublished struct {
	ID         string    `json:"id"`
	Regions    []string  `json:"regions"` // 6-digit codes; a code ending in "00" covers its whole city or province
	Kind       string    `json:"kind"`    // one of the Advisory* constants
	Text       string    `json:"text"`
	ValidUntil time.Time `json:"valid_until"`
}

// Advisory kinds.
const (
	AdvisoryWeather        = "weather"
	AdvisoryTrafficControl = "traffic_control"
	AdvisoryBlackSpot      = "black_spot"
	AdvisoryRoadworks      = "roadworks"
)

// AdvisoryKinds lists the valid values of AdvisoryPublished.Kind.
var AdvisoryKinds = []string{AdvisoryWeather, AdvisoryTrafficControl, AdvisoryBlackSpot, AdvisoryRoadworks}

// Entity returns the key of the entity the event is about: the licence
// number or the plate (the Kafka record key), or the advisory id.
func (e *Event) Entity() string {
	switch {
	case e.ViolationRecorded != nil:
		return e.ViolationRecorded.Vehicle.Plate
	case e.ViolationProcessed != nil:
		return e.ViolationProcessed.Licence.Number
	case e.LicenceSnapshot != nil:
		return e.LicenceSnapshot.Licence.Number
	case e.LicenceStatusChanged != nil:
		return e.LicenceStatusChanged.Licence.Number
	case e.VehicleSnapshot != nil:
		return e.VehicleSnapshot.Vehicle.Plate
	case e.VehicleStatusChanged != nil:
		return e.VehicleStatusChanged.Vehicle.Plate
	case e.AdvisoryPublished != nil:
		return e.AdvisoryPublished.ID
	}
	return ""
}
