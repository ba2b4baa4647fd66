package smsgw

import (
	"errors"
	"fmt"
	"strings"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/route"
)

// LoadConfig reads and validates a configuration file: config's own
// checks and the carrier names, which are internal/route's, all reported
// at once.
func LoadConfig(path string) (*config.Config, error) {
	return config.LoadFile(path, CheckCarriers)
}

// CheckCarriers checks every carrier name in cfg (route.fallback,
// route.prefixes, route.numbers, carriers[].name) against route.Carriers.
// config does not import route (peers do not import peers), so app, which
// wires both, checks here.
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
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}
