package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	yaml "go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/template"
)

// Entity kinds: what a rule's reminder is about, and what kind of latest
// state its still_due expression reads.
const (
	KindLicence = "licence"
	KindVehicle = "vehicle"
)

// kindOf is the entity kind of an event type's entity (event.Entity):
// the licence or the vehicle the event is about; "" for advisories.
func kindOf(t event.Type) string {
	switch t {
	case event.TypeViolationProcessed, event.TypeLicenceSnapshot, event.TypeLicenceStatusChanged:
		return KindLicence
	case event.TypeViolationRecorded, event.TypeVehicleSnapshot, event.TypeVehicleStatusChanged:
		return KindVehicle
	}
	return ""
}

// Observation is the state of a licence or vehicle an event carries, kept
// by the gateway (newest event wins) for the re-check at send time.
type Observation struct {
	Entity string // licence number or plate (event.Entity)
	Kind   string // KindLicence or KindVehicle
	Data   []byte // the licence or vehicle as JSON (internal/event's field names)
}

// Observe returns the licence or vehicle state ev carries; false for
// events without one (advisories).
func Observe(ev *event.Event) (Observation, bool) {
	var v any
	switch {
	case ev.ViolationRecorded != nil:
		v = &ev.ViolationRecorded.Vehicle
	case ev.ViolationProcessed != nil:
		v = &ev.ViolationProcessed.Licence
	case ev.LicenceSnapshot != nil:
		v = &ev.LicenceSnapshot.Licence
	case ev.LicenceStatusChanged != nil:
		v = &ev.LicenceStatusChanged.Licence
	case ev.VehicleSnapshot != nil:
		v = &ev.VehicleSnapshot.Vehicle
	case ev.VehicleStatusChanged != nil:
		v = &ev.VehicleStatusChanged.Vehicle
	default:
		return Observation{}, false
	}
	data, err := json.Marshal(v)
	if err != nil || ev.Entity() == "" {
		return Observation{}, false
	}
	return Observation{Entity: ev.Entity(), Kind: kindOf(ev.Type), Data: data}, true
}

// newStateEnvs builds the environments of still_due expressions: `state`
// is the latest known licence or vehicle (internal/event's Licence or
// Vehicle, fields by json name), `now` the time of the re-check.
func newStateEnvs(loc *time.Location) (map[string]*cel.Env, error) {
	out := map[string]*cel.Env{}
	for kind, rt := range map[string]reflect.Type{KindLicence: reflect.TypeFor[event.Licence](), KindVehicle: reflect.TypeFor[event.Vehicle]()} {
		env, err := cel.NewEnv(
			ext.NativeTypes(ext.ParseStructTag("json"), reflect.PointerTo(rt)),
			cel.Variable("state", cel.ObjectType("event."+rt.Name())),
			cel.Variable("now", cel.TimestampType),
			template.Library(loc),
			ext.Strings(),
		)
		if err != nil {
			return nil, fmt.Errorf("cel environment for still_due (%s): %w", kind, err)
		}
		out[kind] = env
	}
	return out, nil
}

// recheck is a rule's compiled still_due.
type recheck struct {
	kind string
	prog cel.Program
	env  *cel.Env
}

// HasStillDue reports whether rule id declares still_due.
func (s *Set) HasStillDue(ruleID string) bool { return s.stillDue[ruleID] != nil }

// StillDue evaluates rule ruleID's still_due against the latest known
// state of its licence or vehicle (kind and data as Observe gives them) at
// now. checked is false when the rule (no longer) has still_due or the
// state is of another kind: the message goes as decided. An error means
// the expression failed on this state.
func (s *Set) StillDue(ruleID, kind string, data []byte, now time.Time) (due, checked bool, err error) {
	rc := s.stillDue[ruleID]
	if rc == nil || rc.kind != kind {
		return true, false, nil
	}
	var v any
	switch kind {
	case KindLicence:
		var l event.Licence
		err = json.Unmarshal(data, &l)
		v = &l
	case KindVehicle:
		var x event.Vehicle
		err = json.Unmarshal(data, &x)
		v = &x
	}
	if err != nil {
		return true, false, fmt.Errorf("still_due of %s: state: %w", ruleID, err)
	}
	out, _, err := rc.prog.Eval(map[string]any{
		"state": rc.env.CELTypeAdapter().NativeToValue(v),
		"now":   types.Timestamp{Time: now},
	})
	if err != nil {
		return true, false, fmt.Errorf("still_due of %s: %w", ruleID, err)
	}
	return out == types.True, true, nil
}

// compileStillDue checks and compiles a rule's still_due: the rule's
// events must all be about one kind of entity (licence or vehicle).
func (l *loader) compileStillDue(f *yfile, r *Rule, n *yaml.Node) {
	kind := ""
	for _, t := range r.On {
		k := kindOf(t)
		if k == "" || (kind != "" && k != kind) {
			f.errAt(n, "rule %s: still_due needs rules whose events are all about a licence or all about a vehicle", r.ID)
			return
		}
		kind = k
	}
	if kind == "" {
		return
	}
	env := l.set.stateEnvs[kind]
	x := exprCtx{f: f, env: env, one: true, rule: r.ID}
	if p := l.compile(x, n, cel.BoolType, "still_due"); p != nil && r.Enabled {
		l.set.stillDue[r.ID] = &recheck{kind: kind, prog: p, env: env}
	}
}
