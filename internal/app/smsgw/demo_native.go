package smsgw

import (
	"fmt"
	"log/slog"
	"time"

	carriercmpp "github.com/traffic12123/gateway/internal/carrier/cmpp"
	carriersgip "github.com/traffic12123/gateway/internal/carrier/sgip"
	carriersmgp "github.com/traffic12123/gateway/internal/carrier/smgp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/loopback"
	"github.com/traffic12123/gateway/pkg/cmpp/ismg"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

// NativeProtocols are the carriers `smsgw demo --native` runs on their
// own protocols: China Mobile on CMPP 3.0, Unicom on SGIP 1.2, Telecom on
// SMGP 3.0 (Broadnet stays on SMPP).
var NativeProtocols = map[string]string{
	"china_mobile":  carriercmpp.Name,
	"china_unicom":  carriersgip.Name,
	"china_telecom": carriersmgp.Name,
}

// demoSim is a simulator the demo started: its carrier entry, what it
// accepted so far, and how to stop it.
type demoSim struct {
	carrier config.Carrier
	submits func() int64
	close   func() error
}

// nativeSim starts the simulator of carrier name's native protocol on
// loopback and returns its carrier configuration. The demo's accounts:
// CMPP SP code 901234, SMGP client 90123456, SGIP login sp12123 with node
// id 3053112123; every one's number is 10690 + 12123.
func nativeSim(name string, receiptDelay time.Duration, seed int64, log *slog.Logger) (*demoSim, error) {
	const number = "1069012123"
	common := config.Carrier{Name: name, Protocol: NativeProtocols[name], Password: "demo", Binds: 2, Window: 16,
		Source: number, ResponseTimeout: config.Duration(10 * time.Second)}
	log = log.With("carrier", name)
	switch NativeProtocols[name] {
	case carriercmpp.Name:
		s, err := ismg.Start(ismg.Config{Accounts: map[string]string{"901234": "demo"}, ReceiptDelay: receiptDelay, Seed: uint64(seed), Logger: log})
		if err != nil {
			return nil, err
		}
		common.Addr = s.Addr()
		common.Sections = carriercmpp.Sections(carriercmpp.Section{SourceAddr: "901234", ServiceID: "JTGL12123"})
		return &demoSim{carrier: common, submits: func() int64 { return s.Stats().Submits }, close: s.Close}, nil
	case carriersmgp.Name:
		s, err := smgw.Start(smgw.Config{Accounts: map[string]string{"90123456": "demo"}, ReceiptDelay: receiptDelay, Seed: uint64(seed), Logger: log})
		if err != nil {
			return nil, err
		}
		common.Addr = s.Addr()
		common.Sections = carriersmgp.Sections(carriersmgp.Section{ClientID: "90123456", ServiceID: "JTGL12123"})
		return &demoSim{carrier: common, submits: func() int64 { return s.Stats().Submits }, close: s.Close}, nil
	case carriersgip.Name:
		// The SMG connects back to our listener: give it a free port,
		// one that no outgoing connection takes before the gateway
		// binds it.
		listen, err := loopback.FreeAddr("tcp")
		if err != nil {
			return nil, err
		}
		s, err := smg.Start(smg.Config{Accounts: map[string]string{"sp12123": "demo"}, SPAddr: listen, SPLogin: "unicom",
			SPPassword: "demo-smg", ReportDelay: receiptDelay, Seed: uint64(seed), Logger: log})
		if err != nil {
			return nil, err
		}
		common.Addr = s.Addr()
		common.Sections = carriersgip.Sections(carriersgip.Section{Login: "sp12123", NodeID: 3053112123, Listen: listen,
			SMGLogin: "unicom", SMGPassword: "demo-smg", SMGAllowed: []string{"127.0.0.1"}, CorpID: "12123", ServiceType: "JTGL"})
		return &demoSim{carrier: common, submits: func() int64 { return s.Stats().Submits }, close: s.Close}, nil
	}
	return nil, fmt.Errorf("demo: carrier %s has no native protocol", name)
}
