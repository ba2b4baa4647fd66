// Command ivrbench loads the IVR with sipp: N concurrent calls, each hears
// a 10 s prompt, then presses 1 2 3 4 by RFC 4733 (sipp's captures) and the
// IVR hangs up. It runs the IVR in-process and reports concurrent calls,
// CPU (IVR and sipp), memory per call, prompt timing error and missed
// digits.
//
//	go run ./bench/ivr --calls 1000 --rate 100
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
	"net"
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

type sink struct {
	mu   sync.Mutex
	cdrs []ivr.CDR
}

func (s *sink) Record(_ context.Context, c ivr.CDR) error {
	s.mu.Lock()
	s.cdrs = append(s.cdrs, c)
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
	flag.StringVar(&heapProfile, "heapprofile", "", "write the IVR's heap profile after the run (no calls) here")
	outbound := flag.Bool("outbound", false, "measure the outbound notice dialler instead")
	concurrent := flag.Int("concurrent", 200, "outbound: at most this many calls up at once")
	hold := flag.Duration("hold", 30*time.Second, "outbound: callees press 1 this long after answering")
	flag.Parse()
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
	cpu0, t0 := cpuTime(), time.Now()
	c, _ := net.ListenPacket("udp", "127.0.0.1:0")
	sp := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	cmd := exec.Command(sippBin, "-sf", scen, "-s", "12123", "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls),
		"-r", strconv.Itoa(rate), "-i", "127.0.0.1", "-p", strconv.Itoa(sp), "-mp", "46000", "-nostdin",
		"-timeout", strconv.Itoa(calls/rate+60)+"s", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		srv.Addr("udp"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=dumb")
	if err := cmd.Start(); err != nil {
		return err
	}
	peak, peakRSS := 0, int64(0)
	var sippCPU time.Duration
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	tick := time.NewTicker(200 * time.Millisecond)
	var sippErr error
loop:
	for {
		select {
		case sippErr = <-waitc:
			break loop
		case <-tick.C:
			if n := srv.ActiveCalls(); n > peak {
				peak = n
				if r := rssKB(os.Getpid()); r > peakRSS {
					peakRSS = r
				}
			}
			if c := procCPU(cmd.Process.Pid); c > 0 {
				sippCPU = c
			}
		}
	}
	wall := time.Since(t0)
	cpu := cpuTime() - cpu0
	// Heap with no calls left, the server still running: it should be
	// back near where it started.
	for deadline := time.Now().Add(30 * time.Second); srv.ActiveCalls() > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	heap1 := heapInUse()
	// SIP keeps each INVITE server transaction 64*T1 = 32 s after its 2xx
	// (RFC 6026 Timer L), and with it the call's dialog: measure again
	// once that has run out.
	time.Sleep(settle)
	heap2 := heapInUse()
	live2 := heapAlloc()
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
	active := srv.ActiveCalls()
	goroutines := runtime.NumGoroutine()
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("ivr server: %w", err)
	}

	// Results.
	cdrs.mu.Lock()
	got := slices.Clone(cdrs.cdrs)
	cdrs.mu.Unlock()
	completed, missed := 0, 0
	for _, c := range got {
		if slices.Contains(c.Path, "bench:1234") {
			completed++
		} else {
			missed++
		}
	}
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
		}
	}
	_ = lateness
	fmt.Printf("calls placed %d, CDRs %d, peak concurrent %d, completed with all 4 digits %d, missed %d\n",
		calls, len(got), peak, completed, missed)
	fmt.Printf("digits: sent %d, received %.0f (missed %.0f)\n", 4*calls, dtmf, float64(4*calls)-dtmf)
	fmt.Printf("wall %.1fs; IVR CPU %.1fs (%.0f%% of one core), sipp CPU %.1fs\n",
		wall.Seconds(), cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds(), sippCPU.Seconds())
	if peak > 0 {
		fmt.Printf("IVR RSS base %d MB, peak %d MB: %.0f KB per concurrent call\n",
			baseRSS/1024, peakRSS/1024, float64(peakRSS-baseRSS)/float64(peak))
	}
	fmt.Printf("heap in use: start %.1f MB, after the run with %d calls left %.1f MB, %s later %.1f MB (%d goroutines)\n",
		float64(heap0)/(1<<20), active, float64(heap1)/(1<<20), settle, float64(heap2)/(1<<20), goroutines)
	fmt.Printf("live heap objects: start %.1f MB, %s after the run %.1f MB\n",
		float64(live0)/(1<<20), settle, float64(live2)/(1<<20))
	if sippErr != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		fmt.Printf("sipp: %v\n%s\n", sippErr, tailN(string(errs), 1500))
	}
	return nil
}

func tailN(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
