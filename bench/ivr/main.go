// Command ivrbench loads the IVR with sipp: N concurrent calls, each hears
// a 10 s prompt, then presses 1 2 3 4 by RFC 4733 (sipp's captures) and the
// IVR hangs up. It runs the IVR in-process and reports concurrent calls,
// CPU (IVR and sipp), memory per call, prompt timing error and missed
// digits. The heap is measured before, right after the run and twice
// later (--settle, --later); --rounds places the calls again against the
// same IVR, to show whether what stays after a run grows.
//
//	go run ./bench/ivr --calls 1000 --rate 100
//	go run ./bench/ivr --calls 2000 --rate 200 --rounds 2 --heapprofile /tmp/h.prof
//
// With --outbound it measures the notice dialler instead: sipp is the
// trunk and its callees (answer, listen to the whole notice, press 1), the dialler places
// --calls at --rate per second, at most --concurrent at once.
//
//	go run ./bench/ivr --outbound --calls 200 --rate 20 --concurrent 200
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
)

const benchFlow = `start: bench
verification:
  prompt: [bench_10s]
menus:
  bench:
    prompt: [bench_10s]
    collect: {min: 4, max: 4, first_timeout: 8s, inter_timeout: 5s, retries: 1}
    options:
      "1234": [{hangup: done}]
    on_fail: [{hangup: missed}]
`

const scenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ivr-bench">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:13800138000@[local_ip]:[local_port]>
      Max-Forwards: 70
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
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:13800138000@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:13800138000@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause milliseconds="12000"/>
  <nop><action><exec play_pcap_audio="PCAPS/dtmf_2833_1.pcap"/></action></nop>
  <pause milliseconds="300"/>
  <nop><action><exec play_pcap_audio="PCAPS/dtmf_2833_2.pcap"/></action></nop>
  <pause milliseconds="300"/>
  <nop><action><exec play_pcap_audio="PCAPS/dtmf_2833_3.pcap"/></action></nop>
  <pause milliseconds="300"/>
  <nop><action><exec play_pcap_audio="PCAPS/dtmf_2833_4.pcap"/></action></nop>
  <recv request="BYE" timeout="20000"/>
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

// sink counts the CDRs as they come instead of keeping them, so that the
// heap measured after the run is the IVR's, not the bench's bookkeeping.
type sink struct {
	mu                     sync.Mutex
	records, done, missing int
}

func (s *sink) Record(_ context.Context, c ivr.CDR) error {
	s.mu.Lock()
	s.records++
	if slices.Contains(c.Path, "bench:1234") {
		s.done++
	} else {
		s.missing++
	}
	s.mu.Unlock()
	return nil
}

type noRecords struct{}

func (noRecords) Registered(context.Context, string) (bool, error)        { return false, nil }
func (noRecords) IDNumber(context.Context, string) (string, error)        { return "", nil }
func (noRecords) Regions(context.Context, string) ([]string, error)       { return nil, nil }
func (noRecords) Licence(context.Context, string) (*ivr.Licence, error)   { return nil, nil }
func (noRecords) Vehicles(context.Context, string) ([]ivr.Vehicle, error) { return nil, nil }
func (noRecords) Violations(context.Context, string) (ivr.ViolationSummary, error) {
	return ivr.ViolationSummary{}, nil
}
func (noRecords) Advisories(context.Context, []string, time.Time) ([]ivr.Advisory, error) {
	return nil, nil
}

func main() {
	calls := flag.Int("calls", 200, "calls to place, all concurrent once ramped up")
	rate := flag.Int("rate", 100, "new calls per second")
	prompts := flag.String("prompts", "prompts", "shipped prompt directory (the say units are needed)")
	pcaps := flag.String("pcaps", "/usr/share/sip-tester", "sipp's RFC 2833 captures")
	pacers := flag.Int("pacers", 0, "media clocks (default GOMAXPROCS)")
	cpuprofile := flag.String("cpuprofile", "", "write the IVR's CPU profile here")
	flag.DurationVar(&settle, "settle", 35*time.Second, "wait after the run before measuring the heap again (SIP transactions linger 32 s)")
	flag.DurationVar(&later, "later", 30*time.Second, "then wait this much longer and measure once more (0: do not)")
	flag.IntVar(&rounds, "rounds", 1, "place the calls this many times, one after another, against the same IVR (heap measured after each)")
	flag.StringVar(&heapProfile, "heapprofile", "", "write the IVR's heap profile after the run (no calls) here")
	outbound := flag.Bool("outbound", false, "measure the outbound notice dialler instead")
	concurrent := flag.Int("concurrent", 200, "outbound: at most this many calls up at once")
	hold := flag.Duration("hold", 30*time.Second, "outbound: callees press 1 this long after answering")
	flag.Parse()
	rounds = max(rounds, 1)
	if heapProfile != "" {
		// Finer than the default 512 KiB, so that small retained
		// structures show in the profile.
		runtime.MemProfileRate = 4096
	}
	if *outbound {
		if err := runOutbound(*calls, *rate, *concurrent, *prompts, *pcaps, *hold); err != nil {
			fmt.Fprintln(os.Stderr, "ivrbench:", err)
			os.Exit(1)
		}
		return
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ivrbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ivrbench: cpu profile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*calls, *rate, *prompts, *pcaps, *pacers); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "ivrbench:", err)
		os.Exit(1)
	}
}

var (
	heapProfile string
	settle      time.Duration
	later       time.Duration
	rounds      int
)

// heapInUse collects garbage and returns the heap in use.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// heapAlloc is the bytes of live objects (after heapInUse's collection).
func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic("getrusage: " + err.Error()) // cannot fail for RUSAGE_SELF
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKB(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

func run(calls, rate int, promptDir, pcaps string, pacers int) error {
	sippBin, err := exec.LookPath("sipp")
	if err != nil {
		return fmt.Errorf("sipp not installed (run .ci/sipp.sh): %w", err)
	}
	dir, err := os.MkdirTemp("", "ivrbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The shipped prompts plus a 10 s announcement (a 440 Hz tone with a
	// changing level, so the audio is not silence).
	pd := filepath.Join(dir, "prompts")
	if err := exec.Command("cp", "-r", promptDir, pd).Run(); err != nil {
		return fmt.Errorf("copy prompts: %w", err)
	}
	pcm := make([]int16, 80000)
	for i := range pcm {
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*440*float64(i)/8000) * (0.5 + 0.5*math.Sin(float64(i)/4000)))
	}
	f, err := os.Create(filepath.Join(pd, "bench_10s.wav"))
	if err != nil {
		return err
	}
	if err := ivr.WriteWAV(f, pcm); err != nil {
		return err
	}
	f.Close()
	lib, err := ivr.LoadLibrary(pd)
	if err != nil {
		return err
	}
	fl, err := flow.Parse("bench.yaml", []byte(benchFlow), lib.HasPrompt)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m := ivr.NewMetrics(reg)
	cdrs := &sink{}
	srv, err := ivr.New(ivr.Options{
		Config:  ivr.Config{UDP: "127.0.0.1:0", MaxCalls: calls + 100, InviteRate: float64(rate) * 10, InviteBurst: rate * 10, Pacers: pacers},
		Library: lib, Flow: fl, Records: noRecords{}, CDR: cdrs, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	scen := filepath.Join(dir, "bench.xml")
	if err := os.WriteFile(scen, []byte(strings.ReplaceAll(scenario, "PCAPS", pcaps)), 0o644); err != nil {
		return err
	}
	heap0 := heapInUse()
	live0 := heapAlloc()
	baseRSS := rssKB(os.Getpid())
	var (
		ld                 load
		heaps              []heapAfter
		wall, cpu, sippCPU time.Duration
		peak, peakG        int
		peakRSS            int64
	)
	for round := range rounds {
		ld, err = placeCalls(srv, sippBin, dir, scen, calls, rate)
		if err != nil {
			return err
		}
		if round == 0 {
			wall, cpu, sippCPU = ld.wall, ld.cpu, ld.sippCPU
		}
		peak, peakG, peakRSS = max(peak, ld.peak), max(peakG, ld.peakG), max(peakRSS, ld.peakRSS)
		if ld.sippErr != nil {
			errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			fmt.Printf("sipp (round %d): %v\n%s\n", round+1, ld.sippErr, tailN(string(errs), 1500))
		}
		heaps = append(heaps, measureAfter(srv))
	}
	if heapProfile != "" {
		f, err := os.Create(heapProfile)
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("ivr server: %w", err)
	}

	// Results.
	cdrs.mu.Lock()
	records, completed, missed := cdrs.records, cdrs.done, cdrs.missing
	cdrs.mu.Unlock()
	var lateness []float64
	mfs, _ := reg.Gather()
	var dtmf float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "ivr_dtmf_total":
			for _, mm := range mf.GetMetric() {
				dtmf += mm.GetCounter().GetValue()
			}
		case "ivr_prompt_lateness_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			var prev uint64
			for _, b := range h.GetBucket() {
				lateness = append(lateness, float64(b.GetCumulativeCount()-prev))
				prev = b.GetCumulativeCount()
			}
			fmt.Printf("prompt lateness: %d playbacks, mean %.1f ms; by bucket (s, count):",
				h.GetSampleCount(), 1000*h.GetSampleSum()/math.Max(1, float64(h.GetSampleCount())))
			for _, b := range h.GetBucket() {
				fmt.Printf(" ≤%g:%d", b.GetUpperBound(), b.GetCumulativeCount())
			}
			fmt.Printf(" total:%d\n", h.GetSampleCount())
			// Only playbacks that ran to their end are in the histogram.
			if cut := calls*rounds - int(h.GetSampleCount()); cut > 0 {
				fmt.Printf("prompts not in it: %d of %d, cut short: still playing when the keys came, 2 s after they were due to end (or the call failed)\n",
					cut, calls*rounds)
			}
		}
	}
	_ = lateness
	placed := calls * rounds
	fmt.Printf("calls placed %d, CDRs %d, peak concurrent %d, completed with all 4 digits %d, missed %d\n",
		placed, records, peak, completed, missed)
	fmt.Printf("digits: sent %d, received %.0f (missed %.0f)\n", 4*placed, dtmf, float64(4*placed)-dtmf)
	fmt.Printf("wall %.1fs; IVR CPU %.1fs (%.0f%% of one core), sipp CPU %.1fs (first round)\n",
		wall.Seconds(), cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds(), sippCPU.Seconds())
	if peak > 0 {
		fmt.Printf("IVR RSS base %d MB, peak %d MB: %.0f KB per concurrent call\n",
			baseRSS/1024, peakRSS/1024, float64(peakRSS-baseRSS)/float64(peak))
	}
	fmt.Printf("heap in use (live objects), MB: start %.1f (%.1f)\n", mb(heap0), mb(live0))
	for i, h := range heaps {
		fmt.Printf("  after round %d: right after %.1f (%d calls left), %s later %.1f (%.1f)",
			i+1, mb(h.heap1), h.active, settle, mb(h.heap2), mb(h.live2))
		if later > 0 {
			fmt.Printf(", %s later %.1f (%.1f)", settle+later, mb(h.heap3), mb(h.live3))
		}
		fmt.Printf(", %d goroutines\n", h.goroutines)
	}
	fmt.Printf("goroutines: peak %d during the run (%.1f per concurrent call); the runtime keeps their descriptors\n",
		peakG, float64(peakG)/math.Max(1, float64(peak)))
	return nil
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// load is what one round of calls measured.
type load struct {
	peak, peakG        int
	peakRSS            int64
	wall, cpu, sippCPU time.Duration
	sippErr            error
}

// placeCalls runs sipp once: calls at rate against srv, and watches
// concurrency, memory and CPU until sipp ends.
func placeCalls(srv *ivr.Server, sippBin, dir, scen string, calls, rate int) (load, error) {
	var ld load
	cpu0, t0 := cpuTime(), time.Now()
	sp := freePort()
	cmd := exec.Command(sippBin, "-sf", scen, "-s", "12123", "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls),
		"-r", strconv.Itoa(rate), "-i", "127.0.0.1", "-p", strconv.Itoa(sp), "-mp", "46000", "-nostdin",
		"-timeout", strconv.Itoa(calls/rate+60)+"s", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		srv.Addr("udp"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb")
	if err := cmd.Start(); err != nil {
		return ld, err
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case ld.sippErr = <-waitc:
			ld.wall = time.Since(t0)
			ld.cpu = cpuTime() - cpu0
			return ld, nil
		case <-tick.C:
			if n := srv.ActiveCalls(); n > ld.peak {
				ld.peak = n
				if r := rssKB(os.Getpid()); r > ld.peakRSS {
					ld.peakRSS = r
				}
			}
			if g := runtime.NumGoroutine(); g > ld.peakG {
				ld.peakG = g
			}
			if c := procCPU(cmd.Process.Pid); c > 0 {
				ld.sippCPU = c
			}
		}
	}
}

// heapAfter is the heap after a round: right after it (no calls left),
// settle later and settle+later later.
type heapAfter struct {
	active, goroutines  int
	heap1, heap2, live2 uint64
	heap3, live3        uint64
}

func measureAfter(srv *ivr.Server) heapAfter {
	var h heapAfter
	// Heap with no calls left, the server still running: it should be
	// back near where it started.
	for deadline := time.Now().Add(30 * time.Second); srv.ActiveCalls() > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	h.heap1 = heapInUse()
	h.active = srv.ActiveCalls()
	// SIP keeps each INVITE server transaction 64*T1 = 32 s after its 2xx
	// (RFC 6026 Timer L), and with it the call's dialog: measure again
	// once that has run out.
	time.Sleep(settle)
	h.heap2 = heapInUse()
	h.live2 = heapAlloc()
	if later > 0 {
		time.Sleep(later)
		h.heap3 = heapInUse()
		h.live3 = heapAlloc()
	}
	h.goroutines = runtime.NumGoroutine()
	return h
}

func tailN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
