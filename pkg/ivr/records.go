package ivr

import (
	"context"
	"time"
)

// Records is the read model the IVR answers from. The consumer declares it;
// internal/records implements it over SQLite or PostgreSQL. Phone numbers
// are national mobile numbers as the caller ID carries them (no +86).
type Records interface {
	// Registered reports whether a phone belongs to a licence or a vehicle.
	Registered(ctx context.Context, phone string) (bool, error)
	// IDNumber returns the ID number (licence number) registered to the
	// phone, "" when none. Callers verify with its last six characters.
	IDNumber(ctx context.Context, phone string) (string, error)
	// Licence returns the licence registered to the phone, nil when none.
	Licence(ctx context.Context, phone string) (*Licence, error)
	// Vehicles returns the vehicles whose owner phone is phone.
	Vehicles(ctx context.Context, phone string) ([]Vehicle, error)
	// Violations sums the unprocessed violations of the phone's vehicles.
	Violations(ctx context.Context, phone string) (ViolationSummary, error)
	// Regions returns the administrative division codes of the phone's
	// licence and vehicles (personal: only for a verified caller).
	Regions(ctx context.Context, phone string) ([]string, error)
	// Advisories returns the safety warnings in force at now that cover
	// any of the regions: 6-digit division codes, or shorter prefixes ("44":
	// anywhere in the province). No regions: every one in force.
	Advisories(ctx context.Context, regions []string, now time.Time) ([]Advisory, error)
}

// Licence is what a caller hears about a driving licence.
type Licence struct {
	Status     string // GA status code, "A" normal
	Points     int64
	CycleEnd   time.Time
	ValidUntil time.Time
	ReviewDue  time.Time
	MedicalDue time.Time
}

// Vehicle is what a caller hears about a vehicle.
type Vehicle struct {
	Plate                string
	Status               string
	InspectionValidUntil time.Time
	ScrapDeadline        time.Time
}

// ViolationSummary sums the unprocessed violations.
type ViolationSummary struct {
	Count, Fine, Points int64
	Latest              time.Time
	LatestPlace         string
}

// Advisory is a safety warning.
type Advisory struct {
	Kind       string // weather, traffic_control, black_spot, roadworks
	Text       string
	ValidUntil time.Time
}
