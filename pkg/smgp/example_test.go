package smgp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/traffic12123/gateway/pkg/smgp"
	"github.com/traffic12123/gateway/pkg/smgp/smgw"
)

// A client against the simulator: a long message, its reports, and what
// the handset shows.
func Example() {
	sim, err := smgw.Start(smgw.Config{Accounts: map[string]string{"90123456": "secret"}})
	if err != nil {
		panic(err)
	}
	defer sim.Close()
	reports := make(chan smgp.Receipt, 4)
	c, err := smgp.NewClient(smgp.Config{
		Name: "china_telecom", Addr: sim.Addr(), ClientID: "90123456", Secret: "secret", SrcTermID: "1069012123",
		OnReceipt: func(_ context.Context, r smgp.Receipt) error { reports <- r; return nil },
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
	text := "【交管12123】您的机动车驾驶证将于30日后有效期满，请及时申请换证。逾期未换证的，驾驶证将被注销，请您尽快到车管所或通过交管12123办理。"
	res, err := c.Send(ctx, smgp.Message{Dest: "13312345678", Text: text})
	if err != nil {
		panic(err)
	}
	for range res.Parts {
		<-reports
	}
	got := sim.Received("13312345678")[0]
	fmt.Println(len(res.Parts), got.Parts, got.Text == text)
	// Output:
	// 2 2 true
}
