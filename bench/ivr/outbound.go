package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/internal/loopback"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// uasScenario is the callee of an outbound bench call: it answers, listens
// for hold (the intro, the notice and the menu play out), presses 1 by an
// RFC 4733 capture and waits for the dialler's BYE.
const uasScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr-outbound-bench">
  <recv request="INVITE" crlf="true"/>
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="HOLD_MS"/>
  <nop><action><exec play_pcap_audio="PCAPS/dtmf_2833_1.pcap"/></action></nop>
  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
`

// runOutbound places calls through sipp acting as the trunk and its
// callees, at rate calls per second with at most concurrent up at once.
func runOutbound(calls, rate, concurrent int, promptDir, pcaps string, hold time.Duration) error {
	sippBin, err := exec.LookPath("sipp")
	if err != nil {
		return fmt.Errorf("sipp not installed (run .ci/sipp.sh): %w", err)
	}
	lib, err := ivr.LoadLibrary(promptDir)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ivr-outbound-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	scen := strings.NewReplacer("HOLD_MS", strconv.Itoa(int(hold/time.Millisecond)), "PCAPS", pcaps).Replace(uasScenario)
	file := filepath.Join(dir, "uas.xml")
	if err := os.WriteFile(file, []byte(scen), 0o644); err != nil {
		return err
	}
	port, mp := freePort(), freePort()&^1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, sippBin, "-sf", file, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mp", strconv.Itoa(mp), "-m", strconv.Itoa(calls), "-nostdin", "-max_socket", "60000",
		"-timeout", "600s", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb")
	out, err := os.Create(filepath.Join(dir, "sipp.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()

	reg := prometheus.NewRegistry()
	m := ivr.NewOutboundMetrics(reg)
	d, err := ivr.NewDialler(ivr.DiallerOptions{
		DiallerConfig: ivr.DiallerConfig{Trunk: "127.0.0.1:" + strconv.Itoa(port), Bind: "127.0.0.1:0",
			MaxConcurrent: concurrent, CallsPerSecond: float64(rate), RingTimeout: 20 * time.Second,
			KeyTimeout: 20 * time.Second, MaxPlays: 1},
		Library: lib, Metrics: m, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	n := ivr.Notice{Phone: "13800138000", Say: []ivr.SayItem{
		{Kind: ivr.SayPrompt, Value: "notice_see_sms"}, {Kind: ivr.SayPlate, Value: "京A12345"},
		{Kind: ivr.SayNumber, Value: "12"}, {Kind: ivr.SayDate, Value: "2026-12-02"}}}
	time.Sleep(300 * time.Millisecond) // sipp binds
	cpu0, t0 := cpuTime(), time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[ivr.Outcome]int{}
	var setups []time.Duration
	var first, last time.Time
	var callErrs []error
	for i := range calls {
		wg.Go(func() {
			n := n
			n.ID = "bench-" + strconv.Itoa(i)
			r, err := d.Call(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				callErrs = append(callErrs, err)
				return
			}
			outcomes[r.Outcome]++
			setups = append(setups, r.Setup)
			if first.IsZero() || r.Dialled.Before(first) {
				first = r.Dialled
			}
			if r.Dialled.After(last) {
				last = r.Dialled
			}
		})
	}
	peak := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			peak = max(peak, d.Active())
		}
	}
	wall := time.Since(t0)
	cpu := cpuTime() - cpu0
	_ = d.Close()
	var sippErr error
	select {
	case sippErr = <-waitc:
	case <-time.After(10 * time.Second):
		cancel()
		sippErr = <-waitc
	}
	slices.Sort(setups)
	pct := func(p float64) time.Duration {
		if len(setups) == 0 {
			return 0
		}
		return setups[min(len(setups)-1, int(p*float64(len(setups))))]
	}
	fmt.Printf("outbound: %d calls, %d/s offered, at most %d concurrent; wall %.1f s\n", calls, rate, concurrent, wall.Seconds())
	fmt.Printf("  outcomes: %v (errors %d)\n", outcomes, len(callErrs))
	placed := float64(len(setups))
	if span := last.Sub(first); span > 0 && placed > 1 {
		placed = (placed - 1) / span.Seconds()
	}
	fmt.Printf("  INVITEs per second: %.1f, peak concurrent calls: %d\n", placed, peak)
	fmt.Printf("  setup (INVITE → 200): p50 %v, p99 %v, max %v\n", pct(0.5), pct(0.99), pct(1))
	total, within, sum := lateness(reg)
	if total > 0 {
		fmt.Printf("  playbacks run to their end: %d, last frame within 100 ms: %d, mean lateness %.1f ms\n", total, within, sum/float64(total)*1000)
	}
	fmt.Printf("  dialler CPU: %.0f %% of a core\n", 100*cpu.Seconds()/wall.Seconds())
	if len(callErrs) > 0 {
		fmt.Printf("  first error: %v\n", callErrs[0])
	}
	if sippErr != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		fmt.Printf("  sipp: %v %s\n", sippErr, tailN(string(errs), 600))
	}
	return nil
}

func lateness(reg *prometheus.Registry) (total, within uint64, sum float64) {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "ivr_outbound_prompt_lateness_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		total, sum = h.GetSampleCount(), h.GetSampleSum()
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 0.1 {
				within = b.GetCumulativeCount()
			}
		}
	}
	return total, within, sum
}

// freePort is a loopback UDP port nothing is bound to, below the
// ephemeral range (internal/loopback).
func freePort() int {
	addr, err := loopback.FreeAddr("udp")
	if err != nil {
		panic(err)
	}
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		panic(err)
	}
	return n
}
