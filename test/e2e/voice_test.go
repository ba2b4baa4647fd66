package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/loopback"
	"github.com/traffic12123/gateway/pkg/ivr"
	"github.com/traffic12123/gateway/pkg/ivr/trunksim"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// Fallback calls at process level: urgent notices (licence cancelled,
// rules/licence.yaml `channels: [sms, voice]`) whose SMS every carrier
// answers UNDELIV are called out through a trunk by the gateway process.

// failingSimulators are SMSC simulators whose every receipt is UNDELIV.
func failingSimulators(t *testing.T) map[string]*smsc.Server {
	t.Helper()
	sims := map[string]*smsc.Server{}
	for i, name := range carriers {
		s := smsc.New(smsc.Config{Name: name, SystemID: "12123", Password: "e2e", ReceiptDelay: 50 * time.Millisecond,
			Seed: int64(i + 1), Outcomes: map[string]float64{"UNDELIV": 1}, MaxRedeliveries: 1000,
			RedeliveryDelay: 200 * time.Millisecond, MaxRecords: 100_000})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sims[name] = s
	}
	return sims
}

// cancelledLicences are licence.status_changed events (to G, 注销), one
// per phone.
func cancelledLicences(t *testing.T, at time.Time, phones []string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for i, p := range phones {
		first := fmt.Sprintf("11010519900307%03d", i+1)
		num := first + string(event.IDCheckChar(first))
		ev := &event.Event{ID: fmt.Sprintf("voice-e2e-%d-%d", at.Unix(), i), Source: "e2e", Type: event.TypeLicenceStatusChanged,
			Time: at, LicenceStatusChanged: &event.LicenceStatusChanged{OldStatus: "M", NewStatus: "G", Reason: "超过有效期一年以上未换证",
				Licence: event.Licence{Number: num, Holder: "李四", Phone: p, Region: "110105", Class: "C1", Status: "G",
					CycleEnd: at.AddDate(0, 3, 0), ValidUntil: at.AddDate(-1, -2, 0)}}}
		v, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, kafka.Message{Topic: "events.licence", Key: []byte(num), Value: v})
	}
	return out
}

func publishRecords(t *testing.T, ctx context.Context, brokerAddr string, recs []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokerAddr), Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.WriteMessages(wctx, recs...)
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("publish: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func phones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("139%08d", 10001000+i)
	}
	return out
}

// ledgerCall is a call row with its message's state.
type ledgerCall struct {
	ID        int64
	Recipient string
	State     string
	Attempts  int
	SIPCallID string
	SMS       string
}

func (v *ledgerView) calls() ([]ledgerCall, error) {
	rows, err := v.db.Query(`SELECT c.id, c.recipient, c.state, c.attempts, c.sip_call_id, m.state
		FROM calls c JOIN messages m ON m.id = c.message_id ORDER BY c.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledgerCall
	for rows.Next() {
		var c ledgerCall
		if err := rows.Scan(&c.ID, &c.Recipient, &c.State, &c.Attempts, &c.SIPCallID, &c.SMS); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func callFinal(s string) bool {
	switch s {
	case "confirmed", "busy", "no_answer", "failed", "answered_unconfirmed", "cancelled", "expired":
		return true
	}
	return false
}

// waitCalls waits until want calls exist and every one is final.
func waitCalls(t *testing.T, ctx context.Context, view *ledgerView, want int, alive func() bool, logPath string, within time.Duration) []ledgerCall {
	t.Helper()
	deadline := time.Now().Add(within)
	var last []ledgerCall
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !alive() {
			t.Fatalf("gateway exited:\n%s", tail(logPath, 40))
		}
		cs, err := view.calls()
		if err == nil {
			last = cs
			done := len(cs) >= want
			for _, c := range cs {
				done = done && callFinal(c.State)
			}
			if done {
				return cs
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("calls not all final within %v: %+v\n%s", within, last, tail(logPath, 60))
	return nil
}

// journal reads the gateway's call journal.
func journal(t *testing.T, path string) map[string]ivr.CDR {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]ivr.CDR{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c ivr.CDR
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		out[c.CallID] = c
	}
	return out
}

func voiceConfig(trunk, journalPath string, mutate func(*config.Voice)) func(*config.Config) {
	return func(c *config.Config) {
		prompts, _ := filepath.Abs("../../prompts")
		c.Voice = config.Voice{Trunk: trunk, Bind: "127.0.0.1:0", Prompts: prompts, Journal: journalPath, CDRTopic: "",
			CallsPerSecond: 20, MaxConcurrent: 20, RingTimeout: config.Duration(3 * time.Second),
			KeyTimeout: config.Duration(3 * time.Second), MaxPlays: 2, Poll: config.Duration(200 * time.Millisecond)}
		c.Voice.Retry.MaxAttempts = 3
		c.Voice.Retry.Backoff = config.Duration(time.Second)
		c.Voice.Retry.MaxBackoff = config.Duration(2 * time.Second)
		if mutate != nil {
			mutate(&c.Voice)
		}
	}
}

// TestVoiceFallbackSipp: sipp is the callee of every call, one UAS
// scenario per subtest (press 1; press 2, hear the notice again, press 1;
// answer and hang up; 486; ring until CANCEL). Each urgent notice's SMS
// fails, the gateway calls (one attempt: no retry), and the ledger, the
// call journal and sipp agree on how the call ended.
func TestVoiceFallbackSipp(t *testing.T) {
	sippBin, err := exec.LookPath("sipp")
	pcaps := "/usr/share/sip-tester"
	if err == nil {
		_, err = os.Stat(filepath.Join(pcaps, "dtmf_2833_1.pcap"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp or its captures missing (run .ci/sipp.sh): %v", err)
		}
		t.Skipf("sipp not installed: %v", err)
	}
	for _, c := range []struct {
		scenario, state string
		plays           int
	}{
		{"uas_confirm.xml", "confirmed", 1},
		{"uas_again_confirm.xml", "confirmed", 2},
		{"uas_hangup.xml", "answered_unconfirmed", 1},
		{"uas_busy.xml", "busy", 0},
		{"uas_noanswer.xml", "no_answer", 0},
	} {
		t.Run(strings.TrimSuffix(c.scenario, ".xml"), func(t *testing.T) {
			voiceSipp(t, sippBin, pcaps, c.scenario, c.state, c.plays)
		})
	}
}

func voiceSipp(t *testing.T, sippBin, pcaps, scenario, state string, plays int) {
	bin, dir, base, clock, ctx := setup(t)
	brokerAddr := freeAddr(t)
	startBroker(t, bin, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))
	sims := failingSimulators(t)

	const n = 2
	scen, err := os.ReadFile(filepath.Join("../../pkg/ivr/testdata/sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	scenPath := filepath.Join(dir, "uas.xml")
	if err := os.WriteFile(scenPath, []byte(strings.ReplaceAll(string(scen), "/usr/share/sip-tester", pcaps)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freeUDP(t)
	sctx, scancel := context.WithTimeout(ctx, 3*time.Minute)
	defer scancel()
	sipp := exec.CommandContext(sctx, sippBin, "-sf", scenPath, "-m", strconv.Itoa(n), "-i", "127.0.0.1",
		"-p", strconv.Itoa(port), "-mp", strconv.Itoa(freeUDP(t)&^1), "-nostdin", "-timeout", "150s", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "sipp-errors.log"))
	sipp.Dir = dir
	sipp.Env = append(os.Environ(), "TERM=dumb")
	var sippOut strings.Builder
	sipp.Stdout, sipp.Stderr = &sippOut, &sippOut
	if err := sipp.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- sipp.Wait() }()

	ledgerPath := filepath.Join(dir, "ledger.db")
	journalPath := filepath.Join(dir, "calls.cdr.jsonl")
	cfgPath := gatewayConfigWith(t, dir, "voice-gw", brokerAddr, "sqlite://"+ledgerPath, sims,
		voiceConfig("127.0.0.1:"+strconv.Itoa(port), journalPath, func(v *config.Voice) { v.Retry.MaxAttempts = 1 }))
	gwLog := filepath.Join(dir, "gateway.log")
	gw := start(t, "gateway", gwLog, bin, "run", "--config", cfgPath, "--now", clock())
	view := openView(t, ledgerPath)

	publishRecords(t, ctx, brokerAddr, cancelledLicences(t, base, phones(n)))
	calls := waitCalls(t, ctx, view, n, func() bool { return !gw.exited() }, gwLog, 2*time.Minute)
	select {
	case err := <-sippDone:
		if err != nil {
			errs, _ := os.ReadFile(filepath.Join(dir, "sipp-errors.log"))
			t.Errorf("sipp: %v\n%s\n%s", err, tail2(sippOut.String(), 2000), errs)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("sipp did not end after %d calls:\n%s", n, tail2(sippOut.String(), 2000))
	}
	if err := gw.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	recs := journal(t, journalPath)
	for _, c := range calls {
		if c.State != state || c.Attempts != 1 || c.SMS != "failed" {
			t.Errorf("call %d: %s after %d attempts (SMS %s), want %s after 1 (SMS failed)", c.ID, c.State, c.Attempts, c.SMS, state)
		}
		r, ok := recs[c.SIPCallID]
		if !ok {
			t.Errorf("call %d: no call record for %s", c.ID, c.SIPCallID)
			continue
		}
		if r.Outcome != c.State || r.NoticeID != strconv.FormatInt(c.ID, 10) || r.Plays != plays || r.Direction != "outbound" ||
			r.Called != ivr.MaskPhone(c.Recipient) {
			t.Errorf("call %d: record %+v does not agree with the ledger (%s, %d plays)", c.ID, r, c.State, plays)
		}
	}
	if len(recs) != n {
		t.Errorf("%d call records, want %d", len(recs), n)
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", tail(gwLog, 80))
	}
}

func tail2(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// freeUDP returns a loopback UDP port nothing is bound to, below the
// ephemeral range (internal/loopback).
func freeUDP(t *testing.T) int {
	t.Helper()
	addr, err := loopback.FreeAddr("udp")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestVoiceCrash kills the gateway with SIGKILL while it calls (the
// project's trunk simulator answers: confirm, busy, no answer, hang-up)
// and checks that no person whose notice was confirmed is called again,
// that no call is dialled more often than the ledger counted, and that
// every call ends.
func TestVoiceCrash(t *testing.T) { runVoiceCrash(t, "") }

// TestVoiceCrashPostgres is TestVoiceCrash on a PostgreSQL ledger.
func TestVoiceCrashPostgres(t *testing.T) { runVoiceCrash(t, postgresSchema(t)) }

// runVoiceCrash runs the voice crash test on the ledger at dsn ("": a
// SQLite file).
func runVoiceCrash(t *testing.T, dsn string) {
	if testing.Short() {
		t.Skip("process-level crash test")
	}
	bin, dir, base, clock, ctx := setup(t)
	brokerAddr := freeAddr(t)
	startBroker(t, bin, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))
	sims := failingSimulators(t)
	trunk, err := trunksim.Start(trunksim.Config{Listen: "127.0.0.1:0", Seed: 20,
		Mix:     map[string]int{trunksim.Confirm: 5, trunksim.Busy: 1, trunksim.NoAnswer: 1, trunksim.HangUp: 1},
		RingFor: 400 * time.Millisecond, KeyDelay: time.Second, HangUpAfter: 800 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.Close()

	const n, maxAttempts = 12, 5
	dsn, view := ledgerAt(t, dir, dsn)
	journalPath := filepath.Join(dir, "calls.cdr.jsonl")
	cfgPath := gatewayConfigWith(t, dir, "voice-crash", brokerAddr, dsn, sims,
		voiceConfig(trunk.Addr(), journalPath, func(v *config.Voice) { v.CallsPerSecond, v.Retry.MaxAttempts = 4, maxAttempts }))
	gwLog := filepath.Join(dir, "gateway.log")
	publishRecords(t, ctx, brokerAddr, cancelledLicences(t, base, phones(n)))

	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	var killedAt []time.Time
	for run := range 6 {
		// Calls the last kill left in progress stay so in the ledger
		// until the new gateway reconciles them: they are not this run's.
		stale := map[string]bool{}
		if cs, err := view.calls(); err == nil {
			for _, c := range cs {
				stale[c.SIPCallID] = true
			}
		}
		gw := start(t, "gateway", gwLog, bin, "run", "--config", cfgPath, "--now", clock())
		// Kill while a call is up. Even runs: once the ledger shows one
		// dialling, ringing or answered, within the next 1.5 s. Odd runs:
		// once one is answered, 1.4 to 2.4 s later, when a confirming
		// callee has pressed 1 (KeyDelay 1 s) and hears the confirmation.
		inCall := false
		for wait := time.Now().Add(30 * time.Second); time.Now().Before(wait) && !inCall && !gw.exited(); {
			cs, _ := view.calls()
			for _, c := range cs {
				inCall = inCall || (!stale[c.SIPCallID] && (c.State == "answered" || (run%2 == 0 && (c.State == "dialling" || c.State == "ringing"))))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !inCall {
			gw.kill()
			break // nothing left to call
		}
		if run%2 == 0 {
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		} else {
			time.Sleep(1400*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond)
		}
		if gw.exited() {
			t.Fatalf("gateway exited by itself (run %d):\n%s", run, tail(gwLog, 30))
		}
		killedAt = append(killedAt, time.Now())
		gw.kill()
		kills++
	}
	started := countLines(gwLog, "smsgw started")
	gw := start(t, "gateway", gwLog, bin, "run", "--config", cfgPath, "--now", clock())
	calls := waitCalls(t, ctx, view, n, func() bool { return !gw.exited() }, gwLog, 3*time.Minute)
	// The calls may all have ended before this gateway: stop it once it
	// is up (a SIGTERM while it starts finds no handler yet).
	for end := time.Now().Add(30 * time.Second); countLines(gwLog, "smsgw started") == started && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := gw.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	reconciled := countLines(gwLog, "call reconciled after a crash")
	t.Logf("gateway killed %d times during calls; %d calls reconciled after a crash", kills, reconciled)
	if kills == 0 || reconciled == 0 {
		t.Errorf("no kill landed during a call: the test proved nothing")
	}

	byCallee := map[string][]trunksim.Call{}
	for _, c := range trunk.Calls() {
		byCallee[c.Callee] = append(byCallee[c.Callee], c)
	}
	states := map[string]int{}
	for _, c := range calls {
		states[c.State]++
		invites := byCallee[c.Recipient]
		if len(invites) > c.Attempts {
			t.Errorf("call %d: %d INVITEs reached the trunk, the ledger counted %d attempts", c.ID, len(invites), c.Attempts)
		}
		if c.Attempts > maxAttempts {
			t.Errorf("call %d: %d attempts, at most %d", c.ID, c.Attempts, maxAttempts)
		}
		if c.State != "confirmed" {
			continue
		}
		// Nobody is called after the call that confirmed.
		var confirmedAt time.Time
		for _, inv := range invites {
			if inv.CallID == c.SIPCallID {
				confirmedAt = inv.Invited
			}
		}
		if confirmedAt.IsZero() {
			t.Errorf("call %d: confirmed under %s, which the trunk never saw", c.ID, c.SIPCallID)
			continue
		}
		for _, inv := range invites {
			if inv.Invited.After(confirmedAt) {
				t.Errorf("call %d: called again (%s, %s) after it was confirmed", c.ID, inv.CallID, inv.Behaviour)
			}
		}
	}
	// From the callee's side: whoever pressed 1 to a gateway that lived
	// on for another 300 ms after the key's first packet is never called
	// again.
	for callee, invites := range byCallee {
		for _, c := range invites {
			if !strings.Contains(c.KeysSent, "1") {
				continue
			}
			dead := false
			for _, k := range killedAt {
				dead = dead || (k.After(c.Invited) && k.Before(c.FirstKey.Add(300*time.Millisecond)))
			}
			if dead {
				continue
			}
			for _, later := range invites {
				if later.Invited.After(c.KeysAt) {
					t.Errorf("%s pressed 1 at %s (call %s) and was called again at %s",
						callee[len(callee)-4:], c.KeysAt.Format("15:04:05.000"), c.CallID, later.Invited.Format("15:04:05.000"))
				}
			}
		}
	}
	if os.Getenv("E2E_VOICE_DEBUG") != "" {
		for _, k := range killedAt {
			t.Logf("kill %s", k.Format("05.000"))
		}
		for _, c := range trunk.Calls() {
			t.Logf("%s %s inv %s keys %q from %s ended %s", c.Callee[7:], c.Behaviour, c.Invited.Format("05.000"), c.KeysSent, c.FirstKey.Format("05.000"), c.Ended.Format("05.000"))
		}
	}
	t.Logf("calls: %v; trunk: %+v", states, trunk.Stats())
	if states["confirmed"] == 0 {
		t.Errorf("no call confirmed: %v", states)
	}
	if t.Failed() {
		t.Logf("gateway log:\n%s", tail(gwLog, 80))
	}
}
