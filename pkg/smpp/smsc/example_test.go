package smsc_test

import (
	"fmt"
	"time"

	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// A simulator for a test: receipts after 50 ms, 5 % undeliverable, at most
// 100 submits per second per bind, and a fault switched on at run time.
func Example() {
	s := smsc.New(smsc.Config{
		SystemID:     "gw",
		Password:     "secret",
		ReceiptDelay: 50 * time.Millisecond,
		Outcomes:     map[string]float64{"DELIVRD": 0.95, "UNDELIV": 0.05},
		TPS:          100,
	})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer s.Close()

	// ... point an ESME at s.Addr() ...

	_ = s.SetFaults(smsc.Faults{QueueFull: 0.1}) // one submit in ten refused with 0x14
	fmt.Println(len(s.Messages()), s.Stats().Binds)
	// Output: 0 0
}
