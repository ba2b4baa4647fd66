package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/traffic12123/gateway/bench/kannel"
)

// ensureKannel installs Debian's kannel package when bearerbox is missing.
func ensureKannel(ctx context.Context) error {
	if _, err := exec.LookPath("bearerbox"); err == nil {
		return nil
	}
	fmt.Fprintln(os.Stderr, "kannel: installing the Debian package")
	for _, args := range [][]string{{"update"}, {"install", "-y", "kannel"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
		}
	}
	_, err := exec.LookPath("bearerbox")
	return err
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func freePort() (int, error) {
	a, err := freeAddr()
	return port(a), err
}

// box is a running bearerbox or smsbox.
type box struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

func startBox(dir, name, conf string) (*box, error) {
	logf, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b := &box{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { b.done <- cmd.Wait(); logf.Close() }()
	return b, nil
}

func (b *box) alive() error {
	select {
	case err := <-b.done:
		b.done <- err
		return fmt.Errorf("%s exited: %w", b.name, err)
	default:
		return nil
	}
}

func (b *box) stop() {
	if b.alive() != nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	// The exit status goes back on done, for alive to report.
	select {
	case err := <-b.done:
		b.done <- err
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		b.done <- <-b.done
	}
}

// dlrSink is the delivery-report callback.
type dlrSink struct {
	mu      sync.Mutex
	final   []time.Time // last final report per message (type 1 or 2)
	reports []int       // final reports per message
	types   map[string]int
	total   int
	done    int // messages with at least `want` final reports
	want    []int
}

func (d *dlrSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	q := r.URL.Query()
	i, err := strconv.Atoi(q.Get("i"))
	t := q.Get("t")
	d.mu.Lock()
	d.types[t]++
	if err == nil && i >= 0 && i < len(d.final) && (t == "1" || t == "2") {
		d.final[i] = now
		d.reports[i]++
		d.total++
		if d.reports[i] == d.want[i] {
			d.done++
		}
	}
	d.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// runKannel is the Kannel mode.
func runKannel(ctx context.Context, o *options) (*Result, error) {
	if err := ensureKannel(ctx); err != nil {
		return nil, fmt.Errorf("kannel: %w", err)
	}
	r, err := newRig(ctx, o, "kannel", 4*o.n+10000)
	if err != nil {
		return nil, err
	}
	defer r.close()
	items, err := makeItems(r.set, o.n, o.carriers, 1, 0, o.seed, r.now)
	if err != nil {
		return nil, err
	}
	if o.kannelText != "" {
		for i := range items {
			items[i].Text = o.kannelText
		}
	}
	kc := kannel.Config{Dir: r.dir, LogLevel: 2}
	for _, p := range []*int{&kc.AdminPort, &kc.SmsboxPort, &kc.SendsmsPort} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	for _, c := range o.carriers {
		// Links with one smsc-id share its traffic (Kannel's smsc routing).
		for range max(o.kannelLinks, 1) {
			kc.SMSCs = append(kc.SMSCs, kannel.SMSC{ID: c, Port: port(r.sims[c].Addr()), SystemID: "12123", Password: "bench", Window: o.window})
		}
	}
	confPath := filepath.Join(r.dir, "kannel.conf")
	f, err := os.Create(confPath)
	if err != nil {
		return nil, err
	}
	if err := kannel.Render(f, kc); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()

	// the callback
	sink := &dlrSink{final: make([]time.Time, len(items)), reports: make([]int, len(items)), want: make([]int, len(items)), types: map[string]int{}}
	for i := range sink.want {
		sink.want[i] = o.kannelDLRs
		if o.kannelDLRs == 0 {
			sink.want[i] = items[i].Segments
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // stopped by Close below
	defer srv.Close()

	bb, err := startBox(r.dir, "bearerbox", confPath)
	if err != nil {
		return nil, err
	}
	defer bb.stop()
	status := fmt.Sprintf("http://127.0.0.1:%d/status.txt?password=bench", kc.AdminPort)
	if err := waitOnline(ctx, status, len(kc.SMSCs), bb.alive); err != nil {
		return nil, fmt.Errorf("bearerbox (logs in %s; -keep to keep them): %w", r.dir, err)
	}
	sb, err := startBox(r.dir, "smsbox", confPath)
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	if err := waitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", kc.SendsmsPort), 30*time.Second); err != nil {
		return nil, fmt.Errorf("smsbox: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // smsbox connects to bearerbox after opening its port
	procs := procSet{bb.cmd.Process.Pid, sb.cmd.Process.Pid}
	alive := func() error {
		if err := bb.alive(); err != nil {
			return err
		}
		return sb.alive()
	}

	fmt.Fprintf(os.Stderr, "kannel: %d messages (%s), sending\n", len(items), o.carriersFlag)
	cpu0, self0 := procs.cpu(), selfCPU()
	start := time.Now()
	accepted, err := sendAll(ctx, kc.SendsmsPort, port(ln.Addr().String()), items, o)
	if err != nil {
		return nil, err
	}
	complete := false
	deadline := time.Now().Add(o.timeout)
	lastPrint := time.Now()
	for time.Now().Before(deadline) && !complete {
		if err := alive(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		sink.mu.Lock()
		done, total := sink.done, sink.total
		sink.mu.Unlock()
		complete = done == len(items)
		if time.Since(lastPrint) >= 2*time.Second {
			fmt.Fprintf(os.Stderr, "  kannel: %d/%d messages have their delivery reports (%d reports)\n", done, len(items), total)
			lastPrint = time.Now()
		}
	}
	cpu1, rss := procs.cpu(), procs.rss()
	harness := selfCPU() - self0

	res := &Result{System: "kannel", Complete: complete, CPUSeconds: cpu1 - cpu0, PeakRSSMB: rss, HarnessCPU: harness, ByCarrier: map[string]CarrierResult{}}
	subs := r.submits()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	res.Receipts = map[string]int{}
	for t, n := range sink.types {
		res.Receipts["dlr_type_"+t] = n
	}
	var e2s, s2r []time.Duration
	perE2S, perS2R := map[string][]time.Duration{}, map[string][]time.Duration{}
	var last time.Time
	lastByCarrier := map[string]time.Time{}
	for i, it := range items {
		s := subs[it.Phone]
		if s == nil || accepted[i].IsZero() {
			continue
		}
		c := res.ByCarrier[it.Carrier]
		c.Messages++
		c.Segments += s.parts
		res.ByCarrier[it.Carrier] = c
		res.Messages++
		res.Segments += s.parts
		if s.messages > 1 {
			res.Duplicates++
		}
		d := s.first.Sub(accepted[i])
		e2s = append(e2s, d)
		perE2S[it.Carrier] = append(perE2S[it.Carrier], d)
		if t := sink.final[i]; !t.IsZero() {
			d := t.Sub(s.last)
			s2r = append(s2r, d)
			perS2R[it.Carrier] = append(perS2R[it.Carrier], d)
			if t.After(last) {
				last = t
			}
			if t.After(lastByCarrier[it.Carrier]) {
				lastByCarrier[it.Carrier] = t
			}
		}
	}
	res.EventToSubmit, res.SubmitToStored = latency(e2s), latency(s2r)
	if !last.IsZero() {
		res.Seconds = last.Sub(start).Seconds()
		res.MessagesPerSec = float64(res.Messages) / res.Seconds
		res.SegmentsPerSec = float64(res.Segments) / res.Seconds
	}
	if res.Messages > 0 {
		res.CPUPer1000 = res.CPUSeconds / float64(res.Messages) * 1000
	}
	for name, c := range res.ByCarrier {
		if t := lastByCarrier[name]; !t.IsZero() {
			c.MessagesPerSec = float64(c.Messages) / t.Sub(start).Seconds()
		}
		c.EventToSubmit, c.SubmitToStored = latency(perE2S[name]), latency(perS2R[name])
		res.ByCarrier[name] = c
	}
	if o.kannelText != "" {
		res.Notes = append(res.Notes, "texts from -kannel-text, not the rules'")
	}
	res.Notes = append(res.Notes, "event→submit is sendsms accepted → first submit_sm; submit→stored is last submit_sm → last delivery report callback")
	return res, nil
}

// waitOnline waits until bearerbox reports n SMSC links online.
func waitOnline(ctx context.Context, statusURL string, n int, alive func() error) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for range 300 {
		if err := alive(); err != nil {
			return err
		}
		if resp, err := c.Get(statusURL); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(b), "(online") >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("SMSC links not online after 30 s")
}

// sendAll posts every item to sendsms from o.kannelConc workers and
// returns when each was accepted.
func sendAll(ctx context.Context, sendsmsPort, cbPort int, items []item, o *options) ([]time.Time, error) {
	accepted := make([]time.Time, len(items))
	tr := &http.Transport{MaxIdleConnsPerHost: o.kannelConc, MaxConnsPerHost: o.kannelConc}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms", sendsmsPort)
	next := make(chan int, o.kannelConc)
	errc := make(chan error, o.kannelConc)
	var wg sync.WaitGroup
	for range o.kannelConc {
		wg.Go(func() {
			for i := range next {
				it := items[i]
				v := url.Values{
					"username": {"bench"}, "password": {"bench"}, "from": {"12123"}, "to": {it.Phone},
					"text": {it.Text}, "coding": {"2"}, "charset": {"UTF-8"}, "smsc": {it.Carrier},
					"dlr-mask": {"1"}, "dlr-url": {fmt.Sprintf("http://127.0.0.1:%d/dlr?i=%d&t=%%d", cbPort, i)},
				}
				resp, err := c.Get(base + "?" + v.Encode())
				if err != nil {
					errc <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errc <- fmt.Errorf("sendsms: %s: %s", resp.Status, strings.TrimSpace(string(b)))
					return
				}
				accepted[i] = time.Now()
			}
		})
	}
	var tick *time.Ticker
	if o.rate > 0 {
		tick = time.NewTicker(time.Duration(float64(time.Second) / o.rate))
		defer tick.Stop()
	}
	var err error
feed:
	for i := range items {
		if tick != nil {
			<-tick.C
		}
		select {
		case next <- i:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return accepted, err
}
