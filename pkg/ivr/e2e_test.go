package ivr_test

import (
	"bufio"
	"context"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/flow"
	"github.com/traffic12123/gateway/pkg/ivr/say"
)

var shanghai = time.FixedZone("CST", 8*3600)

// memRecords is an in-memory read model for the server tests.
type memRecords struct {
	licences   map[string]*ivr.Licence
	ids        map[string]string
	vehicles   map[string][]ivr.Vehicle
	violations map[string]ivr.ViolationSummary
	regions    map[string][]string
	advisories []ivr.Advisory

	mu    sync.Mutex
	asked [][]string // the regions Advisories was asked for
}

func (m *memRecords) Registered(_ context.Context, phone string) (bool, error) {
	_, a := m.licences[phone]
	_, b := m.vehicles[phone]
	return a || b, nil
}
func (m *memRecords) IDNumber(_ context.Context, phone string) (string, error) {
	return m.ids[phone], nil
}
func (m *memRecords) Regions(_ context.Context, phone string) ([]string, error) {
	return m.regions[phone], nil
}
func (m *memRecords) Licence(_ context.Context, phone string) (*ivr.Licence, error) {
	return m.licences[phone], nil
}
func (m *memRecords) Vehicles(_ context.Context, phone string) ([]ivr.Vehicle, error) {
	return m.vehicles[phone], nil
}
func (m *memRecords) Violations(_ context.Context, phone string) (ivr.ViolationSummary, error) {
	return m.violations[phone], nil
}
func (m *memRecords) Advisories(_ context.Context, regions []string, _ time.Time) ([]ivr.Advisory, error) {
	m.mu.Lock()
	m.asked = append(m.asked, regions)
	m.mu.Unlock()
	return m.advisories, nil
}

const phone = "13800138000"

func sampleRecords() *memRecords {
	return &memRecords{
		licences: map[string]*ivr.Licence{phone: {
			Status: "A", Points: 6,
			CycleEnd:   time.Date(2027, 3, 1, 0, 0, 0, 0, shanghai),
			ValidUntil: time.Date(2030, 12, 20, 0, 0, 0, 0, shanghai),
		}},
		ids:     map[string]string{phone: "11010119900112345X"},
		regions: map[string][]string{phone: {"650102"}},
		vehicles: map[string][]ivr.Vehicle{phone: {{
			Plate: "京A12345", Status: "A", InspectionValidUntil: time.Date(2026, 8, 31, 0, 0, 0, 0, shanghai),
		}}},
		violations: map[string]ivr.ViolationSummary{phone: {
			Count: 2, Fine: 200, Points: 3, Latest: time.Date(2026, 5, 3, 14, 30, 0, 0, shanghai), LatestPlace: "长安街",
		}},
	}
}

// testPrompts writes short, distinct clips for every prompt and unit, so
// the calls run fast and the caller's transcript is unambiguous.
func testPrompts(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, name string, frames int) {
		h := fnv.New64a()
		h.Write([]byte(name))
		r := rand.New(rand.NewPCG(h.Sum64(), 1))
		pcm := make([]int16, frames*ivr.FrameSamples)
		for i := range pcm {
			pcm[i] = int16(r.IntN(16000) - 8000)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := ivr.WriteWAV(f, pcm); err != nil {
			t.Fatal(err)
		}
	}
	tsv, err := os.Open(filepath.Join("..", "..", "prompts", "prompts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer tsv.Close()
	sc := bufio.NewScanner(tsv)
	for sc.Scan() {
		name, _, ok := strings.Cut(sc.Text(), "\t")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		write(filepath.Join(dir, name+".wav"), name, 8)
	}
	for _, u := range say.Units() {
		write(filepath.Join(dir, "units", u.Name+".wav"), "units/"+u.Name, 3)
	}
	return dir
}

type cdrs struct {
	mu   sync.Mutex
	list []ivr.CDR
	ch   chan ivr.CDR
}

func (c *cdrs) Record(_ context.Context, r ivr.CDR) error {
	c.mu.Lock()
	c.list = append(c.list, r)
	c.mu.Unlock()
	select {
	case c.ch <- r:
	default: // nobody waits for so many: keep the server from blocking
	}
	return nil
}

type env struct {
	dir     string
	srv     *ivr.Server
	lib     *ivr.Library
	cdrs    *cdrs
	metrics *ivr.Metrics
	reg     *prometheus.Registry
}

func startServer(t testing.TB, mutate func(*ivr.Options)) *env {
	t.Helper()
	dir := testPrompts(t)
	lib, err := ivr.LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := flow.Load(filepath.Join("..", "..", "config", "ivr-flows.yaml"), lib.HasPrompt)
	if err != nil {
		t.Fatal(err)
	}
	// Short waits for silence, long ones between keys: the machine is noisy.
	for _, m := range f.Menus {
		if m.Collect != nil {
			m.Collect.FirstTimeout = 2 * time.Second
			m.Collect.InterTimeout = 10 * time.Second
		}
	}
	f.Verification.Digits.InterTimeout = 15 * time.Second
	reg := prometheus.NewRegistry()
	e := &env{dir: dir, lib: lib, cdrs: &cdrs{ch: make(chan ivr.CDR, 256)}, reg: reg, metrics: ivr.NewMetrics(reg)}
	o := ivr.Options{
		Config:  ivr.Config{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", Location: shanghai},
		Library: lib, Flow: f, Records: sampleRecords(), CDR: e.cdrs, Metrics: e.metrics,
	}
	if mutate != nil {
		mutate(&o)
	}
	srv, err := ivr.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

func dial(t *testing.T, e *env, transport, from string) *ivr.OutCall {
	t.Helper()
	return dialCodec(t, e, transport, from, ivr.PCMU)
}

func dialCodec(t *testing.T, e *env, transport, from string, codec ivr.Codec) *ivr.OutCall {
	t.Helper()
	c, err := ivr.NewCaller(ivr.CallerConfig{
		Target:    "sip:12123@" + e.srv.Addr(transport),
		Transport: transport, From: from, Codec: codec,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := c.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		call.Hangup(ctx)
	})
	return call
}

func step(t *testing.T, e *env, call *ivr.OutCall, hear string, n int, keys, method string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := call.WaitFor(ctx, e.lib, hear, n); err != nil {
		t.Fatal(err)
	}
	if keys != "" {
		if err := call.Send(ctx, keys, method); err != nil {
			t.Fatal(err)
		}
	}
}

func waitCDR(t *testing.T, e *env) ivr.CDR {
	t.Helper()
	select {
	case c := <-e.cdrs.ch:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("no CDR")
	}
	return ivr.CDR{}
}

// contains reports whether want appears in order (not necessarily adjacent).
func containsSeq(heard, want []string) bool {
	i := 0
	for _, h := range heard {
		if i < len(want) && h == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestVerifiedCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		transport, method string
		codec             ivr.Codec
	}{
		{"udp", ivr.KeysRFC4733, ivr.PCMU}, {"udp", ivr.KeysINFO, ivr.PCMA}, {"tcp", ivr.KeysINFOPlain, ivr.PCMU}, {"tcp", ivr.KeysRFC4733, ivr.PCMA},
	} {
		t.Run(tc.transport+"/"+tc.method+"/"+tc.codec.String(), func(t *testing.T) {
			t.Parallel()
			e := startServer(t, nil)
			call := dialCodec(t, e, tc.transport, phone, tc.codec)
			if call.Codec() != tc.codec {
				t.Fatalf("negotiated %v, offered only %v", call.Codec(), tc.codec)
			}
			step(t, e, call, "main_menu", 1, "1", tc.method)
			step(t, e, call, "enter_id", 1, "12345*#", tc.method)
			step(t, e, call, "after_query", 1, "9", tc.method)
			step(t, e, call, "main_menu", 2, "3", tc.method)
			step(t, e, call, "after_query", 2, "", "")
			heard := call.Transcript(e.lib)
			// Licence: status normal, 6 points, cycle end 2027-03-01.
			wantLicence := []string{"verified", "licence_status", "status_licence_A", "points_prefix",
				"units/d6", "units/fen", "cycle_end", "units/d2", "units/d0", "units/d2", "units/d7", "units/nian",
				"units/d3", "units/yue", "units/d1", "units/ri", "valid_until"}
			if !containsSeq(heard, wantLicence) {
				t.Fatalf("licence answer not heard in order:\n%v", heard)
			}
			// Violations: 2, fine 两百元, 3 points, on 2026-05-03 14:30.
			wantViol := []string{"violations_count", "units/d2", "count_unit", "fine_total", "units/liang",
				"units/bai", "units/yuan", "points_total", "units/d3", "units/fen", "latest_violation",
				"units/d5", "units/yue", "units/d3", "units/ri", "units/shi", "units/d4", "units/dian",
				"units/d3", "units/shi", "units/fen", "place_see_app"}
			if !containsSeq(heard, wantViol) {
				t.Fatalf("violations answer not heard in order:\n%v", heard)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := call.Hangup(ctx); err != nil {
				t.Logf("hangup: %v", err)
			}
			c := waitCDR(t, e)
			if c.Verification != "ok" || c.Cause != "caller_hangup" || c.Caller != "138****8000" {
				t.Fatalf("cdr %+v", c)
			}
			if want := []string{"welcome", "main", "main:1", "after_licence", "after_licence:9", "main", "main:3", "after_violations"}; !slices.Equal(c.Path, want) {
				t.Fatalf("path %v, want %v", c.Path, want)
			}
			if !slices.Equal(c.Queries, []string{"licence", "violations"}) {
				t.Fatalf("queries %v", c.Queries)
			}
			method := tc.method
			if method == ivr.KeysINFOPlain {
				method = "info"
			}
			if got := counter(t, e.reg, "ivr_dtmf_total", method); got != 10 {
				t.Fatalf("dtmf %s = %v, want 10", method, got)
			}
		})
	}
}

func TestVerificationLockout(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "2", ivr.KeysINFO)
	for i := 1; i <= 3; i++ {
		step(t, e, call, "enter_id", i, "654321#", ivr.KeysINFO)
	}
	select {
	case <-call.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("call not ended after lock")
	}
	c := waitCDR(t, e)
	if c.Verification != "locked" || c.Cause != "locked" {
		t.Fatalf("cdr %+v", c)
	}
	// The last prompt may be cut at its end ("locked~"): the caller can
	// take the BYE before the prompt's last packets.
	heard := call.Transcript(e.lib)
	for i, h := range heard {
		heard[i] = strings.TrimSuffix(h, "~")
	}
	if !containsSeq(heard, []string{"verify_failed", "verify_failed", "locked"}) {
		t.Fatalf("heard %v", call.Transcript(e.lib))
	}
	// A new call from the locked number hears the same ID prompt as any
	// other, and is refused once it has keyed one.
	call2 := dial(t, e, "udp", phone)
	step(t, e, call2, "main_menu", 1, "1", ivr.KeysINFO)
	step(t, e, call2, "enter_id", 1, "12345*#", ivr.KeysINFO)
	step(t, e, call2, "locked", 1, "", "")
	if c := waitCDR(t, e); c.Verification != "locked" {
		t.Fatalf("second call cdr %+v", c)
	}
	if got := counter(t, e.reg, "ivr_verifications_total", "failed"); got != 3 {
		t.Fatalf("failed verifications %v", got)
	}
}

func TestUnregisteredCaller(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	e := startServer(t, func(o *ivr.Options) { o.Records = recs })
	call := dial(t, e, "udp", "13900000000")
	step(t, e, call, "main_menu", 1, "1", ivr.KeysRFC4733)
	step(t, e, call, "enter_id", 1, "123456#", ivr.KeysRFC4733)
	step(t, e, call, "not_registered", 1, "", "")
	// Refused callers go back to the main menu and may use public services.
	step(t, e, call, "main_menu", 2, "4", ivr.KeysRFC4733)
	step(t, e, call, "safety_general", 1, "", "")
	if slices.Contains(call.Transcript(e.lib), "licence_status") {
		t.Fatal("personal data spoken to an unverified caller")
	}
	// The advisories were chosen by the number's home area in the public
	// numbering plan (139 0000: Urumqi, Xinjiang, 65), not by any record.
	recs.mu.Lock()
	asked := recs.asked
	recs.mu.Unlock()
	if len(asked) != 1 || !slices.Equal(asked[0], []string{"65"}) {
		t.Fatalf("advisories asked for regions %v", asked)
	}
}

func TestNoInputHangsUp(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	call := dial(t, e, "udp", phone)
	select {
	case <-call.Ended():
	case <-time.After(20 * time.Second):
		t.Fatal("call without keys did not end")
	}
	c := waitCDR(t, e)
	if c.Cause != "no_input" || !slices.Contains(c.Path, "main:fail") {
		t.Fatalf("cdr %+v", c)
	}
	if n := strings.Count(strings.Join(call.Transcript(e.lib), " "), "noinput"); n != 2 {
		t.Fatalf("heard noinput %d times: %v", n, call.Transcript(e.lib))
	}
}

func TestTransferUnavailable(t *testing.T) {
	t.Parallel()
	// The caller refuses REFER: the IVR apologises and hangs up.
	e := startServer(t, nil)
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "0", ivr.KeysINFO)
	step(t, e, call, "agent_unavailable", 1, "", "")
	c := waitCDR(t, e)
	if c.Transfer != "agent:unavailable" || c.Cause != "agent_unavailable" {
		t.Fatalf("cdr %+v", c)
	}
}

func TestTransferByRefer(t *testing.T) {
	t.Parallel()
	// The agent queue is a second IVR; the caller follows the REFER to it.
	agent := startServer(t, nil)
	e := startServer(t, func(o *ivr.Options) {
		tr := o.Flow.Transfers["agent"]
		tr.URI = "sip:agents@" + agent.srv.Addr("udp")
		o.Flow.Transfers["agent"] = tr
	})
	c, err := ivr.NewCaller(ivr.CallerConfig{Target: "sip:12123@" + e.srv.Addr("udp"), From: phone, FollowRefer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := c.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup(ctx)
	step(t, e, call, "main_menu", 1, "0", ivr.KeysINFO)
	cdr := waitCDR(t, e)
	if cdr.Transfer != "agent:ok" || cdr.Cause != "transferred" {
		t.Fatalf("cdr %+v", cdr)
	}
	if target, answered := call.Transferred(); !answered || !strings.Contains(target, "agents@") {
		t.Fatalf("transfer target %q answered %v", target, answered)
	}
}

func TestHotReload(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	f2, err := flow.Parse("reload.yaml", []byte(strings.ReplaceAll(`start: main
verification:
  prompt: [enter_id]
menus:
  main:
    prompt: [safety_general]
    options:
      "1": [{hangup: done}]
    on_fail: [{hangup: no_input}]
`, "\t", "")), e.lib.HasPrompt)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetFlow(f2); err != nil {
		t.Fatal(err)
	}
	call := dial(t, e, "udp", phone)
	step(t, e, call, "safety_general", 1, "1", ivr.KeysINFO)
	if c := waitCDR(t, e); c.Cause != "done" {
		t.Fatalf("cdr %+v", c)
	}
}

// counter reads a counter with one label value from the registry.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestReInviteTolerated(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.ReInvite(ctx); err != nil {
		t.Fatalf("re-INVITE: %v", err)
	}
	if err := call.Send(ctx, "4", ivr.KeysRFC4733); err != nil {
		t.Fatal(err)
	}
	step(t, e, call, "safety_general", 1, "", "")
}

func TestInBandDTMF(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *ivr.Options) { o.InBandDTMF = true })
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "", "")
	if err := call.SendTones("4"); err != nil {
		t.Fatal(err)
	}
	step(t, e, call, "safety_general", 1, "", "")
	if got := counter(t, e.reg, "ivr_dtmf_total", "inband"); got != 1 {
		t.Fatalf("inband keys %v, want 1", got)
	}
}

func TestTransferNoAnswer(t *testing.T) {
	t.Parallel()
	// The caller accepts the REFER but the agent queue never answers: after
	// the transfer timeout the caller hears the apology and the IVR hangs up.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	e := startServer(t, func(o *ivr.Options) {
		tr := o.Flow.Transfers["agent"]
		tr.URI = "sip:agents@" + dead.LocalAddr().String()
		tr.Timeout = 2 * time.Second
		o.Flow.Transfers["agent"] = tr
	})
	c, err := ivr.NewCaller(ivr.CallerConfig{Target: "sip:12123@" + e.srv.Addr("udp"), From: phone, FollowRefer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := c.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup(ctx)
	step(t, e, call, "main_menu", 1, "0", ivr.KeysINFO)
	step(t, e, call, "agent_unavailable", 1, "", "")
	cdr := waitCDR(t, e)
	if cdr.Transfer != "agent:unavailable" || cdr.Cause != "agent_unavailable" {
		t.Fatalf("cdr %+v", cdr)
	}
}

// fakeSynth "speaks" every text as the goodbye prompt, so the caller's
// transcript shows where synthesized speech was played.
type fakeSynth struct {
	pcm   []int16
	mu    sync.Mutex
	texts []string
}

func (f *fakeSynth) Synthesize(_ context.Context, text string) ([]int16, error) {
	f.mu.Lock()
	f.texts = append(f.texts, text)
	f.mu.Unlock()
	return f.pcm, nil
}

func TestSynthesizedPlace(t *testing.T) {
	t.Parallel()
	synth := &fakeSynth{}
	e := startServer(t, func(o *ivr.Options) { o.Synth = synth })
	f, err := os.Open(filepath.Join(e.dir, "goodbye.wav"))
	if err != nil {
		t.Fatal(err)
	}
	synth.pcm, err = ivr.ReadWAV(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "3", ivr.KeysINFO)
	step(t, e, call, "enter_id", 1, "12345*#", ivr.KeysINFO)
	step(t, e, call, "after_query", 1, "", "")
	if !containsSeq(call.Transcript(e.lib), []string{"latest_violation", "place", "goodbye", "after_query"}) {
		t.Fatalf("place not spoken: %v", call.Transcript(e.lib))
	}
	synth.mu.Lock()
	defer synth.mu.Unlock()
	if !slices.Equal(synth.texts, []string{"长安街"}) {
		t.Fatalf("synthesized %q", synth.texts)
	}
}

func TestTransferBridge(t *testing.T) {
	// The IVR calls the agent queue (a second IVR) itself and bridges the
	// audio: the caller hears the agent side's welcome through it.
	t.Parallel()
	agent := startServer(t, nil)
	e := startServer(t, func(o *ivr.Options) {
		tr := o.Flow.Transfers["agent"]
		tr.URI = "sip:agents@" + agent.srv.Addr("udp")
		tr.Method = "bridge"
		o.Flow.Transfers["agent"] = tr
	})
	call := dial(t, e, "udp", phone)
	step(t, e, call, "main_menu", 1, "0", ivr.KeysINFO)
	step(t, e, call, "transfer", 1, "", "")
	step(t, e, call, "welcome", 2, "", "") // the agent side's greeting, bridged
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call.Hangup(ctx)
	cdr := waitCDR(t, e)
	if cdr.Transfer != "agent:ok" || cdr.Cause != "transferred" {
		t.Fatalf("cdr %+v", cdr)
	}
	// The agent leg was hung up by the IVR when the caller left.
	if a := waitCDR(t, agent); a.Cause != "caller_hangup" {
		t.Fatalf("agent cdr %+v", a)
	}
}
