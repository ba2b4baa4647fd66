// Package cmpp is the CMPP 3.0/2.0 carrier connector (China Mobile's
// ISMG): it adapts pkg/cmpp's Client to dispatch.Connector and owns the
// cmpp: section of a carrier's configuration. The protocol itself
// (CONNECT and version negotiation, window, flow control, long messages,
// status reports, late answers) is pkg/cmpp's.
package cmpp

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
	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cnsms"
)

// Name is the protocol's name in carriers[].protocol and the key of its
// section.
const Name = "cmpp"

// Protocol registers CMPP with app.
var Protocol = carrier.Protocol{Name: Name, Check: check, NewBuilder: newBuilder, Section: Section{}, Bounds: bounds}

// Section is a carrier's cmpp: section. The carrier's password is the
// shared secret of the CONNECT authenticator; source is Src_Id, the
// number handsets see (the SP access number, e.g. 1069012123).
type Section struct {
	SourceAddr  string          `yaml:"source_addr,omitempty"`   // SP enterprise code (Source_Addr, 6 characters); required
	Version     string          `yaml:"version,omitempty"`       // "3.0" (default) or "2.0"
	Fallback20  bool            `yaml:"fallback_20,omitempty"`   // reconnect with 2.0 when the ISMG answers 3.0 with "version too high"
	ServiceID   string          `yaml:"service_id,omitempty"`    // Service_Id (10), from the carrier
	MsgSrc      string          `yaml:"msg_src,omitempty"`       // Msg_src; default source_addr
	FeeUserType int             `yaml:"fee_user_type,omitempty"` // default 2: the SP's own free messages
	FeeType     string          `yaml:"fee_type,omitempty"`      // default "01" (free)
	FeeCode     string          `yaml:"fee_code,omitempty"`      // default "000000"
	LinkID      string          `yaml:"link_id,omitempty"`       // 3.0 LinkID, when the carrier requires one
	Encoding    string          `yaml:"encoding,omitempty"`      // ucs2 (default) or gb18030 (only where the carrier asks)
	ActiveTest  config.Duration `yaml:"active_test,omitempty"`   // ACTIVE_TEST after this idle time; 0: 30s
	NoReports   bool            `yaml:"no_reports,omitempty"`    // do not ask for status reports (Registered_Delivery 0)
}

var bounds = []config.Bound{
	{Key: "fee_user_type", Max: 3},
	{Key: "active_test", Max: int64(10 * time.Minute), Dur: true},
}

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
	at := where + "." + Name
	errs := native.Required(at, "source_addr", s.SourceAddr)
	if s.Version != "" && s.Version != "3.0" && s.Version != "2.0" {
		errs = append(errs, fmt.Errorf("%s.version: %q (want 3.0 or 2.0)", at, s.Version))
	}
	if k.Source == "" {
		errs = append(errs, fmt.Errorf("%s.source: must be the SP access number (Src_Id) for cmpp", where))
	}
	cc := clientConfig(k, s, "")
	if err := cc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	return errors.Join(errs...)
}

func clientConfig(k *config.Carrier, s Section, secret string) cmpp.Config {
	cc := cmpp.Config{
		Name: k.Name, Addr: k.Addr, SourceAddr: s.SourceAddr, Secret: secret, Version: cmpp.V30, Fallback20: s.Fallback20,
		Conns: k.Binds, Window: k.Window, TPS: float64(k.TPS), RequestTimeout: k.ResponseTimeout.D(), ActiveTest: s.ActiveTest.D(),
		ServiceID: s.ServiceID, SrcID: k.Source, MsgSrc: s.MsgSrc, FeeUserType: byte(s.FeeUserType), FeeType: s.FeeType,
		FeeCode: s.FeeCode, NoReports: s.NoReports, Encoding: cnsms.Encoding(cmp.Or(s.Encoding, string(cnsms.UCS2))), LinkID: s.LinkID,
		HandlerWorkers: cmp.Or(k.ReceiptWorkers, native.DefaultReceiptWorkers),
	}
	if s.Version == "2.0" {
		cc.Version = cmpp.V20
	}
	if s.FeeUserType == 0 {
		cc.FeeUserType = 2
	}
	return cc
}

func newBuilder(reg prometheus.Registerer) carrier.Builder {
	m := cnsms.NewMetrics(reg)
	return func(k config.Carrier, deps carrier.Deps) (dispatch.Connector, error) {
		return New(k, deps, m)
	}
}

// Connector is one CMPP account.
type Connector = native.Connector[cmpp.Message, cmpp.Result]

var _ dispatch.Connector = (*Connector)(nil)

// New returns the connector of carrier k, its metrics on m (shared by
// every carrier of one registry). Nothing connects until Run.
func New(k config.Carrier, deps carrier.Deps, m *cnsms.Metrics) (*Connector, error) {
	where := "carrier " + k.Name
	s, err := decode(&k, where)
	if err != nil {
		return nil, err
	}
	cc := clientConfig(&k, s, deps.Password)
	cc.Logger, cc.Metrics = deps.Logger, m
	conn := &Connector{Classify: cmpp.Classify}
	cb := native.Wire(deps.Handlers, conn,
		func(r cmpp.Receipt) dispatch.Receipt {
			return dispatch.Receipt{MessageID: r.ID, Stat: r.Stat, From: r.Dest}
		},
		func(in cmpp.Incoming) dispatch.Incoming {
			return dispatch.Incoming{From: in.Source, To: in.Dest, Text: in.Text, Parts: in.Parts, Partial: in.Partial}
		},
		func(l cmpp.Late) dispatch.Late {
			return dispatch.Late{Ref: l.Ref, Part: l.Part, Parts: l.Parts, Accepted: l.Result == cmpp.ResultOK, ID: l.ID}
		})
	cc.OnReceipt, cc.OnMessage, cc.OnLate = cb.OnReceipt, cb.OnMessage, cb.OnLate
	c, err := cmpp.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	src := k.Source
	conn.Client = c
	conn.Message = func(m dispatch.SMS) cmpp.Message {
		return cmpp.Message{Dest: m.Dest, Text: m.Text, Ext: native.Extension(m.Source, src), Priority: byte(min(max(m.Priority, 0), 3)),
			Validity: m.Validity, Ref: m.Ref, Resume: native.Resume(m)}
	}
	conn.Result = func(r cmpp.Result) dispatch.SendResult {
		out := dispatch.SendResult{ConcatRef: r.Ref}
		for _, p := range r.Parts {
			out.Outcomes = append(out.Outcomes, native.Outcome(p.Status, p.ID, p.Reason, p.Retryable, p.Err, cmpp.Classify))
		}
		return out
	}
	return conn, nil
}
