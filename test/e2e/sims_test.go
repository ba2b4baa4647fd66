package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	carriercmpp "github.com/traffic12123/gateway/internal/carrier/cmpp"
	carriersgip "github.com/traffic12123/gateway/internal/carrier/sgip"
	carriersmgp "github.com/traffic12123/gateway/internal/carrier/smgp"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cmpp/ismg"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// The protocols the fault suite runs.
const (
	protoSMPP  = "SMPP"
	protoCMPP3 = "CMPP3.0"
	protoCMPP2 = "CMPP2.0"
	protoSGIP  = "SGIP"
	protoSMGP  = "SMGP"
)

// acceptedPart is a part a simulator accepted; OnHandset: the handset got
// it (its outcome, the stat of its receipt, is not a failure).
type acceptedPart struct {
	Dest, MessageID string
	Seq, Total      int
	Ref             uint16
	OnHandset       bool
	Stat            string    // its outcome (SMPP only; for messages)
	Time            time.Time // when the simulator took it (SMPP only)
}

// carrierSim is one carrier's simulator, whatever its protocol: the
// carrier's configuration to reach it, and its handset record.
type carrierSim struct {
	carrier    config.Carrier
	parts      func() []acceptedPart
	sharedRefs func() int // part keys shared by messages at different times (log only)
	stats      func() string
}

// startSims starts one simulator per carrier speaking protocol, with
// faults (those the protocol's simulator has) and tps per connection.
func startSims(t *testing.T, protocol string, seed int64, tps int, f smsc.Faults) map[string]*carrierSim {
	t.Helper()
	sims := map[string]*carrierSim{}
	for i, name := range carriers {
		k := config.Carrier{Name: name, Password: "e2e", Binds: 2, Window: 64, ResponseTimeout: config.Duration(time.Second)}
		s := seed*10 + int64(i)
		var cs *carrierSim
		switch protocol {
		case protoSMPP:
			cs = smppSim(t, k, s, i, tps, f)
		case protoCMPP3, protoCMPP2:
			cs = cmppSim(t, k, s, tps, f, protocol == protoCMPP2)
		case protoSMGP:
			cs = smgpSim(t, k, s, tps, f)
		case protoSGIP:
			cs = sgipSim(t, k, s, tps, f)
		default:
			t.Fatalf("protocol %s", protocol)
		}
		sims[name] = cs
	}
	return sims
}

func smppSim(t *testing.T, k config.Carrier, seed int64, i, tps int, f smsc.Faults) *carrierSim {
	s := smsc.New(smsc.Config{
		Name: k.Name, SystemID: "12123", Password: "e2e", ReceiptDelay: 200 * time.Millisecond, Seed: seed,
		IDFormat: idFormats[i], Outcomes: map[string]float64{"DELIVRD": 0.9, "UNDELIV": 0.1}, TPS: tps,
		MaxRedeliveries: 1000, RedeliveryDelay: 200 * time.Millisecond, MaxRecords: 1_000_000, Faults: f,
	})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k.Addr = s.Addr()
	k.Sections = carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(5 * time.Second)})
	return &carrierSim{carrier: k,
		parts: func() []acceptedPart {
			var out []acceptedPart
			for _, sub := range s.Submits() {
				if sub.Status == smsc.StatusOK {
					out = append(out, acceptedPart{Dest: sub.Dest, MessageID: sub.MessageID, Seq: sub.Seq, Total: sub.Total, Ref: sub.Ref,
						OnHandset: sub.OnHandset(), Stat: sub.Stat, Time: sub.Time})
				}
			}
			return out
		},
		sharedRefs: func() int {
			n := 0
			for k, c := range s.Received() {
				// (parts on the handset only) A reference is 8 bits: two messages to one phone at
				// different times may share one.
				if c > 1 && k.Total > 1 {
					n++
				}
			}
			return n
		},
		stats: func() string {
			x := s.Stats()
			return fmt.Sprintf("%d submits, %d throttled, %d late, %d unbinds, %d id restarts, %d receipts lost",
				x.Submits, x.Throttled, x.Late, x.Unbinds, x.IDRestarts, x.Lost)
		},
	}
}

// nativeParts converts a cnsms simulator's part log.
func nativeParts[ID fmt.Stringer](ps []cnsms.HandsetPart[ID]) []acceptedPart {
	out := make([]acceptedPart, len(ps))
	for i, p := range ps {
		out[i] = acceptedPart{Dest: p.Dest, MessageID: p.ID.String(), Seq: int(p.Seq), Total: int(p.Total), Ref: p.Ref,
			OnHandset: !p.Undelivered}
		if p.Total <= 1 {
			out[i].Seq, out[i].Total = 0, 0 // as smsc records a single message
		}
	}
	return out
}

func nativeSharedRefs[ID any](ps []cnsms.HandsetPart[ID]) int {
	type key struct {
		dest  string
		ref   uint16
		total uint8
		seq   uint8
	}
	seen := map[key]int{}
	n := 0
	for _, p := range ps {
		if p.Total > 1 {
			k := key{p.Dest, p.Ref, p.Total, p.Seq}
			seen[k]++
			if seen[k] == 2 {
				n++
			}
		}
	}
	return n
}

func cmppSim(t *testing.T, k config.Carrier, seed int64, tps int, f smsc.Faults, v20 bool) *carrierSim {
	cfg := ismg.Config{Accounts: map[string]string{"901234": "e2e"}, ReceiptDelay: 200 * time.Millisecond, Seed: uint64(seed),
		ThrottleFraction: f.Throttle, TPS: float64(tps), LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts,
		IDRepeatAfter: f.RestartIDsEvery, DuplicateReports: f.DuplicateReceipts, ReportFirst: f.ReceiptFirst, UnbindAfter: f.UnbindAfter,
		ReportMaxAttempts: 1000}
	sec := carriercmpp.Section{SourceAddr: "901234", ServiceID: "JTGL", ActiveTest: config.Duration(5 * time.Second)}
	if v20 {
		cfg.MaxVersion, sec.Version = cmpp.V20, "2.0"
	}
	s, err := ismg.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k.Protocol, k.Addr, k.Source, k.Window = carriercmpp.Name, s.Addr(), "1069012123", 16
	k.Sections = carriercmpp.Sections(sec)
	return &carrierSim{carrier: k,
		parts:      func() []acceptedPart { return nativeParts(s.Parts()) },
		sharedRefs: func() int { return nativeSharedRefs(s.Parts()) },
		stats:      func() string { return fmt.Sprintf("%+v", s.Stats()) },
	}
}

func smgpSim(t *testing.T, k config.Carrier, seed int64, tps int, f smsc.Faults) *carrierSim {
	s, err := smgw.Start(smgw.Config{Accounts: map[string]string{"90123456": "e2e"}, ReceiptDelay: 200 * time.Millisecond, Seed: uint64(seed),
		BusyFraction: f.Throttle, TPS: float64(tps), LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts,
		IDRepeatAfter: f.RestartIDsEvery, DuplicateReports: f.DuplicateReceipts, ReportFirst: f.ReceiptFirst, UnbindAfter: f.UnbindAfter,
		ReportMaxAttempts: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k.Protocol, k.Addr, k.Source, k.Window = carriersmgp.Name, s.Addr(), "1069012123", 16
	k.Sections = carriersmgp.Sections(carriersmgp.Section{ClientID: "90123456", ActiveTest: config.Duration(5 * time.Second)})
	return &carrierSim{carrier: k,
		parts:      func() []acceptedPart { return nativeParts(s.Parts()) },
		sharedRefs: func() int { return nativeSharedRefs(s.Parts()) },
		stats:      func() string { return fmt.Sprintf("%+v", s.Stats()) },
	}
}

func sgipSim(t *testing.T, k config.Carrier, seed int64, tps int, f smsc.Faults) *carrierSim {
	listen := freeAddr(t) // the gateway's listener for the SMG's connections
	s, err := smg.Start(smg.Config{Accounts: map[string]string{"sp12123": "e2e"}, SPAddr: listen, SPLogin: "unicom", SPPassword: "e2e-smg",
		ReportDelay: 200 * time.Millisecond, Seed: uint64(seed), BusyFraction: f.Throttle, TPS: float64(tps),
		LateFraction: f.Late, LateDelay: f.LateBy, NoReportFraction: f.LoseReceipts,
		DuplicateReports: f.DuplicateReceipts, ReportFirst: f.ReceiptFirst, UnbindAfter: f.UnbindAfter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	k.Protocol, k.Addr, k.Source, k.Window = carriersgip.Name, s.Addr(), "1065512123", 16
	k.Sections = carriersgip.Sections(carriersgip.Section{Login: "sp12123", NodeID: 3053112123, Listen: listen,
		SMGLogin: "unicom", SMGPassword: "e2e-smg", SMGAllowed: []string{"127.0.0.1"}})
	return &carrierSim{carrier: k,
		parts: func() []acceptedPart {
			ps := nativeParts(s.Parts())
			for i := range ps {
				ps[i].Dest = strings.TrimPrefix(ps[i].Dest, "86")
			}
			return ps
		},
		sharedRefs: func() int { return nativeSharedRefs(s.Parts()) },
		stats:      func() string { return fmt.Sprintf("%+v", s.Stats()) },
	}
}
