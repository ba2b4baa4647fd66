package native_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/carrier"
	carriercmpp "github.com/traffic12123/gateway/internal/carrier/cmpp"
	carriersgip "github.com/traffic12123/gateway/internal/carrier/sgip"
	carriersmgp "github.com/traffic12123/gateway/internal/carrier/smgp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cmpp/ismg"
	"github.com/traffic12123/gateway/pkg/cnsms"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

// handset is what a simulator recorded, protocol aside.
type handset func() []cnsms.HandsetPart[string]

func parts[ID interface{ String() string }](ps []cnsms.HandsetPart[ID]) []cnsms.HandsetPart[string] {
	out := make([]cnsms.HandsetPart[string], len(ps))
	for i, p := range ps {
		out[i] = cnsms.HandsetPart[string]{Account: p.Account, Src: p.Src, Dest: p.Dest, ID: p.ID.String(), Ref: p.Ref, Seq: p.Seq, Total: p.Total}
	}
	return out
}

type sink struct {
	mu       sync.Mutex
	receipts []dispatch.Receipt
	ch       chan struct{}
}

func (s *sink) handlers() dispatch.Handlers {
	return dispatch.Handlers{Receipt: func(_ context.Context, r dispatch.Receipt) error {
		s.mu.Lock()
		s.receipts = append(s.receipts, r)
		s.mu.Unlock()
		s.ch <- struct{}{}
		return nil
	}}
}

// Each native connector, built from a carrier's configuration as app
// builds it, sends a 3-part message through its protocol's simulator:
// first parts 1 and 3 under the message's reference, then part 2 alone
// (the sender's resume); the handset holds one whole message under that
// reference, every part's id is one the handset got, and a receipt comes
// for each id.
func TestConnectors(t *testing.T) {
	text := strings.Repeat("您的机动车检验有效期将至，请及时检验。", 9) // 171 characters: 3 parts
	const dest = "13800138000"
	cases := []struct {
		name  string
		start func(t *testing.T) (config.Carrier, carrier.Protocol, handset)
	}{
		{"cmpp3", func(t *testing.T) (config.Carrier, carrier.Protocol, handset) {
			s, err := ismg.Start(ismg.Config{Accounts: map[string]string{"901234": "pw"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return config.Carrier{Name: "china_mobile", Protocol: "cmpp", Addr: s.Addr(), Source: "1069012123",
					Sections: carriercmpp.Sections(carriercmpp.Section{SourceAddr: "901234", ServiceID: "JTGL"})}, carriercmpp.Protocol,
				func() []cnsms.HandsetPart[string] { return parts(s.Parts()) }
		}},
		{"cmpp2", func(t *testing.T) (config.Carrier, carrier.Protocol, handset) {
			s, err := ismg.Start(ismg.Config{Accounts: map[string]string{"901234": "pw"}, MaxVersion: cmpp.V20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return config.Carrier{Name: "china_mobile", Protocol: "cmpp", Addr: s.Addr(), Source: "1069012123",
					Sections: carriercmpp.Sections(carriercmpp.Section{SourceAddr: "901234", Version: "2.0"})}, carriercmpp.Protocol,
				func() []cnsms.HandsetPart[string] { return parts(s.Parts()) }
		}},
		{"smgp", func(t *testing.T) (config.Carrier, carrier.Protocol, handset) {
			s, err := smgw.Start(smgw.Config{Accounts: map[string]string{"90123456": "pw"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return config.Carrier{Name: "china_telecom", Protocol: "smgp", Addr: s.Addr(), Source: "1069012123",
					Sections: carriersmgp.Sections(carriersmgp.Section{ClientID: "90123456"})}, carriersmgp.Protocol,
				func() []cnsms.HandsetPart[string] { return parts(s.Parts()) }
		}},
		{"sgip", func(t *testing.T) (config.Carrier, carrier.Protocol, handset) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listen := ln.Addr().String()
			ln.Close() // the connector listens there itself
			s, err := smg.Start(smg.Config{Accounts: map[string]string{"sp12123": "pw"}, SPAddr: listen, SPLogin: "unicom", SPPassword: "smgpw"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			t.Setenv("TEST_SMG_PASSWORD", "smgpw")
			return config.Carrier{Name: "china_unicom", Protocol: "sgip", Addr: s.Addr(), Source: "1065512123",
					Sections: carriersgip.Sections(carriersgip.Section{Login: "sp12123", NodeID: 3053112123, Listen: listen,
						SMGLogin: "unicom", SMGPasswordEnv: "TEST_SMG_PASSWORD", SMGAllowed: []string{"127.0.0.1"}})}, carriersgip.Protocol,
				func() []cnsms.HandsetPart[string] {
					ps := parts(s.Parts())
					for i := range ps {
						ps[i].Dest = strings.TrimPrefix(ps[i].Dest, "86")
					}
					return ps
				}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, proto, got := tc.start(t)
			if err := proto.Check(&k, "carriers[0]"); err != nil {
				t.Fatal(err)
			}
			rs := &sink{ch: make(chan struct{}, 8)}
			build := proto.NewBuilder(prometheus.NewRegistry())
			conn, err := build(k, carrier.Deps{Password: "pw", Handlers: rs.handlers(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			rctx, stop := context.WithCancel(ctx)
			go func() { done <- conn.Run(rctx) }()
			defer func() { stop(); <-done }()
			if err := conn.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := conn.Send(ctx, dispatch.SMS{Ref: "m1", Dest: dest, Text: text, ConcatRef: 0x0142, Parts: []int{1, 3}})
			if err != nil || len(res.Outcomes) != 3 || res.ConcatRef != 0x0142 {
				t.Fatalf("send: %v %+v", err, res)
			}
			if res.Outcomes[0].State != dispatch.PartAccepted || res.Outcomes[1].State != dispatch.PartSkipped || res.Outcomes[2].State != dispatch.PartAccepted {
				t.Fatalf("outcomes %+v", res.Outcomes)
			}
			res2, err := conn.Send(ctx, dispatch.SMS{Ref: "m1", Dest: dest, Text: text, ConcatRef: res.ConcatRef, Parts: []int{2}})
			if err != nil || res2.Outcomes[1].State != dispatch.PartAccepted || res2.Outcomes[1].ID == "" {
				t.Fatalf("resume: %v %+v", err, res2)
			}
			ids := map[string]bool{res.Outcomes[0].ID: true, res2.Outcomes[1].ID: true, res.Outcomes[2].ID: true}
			hs := got()
			if len(hs) != 3 {
				t.Fatalf("handset parts %+v", hs)
			}
			for _, p := range hs {
				if !ids[p.ID] || p.Dest != dest || p.Ref != 0x42 || p.Total != 3 {
					t.Errorf("handset part %+v: not one of ids %v under reference 0x42", p, ids)
				}
			}
			for range 3 {
				select {
				case <-rs.ch:
				case <-ctx.Done():
					t.Fatal("receipts missing")
				}
			}
			rs.mu.Lock()
			defer rs.mu.Unlock()
			for _, r := range rs.receipts {
				if !ids[r.MessageID] || r.Stat != "DELIVRD" || r.From != dest {
					t.Errorf("receipt %+v for none of %v", r, ids)
				}
			}
			if conn.BindsUp() < 1 {
				t.Error("no bind up")
			}
		})
	}
}

// Check refuses a section with unknown keys, missing keys and bad values,
// naming where.
func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		proto carrier.Protocol
		k     config.Carrier
		want  []string
	}{
		{"cmpp missing", carriercmpp.Protocol, config.Carrier{Name: "china_mobile", Protocol: "cmpp", Addr: "h:1",
			Sections: carriercmpp.Sections(carriercmpp.Section{Version: "4.0"})},
			[]string{"carriers[0].cmpp.source_addr", "carriers[0].cmpp.version", "carriers[0].source"}},
		{"smgp missing", carriersmgp.Protocol, config.Carrier{Name: "china_telecom", Protocol: "smgp", Addr: "h:1", Source: "10690"},
			[]string{"carriers[0].smgp.client_id"}},
		{"sgip missing", carriersgip.Protocol, config.Carrier{Name: "china_unicom", Protocol: "sgip", Addr: "h:1", Source: "10655",
			Sections: carriersgip.Sections(carriersgip.Section{Login: "sp", Listen: "nonsense", SMGAllowed: []string{"smg.example"}})},
			[]string{"carriers[0].sgip.node_id", "carriers[0].sgip.smg_login", "carriers[0].sgip.listen", "smg_allowed[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.proto.Check(&tc.k, "carriers[0]")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
