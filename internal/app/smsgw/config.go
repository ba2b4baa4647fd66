package smsgw

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/traffic12123/gateway/internal/carrier"
	carriercmpp "github.com/traffic12123/gateway/internal/carrier/cmpp"
	carriersgip "github.com/traffic12123/gateway/internal/carrier/sgip"
	carriersmgp "github.com/traffic12123/gateway/internal/carrier/smgp"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/route"
)

// Protocols are the carrier protocols a carrier's protocol: may name. A
// new protocol is a package under internal/carrier and one line here.
var Protocols = carrier.NewRegistry(
	carriersmpp.Protocol,
	carriercmpp.Protocol,
	carriersgip.Protocol,
	carriersmgp.Protocol,
)

// LoadConfig reads and validates a configuration file: config's own
// checks and the carrier names, which are internal/route's, all reported
// at once.
func LoadConfig(path string) (*config.Config, error) {
	return config.LoadFile(path, CheckCarriers)
}

// CheckCarriers checks every carrier name in cfg (route.fallback,
// route.prefixes, route.numbers, carriers[].name) against route.Carriers,
// and each carrier's protocol and protocol section with the protocol's
// own Check. config does not import route or the connector packages
// (peers do not import peers), so app, which wires them, checks here.
func CheckCarriers(cfg *config.Config) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	want := strings.Join(route.Names(), ", ")
	if f := cfg.Route.Fallback; f != "" && !route.Carrier(f).Valid() {
		add("route.fallback: unknown carrier %q (want one of %s)", f, want)
	}
	for p, car := range cfg.Route.Prefixes {
		if !route.Carrier(car).Valid() {
			add("route.prefixes[%s]: unknown carrier %q", p, car)
		}
	}
	for n, car := range cfg.Route.Numbers {
		if !route.Carrier(car).Valid() {
			add("route.numbers[%s…]: unknown carrier %q", n[:min(3, len(n))], car)
		}
	}
	for i, k := range cfg.Carriers {
		if !route.Carrier(k.Name).Valid() {
			add("carriers[%d].name: unknown carrier %q (want one of %s)", i, k.Name, want)
		}
		p, ok := Protocols[k.ProtocolName()]
		if !ok {
			add("carriers[%d].protocol: unknown protocol %q (want one of %s)", i, k.ProtocolName(), strings.Join(protocolNames(), ", "))
			continue
		}
		if err := p.Check(&k, fmt.Sprintf("carriers[%d]", i)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

func protocolNames() []string {
	names := make([]string, 0, len(Protocols))
	for n := range Protocols {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
