package ivr_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	appivr "github.com/traffic12123/gateway/internal/app/ivr"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// TestSharedLockout: two IVR instances on one records database (SQLite
// file; PostgreSQL too when SMSGW_TEST_POSTGRES_DSN is set) take 20
// parallel calls from one number, each keying a wrong ID; then the right
// ID. Only max_failures (3) guesses are compared in all, the right one
// after them is refused.
func TestSharedLockout(t *testing.T) {
	dsns := map[string]string{"sqlite": filepath.Join(t.TempDir(), "records.db")}
	if pg := os.Getenv("SMSGW_TEST_POSTGRES_DSN"); pg != "" {
		dsns["postgres"] = pg
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) { sharedLockout(t, dsn) })
	}
}

func sharedLockout(t *testing.T, dsn string) {
	const phone = "13700007777"
	const id = "110105198001017777" // keys 017777#
	var apps [2]*appivr.App
	var regs [2]*prometheus.Registry
	for i := range apps {
		cfg, err := appivr.ParseConfig("ivr.yaml", []byte(`
sip: {udp: 127.0.0.1:0, tcp: 127.0.0.1:0}
prompts: `+filepath.Join("..", "..", "..", "prompts")+`
flows: `+filepath.Join("..", "..", "..", "config", "ivr-flows.yaml")+`
records: {dsn: "`+dsn+`"}
`))
		if err != nil {
			t.Fatal(err)
		}
		regs[i] = prometheus.NewRegistry()
		a, err := appivr.New(context.Background(), appivr.Options{Config: cfg, Registry: regs[i]})
		if err != nil {
			t.Fatal(err)
		}
		apps[i] = a
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	ctx := context.Background()
	st := apps[0].Store()
	// A fresh count on a shared PostgreSQL (other runs used these keys).
	if err := st.Succeeded(ctx, []string{ivr.PhoneKey(phone), ivr.IDKey(id)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.Apply(ctx, &event.Event{ID: "lock-" + phone, Source: "test", Time: now,
		LicenceSnapshot: &event.LicenceSnapshot{Licence: event.Licence{Number: id, Phone: phone, Region: "110105", Status: "A"}}}); err != nil {
		t.Fatal(err)
	}
	verifications := func(result string) float64 {
		sum := 0.0
		for _, reg := range regs {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() != "ivr_verifications_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == result {
						sum += m.GetCounter().GetValue()
					}
				}
			}
		}
		return sum
	}
	call := func(i int, keys string) {
		a := apps[i%2]
		c, err := ivr.NewCaller(ivr.CallerConfig{Target: "sip:12123@" + a.SIPAddr("udp"), From: phone})
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { c.Close() })
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		oc, err := c.Dial(cctx)
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() {
			hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer hcancel()
			oc.Hangup(hctx)
		})
		for _, s := range []struct{ hear, keys string }{{"welcome", "1"}, {"enter_id", keys}} {
			if err := oc.WaitStarted(cctx, a.Library(), s.hear, 1); err != nil {
				t.Error(err)
				return
			}
			if err := oc.Send(cctx, s.keys, ivr.KeysRFC4733); err != nil {
				t.Error(err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { call(i, fmt.Sprintf("65%04d#", i)) })
	}
	wg.Wait()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: failed %v, locked %v, ok %v", what, verifications("failed"), verifications("locked"), verifications("ok"))
			}
		}
	}
	waitFor("20 guesses decided", func() bool { return verifications("failed")+verifications("locked") >= 20 })
	if f, l := verifications("failed"), verifications("locked"); f != 3 || l != 17 {
		t.Fatalf("20 parallel guesses over two instances: %v compared, %v refused; want 3 and 17", f, l)
	}
	call(0, "017777#")
	waitFor("the right ID decided", func() bool { return verifications("locked") >= 18 || verifications("ok") > 0 })
	if ok := verifications("ok"); ok != 0 {
		t.Fatalf("the right ID after 20 guesses was compared and verified (%v)", ok)
	}
}
