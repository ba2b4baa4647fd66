package rules

import (
	"fmt"
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/template"
)

// payloadTypes maps each event type to the Go struct CEL sees as `event`.
var payloadTypes = map[event.Type]reflect.Type{
	event.TypeViolationRecorded:    reflect.TypeFor[event.ViolationRecorded](),
	event.TypeViolationProcessed:   reflect.TypeFor[event.ViolationProcessed](),
	event.TypeLicenceSnapshot:      reflect.TypeFor[event.LicenceSnapshot](),
	event.TypeLicenceStatusChanged: reflect.TypeFor[event.LicenceStatusChanged](),
	event.TypeVehicleSnapshot:      reflect.TypeFor[event.VehicleSnapshot](),
	event.TypeVehicleStatusChanged: reflect.TypeFor[event.VehicleStatusChanged](),
	event.TypeAdvisoryPublished:    reflect.TypeFor[event.AdvisoryPublished](),
}

// payload returns the pointer to ev's data, nil if it has none.
func payload(ev *event.Event) any {
	switch ev.Type {
	case event.TypeViolationRecorded:
		if ev.ViolationRecorded != nil {
			return ev.ViolationRecorded
		}
	case event.TypeViolationProcessed:
		if ev.ViolationProcessed != nil {
			return ev.ViolationProcessed
		}
	case event.TypeLicenceSnapshot:
		if ev.LicenceSnapshot != nil {
			return ev.LicenceSnapshot
		}
	case event.TypeLicenceStatusChanged:
		if ev.LicenceStatusChanged != nil {
			return ev.LicenceStatusChanged
		}
	case event.TypeVehicleSnapshot:
		if ev.VehicleSnapshot != nil {
			return ev.VehicleSnapshot
		}
	case event.TypeVehicleStatusChanged:
		if ev.VehicleStatusChanged != nil {
			return ev.VehicleStatusChanged
		}
	case event.TypeAdvisoryPublished:
		if ev.AdvisoryPublished != nil {
			return ev.AdvisoryPublished
		}
	}
	return nil
}

// envs builds one CEL environment per event type. Every environment has:
//
//	event  the payload struct of that type (fields by json name)
//	type   the event type, a string
//	id     the event id
//	now    the evaluation time (injected)
//
// plus the helpers of template.Library.
func newEnvs(loc *time.Location) (map[event.Type]*cel.Env, error) {
	natives := []any{ext.ParseStructTag("json")}
	for _, t := range event.Types {
		natives = append(natives, reflect.PointerTo(payloadTypes[t]))
	}
	base, err := cel.NewEnv(
		ext.NativeTypes(natives...),
		cel.Variable("type", cel.StringType),
		cel.Variable("id", cel.StringType),
		cel.Variable("now", cel.TimestampType),
		template.Library(loc),
		ext.Strings(),
	)
	if err != nil {
		return nil, fmt.Errorf("cel base environment: %w", err)
	}
	out := make(map[event.Type]*cel.Env, len(event.Types))
	for _, t := range event.Types {
		rt := payloadTypes[t]
		env, err := base.Extend(cel.Variable("event", cel.ObjectType("event."+rt.Name())))
		if err != nil {
			return nil, fmt.Errorf("cel environment for %s: %w", t, err)
		}
		out[t] = env
	}
	return out, nil
}

// activation resolves the variables of one evaluation without a map. The
// payload is adapted to a CEL value once per event and shared by every rule.
type activation struct {
	// event and now are boxed once per event (returning a struct value as
	// `any` allocates, and most rules use them); type and id only when used.
	event, now ref.Val
	typ, id    string
}

var _ interpreter.Activation = (*activation)(nil)

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return a.event, true
	case "now":
		return a.now, true
	case "type":
		return types.String(a.typ), true
	case "id":
		return types.String(a.id), true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// estimator bounds the sizes the checker cannot know: strings of the event
// are at most maxString characters and lists at most maxList items.
type estimator struct{}

const (
	maxString = 512
	maxList   = 200
)

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	t := n.Type()
	switch {
	case t == nil:
		return nil
	case t.Kind() == types.StringKind || t.Kind() == types.BytesKind:
		return &cost.SizeEstimate{Min: 0, Max: maxString}
	case t.Kind() == types.ListKind || t.Kind() == types.MapKind:
		return &cost.SizeEstimate{Min: 0, Max: maxList}
	}
	return nil
}

// helperCost is the cost and longest result of the template.Library helpers.
var helperCost = map[string]uint64{
	"days_between": 2, "add_days": 2, "at_local": 3, "date": 3, "date_key": 3, "datetime": 3,
	"mask_plate": 2, "mask_name": 2, "mask_phone": 2, "last4": 2, "plate_type_name": 1,
	"use_name": 1, "licence_status_name": 1, "vehicle_status_name": 1, "ab_class": 2,
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	if function == "string" && overloadID != "string_to_string" {
		size := cost.SizeEstimate{Min: 0, Max: 40}
		return &cost.CallEstimate{CostEstimate: cost.Estimate{Min: 1, Max: 1}, ResultSize: &size}
	}
	c, ok := helperCost[function]
	if !ok {
		return nil
	}
	size := cost.SizeEstimate{Min: 0, Max: 64}
	return &cost.CallEstimate{CostEstimate: cost.Estimate{Min: 1, Max: c}, ResultSize: &size}
}
