// Package smpp is the SMPP 3.4 carrier connector: it adapts pkg/smpp's
// Client to dispatch.Connector and owns the smpp: section of a carrier's
// configuration. The protocol itself (binds, window, throttling, long
// messages, receipts, late responses) is pkg/smpp's; this package only
// translates configuration, results and callbacks.
package smpp

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/smpp"
)

// Name is the protocol's name in carriers[].protocol and the key of its
// section.
const Name = "smpp"

// Protocol registers SMPP with app.
var Protocol = carrier.Protocol{Name: Name, Check: check, NewBuilder: newBuilder, Section: Section{}, Bounds: bounds}

// DefaultReceiptWorkers is receipt_workers when unset: each receipt
// waits for its group commit before deliver_sm_resp, and enough workers
// per bind keep the commits full (4 capped the whole gateway at ~550
// msg/s in bench/smsbench).
const DefaultReceiptWorkers = 128

// Section is a carrier's smpp: section: what only SMPP has.
type Section struct {
	SystemID      string          `yaml:"system_id,omitempty"`      // the account (bind system_id); required
	SystemType    string          `yaml:"system_type,omitempty"`    // bind system_type, if the SMSC wants one
	BindType      string          `yaml:"bind_type,omitempty"`      // transceiver (default), transmitter, receiver
	ReceiverBinds int             `yaml:"receiver_binds,omitempty"` // extra receiver-only binds, for SMSCs that send receipts only there
	Concat        string          `yaml:"concat,omitempty"`         // long messages: udh (8-bit reference, default), sar (TLVs) or payload (message_payload)
	EnquireLink   config.Duration `yaml:"enquire_link,omitempty"`   // keep-alive interval; 0: pkg/smpp's default
	TLS           bool            `yaml:"tls,omitempty"`            // SMPP over TLS
	TLSCAFile     string          `yaml:"tls_ca_file,omitempty"`    // PEM roots for the SMSC's certificate; empty: the system's
	TLSSkipVerify bool            `yaml:"tls_insecure_skip_verify,omitempty"`
}

// bounds are the section's numeric keys and their limits.
var bounds = []config.Bound{
	{Key: "receiver_binds", Max: 64},
	{Key: "enquire_link", Max: int64(10 * time.Minute), Dur: true},
}

// Sections returns s as a carrier's Sections, for code that builds a
// config.Carrier rather than loading one.
func Sections(s Section) map[string]yaml.Node {
	var n yaml.Node
	if err := n.Encode(s); err != nil {
		panic(err) // a struct of strings, numbers and bools always encodes
	}
	return map[string]yaml.Node{Name: n}
}

// decode reads k's section strictly.
func decode(k *config.Carrier, where string) (Section, error) {
	var s Section
	n := k.Section()
	if err := config.DecodeSection(n, &s, where+"."+Name); err != nil {
		return s, err
	}
	return s, errors.Join(config.CheckBounds(n, where+"."+Name, bounds)...)
}

// check validates a carrier of this protocol without connecting or
// reading secrets: the section, then pkg/smpp's own checks.
func check(k *config.Carrier, where string) error {
	s, err := decode(k, where)
	if err != nil {
		return err
	}
	var errs []error
	if s.SystemID == "" {
		errs = append(errs, fmt.Errorf("%s.%s.system_id: must not be empty", where, Name))
	}
	if s.TLSCAFile != "" && !s.TLS {
		errs = append(errs, fmt.Errorf("%s.%s.tls_ca_file: set without tls: true", where, Name))
	}
	cc := clientConfig(k, s, "")
	if err := cc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	return errors.Join(errs...)
}

// clientConfig is pkg/smpp's configuration of carrier k, callbacks,
// logger, metrics and dialer aside.
func clientConfig(k *config.Carrier, s Section, password string) smpp.Config {
	cc := smpp.Config{
		Name: k.Name, Addr: k.Addr, SystemID: s.SystemID, Password: password, SystemType: s.SystemType,
		Mode: smpp.DefaultBindMode, Binds: k.Binds, ReceiverBinds: s.ReceiverBinds, Window: k.Window, TPS: float64(k.TPS),
		HandlerWorkers: cmp.Or(k.ReceiptWorkers, DefaultReceiptWorkers),
		Concat:         smpp.Concat(cmp.Or(s.Concat, string(smpp.DefaultConcat))),
		RequestTimeout: k.ResponseTimeout.D(), EnquireLink: s.EnquireLink.D(),
		Source: k.Source,
	}
	if s.BindType != "" {
		cc.Mode = smpp.BindMode(s.BindType)
	}
	return cc
}

func newBuilder(reg prometheus.Registerer) carrier.Builder {
	m := smpp.NewMetrics(reg)
	return func(k config.Carrier, deps carrier.Deps) (dispatch.Connector, error) {
		return New(k, deps, m)
	}
}

// New returns the connector of carrier k, its metrics on m (shared by
// every SMPP carrier of one registry). Nothing connects until Run.
func New(k config.Carrier, deps carrier.Deps, m *smpp.Metrics) (*Connector, error) {
	where := "carrier " + k.Name
	s, err := decode(&k, where)
	if err != nil {
		return nil, err
	}
	cc := clientConfig(&k, s, deps.Password)
	cc.Logger, cc.Metrics = deps.Logger, m // the client adds component and carrier
	SetHandlers(&cc, deps.Handlers)
	if s.TLS {
		tc := &tls.Config{InsecureSkipVerify: s.TLSSkipVerify, ServerName: hostOf(k.Addr)}
		if s.TLSCAFile != "" {
			pem, err := os.ReadFile(s.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no certificates in %s", where, s.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		cc.Dial = (&tls.Dialer{Config: tc}).DialContext
	}
	c, err := smpp.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return Wrap(c), nil
}

// SetHandlers sets cfg's callbacks to h's, translated; nil ones stay nil.
func SetHandlers(cfg *smpp.Config, h dispatch.Handlers) {
	if h.Receipt != nil {
		cfg.OnReceipt = func(ctx context.Context, r smpp.Receipt) error { return h.Receipt(ctx, receipt(&r)) }
	}
	if h.Incoming != nil {
		cfg.OnMessage = func(ctx context.Context, m smpp.Incoming) error { return h.Incoming(ctx, incoming(&m)) }
	}
	if h.Late != nil {
		cfg.OnLate = func(ctx context.Context, l smpp.Late) { h.Late(ctx, late(l)) }
	}
}

// Wrap adapts a client built elsewhere (its callbacks set with
// SetHandlers) to dispatch.Connector.
func Wrap(c *smpp.Client) *Connector { return &Connector{c: c} }

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// Connector is one SMPP carrier account.
type Connector struct{ c *smpp.Client }

var _ dispatch.Connector = (*Connector)(nil)

// Client is the pkg/smpp client underneath, for tests and tools.
func (c *Connector) Client() *smpp.Client { return c.c }

// BindsUp is the number of binds up now.
func (c *Connector) BindsUp() int { return c.c.BindsUp() }

// WaitReady waits until a bind is up.
func (c *Connector) WaitReady(ctx context.Context) error { return c.c.WaitReady(ctx) }

// Run keeps the binds up until ctx ends.
func (c *Connector) Run(ctx context.Context) error { return c.c.Run(ctx) }

// Send submits m (the parts m.Parts names) under m.ConcatRef.
func (c *Connector) Send(ctx context.Context, m dispatch.SMS) (dispatch.SendResult, error) {
	res, err := c.c.Send(ctx, smpp.Message{
		Ref:      m.Ref,
		Source:   m.Source,
		Dest:     m.Dest,
		Text:     m.Text,
		Validity: m.Validity,
		Priority: byte(min(max(m.Priority, 0), 3)),
		Resume:   &smpp.Resume{Ref: m.ConcatRef, Parts: m.Parts},
	})
	return result(res), classified(err)
}

// result translates a pkg/smpp result.
func result(res smpp.Result) dispatch.SendResult {
	out := dispatch.SendResult{ConcatRef: res.Ref}
	if len(res.Outcomes) > 0 {
		out.Outcomes = make([]dispatch.PartOutcome, len(res.Outcomes))
	}
	for i, o := range res.Outcomes {
		p := dispatch.PartOutcome{State: dispatch.PartState(o.Outcome), ID: o.ID, Reason: dispatch.Reason(o.Reason), Retry: o.Retry, Err: classified(o.Err)}
		if o.Outcome == smpp.PartRefused {
			p.Code = o.Status.String()
		}
		out.Outcomes[i] = p
	}
	return out
}

// classified wraps a pkg/smpp error with its classification
// (smpp.Classify; its Reasons are dispatch's, value for value).
func classified(err error) error {
	if err == nil {
		return nil
	}
	retry, reason := smpp.Classify(err)
	return &dispatch.CarrierError{Reason: dispatch.Reason(reason), Retry: retry, Err: err}
}

func receipt(r *smpp.Receipt) dispatch.Receipt {
	return dispatch.Receipt{MessageID: r.MessageID, Stat: r.Stat, Err: r.Err, From: r.Source.Addr, Text: r.Text}
}

func incoming(m *smpp.Incoming) dispatch.Incoming {
	return dispatch.Incoming{From: m.Source.Addr, To: m.Dest.Addr, Text: m.Text, Parts: m.Parts, Partial: m.Partial}
}

func late(l smpp.Late) dispatch.Late {
	return dispatch.Late{Ref: l.Ref, Part: l.Part, Parts: l.Parts, Accepted: l.Status == smpp.StatusOK, ID: l.MessageID}
}
