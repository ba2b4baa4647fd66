package event

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Validate checks an event against the contract: the envelope attributes,
// exactly the payload its type selects, and the required fields of that
// payload. It returns nil or an *InvalidError. Decode calls it; Encode calls
// it before marshalling.
func Validate(ev *Event) error {
	if ev.ID == "" {
		return missing("id")
	}
	if ev.Source == "" {
		return missing("source")
	}
	if ev.Type == "" {
		return missing("type")
	}
	if ev.Time.IsZero() {
		return missing("time")
	}
	if n := ev.payloads(); n != 1 {
		if n == 0 {
			return missing("data")
		}
		return invalid("data", ErrPayloadAbsent)
	}
	if err := validateLimits(ev); err != nil {
		return err
	}
	switch ev.Type {
	case TypeViolationRecorded:
		p := ev.ViolationRecorded
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		if err := validateViolation("data.violation", &p.Violation); err != nil {
			return err
		}
		return validateVehicle("data.vehicle", &p.Vehicle)
	case TypeViolationProcessed:
		p := ev.ViolationProcessed
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		if err := validateViolation("data.violation", &p.Violation); err != nil {
			return err
		}
		if p.PointsApplied < 0 {
			return invalid("data.points_applied", ErrNegative)
		}
		if p.PointsBefore < 0 {
			return invalid("data.points_before", ErrNegative)
		}
		if p.Plate != "" && !ValidPlate(p.Plate) {
			return invalid("data.plate", ErrPlate)
		}
		return validateLicence("data.licence", &p.Licence)
	case TypeLicenceSnapshot:
		p := ev.LicenceSnapshot
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		return validateLicence("data.licence", &p.Licence)
	case TypeLicenceStatusChanged:
		p := ev.LicenceStatusChanged
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		if err := validateChange(p.OldStatus, p.NewStatus); err != nil {
			return err
		}
		return validateLicence("data.licence", &p.Licence)
	case TypeVehicleSnapshot:
		p := ev.VehicleSnapshot
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		return validateVehicle("data.vehicle", &p.Vehicle)
	case TypeVehicleStatusChanged:
		p := ev.VehicleStatusChanged
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		if err := validateChange(p.OldStatus, p.NewStatus); err != nil {
			return err
		}
		return validateVehicle("data.vehicle", &p.Vehicle)
	case TypeAdvisoryPublished:
		p := ev.AdvisoryPublished
		if p == nil {
			return invalid("data", ErrPayloadAbsent)
		}
		return validateAdvisory(p)
	}
	return unknownType(ev.Type)
}

func (e *Event) payloads() int {
	n := 0
	for _, set := range [...]bool{
		e.ViolationRecorded != nil, e.ViolationProcessed != nil,
		e.LicenceSnapshot != nil, e.LicenceStatusChanged != nil,
		e.VehicleSnapshot != nil, e.VehicleStatusChanged != nil,
		e.AdvisoryPublished != nil,
	} {
		if set {
			n++
		}
	}
	return n
}

// KnownType reports whether t is one of Types.
func KnownType(t Type) bool {
	switch t {
	case TypeViolationRecorded, TypeViolationProcessed, TypeLicenceSnapshot,
		TypeLicenceStatusChanged, TypeVehicleSnapshot, TypeVehicleStatusChanged,
		TypeAdvisoryPublished:
		return true
	}
	return false
}

func validateChange(old, nw string) error {
	if old == "" {
		return missing("data.old_status")
	}
	if nw == "" {
		return missing("data.new_status")
	}
	return nil
}

// maxViolationPoints is the most points one violation can carry (一次记12分).
const maxViolationPoints = 12

func validateViolation(at string, v *Violation) error {
	switch {
	case v.ID == "":
		return missing(at + ".id")
	case v.Time.IsZero():
		return missing(at + ".time")
	case v.Code == "":
		return missing(at + ".code")
	case v.Fine < 0:
		return invalid(at+".fine", ErrNegative)
	case v.Points < 0:
		return invalid(at+".points", ErrNegative)
	case v.Points > maxViolationPoints:
		return invalid(at+".points", ErrOutOfRange)
	}
	return nil
}

func validateVehicle(at string, v *Vehicle) error {
	switch {
	case v.Plate == "":
		return missing(at + ".plate")
	case !ValidPlate(v.Plate):
		return invalid(at+".plate", ErrPlate)
	case v.Phone != "" && !ValidMobile(v.Phone):
		return invalid(at+".phone", ErrMobile)
	case v.Region == "":
		return missing(at + ".region")
	case !ValidRegion(v.Region):
		return invalid(at+".region", ErrRegion)
	case v.Use == "":
		return missing(at + ".use")
	case !oneOf(v.Use, Uses):
		return invalid(at+".use", ErrEnum)
	case v.Status == "":
		return missing(at + ".status")
	case v.MissedInspections < 0:
		return invalid(at+".missed_inspections", ErrNegative)
	case v.UnprocessedViolations < 0:
		return invalid(at+".unprocessed_violations", ErrNegative)
	}
	if e := v.Enterprise; e != nil {
		switch {
		case e.ID == "":
			return missing(at + ".enterprise.id")
		case e.ContactPhone != "" && !ValidMobile(e.ContactPhone):
			return invalid(at+".enterprise.contact_phone", ErrMobile)
		}
	}
	return nil
}

func validateLicence(at string, l *Licence) error {
	switch {
	case l.Number == "":
		return missing(at + ".number")
	case !ValidIDNumber(l.Number):
		return invalid(at+".number", ErrIDNumber)
	case l.Phone != "" && !ValidMobile(l.Phone):
		return invalid(at+".phone", ErrMobile)
	case l.Region == "":
		return missing(at + ".region")
	case !ValidRegion(l.Region):
		return invalid(at+".region", ErrRegion)
	case l.Class == "":
		return missing(at + ".class")
	case l.Status == "":
		return missing(at + ".status")
	case l.Points < 0:
		return invalid(at+".points", ErrNegative)
	}
	return nil
}

func validateAdvisory(a *AdvisoryPublished) error {
	switch {
	case a.ID == "":
		return missing("data.id")
	case len(a.Regions) == 0:
		return missing("data.regions")
	case a.Kind == "":
		return missing("data.kind")
	case !oneOf(a.Kind, AdvisoryKinds):
		return invalid("data.kind", ErrEnum)
	case a.Text == "":
		return missing("data.text")
	case a.ValidUntil.IsZero():
		return missing("data.valid_until")
	}
	for _, r := range a.Regions {
		if !ValidRegion(r) {
			return invalid("data.regions", ErrRegion)
		}
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// Provinces holds the one-character abbreviations that start a plate
// (京 Beijing … 琼 Hainan).
const Provinces = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

// plateSuffixes may end a 5-character plate body: coach, trailer, police,
// Hong Kong, Macao, consulate, test, overlimit.
const plateSuffixes = "学挂警港澳领试超"

// ValidPlate reports whether s looks like a civilian plate: a province
// character, an issuing-authority letter, an optional middle dot "·", then
// 5 letters/digits (6 for new-energy plates), the last of 5 possibly one of
// 学挂警港澳领试超.
func ValidPlate(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	if n < 2 || !strings.ContainsRune(Provinces, r) {
		return false
	}
	s = s[n:]
	if len(s) == 0 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	s = strings.TrimPrefix(s[1:], "·")
	count := 0
	for i, c := range s {
		count++
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
		case strings.ContainsRune(plateSuffixes, c) && i+utf8.RuneLen(c) == len(s):
			return count == 5
		default:
			return false
		}
	}
	return count == 5 || count == 6
}

// ValidRegion reports whether s is a 6-digit administrative division code
// with a real province prefix (11–65, 71 Taiwan, 81 Hong Kong, 82 Macao).
func ValidRegion(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return validProvinceCode(s[:2])
}

func validProvinceCode(p string) bool {
	switch p[0] {
	case '1':
		return p[1] >= '1' && p[1] <= '5'
	case '2':
		return p[1] >= '1' && p[1] <= '3'
	case '3':
		return p[1] >= '1' && p[1] <= '7'
	case '4':
		return p[1] >= '1' && p[1] <= '6'
	case '5':
		return p[1] >= '0' && p[1] <= '4'
	case '6':
		return p[1] >= '1' && p[1] <= '5'
	case '7':
		return p[1] == '1'
	case '8':
		return p[1] == '1' || p[1] == '2'
	}
	return false
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// IDCheckChar returns the GB 11643 check character for the first 17 digits
// of an ID number (which must be digits).
func IDCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// ValidIDNumber reports whether s is an 18-character citizen ID number
// (GB 11643): a real province prefix, a plausible birth date, and the
// correct check character (digit or upper-case X).
func ValidIDNumber(s string) bool {
	if len(s) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if !validProvinceCode(s[:2]) {
		return false
	}
	year := atoi(s[6:10])
	month := atoi(s[10:12])
	day := atoi(s[12:14])
	if year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return false
	}
	return s[17] == IDCheckChar(s)
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// ValidMobile reports whether s is an 11-digit mainland mobile number
// (1, then 3–9, then 9 digits), without "+86" or separators.
func ValidMobile(s string) bool {
	if len(s) != 11 || s[0] != '1' || s[1] < '3' || s[1] > '9' {
		return false
	}
	for i := 2; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
