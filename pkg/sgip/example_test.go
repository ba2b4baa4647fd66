package sgip_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/traffic12123/gateway/pkg/sgip"
	"github.com/traffic12123/gateway/pkg/sgip/smg"
)

// SGIP runs both ways: the client binds to the SMG to submit, and the SMG
// binds to the client's listener to report.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	sim, err := smg.Start(smg.Config{
		Accounts: map[string]string{"sp12123": "pw"},
		SPAddr:   ln.Addr().String(), SPLogin: "unicom", SPPassword: "smgpw",
	})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	reports := make(chan sgip.Receipt, 1)
	c, err := sgip.NewClient(sgip.Config{
		Name: "china_unicom", Addr: sim.Addr(), Login: "sp12123", Password: "pw", NodeID: 3053112123,
		Listener: ln, SMGLogin: "unicom", SMGPassword: "smgpw", SPNumber: "1065512123",
		OnReceipt: func(_ context.Context, r sgip.Receipt) error { reports <- r; return nil },
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		panic(err)
	}
	res, err := c.Send(ctx, sgip.Message{Dest: "13012345678", Text: "您有一条交通违法记录待处理。"})
	if err != nil {
		panic(err)
	}
	r := <-reports
	fmt.Println(res.Parts[0].Status, r.ID == res.IDs[0], r.Stat, r.Dest)
	// Output:
	// accepted true DELIVRD 13012345678
}
