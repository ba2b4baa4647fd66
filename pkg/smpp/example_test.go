package smpp_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/smpp"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

func Example() {
	sim := smsc.New(smsc.Config{SystemID: "gw12123", Password: "secret"})
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer sim.Close()

	receipts := make(chan smpp.Receipt, 2)
	client, err := smpp.NewClient(smpp.Config{
		Name: "cmcc", Addr: sim.Addr(), SystemID: "gw12123", Password: "secret",
		Binds: 2, TPS: 500, Source: "12123",
		OnReceipt: func(ctx context.Context, r smpp.Receipt) error {
			receipts <- r // store it durably before returning: the SMSC is acked after
			return nil
		},
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Metrics: smpp.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { client.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	res, err := client.Send(sctx, smpp.Message{
		Dest: "13800138000",
		Text: "【交管12123】您的机动车检验有效期即将届满，请在有效期满前三个月内到检验机构申请检验，逾期未检验的不得上道路行驶。连续三个检验周期未取得检验合格标志的，将被强制报废。",
	})
	if err != nil {
		retry, reason := smpp.Classify(err)
		fmt.Println("failed:", retry, reason)
		return
	}
	fmt.Println(res.Encoding, res.Parts, "parts")
	for range res.Parts {
		r := <-receipts
		fmt.Println(r.Stat)
	}
	// Output:
	// ucs2 2 parts
	// DELIVRD
	// DELIVRD
}
