package ivr

// Operations checks for the voice service: metric names follow the
// Prometheus conventions, the logs of a demo call never show the caller's
// phone number, ID number or name in full, and deploy/ivr.yaml loads.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/pkg/ivr"
)

const repoRoot = "../../.."

// TestOpsDemoCall runs the demo with a JSON logger at debug level, places
// a call that verifies with the ID number and asks for the violations,
// then (a) lints every metric family of the app's registry and (b) scans
// every log line for the demo caller's phone number, ID number and name
// and for anything shaped like a mobile or ID number.
func TestOpsDemoCall(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan *App, 1)
	done := make(chan error, 1)
	go func() {
		done <- Demo(ctx, DemoOptions{
			SIP: "127.0.0.1:0", HTTP: "127.0.0.1:0", Events: 300, DataDir: t.TempDir(),
			Prompts: filepath.Join(repoRoot, "prompts"),
			Flows:   filepath.Join(repoRoot, "config", "ivr-flows.yaml"),
			Now:     time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), Out: io.Discard,
			Logger: log, Ready: func(a *App) { ready <- a },
		})
	}()
	var a *App
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("demo ended: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("demo not ready")
	}

	c, err := ivr.NewCaller(ivr.CallerConfig{Target: "sip:12123@" + a.SIPAddr("udp"), From: DemoPhone, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
	defer ccancel()
	call, err := c.Dial(cctx)
	if err != nil {
		t.Fatal(err)
	}
	lib := a.Library()
	for _, s := range []struct{ hear, keys string }{{"welcome", "3"}, {"enter_id", DemoIDKeys}, {"fine_total", ""}} {
		if err := call.WaitStarted(cctx, lib, s.hear, 1); err != nil {
			t.Fatal(err)
		}
		if s.keys != "" {
			if err := call.Send(cctx, s.keys, ivr.KeysRFC4733); err != nil {
				t.Fatal(err)
			}
		}
	}
	call.Hangup(cctx)
	c.Close()
	// The call's record is written once the call has ended.
	for deadline := time.Now().Add(10 * time.Second); ; {
		cdrs, err := a.Store().CDRs(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(cdrs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no call record stored")
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("metrics lint", func(t *testing.T) {
		problems, err := testutil.GatherAndLint(a.reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
		mfs, err := a.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, mf := range mfs {
			names = append(names, mf.GetName())
		}
		for _, want := range []string{"ivr_calls_total", "ivr_menu_choices_total", "ivr_verifications_total", "ivr_ingest_records_total", "ivr_ingest_lag_records"} {
			if !slices.Contains(names, want) {
				t.Errorf("metric %s not exported after a call (have %v)", want, names)
			}
		}
	})

	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}

	t.Run("logs masked", func(t *testing.T) {
		out := buf.Bytes()
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		if len(lines) < 5 {
			t.Fatalf("only %d log lines: the logger does not reach the components", len(lines))
		}
		phoneRE := regexp.MustCompile(`(?:^|[^0-9])(1[3-9][0-9]{9})(?:[^0-9]|$)`)
		idRE := regexp.MustCompile(`(?:^|[^0-9])([1-9][0-9]{16}[0-9Xx])(?:[^0-9Xx]|$)`)
		components := map[string]bool{}
		for i, l := range lines {
			line := string(l)
			var rec map[string]any
			if err := json.Unmarshal(l, &rec); err != nil {
				t.Fatalf("line %d is not JSON: %s", i+1, l)
			}
			if c, ok := rec["component"].(string); ok {
				components[c] = true
			}
			for _, secret := range []string{DemoPhone, DemoIDNumber, "张三"} {
				if strings.Contains(line, secret) {
					t.Errorf("line %d shows %s in full: %s", i+1, secret, line)
				}
			}
			if m := phoneRE.FindStringSubmatch(line); m != nil {
				t.Errorf("line %d shows an unmasked mobile number %s: %s", i+1, m[1], line)
			}
			if m := idRE.FindStringSubmatch(line); m != nil {
				t.Errorf("line %d shows an unmasked ID number %s: %s", i+1, m[1], line)
			}
		}
		// The call is logged, with the caller masked: the scan above did see it.
		if !bytes.Contains(out, []byte("138****8000")) {
			t.Errorf("the demo call is not in the logs (no 138****8000): the scan proves nothing about calls")
		}
		t.Logf("%d log lines from components %v", len(lines), components)
	})
}

// TestDeployConfigLoads loads deploy/ivr.yaml (the compose stack's) with
// the real loader, strictly.
func TestDeployConfigLoads(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join(repoRoot, "deploy", "ivr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.Records.DSN, "postgres://") || strings.Contains(cfg.Records.DSN, ":@") {
		t.Errorf("records DSN %q: want PostgreSQL without an inline password", cfg.Records.DSN)
	}
	if len(cfg.Kafka.Brokers) == 0 || cfg.Kafka.CDRTopic == "" || cfg.HTTP.Addr == "" {
		t.Errorf("kafka %+v http %q: the stack needs brokers, the CDR topic and HTTP", cfg.Kafka, cfg.HTTP.Addr)
	}
	// The flow file the deploy config names is the shipped one (the image
	// copies config/ to /etc/smsgw/config/).
	const imageConfig = "/etc/smsgw/config/"
	if rel, ok := strings.CutPrefix(cfg.Flows, imageConfig); !ok {
		t.Errorf("flows %q: want the image's %s", cfg.Flows, imageConfig)
	} else if _, err := os.Stat(filepath.Join(repoRoot, "config", rel)); err != nil {
		t.Errorf("flows %q: %v", cfg.Flows, err)
	}
}

// lockedBuffer is an io.Writer the components' goroutines share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf.Bytes())
}
