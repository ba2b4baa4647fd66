// Package carrier is the contract between app and the carrier connector
// packages under it (internal/carrier/smpp, …): what a protocol provides
// so that app can validate a carrier's configuration and build its
// connector. The connector interface itself and the protocol-neutral
// types it carries are dispatch's (dispatch.Connector), the consumer's.
//
// A new protocol is one package here that exports a Protocol, one
// section of the carrier configuration (the YAML mapping under the key
// named by the protocol, decoded and validated by that package), and one
// registration line in app (smsgw.Protocols).
package carrier

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
)

// Protocol is one carrier protocol as app knows it.
type Protocol struct {
	// Name is the value of carriers[].protocol, and the key of the
	// protocol's section in a carrier's configuration.
	Name string
	// Check validates a carrier of this protocol: its section (strictly,
	// with config.DecodeSection: unknown keys are errors, with their
	// line) and whatever the protocol requires of the common keys. where
	// names the carrier in errors ("carriers[0]"). It runs when the file
	// is loaded, offline checks included, so it may not connect or read
	// secrets.
	Check func(k *config.Carrier, where string) error
	// NewBuilder returns the builder of this protocol's connectors for
	// one gateway; the protocol's metrics are registered on reg once,
	// shared by its carriers.
	NewBuilder func(reg prometheus.Registerer) Builder
	// Section is the zero value of the protocol's section type and
	// Bounds the limits of its numeric keys, which Check enforces: every
	// numeric key of Section has one (a test walks Section for them).
	Section any
	Bounds  []config.Bound
}

// Builder builds the connector of one carrier of a protocol; nothing
// connects until the connector runs.
type Builder func(k config.Carrier, deps Deps) (dispatch.Connector, error)

// Deps is what app hands every connector besides its configuration.
type Deps struct {
	// Password is the carrier's password, resolved from the inline
	// value, its environment variable or its file.
	Password string
	Handlers dispatch.Handlers
	Logger   *slog.Logger // the connector adds its component and carrier
}

// Registry maps protocol names to protocols.
type Registry map[string]Protocol

// NewRegistry returns the registry of ps, by name; a name given twice
// panics (a programming error in app's list).
func NewRegistry(ps ...Protocol) Registry {
	r := Registry{}
	for _, p := range ps {
		if _, dup := r[p.Name]; dup {
			panic("carrier: protocol " + p.Name + " registered twice")
		}
		r[p.Name] = p
	}
	return r
}
