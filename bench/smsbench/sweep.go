package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
)

// runSweep is the sweep mode: o.sweepN licence and vehicle snapshots, about
// 1 % of which fire a reminder, are published first; then the gateway
// starts and is timed until it has consumed and committed all of them.
func runSweep(ctx context.Context, o *options) (*SweepResult, error) {
	so := *o
	so.carriers = []string{"china_mobile", "china_unicom", "china_telecom", "china_broadnet"} // snapshots go to every carrier
	r, err := newRig(ctx, &so, "sweep", 1000)
	if err != nil {
		return nil, err
	}
	defer r.close()
	fmt.Fprintf(os.Stderr, "sweep: publishing %d snapshot events\n", o.sweepN)
	gen := eventgen.NewWith(o.seed, r.now, eventgen.Options{Mix: eventgen.MixSweep})
	var ps eventgen.PublishStats
	if err := eventgen.Publish(ctx, r.broker.Addrs(), gen, o.sweepN, eventgen.PublishOptions{Stats: &ps}); err != nil {
		return nil, err
	}
	cfg, err := r.gatewayConfig(0, 1)
	if err != nil {
		return nil, err
	}
	var gw gateway
	if o.cpuprofile != "" {
		if gw, err = startInProc(ctx, cfg, io.Discard); err != nil {
			return nil, err
		}
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	} else if gw, err = startProcess(ctx, r, cfg, ""); err != nil {
		return nil, err
	}
	defer func() { _ = gw.stop() }()
	cpu0 := gw.cpu()
	start := time.Now()
	res := &SweepResult{Events: o.sweepN, PublishSecs: ps.Elapsed.Seconds()}
	deadline := start.Add(o.timeout)
	lastPrint := start
	var end time.Time
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := gw.alive(); err != nil {
			return nil, err
		}
		m, err := scrape(ctx, gw.httpAddr())
		if err != nil {
			continue
		}
		consumed := int(m["ingest_records_total"])
		if time.Since(lastPrint) >= 2*time.Second {
			fmt.Fprintf(os.Stderr, "  sweep: %d/%d records consumed, %.0f rules fired\n", consumed, o.sweepN, m["smsgw_rules_fired_total"])
			lastPrint = time.Now()
		}
		if consumed < o.sweepN {
			continue
		}
		lag, err := ingest.GroupLag(ctx, r.broker.Addrs(), cfg.Kafka.GroupID, cfg.Kafka.Topics)
		if err != nil || lag > 0 {
			continue
		}
		end = time.Now()
		res.Fired = int(m["smsgw_rules_fired_total"])
		res.Messages = int(m["smsgw_messages_created_total"])
		res.Complete = true
		break
	}
	res.CPUSeconds = gw.cpu() - cpu0
	res.PeakRSSMB = gw.rss()
	if res.Complete {
		res.Seconds = end.Sub(start).Seconds()
		res.EventsPerSec = float64(o.sweepN) / res.Seconds
		res.CPUPerMillion = res.CPUSeconds / float64(o.sweepN) * 1e6
	}
	if o.metricsOut != "" {
		dumpMetrics(gw.httpAddr(), o.metricsOut)
	}
	return res, nil
}

// scrape sums every sample of each metric family of a /metrics page.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 && i < len(name) {
			name = line[:i]
			j := strings.LastIndexByte(line, '}')
			rest = strings.TrimSpace(line[j+1:])
			ok = true
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}
