package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"
	_ "modernc.org/sqlite"

	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/loopback"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

var carriers = []string{"china_mobile", "china_unicom", "china_telecom", "china_broadnet"}

// buildSMSGW builds cmd/smsgw once per test binary.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "smsgw-e2e-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "smsgw")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/smsgw")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
})

func smsgwBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on right now, for a
// process started next to listen on: below the ephemeral port range, so
// that no outgoing connection takes it first (internal/loopback).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.FreeAddr("tcp")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func start(t *testing.T, name, logPath string, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = f
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to d, then kills.
func (p *proc) stop(d time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if ps := p.cmd.ProcessState; ps != nil && !ps.Success() {
			return fmt.Errorf("%s exited: %v", p.name, ps)
		}
		return nil
	case <-time.After(d):
		p.kill()
		return fmt.Errorf("%s did not stop within %v", p.name, d)
	}
}

// A goroutine's header in a dump ("goroutine 7 gp=... [select, 2
// minutes]:"), and the arguments after a function's name.
var (
	dumpHeader = regexp.MustCompile(`^goroutine \d+ .*\[([^\]]*)\]:$`)
	dumpArgs   = regexp.MustCompile(`\((\{|0x|\.\.\.).*\)$|\(\)$| in goroutine \d+$`)
)

// stacks makes a process that stopped making progress dump its
// goroutines (SIGQUIT; it exits) and returns those running the module's
// code, one entry per distinct stack of the module's functions with how
// many share it and what they wait for: where it waits, short enough for
// a CI log. The whole dump stays in the process's log at logPath.
func (p *proc) stacks(logPath string) string {
	if p.exited() {
		return "(" + p.name + " had exited: no stacks)"
	}
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		return "(" + p.name + " did not dump its stacks within 10s)"
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		return err.Error()
	}
	dump := string(b)
	i := strings.LastIndex(dump, "SIGQUIT: quit")
	if i < 0 {
		return "(no goroutine dump in " + logPath + ")"
	}
	type group struct {
		state, stack string
		n            int
	}
	var groups []*group
	seen := map[string]*group{}
	for _, block := range strings.Split(dump[i:], "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		m := dumpHeader.FindStringSubmatch(lines[0])
		if m == nil || !strings.Contains(block, "traffic12123/gateway/") {
			continue
		}
		var fns []string
		for _, l := range lines[1:] {
			if fn, ok := strings.CutPrefix(l, "created by "); ok {
				l = "created by " + fn
			}
			if !strings.HasPrefix(l, "\t") && strings.Contains(l, "traffic12123/gateway/") || strings.HasPrefix(l, "main.") {
				fns = append(fns, strings.ReplaceAll(dumpArgs.ReplaceAllString(l, ""), "github.com/traffic12123/gateway/", ""))
			}
		}
		key := m[1] + "|" + strings.Join(fns, "<")
		if g := seen[key]; g != nil {
			g.n++
			continue
		}
		g := &group{state: m[1], stack: strings.Join(fns, "\n      < "), n: 1}
		seen[key] = g
		groups = append(groups, g)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "goroutines of %s in the module's code (%d distinct stacks; the whole dump is in %s):\n", p.name, len(groups), logPath)
	for i, g := range groups {
		if i == 60 {
			fmt.Fprintf(&out, "  … %d more\n", len(groups)-i)
			break
		}
		fmt.Fprintf(&out, "  %d × [%s]\n      %s\n", g.n, g.state, g.stack)
	}
	return out.String()
}

// logSummary counts a JSON log's warnings and errors by message over the
// whole log, with the first of each: what went wrong early, which a
// failure's log tail does not show.
func logSummary(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	type entry struct {
		n     int
		first string
	}
	var order []string
	byMsg := map[string]*entry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &rec) != nil || (rec.Level != "WARN" && rec.Level != "ERROR") {
			continue
		}
		key := rec.Level + " " + rec.Msg
		e := byMsg[key]
		if e == nil {
			e = &entry{first: sc.Text()}
			if len(e.first) > 400 {
				e.first = e.first[:400] + "…"
			}
			byMsg[key] = e
			order = append(order, key)
		}
		e.n++
	}
	if len(order) == 0 {
		return "no warnings or errors in " + path
	}
	var out strings.Builder
	fmt.Fprintf(&out, "warnings and errors in %s, by message (the first of each):\n", path)
	for _, k := range order {
		fmt.Fprintf(&out, "  %d × %s\n      %s\n", byMsg[k].n, k, byMsg[k].first)
	}
	return out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startBroker runs `smsgw broker` and waits until it answers.
func startBroker(t *testing.T, bin, addr, dataDir, logPath string) *proc {
	t.Helper()
	p := start(t, "broker", logPath, bin, "broker", "--listen", addr, "--data", dataDir,
		"--topics", "events.licence:4,events.vehicle:4,events.violation:4,events.advisory:2,events.dlq:1,sms.status:4")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("broker exited; see %s", logPath)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("broker did not answer on %s", addr)
	return nil
}

// simulators starts one SMSC simulator per carrier in the test process.
func simulators(t *testing.T, receiptDelay time.Duration, faults smsc.Faults) map[string]*smsc.Server {
	t.Helper()
	sims := map[string]*smsc.Server{}
	for i, name := range carriers {
		s := smsc.New(smsc.Config{
			Name: name, SystemID: "12123", Password: "e2e", ReceiptDelay: receiptDelay, Seed: int64(i + 1),
			Outcomes:        map[string]float64{"DELIVRD": 0.9, "UNDELIV": 0.1},
			MaxRedeliveries: 1000, RedeliveryDelay: 200 * time.Millisecond, MaxRecords: 1_000_000, Faults: faults,
		})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sims[name] = s
	}
	return sims
}

// gatewayConfig writes a configuration for a gateway against the broker
// and simulators.
func gatewayConfig(t *testing.T, dir, instance, brokerAddr, dsn string, sims map[string]*smsc.Server) string {
	t.Helper()
	return gatewayConfigWith(t, dir, instance, brokerAddr, dsn, sims, nil)
}

// gatewayConfigWith is gatewayConfig with a last change to the
// configuration (mutate may be nil).
func gatewayConfigWith(t *testing.T, dir, instance, brokerAddr, dsn string, sims map[string]*smsc.Server, mutate func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.Instance = instance
	cfg.Kafka.Brokers = []string{brokerAddr}
	cfg.Kafka.GroupID = "smsgw-e2e"
	cfg.Kafka.SessionTimeout = config.Duration(6 * time.Second)
	cfg.Ledger.DSN = dsn
	cfg.Rules.Dir, _ = filepath.Abs("../../rules")
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.Log.Level = "info"
	cfg.Sender.UnknownGrace = config.Duration(3 * time.Second)
	cfg.Sender.ClaimLease = config.Duration(10 * time.Second)
	cfg.Sender.RetryBackoff = config.Duration(200 * time.Millisecond)
	cfg.Sender.RetryBackoffMax = config.Duration(2 * time.Second)
	cfg.Sender.MaxAttempts = 50
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	for _, name := range carriers {
		cfg.Carriers = append(cfg.Carriers, config.Carrier{
			Name: name, Addr: sims[name].Addr(), Password: "e2e", Binds: 2, Window: 64,
			ResponseTimeout: config.Duration(5 * time.Second),
			Sections:        carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(5 * time.Second)}),
		})
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, instance+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// publisher publishes generated events in chunks, retrying a chunk until
// the broker takes it (the broker may be killed meanwhile). Records are
// generated once, so a retried chunk is the same records again: Kafka may
// then hold a record twice, which the gateway must absorb.
func publish(ctx context.Context, brokerAddr string, gen *eventgen.Generator, n, chunk int, every time.Duration) error {
	w := &kafka.Writer{Addr: kafka.TCP(brokerAddr), Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
		BatchSize: 500, RequiredAcks: kafka.RequireAll, MaxAttempts: 3}
	defer w.Close()
	for n > 0 {
		k := min(n, chunk)
		recs, err := records(gen, k)
		if err != nil {
			return err
		}
		for {
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := w.WriteMessages(wctx, recs...)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(300 * time.Millisecond)
		}
		n -= k
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

func records(gen *eventgen.Generator, k int) ([]kafka.Message, error) {
	out := make([]kafka.Message, 0, k)
	for range k {
		topic, key, ev := gen.Next()
		v, err := event.Encode(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, kafka.Message{Topic: topic, Key: key, Value: v})
	}
	return out, nil
}

// ledgerAt is the ledger a test's gateways use: the PostgreSQL one at
// dsn, or ("") a SQLite file in dir; it returns the DSN and a view.
func ledgerAt(t *testing.T, dir, dsn string) (string, *ledgerView) {
	t.Helper()
	if dsn != "" {
		return dsn, openViewDSN(t, "pgx", dsn)
	}
	path := filepath.Join(dir, "ledger.db")
	return "sqlite://" + path, openView(t, path)
}

// ledgerView reads a SQLite ledger read-only while the gateway may write.
type ledgerView struct{ db *sql.DB }

func openView(t *testing.T, path string) *ledgerView {
	t.Helper()
	return openViewDSN(t, "sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
}

func openViewDSN(t *testing.T, driver, dsn string) *ledgerView {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &ledgerView{db: db}
}

func (v *ledgerView) states() (map[string]int, error) {
	rows, err := v.db.Query(`SELECT state, count(*) FROM messages GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// accepted counts messages the SMSC accepted (-1 when the ledger cannot
// be read yet).
func (v *ledgerView) accepted() int {
	var n int
	if err := v.db.QueryRow(`SELECT count(*) FROM messages WHERE submitted_at > 0`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// sentTexts counts messages the ledger says the SMSC accepted, by
// recipient and text: those with parts, whether recorded at submit or
// reconciled from a receipt after an unknown outcome.
func (v *ledgerView) sentTexts() (map[string]int, error) {
	rows, err := v.db.Query(`SELECT recipient, body FROM messages m WHERE EXISTS (SELECT 1 FROM parts p WHERE p.message_id = m.id)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var r, b string
		if err := rows.Scan(&r, &b); err != nil {
			return nil, err
		}
		out[r+"|"+b]++
	}
	return out, rows.Err()
}

func (v *ledgerView) keys() (map[string]string, error) {
	rows, err := v.db.Query(`SELECT key, state FROM messages`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, s string
		if err := rows.Scan(&k, &s); err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, rows.Err()
}

// received counts the complete messages the simulators accepted, by
// recipient (national form) and text: on the handset or not (a part
// whose receipt is a failure never reached it), as the ledger's accepted
// messages are.
func received(sims map[string]*smsc.Server) map[string]int {
	out := map[string]int{}
	for _, s := range sims {
		for _, m := range s.Accepted() {
			dest := m.Dest
			if n, err := route.Normalize(dest); err == nil {
				dest = n
			}
			out[dest+"|"+m.Text]++
		}
	}
	return out
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// countLines counts the lines of a log file containing s.
func countLines(path, s string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), s)
}

// postgresSchema creates a fresh schema in the test PostgreSQL (env
// SMSGW_TEST_POSTGRES_DSN), dropped after the test, and returns a DSN that
// uses it. Without the variable the test is skipped, except in CI.
func postgresSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SMSGW_TEST_POSTGRES_DSN")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI without SMSGW_TEST_POSTGRES_DSN: .ci/run starts PostgreSQL")
		}
		t.Skip("SMSGW_TEST_POSTGRES_DSN not set")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("e2e_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
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

// checkExactlyOnce compares what the ledger says the SMSCs accepted with
// what they delivered, by recipient and text, and that every expected
// decision is in the ledger.
func checkExactlyOnce(t *testing.T, view *ledgerView, sims map[string]*smsc.Server, expected map[string]bool) {
	t.Helper()
	keys, err := view.keys()
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for k := range expected {
		if _, ok := keys[k]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("decision %q has no message in the ledger", k)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d expected messages missing", missing, len(expected))
	}
	sent, err := view.sentTexts()
	if err != nil {
		t.Fatal(err)
	}
	got := received(sims)
	dups, lost := 0, 0
	for k, n := range got {
		if n > sent[k] {
			dups++
			if dups <= 5 {
				t.Errorf("SMSC accepted %d times, ledger %d: %s", n, sent[k], k)
			}
		}
	}
	for k, n := range sent {
		if got[k] < n {
			lost++
			if lost <= 5 {
				t.Errorf("ledger says accepted, SMSC accepted %d of %d: %s", got[k], n, k)
			}
		}
	}
	if dups > 0 || lost > 0 {
		t.Errorf("%d messages duplicated, %d not received (of %d sent)", dups, lost, len(sent))
	}
	if len(sent) < len(expected)/2 {
		t.Errorf("only %d messages sent for %d expected decisions", len(sent), len(expected))
	}
}

// settle waits until every published event is committed and no message is
// queued, sending, submitted or unknown.
func settle(t *testing.T, ctx context.Context, view *ledgerView, brokerAddr string, alive func() bool, logPath string, within time.Duration) map[string]int {
	t.Helper()
	var states map[string]int
	deadline := time.Now().Add(within)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("not settled within %v: states %v\n%s", within, states, tail(logPath, 40))
		}
		time.Sleep(time.Second)
		if !alive() {
			t.Fatalf("gateway exited:\n%s", tail(logPath, 40))
		}
		var err error
		if states, err = view.states(); err != nil {
			continue
		}
		lag, err := ingest.GroupLag(ctx, []string{brokerAddr}, "smsgw-e2e", eventgen.TopicNames())
		if err != nil || lag > 0 {
			continue
		}
		if states["queued"]+states["sending"]+states["submitted"]+states["unknown"] == 0 && states["delivered"] > 0 {
			return states
		}
	}
}

// smscFaultsSlow keeps submits in flight long enough for kills to land
// among them.
func smscFaultsSlow() smsc.Faults { return smsc.Faults{SlowResponse: 30 * time.Millisecond} }

// expectedKeys evaluates the default rules on the same generated events
// the test published, at the test's clock.
func expectedKeys(t *testing.T, seed int64, now time.Time, n int) map[string]bool {
	t.Helper()
	set, err := rules.LoadDir("../../rules", rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen := eventgen.New(seed, now)
	out := map[string]bool{}
	for range n {
		_, _, ev := gen.Next()
		res, err := set.Evaluate(ev, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Decisions {
			if len(d.Regions) > 0 {
				continue
			}
			phone, err := route.Normalize(d.Recipient)
			if err != nil {
				continue
			}
			out[message.Key(ev.ID, d.RuleID, phone)] = true
		}
	}
	return out
}

func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// workDir is the test's directory: a temporary one, or, with E2E_KEEP set,
// a directory under it that is kept for inspection (ledger, logs, broker
// data).
func workDir(t *testing.T) string {
	t.Helper()
	keep := os.Getenv("E2E_KEEP")
	if keep == "" {
		return t.TempDir()
	}
	dir := filepath.Join(keep, fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("keeping %s", dir)
	return dir
}

// setup is what every process-level test starts with: the smsgw binary, a
// work directory, a clock at 10:00 Beijing time (outside quiet hours, so
// the run behaves the same whenever CI runs) that the gateways' --now
// follows across restarts, and a context bounding the whole test.
func setup(t *testing.T) (bin, dir string, base time.Time, clock func() string, ctx context.Context) {
	t.Helper()
	bin, dir = smsgwBinary(t), workDir(t)
	base = time.Date(2026, 11, 27, 10, 0, 0, 0, shanghai())
	t0 := time.Now()
	clock = func() string { return base.Add(time.Since(t0)).Format(time.RFC3339Nano) }
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return bin, dir, base, clock, ctx
}
