// Package native is what the connectors of the protocols built on
// pkg/cnsms (internal/carrier/cmpp, sgip, smgp) share: the translation of
// their clients' results and errors into dispatch's types, a generic
// Connector over such a client, and the strict decoding of a protocol
// section. Each protocol's own keys, rules and field mapping stay in its
// package.
package native

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/cnsms"
)

// DefaultReceiptWorkers is receipt_workers when unset: each report waits
// for its group commit before it is answered, and enough workers per
// connection keep the commits full (as the SMPP connector).
const DefaultReceiptWorkers = 128

// Client is what every cnsms-based client offers.
type Client[M, R any] interface {
	Send(ctx context.Context, m M) (R, error)
	ConnsUp() int
	WaitReady(ctx context.Context) error
	Run(ctx context.Context) error
}

// Connector adapts a Client to dispatch.Connector: Message builds the
// protocol's message from an SMS, Result translates its result, and
// Classify is the protocol's classification of its errors.
type Connector[M, R any] struct {
	Client   Client[M, R]
	Message  func(dispatch.SMS) M
	Result   func(R) dispatch.SendResult
	Classify func(error) (bool, cnsms.Reason)
	ctx      atomic.Pointer[context.Context]
}

// Send submits m (the parts m.Parts names) under m.ConcatRef.
func (c *Connector[M, R]) Send(ctx context.Context, m dispatch.SMS) (dispatch.SendResult, error) {
	res, err := c.Client.Send(ctx, c.Message(m))
	return c.Result(res), Classified(err, c.Classify)
}

// BindsUp is the number of connections logged in now.
func (c *Connector[M, R]) BindsUp() int { return c.Client.ConnsUp() }

// WaitReady waits until a connection is up.
func (c *Connector[M, R]) WaitReady(ctx context.Context) error { return c.Client.WaitReady(ctx) }

// Listen opens the client's listening socket now, when it has one
// (SGIP's, for the SMG's connections): a port in use is then an error at
// start-up. Nothing to do for the others.
func (c *Connector[M, R]) Listen() error {
	if l, ok := c.Client.(interface{ Listen() error }); ok {
		return l.Listen()
	}
	return nil
}

// Run keeps the connections up until ctx ends.
func (c *Connector[M, R]) Run(ctx context.Context) error {
	c.ctx.Store(&ctx)
	return c.Client.Run(ctx)
}

// RunContext is the context Run was given (for callbacks the client
// makes without one, e.g. late answers), or Background before Run.
func (c *Connector[M, R]) RunContext() context.Context {
	if p := c.ctx.Load(); p != nil {
		return *p
	}
	return context.Background()
}

// Classified wraps a protocol error with its classification; the
// Reasons of pkg/cnsms are dispatch's, value for value.
func Classified(err error, classify func(error) (bool, cnsms.Reason)) error {
	if err == nil {
		return nil
	}
	retry, reason := classify(err)
	return &dispatch.CarrierError{Reason: dispatch.Reason(reason), Retry: retry, Err: err}
}

// Outcome translates one part's outcome.
func Outcome(status cnsms.PartStatus, id string, reason cnsms.Reason, retry bool, err error, classify func(error) (bool, cnsms.Reason)) dispatch.PartOutcome {
	o := dispatch.PartOutcome{State: dispatch.PartState(status.String()), ID: id, Reason: dispatch.Reason(reason), Retry: retry,
		Err: Classified(err, classify)}
	if status == cnsms.PartRefused && err != nil {
		o.Code = err.Error()
	}
	if status == cnsms.PartAccepted || status == cnsms.PartSkipped {
		o.Reason, o.Err = "", nil
		if status == cnsms.PartAccepted {
			o.Reason = dispatch.ReasonOK
		}
	}
	return o
}

// Resume is the native clients' Resume for m: its parts under its
// concatenation reference.
func Resume(m dispatch.SMS) *cnsms.Resume {
	return &cnsms.Resume{Ref: m.ConcatRef, Parts: m.Parts}
}

// Sections returns s as a carrier's Sections under name, for code that
// builds a config.Carrier rather than loading one.
func Sections(name string, s any) map[string]yaml.Node {
	var n yaml.Node
	if err := n.Encode(s); err != nil {
		panic(err) // a struct of strings, numbers and bools always encodes
	}
	return map[string]yaml.Node{name: n}
}

// Decode reads k's section (the one its protocol names) into s strictly
// and checks its numeric keys against bounds; where names the carrier.
func Decode(k *config.Carrier, where string, s any, bounds []config.Bound) error {
	n := k.Section()
	at := where + "." + k.ProtocolName()
	if err := config.DecodeSection(n, s, at); err != nil {
		return err
	}
	return errors.Join(config.CheckBounds(n, at, bounds)...)
}

// Required reports each empty value of keys as an error at where.
func Required(where string, keys ...string) []error {
	var errs []error
	for i := 0; i+1 < len(keys); i += 2 {
		if keys[i+1] == "" {
			errs = append(errs, fmt.Errorf("%s.%s: must not be empty", where, keys[i]))
		}
	}
	return errs
}

// Extension is what a message's source adds to the account's number (the
// carrier's source:, the number handsets see): a source under that
// number gives its tail; a source of 12123 plus a province extension,
// under an account number ending in 12123, gives the extension. Any
// other source is not the account's to send from: none.
func Extension(source, account string) string {
	if source == "" || source == account {
		return ""
	}
	if ext, ok := strings.CutPrefix(source, account); ok {
		return ext
	}
	if strings.HasSuffix(account, "12123") {
		if ext, ok := strings.CutPrefix(source, "12123"); ok {
			return ext
		}
	}
	return ""
}

// Callbacks are a protocol client's callbacks: its receipt, incoming
// message and late answer types.
type Callbacks[Rc, In, L any] struct {
	OnReceipt func(context.Context, Rc) error
	OnMessage func(context.Context, In) error
	OnLate    func(L)
}

// Wire translates h into the client's callbacks with the protocol's
// conversions; a nil handler leaves its callback nil (the client acks
// and drops). Late answers come without a context: they get Run's.
func Wire[M, R, Rc, In, L any](h dispatch.Handlers, conn *Connector[M, R], receipt func(Rc) dispatch.Receipt,
	incoming func(In) dispatch.Incoming, late func(L) dispatch.Late) Callbacks[Rc, In, L] {
	var cb Callbacks[Rc, In, L]
	if h.Receipt != nil {
		cb.OnReceipt = func(ctx context.Context, r Rc) error { return h.Receipt(ctx, receipt(r)) }
	}
	if h.Incoming != nil {
		cb.OnMessage = func(ctx context.Context, in In) error { return h.Incoming(ctx, incoming(in)) }
	}
	if h.Late != nil {
		cb.OnLate = func(l L) { h.Late(conn.RunContext(), late(l)) }
	}
	return cb
}
