// Package eventgen makes realistic, valid events of the contract
// (internal/event) for the demo, load tests and benchmarks, and publishes
// them to Kafka. Licence numbers are valid ID numbers with real region
// prefixes, plates carry their city's prefix, phone numbers spread over the
// four carriers' blocks, and the mix is chosen so that a good share of
// events fire the default reminders (or, in the sweep mix, about 1 %). It
// knows nothing of the rules: the scenarios mirror rules/*.yaml by hand.
package eventgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/event"
)

// DefaultTopics maps each type to its topic (docs/events.md).
var DefaultTopics = map[event.Type]string{
	event.TypeLicenceSnapshot:      "events.licence",
	event.TypeLicenceStatusChanged: "events.licence",
	event.TypeVehicleSnapshot:      "events.vehicle",
	event.TypeVehicleStatusChanged: "events.vehicle",
	event.TypeViolationRecorded:    "events.violation",
	event.TypeViolationProcessed:   "events.violation",
	event.TypeAdvisoryPublished:    "events.advisory",
}

// DefaultDeadLetterTopic is where the gateway puts records it refuses.
const DefaultDeadLetterTopic = "events.dlq"

// TopicNames returns the distinct topics of DefaultTopics, sorted.
func TopicNames() []string {
	return []string{"events.advisory", "events.licence", "events.vehicle", "events.violation"}
}

// Mix selects what Next produces.
type Mix string

const (
	// MixDefault produces all seven types, most of them firing a default
	// reminder (see Scenario).
	MixDefault Mix = "default"
	// MixSweep produces licence and vehicle snapshots as the daily sweep
	// does, of which Options.FireRate fire a reminder.
	MixSweep Mix = "sweep"
)

// DefaultFireRate is the share of sweep snapshots that fire a reminder.
const DefaultFireRate = 0.01

// Options tunes a Generator.
type Options struct {
	Mix      Mix                   // default MixDefault
	FireRate float64               // MixSweep only; default DefaultFireRate
	Topics   map[event.Type]string // default DefaultTopics
	Source   string                // CloudEvents source prefix; default "/tmsp"
}

// Generator produces events. It is deterministic for a seed and now, and not
// safe for concurrent use.
type Generator struct {
	r        *rand.Rand
	now      time.Time // in Beijing time
	today    time.Time // midnight Beijing time
	opts     Options
	seq      uint64
	idPrefix string
	scenario string
	follow   []followUp // events to return next, before new ones
}

// followUp is an event made together with an earlier one, about the same
// entity (a later state), returned by the next call of Next.
type followUp struct {
	ev       *event.Event
	scenario string
}

var cst = time.FixedZone("CST", 8*3600)

// New returns a generator of the default mix.
func New(seed int64, now time.Time) *Generator {
	return NewWith(seed, now, Options{})
}

// NewWith returns a generator with options.
func NewWith(seed int64, now time.Time, opts Options) *Generator {
	if opts.Mix == "" {
		opts.Mix = MixDefault
	}
	if opts.FireRate <= 0 {
		opts.FireRate = DefaultFireRate
	}
	if opts.Topics == nil {
		opts.Topics = DefaultTopics
	}
	if opts.Source == "" {
		opts.Source = "/tmsp"
	}
	now = now.In(cst)
	y, m, d := now.Date()
	return &Generator{
		r:        rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15)),
		now:      now,
		today:    time.Date(y, m, d, 0, 0, 0, 0, cst),
		opts:     opts,
		idPrefix: "gen-" + strconv.FormatUint(uint64(seed), 36) + "-",
	}
}

// Scenario names what the last event of Next was made to trigger: a default
// rule id such as "vehicle.inspection_due", or "none" for an event that
// should fire nothing.
func (g *Generator) Scenario() string { return g.scenario }

// Next returns the topic, record key (the entity key) and a valid event.
func (g *Generator) Next() (topic string, key []byte, ev *event.Event) {
	if len(g.follow) > 0 {
		f := g.follow[0]
		g.follow = g.follow[1:]
		g.scenario = f.scenario
		return g.opts.Topics[f.ev.Type], []byte(f.ev.Entity()), f.ev
	}
	g.seq++
	if g.opts.Mix == MixSweep {
		if g.r.IntN(2) == 0 {
			ev = g.licenceSnapshot(g.r.Float64() < g.opts.FireRate)
		} else {
			ev = g.vehicleSnapshot(g.r.Float64() < g.opts.FireRate)
		}
	} else {
		switch n := g.r.IntN(100); {
		case n < 28:
			ev = g.violationRecorded()
		case n < 43:
			ev = g.violationProcessed()
		case n < 58:
			ev = g.licenceSnapshot(g.r.IntN(10) < 7)
		case n < 64:
			ev = g.licenceStatusChanged()
		case n < 84:
			ev = g.vehicleSnapshot(g.r.IntN(10) < 7)
		case n < 97:
			ev = g.vehicleStatusChanged()
		default:
			ev = g.advisory()
		}
	}
	return g.opts.Topics[ev.Type], []byte(ev.Entity()), ev
}

func (g *Generator) envelope(t event.Type, kind string, reg region) *event.Event {
	return &event.Event{
		ID:     g.idPrefix + strconv.FormatUint(g.seq, 10),
		Source: g.opts.Source + "/" + reg.code[:2] + "0000/" + kind,
		Type:   t,
		Time:   g.now.Add(-time.Duration(g.r.IntN(600)) * time.Second).Truncate(time.Second),
	}
}

func (g *Generator) pick(n int) int { return g.r.IntN(n) }

func (g *Generator) region() region { return regions[g.pick(len(regions))] }

// day returns midnight Beijing time n days from today.
func (g *Generator) day(n int) time.Time { return g.today.AddDate(0, 0, n) }

// between returns an int in [lo, hi].
func (g *Generator) between(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

func (g *Generator) name() string {
	var b strings.Builder
	b.WriteRune(surnames[g.pick(len(surnames))])
	for i := 0; i < 1+g.pick(2); i++ {
		b.WriteRune(given[g.pick(len(given))])
	}
	return b.String()
}

// Phone returns a mobile number from one of the four carriers' blocks
// (China Mobile about 55 %, Unicom 25 %, Telecom 17 %, Broadnet 3 %).
func (g *Generator) Phone() string {
	var set []string
	switch n := g.pick(100); {
	case n < 55:
		set = mobilePrefixes
	case n < 80:
		set = unicomPrefixes
	case n < 97:
		set = telecomPrefixes
	default:
		set = broadnetPrefixes
	}
	return fmt.Sprintf("%s%08d", set[g.pick(len(set))], g.r.IntN(100000000))
}

// IDNumber returns a valid 18-character ID number registered in reg, born
// between 1955 and 2006.
func (g *Generator) idNumber(reg region) string {
	birth := time.Date(1955, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.r.IntN(51*365))
	s := fmt.Sprintf("%s%s%03d", reg.code, birth.Format("20060102"), g.r.IntN(1000))
	return s + string(event.IDCheckChar(s))
}

const plateLetters = "ABCDEFGHJKLMNPQRSTUVWXYZ" // no I, O

func (g *Generator) plate(reg region, newEnergy bool) string {
	var b strings.Builder
	b.WriteString(reg.plate)
	if newEnergy {
		if g.pick(2) == 0 {
			b.WriteString("·")
		}
		b.WriteByte("DF"[g.pick(2)])
		fmt.Fprintf(&b, "%05d", g.r.IntN(100000))
		return b.String()
	}
	letters := g.pick(3) // up to two letters among five characters
	for i := 0; i < 5; i++ {
		if letters > 0 && g.pick(5) < 2 {
			b.WriteByte(plateLetters[g.pick(len(plateLetters))])
			letters--
		} else {
			b.WriteByte(byte('0' + g.pick(10)))
		}
	}
	return b.String()
}

func (g *Generator) enterprise(reg region) *event.Enterprise {
	name := strings.TrimSuffix(reg.city, "市") + enterpriseMiddles[g.pick(len(enterpriseMiddles))] + enterpriseSuffix[g.pick(len(enterpriseSuffix))]
	return &event.Enterprise{
		ID:           fmt.Sprintf("91%s%010X", reg.code, g.r.Uint64()&0xFFFFFFFFFF),
		Name:         name,
		ContactPhone: g.Phone(),
	}
}

// normalVehicle is a vehicle no default rule fires on.
func (g *Generator) normalVehicle(reg region) event.Vehicle {
	use := event.UsePrivate
	if g.pick(10) == 0 {
		use = event.Uses[1+g.pick(len(event.Uses)-1)]
	}
	newEnergy := g.pick(100) < 15
	pt := "02"
	switch {
	case use != event.UsePrivate:
		pt = "01"
	case newEnergy:
		pt = "52"
	}
	v := event.Vehicle{
		Plate:                 g.plate(reg, newEnergy && use == event.UsePrivate),
		PlateType:             pt,
		Owner:                 g.name(),
		Phone:                 g.Phone(),
		Region:                reg.code,
		Use:                   use,
		Status:                "A",
		InspectionValidUntil:  g.day(g.between(45, 700)),
		UnprocessedViolations: int64(g.pick(2)),
	}
	if use != event.UsePrivate {
		v.Enterprise = g.enterprise(reg)
		v.Owner = v.Enterprise.Name
		v.ScrapDeadline = g.day(g.between(400, 3000))
	}
	return v
}

func (g *Generator) fleetVehicle(reg region) event.Vehicle {
	v := g.normalVehicle(reg)
	if v.Enterprise == nil {
		v.Use = event.Uses[1+g.pick(len(event.Uses)-1)]
		v.PlateType = "01"
		v.Plate = g.plate(reg, false)
		v.Enterprise = g.enterprise(reg)
		v.Owner = v.Enterprise.Name
		v.ScrapDeadline = g.day(g.between(400, 3000))
	}
	return v
}

// normalLicence is a licence no default rule fires on.
func (g *Generator) normalLicence(reg region) event.Licence {
	classes := []string{"C1", "C1", "C1", "C2", "C1", "B2", "A2", "A1", "B1", "C1E"}
	l := event.Licence{
		Number:     g.idNumber(reg),
		Holder:     g.name(),
		Phone:      g.Phone(),
		Region:     reg.code,
		Class:      classes[g.pick(len(classes))],
		Status:     "A",
		Points:     int64(g.pick(6)),
		CycleEnd:   g.day(g.between(1, 365)),
		ValidUntil: g.day(g.between(60, 3650)),
	}
	if strings.HasPrefix(l.Class, "A") || strings.HasPrefix(l.Class, "B") {
		l.ReviewDue = g.day(g.between(60, 365))
	}
	return l
}

func (g *Generator) violation(reg region, monitored bool) event.Violation {
	k := violationKinds[g.pick(len(violationKinds))]
	if monitored {
		for !k.monitored {
			k = violationKinds[g.pick(len(violationKinds))]
		}
	}
	when := g.now.Add(-time.Duration(g.between(600, 20*86400)) * time.Second).Truncate(time.Second)
	return event.Violation{
		ID:          fmt.Sprintf("%s%s%07d", reg.code, when.Format("060102"), g.r.IntN(10000000)),
		Time:        when,
		Place:       reg.city + reg.dist + roads[g.pick(len(roads))] + "与" + roads[g.pick(len(roads))] + "交叉口",
		Code:        k.code,
		Description: k.desc,
		Fine:        k.fine,
		Points:      k.points,
		Monitoring:  monitored,
	}
}

func (g *Generator) violationRecorded() *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeViolationRecorded, "violation", reg)
	p := &event.ViolationRecorded{}
	switch n := g.pick(100); {
	case n < 20: // fleet vehicle piling up violations
		p.Vehicle = g.fleetVehicle(reg)
		p.Vehicle.UnprocessedViolations = int64(g.between(3, 9))
		p.Violation = g.violation(reg, true)
		g.scenario = "fleet.unprocessed_violations"
	case n < 85:
		p.Vehicle = g.normalVehicle(reg)
		p.Vehicle.UnprocessedViolations++
		p.Violation = g.violation(reg, true)
		g.scenario = "violation.recorded"
	default: // recorded by an officer: no SMS
		p.Vehicle = g.normalVehicle(reg)
		p.Violation = g.violation(reg, false)
		if p.Vehicle.Enterprise != nil {
			p.Vehicle.UnprocessedViolations = 0
		}
		g.scenario = "none"
	}
	ev.ViolationRecorded = p
	return ev
}

// violationWithPoints returns a violation whose points are in [lo, hi].
func (g *Generator) violationWithPoints(reg region, lo, hi int64) event.Violation {
	for {
		v := g.violation(reg, g.pick(10) < 8)
		if v.Points >= lo && v.Points <= hi {
			return v
		}
	}
}

func (g *Generator) violationProcessed() *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeViolationProcessed, "violation", reg)
	p := &event.ViolationProcessed{Licence: g.normalLicence(reg), Plate: g.plate(reg, g.pick(100) < 15)}
	switch n := g.pick(100); {
	case n < 30: // crosses 9, stays under 12
		p.Violation = g.violationWithPoints(reg, 1, 11)
		pts := int(p.Violation.Points)
		p.PointsBefore = int64(g.between(max(0, 9-pts), min(8, 11-pts)))
		g.scenario = "violation.points_9"
	case n < 40: // reaches 12
		p.Violation = g.violationWithPoints(reg, 1, 12)
		p.PointsBefore = int64(g.between(max(0, 12-int(p.Violation.Points)), 11))
		g.scenario = "violation.points_12"
	case n < 45: // reaches 12 on probation (any class): the probation 满分 inhibits the general one
		p.Licence.ProbationUntil = g.day(g.between(30, 360))
		p.Violation = g.violationWithPoints(reg, 1, 12)
		p.PointsBefore = int64(g.between(max(0, 12-int(p.Violation.Points)), 11))
		g.scenario = "licence.probation_full"
	case n < 55: // A/B-class licence on probation reaching 6 points
		p.Licence.Class = []string{"A1", "A2", "A3", "B1", "B2"}[g.pick(5)]
		p.Licence.ProbationUntil = g.day(g.between(30, 360))
		p.Violation = g.violationWithPoints(reg, 1, 11)
		pts := int(p.Violation.Points)
		p.PointsBefore = int64(g.between(max(0, 6-pts), min(5, 11-pts)))
		g.scenario = "licence.ab_probation_points"
	default: // stays under 9
		p.Violation = g.violationWithPoints(reg, 1, 8)
		p.PointsBefore = int64(g.between(0, 8-int(p.Violation.Points)))
		g.scenario = "none"
	}
	p.PointsApplied = p.Violation.Points
	p.Licence.Points = p.PointsBefore + p.PointsApplied
	if p.Licence.Points >= 12 {
		p.Licence.Status = "B"
	}
	ev.ViolationProcessed = p
	return ev
}

func (g *Generator) licenceSnapshot(fire bool) *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeLicenceSnapshot, "licence", reg)
	l := g.normalLicence(reg)
	g.scenario = "none"
	if fire {
		switch n := g.pick(100); {
		case n < 35:
			if l.ReviewDue.IsZero() {
				l.Class = "A2"
			}
			l.ReviewDue = g.day(g.between(1, 29))
			g.scenario = "licence.review_due"
		case n < 60:
			l.ValidUntil = g.day(-g.between(2, 300))
			g.scenario = "licence.renewal_overdue"
		default:
			l.MedicalDue = g.day(-g.between(2, 200))
			g.scenario = "licence.medical_overdue"
		}
	} else if g.pick(5) == 0 {
		// on probation, nothing due: fires nothing on a snapshot
		l.ProbationUntil = g.day(g.between(30, 360))
	}
	ev.LicenceSnapshot = &event.LicenceSnapshot{Licence: l}
	return ev
}

func (g *Generator) licenceStatusChanged() *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeLicenceStatusChanged, "licence", reg)
	p := &event.LicenceStatusChanged{Licence: g.normalLicence(reg), OldStatus: "A"}
	switch n := g.pick(100); {
	case n < 40:
		p.NewStatus, p.Reason = "G", "超过有效期一年以上未换证"
		p.Licence.ValidUntil = g.day(-g.between(366, 700))
		g.scenario = "licence.cancelled"
	case n < 55:
		p.NewStatus, p.Reason = "E", "以欺骗、贿赂等不正当手段取得驾驶许可"
		g.scenario = "licence.cancelled"
	case n < 70:
		p.NewStatus, p.Reason = "F", "饮酒后驾驶营运机动车"
		g.scenario = "licence.cancelled"
	case n < 90:
		p.NewStatus, p.Reason = "B", "累积记分达到12分"
		p.Licence.Points = 12
		g.scenario = "none"
	default:
		p.OldStatus, p.NewStatus, p.Reason = "B", "A", "满分学习考试合格"
		g.scenario = "none"
	}
	p.Licence.Status = p.NewStatus
	ev.LicenceStatusChanged = p
	return ev
}

func (g *Generator) vehicleSnapshot(fire bool) *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeVehicleSnapshot, "vehicle", reg)
	var v event.Vehicle
	g.scenario = "none"
	if !fire {
		v = g.normalVehicle(reg)
		if v.Enterprise != nil {
			v.UnprocessedViolations = int64(g.pick(3))
		}
	} else {
		switch n := g.pick(100); {
		case n < 25:
			v = g.normalVehicle(reg)
			v.InspectionValidUntil = g.day(g.between(1, 29))
			g.scenario = "vehicle.inspection_due"
			if g.pick(4) == 0 {
				// inspected right after the sweep saw it due: a later
				// snapshot (valid two more years) resolves the reminder
				g.followSnapshot(ev, v)
			}
		case n < 45:
			v = g.normalVehicle(reg)
			v.InspectionValidUntil = g.day(-g.between(2, 300))
			v.Status = "Q" // 逾期未检验
			v.MissedInspections = int64(g.pick(2))
			g.scenario = "vehicle.inspection_overdue"
		case n < 52:
			v = g.normalVehicle(reg)
			v.InspectionValidUntil = g.day(-g.between(3*365, 4*365))
			v.Status = "Q"
			v.MissedInspections = 3
			g.scenario = "vehicle.missed_3_cycles"
		case n < 64:
			v = g.normalVehicle(reg)
			v.ScrapDeadline = g.day(g.between(40, 360))
			g.scenario = "vehicle.scrap_within_year"
		case n < 70:
			v = g.normalVehicle(reg)
			v.ScrapDeadline = g.day(g.between(1, 29))
			g.scenario = "vehicle.scrap_limit"
		case n < 76:
			v = g.normalVehicle(reg)
			v.ScrapDeadline = g.day(-g.between(2, 200))
			v.Status = "M"
			g.scenario = "vehicle.scrap_overdue"
		case n < 82:
			v = g.normalVehicle(reg)
			v.TransferInDue = g.day(-g.between(2, 60))
			g.scenario = "vehicle.transfer_in_overdue"
		case n < 94:
			v = g.fleetVehicle(reg)
			v.UnprocessedViolations = int64(g.between(3, 12))
			g.scenario = "fleet.unprocessed_violations"
		default:
			v = g.fleetVehicle(reg)
			v.InspectionValidUntil = g.day(-g.between(2, 200))
			v.Status = "Q"
			g.scenario = "fleet.inspection_overdue"
		}
	}
	ev.VehicleSnapshot = &event.VehicleSnapshot{Vehicle: v}
	return ev
}

// followSnapshot queues a later snapshot of v (a minute after ev) whose
// inspection is valid for two more years: it fires nothing and resolves
// ev's inspection reminder if that is still pending.
func (g *Generator) followSnapshot(ev *event.Event, v event.Vehicle) {
	g.seq++
	next := &event.Event{ID: g.idPrefix + strconv.FormatUint(g.seq, 10), Source: ev.Source, Type: event.TypeVehicleSnapshot, Time: ev.Time.Add(time.Minute)}
	v.InspectionValidUntil = g.day(2 * 365)
	next.VehicleSnapshot = &event.VehicleSnapshot{Vehicle: v}
	g.follow = append(g.follow, followUp{ev: next, scenario: "none"})
}

func (g *Generator) vehicleStatusChanged() *event.Event {
	reg := g.region()
	ev := g.envelope(event.TypeVehicleStatusChanged, "vehicle", reg)
	p := &event.VehicleStatusChanged{Vehicle: g.normalVehicle(reg)}
	g.scenario = "none"
	switch n := g.pick(100); {
	case n < 50:
		p.OldStatus, p.NewStatus, p.Reason = "A", "Q", "逾期未检验"
		p.Vehicle.InspectionValidUntil = g.day(-g.between(1, 30))
	case n < 70:
		p.OldStatus, p.NewStatus, p.Reason = "A", "M", "达到强制报废标准"
		p.Vehicle.ScrapDeadline = g.day(-g.between(1, 30))
	case n < 85:
		p.OldStatus, p.NewStatus, p.Reason = "Q", "A", "检验合格"
	default:
		p.OldStatus, p.NewStatus, p.Reason = "M", "E", "已注销"
	}
	p.Vehicle.Status = p.NewStatus
	ev.VehicleStatusChanged = p
	return ev
}

func (g *Generator) advisory() *event.Event {
	reg := regions[g.pick(12)] // a few regions only
	ev := g.envelope(event.TypeAdvisoryPublished, "advisory", reg)
	kind := event.AdvisoryKinds[g.pick(len(event.AdvisoryKinds))]
	texts := advisoryTexts[kind]
	city := reg.code[:4] + "00"
	regs := []string{city}
	if g.pick(3) == 0 {
		other := regions[g.pick(len(regions))].code
		if other[:4]+"00" != city {
			regs = append(regs, other[:4]+"00")
		}
	}
	ev.AdvisoryPublished = &event.AdvisoryPublished{
		ID:         "adv-" + ev.ID,
		Regions:    regs,
		Kind:       kind,
		Text:       fmt.Sprintf(texts[g.pick(len(texts))], reg.city),
		ValidUntil: g.now.Add(time.Duration(g.between(6, 48)) * time.Hour).Truncate(time.Hour),
	}
	switch kind {
	case event.AdvisoryWeather, event.AdvisoryTrafficControl:
		g.scenario = "advisory.warning"
	default:
		g.scenario = "advisory.notice"
	}
	return ev
}
