package smsgw

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/traffic12123/gateway/internal/config"
)

// TestReloadUnderLoad reloads the rules continuously while events flow,
// and once swaps in a broken rules file: the broken set is refused (the
// running rules stay, the failure shows in metrics), and the run ends
// exactly as the same load without reloads does — no event was evaluated
// against a half-loaded set, none was lost.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	run := func(during func(ctx context.Context, a *App)) *Summary {
		dir := t.TempDir()
		copyDir(t, "../../../rules", dir)
		s, err := Demo(context.Background(), DemoOptions{
			Events: 800, Seed: 99, Now: time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)),
			RulesDir: dir, ReceiptDelay: 10 * time.Millisecond, Timeout: 3 * time.Minute,
			During: during,
			// One batch for all 800 events in both runs: advisories reach
			// the contacts of earlier batches, so where a batch ends changes
			// their audience, whatever the rules. 2 s was once too short
			// under -race with the reloads compiling CEL on both cores.
			Configure: func(c *config.Config) { c.Kafka.BatchGap, c.Kafka.MaxWait = 0, config.Duration(6*time.Second) },
		})
		if err != nil || !s.Complete {
			t.Fatalf("demo: %v (summary %+v)", err, s)
		}
		return s
	}
	plain := run(nil)

	refused := false
	failures := 0.0
	reloads := 0
	withReloads := run(func(ctx context.Context, a *App) {
		dir := a.cfg.Rules.Dir
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			if i == 20 {
				bad := filepath.Join(dir, "zz-broken.yaml")
				if err := os.WriteFile(bad, []byte("rules:\n  - id: broken\n    on: [licence.snapshot]\n    when: event.licence.pionts > 3\n"), 0o644); err != nil {
					t.Error(err)
					return
				}
				if err := a.Reload(); err == nil {
					t.Error("a rules file with a misspelt field was accepted")
				} else {
					refused = true
				}
				if v := testutil.ToFloat64(a.reloader.success); v != 0 {
					t.Errorf("last reload successful = %v after a refused reload", v)
				}
				os.Remove(bad)
			}
			if err := a.Reload(); err != nil {
				t.Errorf("reload %d: %v", i, err)
				return
			}
			reloads++
			time.Sleep(5 * time.Millisecond)
		}
		failures = testutil.ToFloat64(a.reloader.failures)
	})
	if !refused {
		t.Fatal("the broken reload never ran")
	}
	t.Logf("%d reloads during the run", reloads)
	if reloads < 10 {
		t.Errorf("only %d reloads happened during the load", reloads)
	}
	if failures != 1 {
		t.Errorf("smsgw_rules_reload_failures_total = %v, want 1", failures)
	}
	// A message cancelled at send time (its still_due no longer held)
	// depends on whether the resolving event was ingested before the
	// message was claimed: a timing, not a rules, outcome. What the rules
	// decided is the messages made, sent or cancelled.
	if plain.Events != withReloads.Events || plain.RulesFired != withReloads.RulesFired ||
		plain.Messages+plain.Cancelled != withReloads.Messages+withReloads.Cancelled ||
		!reflect.DeepEqual(plain.Suppressed, withReloads.Suppressed) {
		t.Errorf("reloads changed the outcome:\nwithout %+v\nwith    %+v", plain, withReloads)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
