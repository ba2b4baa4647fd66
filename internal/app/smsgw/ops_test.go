package smsgw

// Operations checks: metric names follow the Prometheus conventions, the
// logs of an end-to-end run never show a phone number, an ID number or a
// name in full, the deploy/ configuration loads with the real schema, and
// the Prometheus files in deploy/ pass promtool and only name metrics the
// code exports.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/broker"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

const repoRoot = "../../.."

// TestMetricsLint runs real traffic through a gateway built on a registry
// of its own (kfake, four SMSC simulators, SQLite, the shipped rules), so
// that the labelled families exist too, then lints every family with
// client_golang's linter. A problem names the metric.
func TestMetricsLint(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	reg, addr := runGateway(t, 200)

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	// The families the dashboard and the alerts lean on most must exist
	// after traffic, with their labels.
	for _, name := range []string{
		"smsgw_submits_total", "smsgw_receipts_total", "smsgw_binds_up", "smsgw_rules_fired_total",
		"smsgw_ledger_duration_seconds", "smpp_window_in_use", "smpp_binds_up", "ingest_records_total",
		"ingest_lag_records", "ingest_dead_lettered_total", "smsgw_rules_last_reload_successful",
	} {
		if !got[name] {
			t.Errorf("metric %s not exported after an end-to-end run", name)
		}
	}

	// The exposition served on /metrics is what Prometheus scrapes.
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`smsgw_binds_up{carrier="china_mobile"}`)) {
		t.Fatalf("/metrics: status %d, no smsgw_binds_up for china_mobile:\n%.2000s", res.StatusCode, body)
	}
}

// runGateway publishes events on a kfake broker and runs the gateway
// against four simulators until every message to send has its final
// receipt; it returns the gateway's registry and HTTP address (still
// serving until the test ends).
func runGateway(t *testing.T, events int) (*prometheus.Registry, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t))
	start := time.Now()
	clock := func() time.Time { return now.Add(time.Since(start)) }

	topics := map[string]int{"events.dlq": 1, "sms.status": 2}
	for _, tp := range eventgen.TopicNames() {
		topics[tp] = 2
	}
	b, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	cfg := config.Default()
	cfg.Instance = "ops-test"
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(dir, "ledger.db")
	cfg.Rules.Dir = filepath.Join(repoRoot, "rules")
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.Sender.RetryBackoff = config.Duration(200 * time.Millisecond)
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	for i, c := range DemoCarriers {
		s := smsc.New(smsc.Config{
			Name: c.Name, SystemID: "12123", Password: "ops", IDFormat: c.IDFormat,
			ReceiptDelay: 10 * time.Millisecond, Seed: int64(i + 1),
			Outcomes: map[string]float64{"DELIVRD": 0.9, "UNDELIV": 0.1},
		})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		cfg.Carriers = append(cfg.Carriers, config.Carrier{
			Name: c.Name, Addr: s.Addr(), Password: "ops", Binds: 1, Window: 64,
			ResponseTimeout: config.Duration(10 * time.Second),
			Sections:        carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(30 * time.Second)}),
		})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := eventgen.Publish(ctx, b.Addrs(), eventgen.New(11, now), events, eventgen.PublishOptions{MalformedFraction: 0.02}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	a, err := New(ctx, Options{Config: &cfg, Now: clock, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})

	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := a.Store().Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := s.States
		pending := st[message.StateQueued] + st[message.StateSending] + st[message.StateSubmitted] + st[message.StateUnknown]
		final := st[message.StateDelivered] + st[message.StateFailed]
		if pending == 0 && final > 0 && counterSum(t, reg, "ingest_records_total") >= float64(events) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not finish the traffic: states %v", st)
		}
		select {
		case err := <-done:
			t.Fatalf("gateway stopped early: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return reg, a.HTTPAddr()
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

var (
	// A mainland mobile number (also with 86 in front) or an 18-character
	// ID number standing alone (not inside a longer run of digits such as
	// a nanosecond time).
	phoneRE = regexp.MustCompile(`(?:^|[^0-9])(?:\+?86)?(1[3-9][0-9]{9})(?:[^0-9]|$)`)
	// A masked number: stars, then the last four digits.
	maskedRE = regexp.MustCompile(`[0-9]\*{4,}([0-9]{4})(?:[^0-9]|$)`)
	idRE     = regexp.MustCompile(`(?:^|[^0-9])([1-9][0-9]{16}[0-9Xx])(?:[^0-9Xx]|$)`)
)

// TestLogsMasked runs the demo (broker, simulators, gateway: every
// component gets the demo's logger) with a JSON logger at debug level and
// scans every line: no phone number, ID number or holder name of the
// published events may appear in full, and nothing that looks like a
// phone or ID number may appear at all.
func TestLogsMasked(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	t.Parallel()
	const events, seed = 250, 5
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t))
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Demo(context.Background(), DemoOptions{
		Events: events, Seed: seed, Now: now, RulesDir: filepath.Join(repoRoot, "rules"),
		BadFraction: 0.03, ReceiptDelay: 10 * time.Millisecond,
		Outcomes: map[string]float64{"DELIVRD": 0.85, "UNDELIV": 0.1, "EXPIRED": 0.05},
		Timeout:  3 * time.Minute, Logger: log,
	})
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if s.Submitted == 0 {
		t.Fatalf("demo sent nothing: %+v", s)
	}
	out := buf.Bytes()
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) < 10 {
		t.Fatalf("only %d log lines: the logger does not reach the components", len(lines))
	}
	for i, l := range lines {
		if !json.Valid(l) {
			t.Fatalf("line %d is not JSON: %s", i+1, l)
		}
	}
	components := map[string]bool{}
	for _, l := range lines {
		var rec map[string]any
		_ = json.Unmarshal(l, &rec)
		if c, ok := rec["component"].(string); ok {
			components[c] = true
		}
	}
	t.Logf("%d log lines (%d bytes) from components %v", len(lines), len(out), keys(components))

	phones, ids, names := personalData(t, seed, now, events)
	if len(phones) == 0 || len(ids) == 0 || len(names) == 0 {
		t.Fatalf("the generated events hold %d phones, %d ID numbers, %d names: nothing to look for", len(phones), len(ids), len(names))
	}
	// Recipients do reach the logs (masked: the simulators log every
	// submit_sm's destination at debug level), so the scan below is not
	// vacuous.
	last4 := map[string]bool{}
	for _, p := range phones {
		last4[p[len(p)-4:]] = true
	}
	masked := 0
	for _, m := range maskedRE.FindAllSubmatch(out, -1) {
		if last4[string(m[1])] {
			masked++
		}
	}
	if masked == 0 {
		t.Errorf("no recipient appears in the logs even masked: the scan proves nothing")
	}
	t.Logf("%d masked recipient numbers in the logs", masked)
	if d := os.Getenv("OPS_DUMP_LOGS"); d != "" {
		_ = os.WriteFile(d, out, 0o644)
	}
	known := slices.Concat(phones, ids, names)
	for i, l := range lines {
		for _, leak := range leaks(string(l), known) {
			t.Errorf("line %d shows %s: %s", i+1, leak, l)
		}
	}
}

// leaks lists what a log line shows in full: any of the known personal
// values, and anything shaped like a mobile or an ID number.
func leaks(line string, known []string) []string {
	var out []string
	for _, k := range known {
		if strings.Contains(line, k) {
			out = append(out, fmt.Sprintf("%q in full", k))
		}
	}
	if m := phoneRE.FindStringSubmatch(line); m != nil {
		out = append(out, "an unmasked mobile number "+m[1])
	}
	if m := idRE.FindStringSubmatch(line); m != nil {
		out = append(out, "an unmasked ID number "+m[1])
	}
	return out
}

func TestLeaks(t *testing.T) {
	known := []string{"13912345678", "11010519900101103X", "张三丰"}
	for _, tc := range []struct {
		line string
		want int
	}{
		{`{"msg":"submit_sm","dest":"861******5678"}`, 0},
		{`{"msg":"sent","to":"139****5678","holder":"张**"}`, 0},
		{`{"time":"2026-11-27T05:08:25.139365665Z","id":"17956825d8","n":1581234567812}`, 0}, // digits inside longer runs
		{`{"msg":"sent","to":"13912345678"}`, 2},                                             // known and shaped
		{`{"msg":"sent","to":"8613912345678"}`, 2},                                           // international form
		{`{"msg":"sent","to":"+8615812345678"}`, 1},
		{`{"msg":"x","phone":"15800001111"}`, 1}, // unknown, shaped like a mobile
		{`{"msg":"x","id":"11010519900101103X"}`, 2},
		{`{"msg":"x","id":"44030119851231002x"}`, 1},
		{`{"msg":"x","holder":"张三丰"}`, 1},
	} {
		t.Run(tc.line, func(t *testing.T) {
			if got := leaks(tc.line, known); len(got) != tc.want {
				t.Errorf("leaks = %v, want %d", got, tc.want)
			}
		})
	}
}

// personalData regenerates the demo's events (the generator is
// deterministic; malformed records use a random source of their own) and
// collects the phone numbers, ID numbers and holder names in them.
func personalData(t *testing.T, seed int64, now time.Time, n int) (phones, ids, names []string) {
	t.Helper()
	g := eventgen.New(seed, now)
	ps, is, ns := map[string]bool{}, map[string]bool{}, map[string]bool{}
	nameKeys := map[string]bool{"holder": true, "owner": true, "name": true}
	for range n {
		_, _, ev := g.Next()
		b, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range phoneRE.FindAllStringSubmatch(string(b), -1) {
			ps[m[1]] = true
		}
		for _, m := range idRE.FindAllStringSubmatch(string(b), -1) {
			is[m[1]] = true
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		walk(v, func(k string, s string) {
			// Personal names only: two to four Han characters.
			if nameKeys[strings.ToLower(k)] && hanName.MatchString(s) {
				ns[s] = true
			}
		})
	}
	return keys(ps), keys(is), keys(ns)
}

var hanName = regexp.MustCompile(`^\p{Han}{2,4}$`)

func walk(v any, f func(key, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok {
				f(k, s)
			} else {
				walk(c, f)
			}
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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

// TestDeployConfigLoads loads deploy/smsgw.yaml with the real schema after
// setting every environment variable it names, and resolves the secrets.
func TestDeployConfigLoads(t *testing.T) {
	path := filepath.Join(repoRoot, "deploy", "smsgw.yaml")
	envs := envKeys(t, path)
	if len(envs) < 5 {
		t.Fatalf("deploy/smsgw.yaml names %d environment variables (%v), want the ledger DSN and four carrier passwords", len(envs), envs)
	}
	for _, e := range envs {
		v := "secret-" + strings.ToLower(e)
		if e == "SMSGW_LEDGER_DSN" {
			v = "postgres://smsgw:pw@postgres:5432/smsgw?sslmode=disable"
		}
		t.Setenv(e, v)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := cfg.LedgerDSN()
	if err != nil || !strings.HasPrefix(dsn, "postgres://") {
		t.Errorf("ledger DSN %q (%v): the stack's instances share PostgreSQL", dsn, err)
	}
	var names []string
	for _, k := range cfg.Carriers {
		names = append(names, k.Name)
		pw, err := k.ResolvePassword()
		if err != nil || pw == "" {
			t.Errorf("carrier %s: password %q (%v)", k.Name, pw, err)
		}
		if k.Password != "" {
			t.Errorf("carrier %s: inline password in deploy/smsgw.yaml", k.Name)
		}
	}
	if want := route.Names(); !slices.Equal(names, want) {
		t.Errorf("carriers %v, want %v", names, want)
	}
	if cfg.Instance == "" || cfg.Log.Format != "json" || !strings.HasPrefix(cfg.HTTP.Listen, "0.0.0.0:") {
		t.Errorf("instance %q, log %q, http %q: want host-name instance, JSON logs, HTTP on all interfaces", cfg.Instance, cfg.Log.Format, cfg.HTTP.Listen)
	}
}

// envKeys are the values of every *_env key of a YAML file.
func envKeys(t *testing.T, path string) []string {
	t.Helper()
	var doc yaml.Node
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	var visit func(n *yaml.Node)
	visit = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if strings.HasSuffix(n.Content[i].Value, "_env") && n.Content[i+1].Value != "" {
					set[n.Content[i+1].Value] = true
				}
			}
		}
		for _, c := range n.Content {
			visit(c)
		}
	}
	visit(&doc)
	return keys(set)
}

// compose is the part of deploy/compose.yaml the checks read.
type compose struct {
	Services map[string]struct {
		Image       string         `yaml:"image"`
		Build       any            `yaml:"build"`
		Hostname    string         `yaml:"hostname"`
		Entrypoint  []string       `yaml:"entrypoint"`
		Command     []string       `yaml:"command"`
		Environment map[string]any `yaml:"environment"`
		Volumes     []string       `yaml:"volumes"`
		DependsOn   any            `yaml:"depends_on"`
		Ports       []string       `yaml:"ports"`
		StopGrace   string         `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestDeployCompose checks deploy/compose.yaml against the rest of deploy/
// (no container engine runs here, so it is read, not started): services
// referenced exist, every ${VAR} without a default is in .env.example, the
// smsgw containers get every variable deploy/smsgw.yaml names, carriers
// and scrape targets point at services and ports that listen, and the
// topic creator creates every topic the configurations use.
func TestDeployCompose(t *testing.T) {
	dir := filepath.Join(repoRoot, "deploy")
	raw, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kafka", "kafka-init", "postgres", "smsgw-1", "smsgw-2", "ivr",
		"smsc-cmcc", "smsc-cucc", "smsc-ctcc", "smsc-cbn", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s: no image", name)
		}
		var deps []string
		switch d := s.DependsOn.(type) {
		case map[string]any:
			for k := range d {
				deps = append(deps, k)
			}
		case []any:
			for _, k := range d {
				deps = append(deps, fmt.Sprint(k))
			}
		}
		for _, dep := range deps {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts undeclared volume %s", name, src)
			}
		}
	}

	// KRaft formats its storage with CLUSTER_ID: a Kafka Uuid, 16 bytes in
	// URL-safe base64 without padding.
	clusterID, _ := c.Services["kafka"].Environment["CLUSTER_ID"].(string)
	if b, err := base64.RawURLEncoding.DecodeString(clusterID); err != nil || len(b) != 16 || strings.HasPrefix(clusterID, "-") {
		t.Errorf("kafka CLUSTER_ID %q is not a Kafka Uuid (%d bytes, %v)", clusterID, len(b), err)
	}

	// Variables without a default must come from .env.example.
	envExample := map[string]bool{}
	b, err := os.ReadFile(filepath.Join(dir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			envExample[strings.TrimSpace(k)] = true
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}`).FindAllStringSubmatch(string(raw), -1) {
		if !strings.HasPrefix(m[2], ":-") && !envExample[m[1]] {
			t.Errorf("compose.yaml uses ${%s} which .env.example does not set", m[1])
		}
	}

	// The gateway containers get what their configuration names.
	smsgwEnv := envKeys(t, filepath.Join(dir, "smsgw.yaml"))
	for _, name := range []string{"smsgw-1", "smsgw-2"} {
		s := c.Services[name]
		for _, e := range smsgwEnv {
			if _, ok := s.Environment[e]; !ok {
				t.Errorf("%s: deploy/smsgw.yaml reads $%s, compose does not set it", name, e)
			}
		}
		if s.Hostname != name {
			t.Errorf("%s: hostname %q; the ledger instance name comes from it and must differ per instance", name, s.Hostname)
		}
		if !slices.Equal(s.Command, []string{"run", "--config", "/etc/smsgw/smsgw.yaml"}) || !slices.Contains(s.Volumes, "./smsgw.yaml:/etc/smsgw/smsgw.yaml:ro") {
			t.Errorf("%s: command %v volumes %v: want deploy/smsgw.yaml run from /etc/smsgw/smsgw.yaml", name, s.Command, s.Volumes)
		}
		grace, err := time.ParseDuration(s.StopGrace)
		if err != nil || grace <= 30*time.Second {
			t.Errorf("%s: stop_grace_period %q must exceed drain_timeout plus the receipt wait (30 s)", name, s.StopGrace)
		}
	}

	// Carriers point at simulators that listen on that port with that password.
	t.Setenv("SMSGW_LEDGER_DSN", "postgres://x@postgres/smsgw")
	for _, e := range smsgwEnv {
		if e != "SMSGW_LEDGER_DSN" {
			t.Setenv(e, "x")
		}
	}
	cfg, err := config.LoadFile(filepath.Join(dir, "smsgw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range cfg.Carriers {
		host, port, _ := strings.Cut(k.Addr, ":")
		s, ok := c.Services[host]
		if !ok {
			t.Errorf("carrier %s: %s is no compose service", k.Name, host)
			continue
		}
		args := strings.Join(s.Command, " ")
		if !strings.Contains(args, "-listen 0.0.0.0:"+port) || !strings.Contains(args, "${"+k.PasswordEnv+":?}") {
			t.Errorf("carrier %s: simulator %s command %q does not listen on %s with $%s", k.Name, host, args, port, k.PasswordEnv)
		}
	}

	// Topics: everything the configurations read or write is created.
	ivrCfg := readIVRConfig(t, filepath.Join(dir, "ivr.yaml"))
	want := slices.Concat(cfg.Kafka.Topics, []string{cfg.Kafka.DeadLetter, cfg.Kafka.StatusTopic},
		ivrCfg.Kafka.Topics, []string{ivrCfg.Kafka.DeadLetterTopic, ivrCfg.Kafka.CDRTopic})
	script := strings.Join(c.Services["kafka-init"].Command, "\n")
	for _, topic := range want {
		if !regexp.MustCompile(`(?m)(\bt |\bfor topic in .*)` + regexp.QuoteMeta(topic) + `\b`).MatchString(script) {
			t.Errorf("kafka-init does not create topic %s", topic)
		}
	}
	if cfg.Kafka.Brokers[0] != "kafka:9092" || ivrCfg.Kafka.Brokers[0] != "kafka:9092" {
		t.Errorf("brokers %v / %v, want kafka:9092", cfg.Kafka.Brokers, ivrCfg.Kafka.Brokers)
	}

	// Prometheus scrapes every gateway on the port it serves.
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	pb, err := os.ReadFile(filepath.Join(dir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(pb, &prom); err != nil {
		t.Fatal(err)
	}
	_, smsgwPort, _ := strings.Cut(cfg.HTTP.Listen, ":")
	_, ivrPort, _ := strings.Cut(ivrCfg.HTTP.Addr, ":")
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				scraped[tg] = true
				host, port, _ := strings.Cut(tg, ":")
				if host == "localhost" {
					continue
				}
				s, ok := c.Services[host]
				if !ok {
					t.Errorf("job %s scrapes %s: no such service", sc.JobName, tg)
					continue
				}
				switch sc.JobName {
				case "smsgw":
					if port != smsgwPort {
						t.Errorf("job smsgw scrapes %s, smsgw serves on %s", tg, smsgwPort)
					}
				case "ivr":
					if port != ivrPort {
						t.Errorf("job ivr scrapes %s, the IVR serves on %s", tg, ivrPort)
					}
				case "smscsim":
					if !strings.Contains(strings.Join(s.Command, " "), "-metrics 0.0.0.0:"+port) {
						t.Errorf("job smscsim scrapes %s, the simulator serves metrics elsewhere: %v", tg, s.Command)
					}
				}
			}
		}
	}
	for _, tg := range []string{"smsgw-1:" + smsgwPort, "smsgw-2:" + smsgwPort, "ivr:" + ivrPort} {
		if !scraped[tg] {
			t.Errorf("Prometheus does not scrape %s", tg)
		}
	}
}

// ivrConfig is the part of deploy/ivr.yaml the compose checks need (the
// IVR's own loader is tested in internal/app/ivr/ops_test.go).
type ivrConfig struct {
	Kafka struct {
		Brokers         []string `yaml:"brokers"`
		Topics          []string `yaml:"topics"`
		DeadLetterTopic string   `yaml:"dead_letter_topic"`
		CDRTopic        string   `yaml:"cdr_topic"`
	} `yaml:"kafka"`
	HTTP struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
}

func readIVRConfig(t *testing.T, path string) ivrConfig {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c ivrConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// metricRE finds metric names of this project in PromQL and in prose.
var metricRE = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// exportedMetrics are the metric names the code registers: every
// `Name: "..."` of a collector under internal/ and pkg/, and the ingest
// metrics again under the IVR's ivr_ prefix.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`Name:\s*"([a-z][a-z0-9]*_[a-z0-9_]+)"`)
	for _, top := range []string{"internal", "pkg"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, top), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !bytes.Contains(b, []byte("prometheus.")) {
				return nil
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := range names {
		if strings.HasPrefix(n, "ingest_") {
			names["ivr_"+n] = true
		}
	}
	return names
}

// referencedMetrics are the project's metric names in text (PromQL of
// alerts and dashboards), histogram suffixes removed.
func referencedMetrics(text string) map[string]bool {
	out := map[string]bool{}
	for _, tok := range metricRE.FindAllString(text, -1) {
		if strings.Contains(tok, ":") {
			continue // recording rules
		}
		ok := false
		for _, p := range []string{"smsgw_", "ingest_", "smpp_", "ivr_", "smscsim_"} {
			ok = ok || strings.HasPrefix(tok, p)
		}
		if !ok {
			continue
		}
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			tok = strings.TrimSuffix(tok, s)
		}
		out[tok] = true
	}
	return out
}

// dashboardExprs returns every PromQL expression of the dashboard, with
// Grafana's variables replaced by values PromQL accepts.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "smsgw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" {
		t.Error("dashboard has no uid")
	}
	vars := strings.NewReplacer("$__range", "1h", "$__rate_interval", "1m", "$instance", ".*", "$carrier", ".*")
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: grid position %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s #%d", p.Title, i+1)] = vars.Replace(tg.Expr)
		}
	}
	return out
}

// TestDashboardAndAlertsUseRealMetrics: every metric the dashboard or the
// alert rules query is one the code exports, the dashboard has the panels
// operators expect, and every alert's runbook link has its section in
// docs/operations.md.
func TestDashboardAndAlertsUseRealMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	if len(exported) < 40 {
		t.Fatalf("found only %d metric names in the code", len(exported))
	}
	exprs := dashboardExprs(t)
	var all strings.Builder
	for title, e := range exprs {
		for m := range referencedMetrics(e) {
			if !exported[m] {
				t.Errorf("dashboard panel %s queries %s, which no code exports", title, m)
			}
		}
		all.WriteString(title + "\n")
	}
	for _, want := range []string{"Throughput per carrier", "Receipt outcomes", "Window in use", "Binds up", "Consumer lag",
		"Rule fires", "Suppressions", "Ledger latency", "IVR calls", "Menu choices"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("dashboard has no %q panel", want)
		}
	}

	alerts, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
				Annotations         map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(alerts, &rules); err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+\s+(.+)$`).FindAllStringSubmatch(string(docs), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for m := range referencedMetrics(r.Expr) {
				if !exported[m] {
					t.Errorf("rule %s%s queries %s, which no code exports", r.Alert, r.Record, m)
				}
			}
			if r.Alert == "" {
				continue
			}
			names = append(names, r.Alert)
			link := r.Annotations["runbook"]
			_, anchor, ok := strings.Cut(link, "docs/operations.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook %q has no section in docs/operations.md", r.Alert, link)
			}
		}
	}
	for _, want := range []string{"SMSGWCarrierNoBindUp", "SMSGWDeliveryRateDropping", "SMSGWDeadLetterGrowing",
		"SMSGWConsumerLagGrowing", "SMSGWRulesReloadFailed", "IVRMediaErrors"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s", want)
		}
	}

	// The metrics reference in docs/operations.md covers every metric.
	for m := range exported {
		if !bytes.Contains(docs, []byte("`"+m+"`")) {
			t.Errorf("docs/operations.md does not describe metric %s", m)
		}
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestPromtool checks the Prometheus files with promtool (Debian's
// prometheus package; .ci/promtool.sh installs it): the configuration, the
// rules, the rules' unit tests, and the dashboard's queries (wrapped as
// recording rules so that promtool parses them). Without promtool the test
// is skipped, unless CI=true.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not installed (run .ci/promtool.sh)")
		}
		t.Skip("promtool not installed (run .ci/promtool.sh)")
	}
	dir := filepath.Join(repoRoot, "deploy", "prometheus")
	run := func(t *testing.T, args ...string) {
		t.Helper()
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Run("check config", func(t *testing.T) { run(t, "check", "config", "prometheus.yml") })
	t.Run("check rules", func(t *testing.T) { run(t, "check", "rules", "alerts.yml") })
	t.Run("test rules", func(t *testing.T) { run(t, "test", "rules", "alerts_test.yml") })
	t.Run("dashboard queries", func(t *testing.T) {
		exprs := dashboardExprs(t)
		type rule struct {
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		}
		var rs []rule
		titles := keys(func() map[string]bool {
			m := map[string]bool{}
			for k := range exprs {
				m[k] = true
			}
			return m
		}())
		for i, title := range titles {
			rs = append(rs, rule{Record: fmt.Sprintf("dashboard:query_%d:check", i), Expr: exprs[title]})
		}
		b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rs}}})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "dashboard_rules.yml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(f)
		run(t, "check", "rules", abs)
	})
}
