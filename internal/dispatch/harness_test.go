package dispatch_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/traffic12123/gateway/internal/directory"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/postgres"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
)

// stores runs fn against a fresh SQLite ledger and a fresh PostgreSQL one
// (skipped without SMSGW_TEST_POSTGRES_DSN, failed without it under CI).
func stores(t *testing.T, fn func(t *testing.T, open func(clock func() time.Time) ledger.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(clock func() time.Time) ledger.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"), ledger.Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgSchema(t)
		fn(t, func(clock func() time.Time) ledger.Store {
			s, err := postgres.Open(t.Context(), dsn, ledger.Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

// pgSchema creates a fresh schema, dropped after the test, and returns a
// DSN that uses it.
func pgSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SMSGW_TEST_POSTGRES_DSN")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SMSGW_TEST_POSTGRES_DSN unset under CI: run .ci/postgres.sh")
		}
		t.Skip("SMSGW_TEST_POSTGRES_DSN unset; eval \"$(.ci/postgres.sh)\" to run")
	}
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "dispatch_test_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		admin.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// clock is a settable test clock.
type clock struct{ n atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.n.Load()) }
func (c *clock) Set(t time.Time)     { c.n.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.n.Add(int64(d)) }

// rig is a pipeline on a real rule set, policy, router, directory and
// ledger.
type rig struct {
	t     *testing.T
	clock *clock
	store ledger.Store
	p     *dispatch.Pipeline
	set   *rules.Set
	seq   int
}

func newRig(t *testing.T, store func(func() time.Time) ledger.Store, files map[string]string, start time.Time) *rig {
	t.Helper()
	c := &clock{}
	c.Set(start)
	fs := map[string][]byte{}
	for k, v := range files {
		fs[k] = []byte(v)
	}
	set, err := rules.Load(fs, rules.Options{})
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	return newRigSet(t, store, set, start)
}

// newRigSet is newRig on a loaded rule set.
func newRigSet(t *testing.T, store func(func() time.Time) ledger.Store, set *rules.Set, start time.Time) *rig {
	t.Helper()
	c := &clock{}
	c.Set(start)
	s := store(c.Now)
	var ev dispatch.Evaluator = set
	cur := &atomic.Pointer[dispatch.Evaluator]{}
	cur.Store(&ev)
	router, err := route.New(route.Table{}, route.Carrier("china_mobile"))
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.New(directory.Config{Store: s, Sync: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); dir.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	p := dispatch.NewPipeline(dispatch.PipelineConfig{
		Rules: cur, Policy: policy.New(policy.Config{}, s), Router: router, Ledger: s, Directory: dir,
		Carriers: map[route.Carrier]bool{"china_mobile": true, "china_unicom": true, "china_telecom": true, "china_broadnet": true},
		Now:      c.Now, Metrics: dispatch.NewMetrics(nil),
	})
	return &rig{t: t, clock: c, store: s, p: p, set: set}
}

// event decodes a CloudEvent of typ with data, stamped with the clock.
func (r *rig) event(typ string, data any) *event.Event {
	r.t.Helper()
	r.seq++
	raw, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": fmt.Sprintf("ev-%d", r.seq), "source": "/test", "type": typ,
		"time": r.clock.Now().Format(time.RFC3339Nano), "data": data,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	e, err := event.Decode(raw)
	if err != nil {
		r.t.Fatalf("decode %s: %v", typ, err)
	}
	return e
}

// handle runs one batch.
func (r *rig) handle(evs ...*event.Event) {
	r.t.Helper()
	batch := make([]ingest.Record, len(evs))
	for i, e := range evs {
		batch[i] = ingest.Record{Event: e, Topic: "t", Offset: int64(i)}
	}
	if err := r.p.Handle(r.t.Context(), batch); err != nil {
		r.t.Fatalf("handle: %v", err)
	}
}

// trace returns the last state and reason of every message a query finds,
// by rule id and recipient.
func (r *rig) trace(q ledger.TraceQuery) map[int64]ledger.TraceEntry {
	r.t.Helper()
	es, err := r.store.Trace(r.t.Context(), q)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[int64]ledger.TraceEntry{}
	for _, e := range es {
		if e.Kind == ledger.TraceState {
			out[e.MessageID] = e
		}
	}
	return out
}

// licence is a valid licence of phone with number n (0..9).
func licence(phone string, n int, extra map[string]any) map[string]any {
	nums := []string{"110105199003071239", "11010519491231002X", "110105198001010016", "110105197505050017", "110105198811110019"}
	l := map[string]any{
		"number": nums[n%len(nums)], "holder": "李四", "phone": phone, "region": "110105", "class": "C1", "status": "A",
		"points": 0, "cycle_end": "2027-03-01T00:00:00+08:00", "valid_until": "2032-03-01T00:00:00+08:00",
	}
	for k, v := range extra {
		l[k] = v
	}
	return l
}
