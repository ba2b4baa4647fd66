package event

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Limits of the contract (docs/events.md, "Limits"). They keep one record
// from carrying what no real event carries: a 400 KB id repeated in every
// status record, a 1 MB advisory text, a date in 1901.
const (
	MaxIDBytes          = 128  // envelope id, advisory id, violation id, enterprise id
	MaxSourceBytes      = 256  // envelope source
	MaxSubjectBytes     = 256  // envelope subject
	MaxCodeBytes        = 16   // codes: violation code, statuses, class, plate type
	MaxNameBytes        = 256  // holder, owner, enterprise name (85 Chinese characters)
	MaxPlaceBytes       = 512  // violation place, description, status-change reason
	MaxAdvisoryText     = 2048 // advisory text (about 680 Chinese characters, 10 SMS parts)
	MaxRegions          = 4000 // regions of one advisory (China has about 2,850 county codes)
	MaxRecordValueBytes = 1 << 20
)

// Plausible dates: every timestamp of an event lies in [MinTime, MaxTime).
var (
	MinTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// More sentinel errors of the limits.
var (
	ErrTooLong     = errors.New("longer than the contract allows")
	ErrTooMany     = errors.New("more elements than the contract allows")
	ErrUTF8        = errors.New("not valid UTF-8")
	ErrControl     = errors.New("contains a control character")
	ErrImplausible = errors.New("date outside 1990-01-01 .. 2100-01-01")
	ErrTime        = errors.New("not an RFC 3339 timestamp with offset")
)

// limitChecker collects the first breach of a limit.
type limitChecker struct{ err error }

func (c *limitChecker) str(field, s string, maxBytes int) {
	if c.err != nil {
		return
	}
	switch {
	case len(s) > maxBytes:
		c.err = invalid(field, fmt.Errorf("%w (%d bytes, at most %d)", ErrTooLong, len(s), maxBytes))
	case !utf8.ValidString(s):
		c.err = invalid(field, ErrUTF8)
	case hasControl(s):
		c.err = invalid(field, ErrControl)
	}
}

func (c *limitChecker) date(field string, t time.Time) {
	if c.err != nil || t.IsZero() {
		return
	}
	if t.Before(MinTime) || !t.Before(MaxTime) {
		c.err = invalid(field, ErrImplausible)
	}
}

// hasControl reports C0 controls other than tab and newline, DEL and C1
// controls.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if (b < 0x20 && b != '\t' && b != '\n') || b == 0x7f {
			return true
		}
		if b == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f { // U+0080..U+009F
			return true
		}
	}
	return false
}

func validateLimits(ev *Event) error {
	var c limitChecker
	c.str("id", ev.ID, MaxIDBytes)
	c.str("source", ev.Source, MaxSourceBytes)
	c.str("subject", ev.Subject, MaxSubjectBytes)
	c.date("time", ev.Time)
	switch {
	case ev.ViolationRecorded != nil:
		c.violation("data.violation", &ev.ViolationRecorded.Violation)
		c.vehicle("data.vehicle", &ev.ViolationRecorded.Vehicle)
	case ev.ViolationProcessed != nil:
		p := ev.ViolationProcessed
		c.violation("data.violation", &p.Violation)
		c.licence("data.licence", &p.Licence)
		c.str("data.plate", p.Plate, MaxCodeBytes*2)
	case ev.LicenceSnapshot != nil:
		c.licence("data.licence", &ev.LicenceSnapshot.Licence)
	case ev.LicenceStatusChanged != nil:
		p := ev.LicenceStatusChanged
		c.change(p.OldStatus, p.NewStatus, p.Reason)
		c.licence("data.licence", &p.Licence)
	case ev.VehicleSnapshot != nil:
		c.vehicle("data.vehicle", &ev.VehicleSnapshot.Vehicle)
	case ev.VehicleStatusChanged != nil:
		p := ev.VehicleStatusChanged
		c.change(p.OldStatus, p.NewStatus, p.Reason)
		c.vehicle("data.vehicle", &p.Vehicle)
	case ev.AdvisoryPublished != nil:
		a := ev.AdvisoryPublished
		c.str("data.id", a.ID, MaxIDBytes)
		c.str("data.kind", a.Kind, MaxCodeBytes*2)
		c.str("data.text", a.Text, MaxAdvisoryText)
		c.date("data.valid_until", a.ValidUntil)
		if c.err == nil && len(a.Regions) > MaxRegions {
			c.err = invalid("data.regions", fmt.Errorf("%w (%d, at most %d)", ErrTooMany, len(a.Regions), MaxRegions))
		}
	}
	return c.err
}

func (c *limitChecker) change(old, nw, reason string) {
	c.str("data.old_status", old, MaxCodeBytes)
	c.str("data.new_status", nw, MaxCodeBytes)
	c.str("data.reason", reason, MaxPlaceBytes)
}

func (c *limitChecker) violation(at string, v *Violation) {
	c.str(at+".id", v.ID, MaxIDBytes)
	c.str(at+".place", v.Place, MaxPlaceBytes)
	c.str(at+".code", v.Code, MaxCodeBytes)
	c.str(at+".description", v.Description, MaxPlaceBytes)
	c.date(at+".time", v.Time)
}

func (c *limitChecker) vehicle(at string, v *Vehicle) {
	c.str(at+".plate", v.Plate, MaxCodeBytes*2)
	c.str(at+".plate_type", v.PlateType, MaxCodeBytes)
	c.str(at+".owner", v.Owner, MaxNameBytes)
	c.str(at+".phone", v.Phone, MaxCodeBytes)
	c.str(at+".region", v.Region, MaxCodeBytes)
	c.str(at+".use", v.Use, MaxCodeBytes*2)
	c.str(at+".status", v.Status, MaxCodeBytes)
	c.date(at+".inspection_valid_until", v.InspectionValidUntil)
	c.date(at+".scrap_deadline", v.ScrapDeadline)
	c.date(at+".transfer_in_due", v.TransferInDue)
	if e := v.Enterprise; e != nil {
		c.str(at+".enterprise.id", e.ID, MaxIDBytes)
		c.str(at+".enterprise.name", e.Name, MaxNameBytes)
		c.str(at+".enterprise.contact_phone", e.ContactPhone, MaxCodeBytes)
	}
}

func (c *limitChecker) licence(at string, l *Licence) {
	c.str(at+".number", l.Number, MaxCodeBytes*2)
	c.str(at+".holder", l.Holder, MaxNameBytes)
	c.str(at+".phone", l.Phone, MaxCodeBytes)
	c.str(at+".region", l.Region, MaxCodeBytes)
	c.str(at+".class", l.Class, MaxCodeBytes)
	c.str(at+".status", l.Status, MaxCodeBytes)
	c.date(at+".cycle_end", l.CycleEnd)
	c.date(at+".valid_until", l.ValidUntil)
	c.date(at+".probation_until", l.ProbationUntil)
	c.date(at+".review_due", l.ReviewDue)
	c.date(at+".medical_due", l.MedicalDue)
}

// quoteType renders an unknown type for an error message: at most 64
// bytes, printable ASCII, quoted.
func quoteType(t Type) string {
	s := string(t)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.QuoteToASCII(s)
}
