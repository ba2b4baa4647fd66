// Package smgp is the SMGP 3.0 carrier connector (China Telecom's
// SMGW): it adapts pkg/smgp's Client to dispatch.Connector and owns the
// smgp: section of a carrier's configuration. The protocol itself is
// pkg/smgp's.
package smgp

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/carrier/native"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/smgp"
)

// Name is the protocol's name in carriers[].protocol and the key of its
// section.
const Name = "smgp"

// Protocol registers SMGP with app.
var Protocol = carrier.Protocol{Name: Name, Check: check, NewBuilder: newBuilder, Section: Section{}, Bounds: bounds}

// Section is a carrier's smgp: section. The carrier's password is the
// shared secret of the Login authenticator; source is SrcTermID, the
// number handsets see.
type Section struct {
	ClientID     string          `yaml:"client_id,omitempty"`      // login name (8 characters); required
	ServiceID    string          `yaml:"service_id,omitempty"`     // ServiceID (10), from the carrier
	ChargeTermID string          `yaml:"charge_term_id,omitempty"` // default "": the SP pays
	FeeType      string          `yaml:"fee_type,omitempty"`       // default "00" (free)
	FeeCode      string          `yaml:"fee_code,omitempty"`       // default "000000"
	FixedFee     string          `yaml:"fixed_fee,omitempty"`      // default "000000"
	LinkID       string          `yaml:"link_id,omitempty"`        // LinkID TLV, when the carrier requires one
	MsgSrc       string          `yaml:"msg_src,omitempty"`        // MsgSrc TLV (SP id), when the carrier requires one
	Encoding     string          `yaml:"encoding,omitempty"`       // ucs2 (default) or gb18030
	ActiveTest   config.Duration `yaml:"active_test,omitempty"`    // Active_Test after this idle time; 0: 30s
	NoReports    bool            `yaml:"no_reports,omitempty"`     // NeedReport 0
}

var bounds = []config.Bound{{Key: "active_test", Max: int64(10 * time.Minute), Dur: true}}

// Sections returns s as a carrier's Sections.
func Sections(s Section) map[string]yaml.Node { return native.Sections(Name, s) }

func decode(k *config.Carrier, where string) (Section, error) {
	var s Section
	return s, native.Decode(k, where, &s, bounds)
}

func check(k *config.Carrier, where string) error {
	s, err := decode(k, where)
	if err != nil {
		return err
	}
	errs := native.Required(where+"."+Name, "client_id", s.ClientID)
	if k.Source == "" {
		errs = append(errs, fmt.Errorf("%s.source: must be the SP access number (SrcTermID) for smgp", where))
	}
	cc := clientConfig(k, s, "")
	if err := cc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	return errors.Join(errs...)
}

func clientConfig(k *config.Carrier, s Section, secret string) smgp.Config {
	return smgp.Config{
		Name: k.Name, Addr: k.Addr, ClientID: s.ClientID, Secret: secret, LoginMode: smgp.ModeTransmit,
		Conns: k.Binds, Window: k.Window, TPS: float64(k.TPS), RequestTimeout: k.ResponseTimeout.D(), ActiveTest: s.ActiveTest.D(),
		ServiceID: s.ServiceID, SrcTermID: k.Source, ChargeTermID: s.ChargeTermID, FeeType: s.FeeType, FeeCode: s.FeeCode,
		FixedFee: s.FixedFee, NoReports: s.NoReports, Encoding: cnsms.Encoding(cmp.Or(s.Encoding, string(cnsms.UCS2))),
		LinkID: s.LinkID, MsgSrc: s.MsgSrc, HandlerWorkers: cmp.Or(k.ReceiptWorkers, native.DefaultReceiptWorkers),
	}
}

func newBuilder(reg prometheus.Registerer) carrier.Builder {
	m := cnsms.NewMetrics(reg)
	return func(k config.Carrier, deps carrier.Deps) (dispatch.Connector, error) {
		return New(k, deps, m)
	}
}

// Connector is one SMGP account.
type Connector = native.Connector[smgp.Message, smgp.Result]

var _ dispatch.Connector = (*Connector)(nil)

// New returns the connector of carrier k, its metrics on m. Nothing
// connects until Run.
func New(k config.Carrier, deps carrier.Deps, m *cnsms.Metrics) (*Connector, error) {
	where := "carrier " + k.Name
	s, err := decode(&k, where)
	if err != nil {
		return nil, err
	}
	cc := clientConfig(&k, s, deps.Password)
	cc.Logger, cc.Metrics = deps.Logger, m
	conn := &Connector{Classify: smgp.Classify}
	cb := native.Wire(deps.Handlers, conn,
		func(r smgp.Receipt) dispatch.Receipt {
			return dispatch.Receipt{MessageID: r.ID, Stat: r.Stat, Err: r.Err, From: r.Dest}
		},
		func(in smgp.Incoming) dispatch.Incoming {
			return dispatch.Incoming{From: in.Source, To: in.Dest, Text: in.Text, Parts: in.Parts, Partial: in.Partial}
		},
		func(l smgp.Late) dispatch.Late {
			return dispatch.Late{Ref: l.Ref, Part: l.Part, Parts: l.Parts, Accepted: l.Status == smgp.StatusOK, ID: l.ID}
		})
	cc.OnReceipt, cc.OnMessage, cc.OnLate = cb.OnReceipt, cb.OnMessage, cb.OnLate
	c, err := smgp.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	src := k.Source
	conn.Client = c
	conn.Message = func(m dispatch.SMS) smgp.Message {
		return smgp.Message{Dest: m.Dest, Text: m.Text, Ext: native.Extension(m.Source, src), Priority: byte(min(max(m.Priority, 0), 3)),
			Validity: m.Validity, Ref: m.Ref, Resume: native.Resume(m)}
	}
	conn.Result = func(r smgp.Result) dispatch.SendResult {
		out := dispatch.SendResult{ConcatRef: r.Ref}
		for _, p := range r.Parts {
			out.Outcomes = append(out.Outcomes, native.Outcome(p.Status, p.ID, p.Reason, p.Retryable, p.Err, smgp.Classify))
		}
		return out
	}
	return conn, nil
}
