package cmpp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/traffic12123/gateway/pkg/cmpp"
	"github.com/traffic12123/gateway/pkg/cmpp/ismg"
)

// A client against the simulator: a message, its status report, and what
// the handset shows.
func Example() {
	sim, err := ismg.Start(ismg.Config{Accounts: map[string]string{"901234": "secret"}})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	reports := make(chan cmpp.Receipt, 1)
	c, err := cmpp.NewClient(cmpp.Config{
		Name: "china_mobile", Addr: sim.Addr(), SourceAddr: "901234", Secret: "secret",
		SrcID: "1069012123", ServiceID: "JTGL",
		OnReceipt: func(_ context.Context, r cmpp.Receipt) error { reports <- r; return nil },
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
	res, err := c.Send(ctx, cmpp.Message{Dest: "13812345678", Text: "您的车辆违法停车，请及时驶离。"})
	if err != nil {
		panic(err)
	}
	r := <-reports
	fmt.Println(len(res.Parts), res.Parts[0].Status, r.ID == res.IDs[0], r.Stat)
	got := sim.Received("13812345678")[0]
	fmt.Println(got.Src, got.Text)
	// Output:
	// 1 accepted true DELIVRD
	// 1069012123 您的车辆违法停车，请及时驶离。
}
