// Package sgip is the SGIP 1.2 carrier connector (China Unicom's SMG):
// it adapts pkg/sgip's Client to dispatch.Connector and owns the sgip:
// section of a carrier's configuration. SGIP runs both ways: the gateway
// binds to the SMG to submit (login type 1), and the SMG binds to the
// gateway's listener (login type 2) to deliver status reports and MO
// messages, so the section names that listener and what the SMG must
// bind with. The protocol itself is pkg/sgip's.
package sgip

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/carrier"
	"github.com/traffic12123/gateway/internal/carrier/native"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/sgip"
)

// Name is the protocol's name in carriers[].protocol and the key of its
// section.
const Name = "sgip"

// Protocol registers SGIP with app.
var Protocol = carrier.Protocol{Name: Name, Check: check, NewBuilder: newBuilder, Section: Section{}, Bounds: bounds}

// Section is a carrier's sgip: section. The carrier's password is our
// login password at the SMG; source is SPNumber, the number handsets see.
type Section struct {
	Login  string `yaml:"login,omitempty"`   // our login name at the SMG; required
	NodeID uint32 `yaml:"node_id,omitempty"` // our node id (3 + area code + corp id, from the carrier); required
	// Listen is where the SMG connects to us with reports and MO (login
	// type 2), e.g. ":8802"; it must be reachable from the SMG's
	// addresses and is what the carrier is told. Required.
	Listen string `yaml:"listen,omitempty"`
	// SMGLogin and the SMG's password (smg_password_env, _file or, not
	// recommended, inline) are what the SMG must bind with.
	SMGLogin        string   `yaml:"smg_login,omitempty"`
	SMGPassword     string   `yaml:"smg_password,omitempty"`
	SMGPasswordEnv  string   `yaml:"smg_password_env,omitempty"`
	SMGPasswordFile string   `yaml:"smg_password_file,omitempty"`
	SMGAllowed      []string `yaml:"smg_allowed,omitempty"` // IP addresses the SMG connects from; empty: any (allow-list it in the firewall then)

	CorpID           string `yaml:"corp_id,omitempty"`            // CorpId (5), from the carrier
	ServiceType      string `yaml:"service_type,omitempty"`       // ServiceType (10), from the carrier
	ChargeNumber     string `yaml:"charge_number,omitempty"`      // default 21 zeros: the SP pays
	FeeType          int    `yaml:"fee_type,omitempty"`           // default 1 (free)
	FeeValue         string `yaml:"fee_value,omitempty"`          // default "0"
	MorelatetoMTFlag int    `yaml:"morelateto_mt_flag,omitempty"` // default 2 (not caused by an MO)
	DestPrefix       string `yaml:"dest_prefix,omitempty"`        // default "86", before 11-digit user numbers
	Encoding         string `yaml:"encoding,omitempty"`           // ucs2 (default) or gb18030
	NoReports        bool   `yaml:"no_reports,omitempty"`         // ReportFlag 2
}

var bounds = []config.Bound{
	{Key: "node_id", Max: 1<<32 - 1},
	{Key: "fee_type", Max: 255},
	{Key: "morelateto_mt_flag", Max: 3},
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
	errs := native.Required(at, "login", s.Login, "listen", s.Listen, "smg_login", s.SMGLogin)
	if s.NodeID == 0 {
		errs = append(errs, fmt.Errorf("%s.node_id: required (the carrier assigns it)", at))
	}
	if s.Listen != "" {
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s.listen: %w", at, err))
		}
	}
	for i, a := range s.SMGAllowed {
		if net.ParseIP(a) == nil {
			errs = append(errs, fmt.Errorf("%s.smg_allowed[%d]: %q is not an IP address", at, i, a))
		}
	}
	if k.Source == "" {
		errs = append(errs, fmt.Errorf("%s.source: must be the SP number (SPNumber) for sgip", where))
	}
	cc := clientConfig(k, s, "", "")
	if err := cc.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	return errors.Join(errs...)
}

func clientConfig(k *config.Carrier, s Section, password, smgPassword string) sgip.Config {
	cc := sgip.Config{
		Name: k.Name, Addr: k.Addr, Login: s.Login, Password: password, NodeID: s.NodeID,
		ListenAddr: s.Listen, SMGLogin: s.SMGLogin, SMGPassword: smgPassword, SMGAllowed: s.SMGAllowed,
		Conns: k.Binds, Window: k.Window, TPS: float64(k.TPS), RequestTimeout: k.ResponseTimeout.D(),
		SPNumber: k.Source, ChargeNumber: s.ChargeNumber, CorpID: s.CorpID, ServiceType: s.ServiceType,
		FeeType: byte(s.FeeType), FeeValue: s.FeeValue, MorelatetoMTFlag: byte(s.MorelatetoMTFlag), NoReports: s.NoReports,
		DestPrefix: s.DestPrefix, Encoding: cnsms.Encoding(cmp.Or(s.Encoding, string(cnsms.UCS2))),
		HandlerWorkers: cmp.Or(k.ReceiptWorkers, native.DefaultReceiptWorkers),
	}
	return cc
}

func newBuilder(reg prometheus.Registerer) carrier.Builder {
	m := cnsms.NewMetrics(reg)
	return func(k config.Carrier, deps carrier.Deps) (dispatch.Connector, error) {
		return New(k, deps, m)
	}
}

// Connector is one SGIP account: binds out and the SMG's binds in.
type Connector = native.Connector[sgip.Message, sgip.Result]

var _ dispatch.Connector = (*Connector)(nil)

// New returns the connector of carrier k, its metrics on m. Nothing
// connects or listens until Run.
func New(k config.Carrier, deps carrier.Deps, m *cnsms.Metrics) (*Connector, error) {
	where := "carrier " + k.Name
	s, err := decode(&k, where)
	if err != nil {
		return nil, err
	}
	smgPW, err := config.ResolveSecret(k.Name+" smg_password", s.SMGPassword, s.SMGPasswordEnv, s.SMGPasswordFile)
	if err != nil {
		return nil, err
	}
	cc := clientConfig(&k, s, deps.Password, smgPW)
	cc.Logger, cc.Metrics = deps.Logger, m
	conn := &Connector{Classify: sgip.Classify}
	cb := native.Wire(deps.Handlers, conn,
		func(r sgip.Receipt) dispatch.Receipt {
			return dispatch.Receipt{MessageID: r.ID, Stat: r.Stat, Err: strconv.Itoa(int(r.ErrorCode)), From: r.Dest}
		},
		func(in sgip.Incoming) dispatch.Incoming {
			return dispatch.Incoming{From: in.Source, To: in.Dest, Text: in.Text, Parts: in.Parts, Partial: in.Partial}
		},
		func(l sgip.Late) dispatch.Late {
			return dispatch.Late{Ref: l.Ref, Part: l.Part, Parts: l.Parts, Accepted: l.Result == sgip.ResultOK, ID: l.ID}
		})
	cc.OnReceipt, cc.OnMessage, cc.OnLate = cb.OnReceipt, cb.OnMessage, cb.OnLate
	c, err := sgip.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	src := k.Source
	conn.Client = c
	conn.Message = func(m dispatch.SMS) sgip.Message {
		return sgip.Message{Dest: m.Dest, Text: m.Text, Ext: native.Extension(m.Source, src), Priority: byte(min(max(m.Priority, 0), 3)),
			Ref: m.Ref, Resume: native.Resume(m)}
	}
	conn.Result = func(r sgip.Result) dispatch.SendResult {
		out := dispatch.SendResult{ConcatRef: r.Ref}
		for _, p := range r.Parts {
			out.Outcomes = append(out.Outcomes, native.Outcome(p.Status, p.ID, p.Reason, p.Retryable, p.Err, sgip.Classify))
		}
		return out
	}
	return conn, nil
}
