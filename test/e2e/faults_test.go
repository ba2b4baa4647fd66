package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// TestCarrierFaults runs messages of 1-4 parts through `smsgw run` against
// simulators that misbehave the way real carrier gateways do (issue 12),
// once per protocol (issue 17): SMPP, CMPP 3.0, CMPP 2.0, SGIP 1.2 and
// SMGP 3.0, each fault the protocol's simulator allows alone and all
// together. Under SMPP the four carriers' SMSCs give hex, decimal,
// zero-padded decimal and UUID ids; under a native protocol all four
// carriers speak it. From the simulators' record of the parts they
// accepted and which of them reached the handset (a part whose receipt
// is a failure, UNDELIV for 10 % of SMPP parts, did not: as with a real
// carrier) and from the ledger it checks:
//   - no part was accepted twice (a message names one id per part, so a
//     second copy is a part no message names) and every accepted part is
//     named by exactly one message;
//   - a delivered message is whole on the handset exactly once (its
//     ledger ids name every part, each on the handset);
//   - a failed or expired message has no part on the handset but those
//     the ledger holds a DELIVRD receipt for (the carrier delivered
//     them and failed another part: a fragment the carrier made, counted
//     in the log) or has no receipt for (lost); so one without a DELIVRD
//     or lost receipt has nothing on the handset; and it names a part
//     with a failure receipt, or none at all (refused, never accepted);
//   - a partial message names some parts but not all, and the handset
//     holds none of its other parts;
//   - per part, a final receipt in the ledger agrees with the handset:
//     DELIVRD exactly when the part is on it;
//   - every receipt is stored on the message whose part carried its id;
//   - no message is left queued, sending, submitted or unknown.
//
// The native simulators' faults are the SMPP ones their protocol has:
// flow control (CMPP result 8, SMGP status 1, SGIP result 11) at random
// and above a TPS, late submit answers, reports never sent, the session
// ended with a submit in flight and that submit answered right after
// (CMPP_TERMINATE, SMGP Exit, SGIP_UNBIND of the submit connection:
// UnbindInFlight), each report ahead of its submit's answer
// (ReportFirst: on the submitting connection for CMPP and SMGP, answered
// by our listener first for SGIP), reports sent twice, and ids that
// start again (not SGIP: the SP assigns its ids). Not run: the native
// simulators' DropEvery (the connection closes after accepting a part,
// unanswered) — SMPP's suite leaves its equivalent out too: with no
// answer and a report that carries no text the part is unknown for
// good, and resending it after UnknownGrace is the only way to deliver
// the message at all.
//
// Durations (400 events, 2 cores shared): SMPP 86 s (eleven cases,
// EmptyReceiptText and ReceiptIDPadded also alone; AllPostgres skipped
// without a DSN; 2026-12-03, load average about 7), plus 2-3 s each for
// ReceiptFirst, DuplicateReceipts and ReceiptOtherBind, which All also
// has since 2026-12-03 (All 15 s, AllPostgres 16 s). The native
// protocols, each run alone on 2026-12-03: CMPP 3.0 67 s (nine cases),
// CMPP 2.0 71 s (nine), SGIP 86 s (eight), SMGP 73 s (nine).
// Throttle50 (19-20 s) and All (17-38 s; SGIP's 38 s was 19 s run alone)
// are the longest; UnbindInFlight, ReportFirst and DuplicateReports take
// 2-3 s each. One protocol:
// go test -run 'TestCarrierFaults/SGIP' ./test/e2e.
func TestCarrierFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level fault test")
	}
	lateBy := 1500 * time.Millisecond // above the 1 s response timeout, below the 3 s unknown grace
	all := smsc.Faults{Throttle: 0.15, Late: 0.05, LateBy: lateBy, EmptyReceiptText: true, ReceiptIDPadded: true,
		UnbindAfter: 40, RestartIDsEvery: 200, LoseReceipts: 0.05, ReceiptFirst: true, DuplicateReceipts: 0.1, ReceiptOtherBind: true}
	type fault struct {
		name     string
		tps      int // per bind; the excess is answered 0x58 (or the protocol's flow control)
		faults   smsc.Faults
		postgres bool
	}
	smppCases := []fault{
		{"TPS30", 30, smsc.Faults{}, false},
		{"Throttle5", 0, smsc.Faults{Throttle: 0.05}, false},
		{"Throttle50", 0, smsc.Faults{Throttle: 0.5}, false},
		{"LateResponses", 0, smsc.Faults{Late: 0.05, LateBy: lateBy}, false},
		{"EmptyReceiptText", 0, smsc.Faults{EmptyReceiptText: true}, false},
		{"ReceiptIDPadded", 0, smsc.Faults{ReceiptIDPadded: true}, false},
		{"EmptyReceiptTextPaddedIDs", 0, smsc.Faults{EmptyReceiptText: true, ReceiptIDPadded: true}, false},
		{"UnbindInFlight", 0, smsc.Faults{UnbindAfter: 40}, false},
		{"RestartIDs", 0, smsc.Faults{RestartIDsEvery: 200}, false},
		{"LostReceipts", 0, smsc.Faults{LoseReceipts: 0.05}, false},
		// What the gateway held before issue 12 and must keep holding:
		// receipts ahead of their response, twice, or on another bind.
		{"ReceiptFirst", 0, smsc.Faults{ReceiptFirst: true}, false},
		{"DuplicateReceipts", 0, smsc.Faults{DuplicateReceipts: 0.2}, false},
		{"ReceiptOtherBind", 0, smsc.Faults{ReceiptOtherBind: true}, false},
		{"All", 30, all, false},
		{"AllPostgres", 30, all, true},
	}
	// The native simulators: each fault they have once, then all of them.
	nativeAll := smsc.Faults{Throttle: 0.15, Late: 0.05, LateBy: lateBy, RestartIDsEvery: 200, LoseReceipts: 0.05,
		UnbindAfter: 40, ReceiptFirst: true, DuplicateReceipts: 0.1}
	nativeCases := func(restartIDs bool) []fault {
		fs := []fault{
			{"TPS30", 30, smsc.Faults{}, false},
			{"Throttle50", 0, smsc.Faults{Throttle: 0.5}, false},
			{"LateResponses", 0, smsc.Faults{Late: 0.05, LateBy: lateBy}, false},
			{"LostReceipts", 0, smsc.Faults{LoseReceipts: 0.05}, false},
			{"UnbindInFlight", 0, smsc.Faults{UnbindAfter: 40}, false},
			{"ReportFirst", 0, smsc.Faults{ReceiptFirst: true}, false},
			{"DuplicateReports", 0, smsc.Faults{DuplicateReceipts: 0.2}, false},
		}
		a := nativeAll
		if restartIDs {
			fs = append(fs, fault{"RestartIDs", 0, smsc.Faults{RestartIDsEvery: 200}, false})
		} else {
			a.RestartIDsEvery = 0
		}
		return append(fs, fault{"All", 30, a, false})
	}
	protocols := []struct {
		name  string
		cases []fault
	}{
		{protoSMPP, smppCases},
		{protoCMPP3, nativeCases(true)},
		{protoCMPP2, nativeCases(true)},
		{protoSGIP, nativeCases(false)},
		{protoSMGP, nativeCases(true)},
	}
	events := 400
	if v, err := strconv.Atoi(os.Getenv("E2E_FAULT_EVENTS")); err == nil && v > 0 {
		events = v // the figures in the table: 2000
	}
	bin := smsgwBinary(t)
	n := 0
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range p.cases {
				n++
				t.Run(tc.name, func(t *testing.T) {
					dsn := "" // SQLite
					if tc.postgres {
						dsn = postgresSchema(t)
					}
					started := time.Now()
					runFaultCase(t, bin, p.name, int64(4000+n), events, tc.tps, tc.faults, dsn)
					t.Logf("%s/%s took %v", p.name, tc.name, time.Since(started).Round(time.Second))
				})
			}
		})
	}
}

var idFormats = []string{smsc.IDHex, smsc.IDDecimal, smsc.IDPadded, smsc.IDUUID}

func runFaultCase(t *testing.T, bin, protocol string, seed int64, events, tps int, faults smsc.Faults, dsn string) {
	dir := workDir(t)
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, shanghai())
	t0 := time.Now()
	clock := func() string { return base.Add(time.Since(t0)).Format(time.RFC3339Nano) }
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	brokerAddr := freeAddr(t)
	startBroker(t, bin, brokerAddr, filepath.Join(dir, "kafka"), filepath.Join(dir, "broker.log"))
	sims := startSims(t, protocol, seed, tps, faults)
	dsn, view := ledgerAt(t, dir, dsn)
	cfgPath := faultConfig(t, dir, brokerAddr, dsn, sims)
	logPath := filepath.Join(dir, "gateway.log")
	gw := start(t, "gateway", logPath, bin, "run", "--config", cfgPath, "--now", clock())

	start := time.Now()
	if err := publish(ctx, brokerAddr, eventgen.New(seed, base), events, 50, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	states := settleFinal(t, ctx, view, brokerAddr, gw, logPath, 5*time.Minute)
	t.Logf("%d events settled in %v", events, time.Since(start).Round(time.Second))
	if err := gw.stop(20 * time.Second); err != nil {
		t.Errorf("graceful stop: %v", err)
	}
	var stats []string
	for _, name := range carriers {
		stats = append(stats, name+": "+sims[name].stats())
	}
	t.Logf("ledger %v; simulators: %s", states, strings.Join(stats, "; "))
	checkParts(t, view, sims, t0.Sub(base))
	if t.Failed() {
		t.Logf("gateway log tail:\n%s", tail(logPath, 40))
	}
}

func faultConfig(t *testing.T, dir, brokerAddr, dsn string, sims map[string]*carrierSim) string {
	t.Helper()
	cfg := config.Default()
	cfg.Instance = "faults-gw"
	cfg.Kafka.Brokers = []string{brokerAddr}
	cfg.Kafka.GroupID = "smsgw-e2e"
	cfg.Kafka.SessionTimeout = config.Duration(6 * time.Second)
	cfg.Ledger.DSN = dsn
	cfg.Rules.Dir, _ = filepath.Abs("../../rules")
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0" // not the default 9124: another run may hold it
	cfg.Log.Level = "info"
	cfg.Log.Format = "json"
	cfg.Sender.UnknownGrace = config.Duration(3 * time.Second)
	cfg.Sender.UnknownResendLimit = 1
	cfg.Sender.ClaimLease = config.Duration(10 * time.Second)
	cfg.Sender.RetryBackoff = config.Duration(100 * time.Millisecond)
	cfg.Sender.RetryBackoffMax = config.Duration(time.Second)
	cfg.Sender.MaxAttempts = 50
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	// Receipts a carrier never sends end the wait within the run.
	cfg.Sender.ReceiptValidity = config.Duration(6 * time.Second)
	cfg.Sender.ReceiptGrace = config.Duration(2 * time.Second)
	for _, name := range carriers {
		cfg.Carriers = append(cfg.Carriers, sims[name].carrier)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "faults.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// settleFinal waits until every published event is committed and no
// message is queued, sending, submitted or unknown (scheduled ones wait
// for their time by design and are not sent in this run). When they are
// not, the failure shows the log's warnings and errors from its start
// and the gateway's goroutines (it is made to dump them): where it
// waits.
func settleFinal(t *testing.T, ctx context.Context, view *ledgerView, brokerAddr string, gw *proc, logPath string, within time.Duration) map[string]int {
	t.Helper()
	var states map[string]int
	deadline := time.Now().Add(within)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("messages not final within %v: states %v\n%s\n%s\n%s", within, states, logSummary(logPath), tail(logPath, 40), gw.stacks(logPath))
		}
		time.Sleep(500 * time.Millisecond)
		if gw.exited() {
			t.Fatalf("gateway exited:\n%s\n%s", logSummary(logPath), tail(logPath, 40))
		}
		var err error
		if states, err = view.states(); err != nil {
			continue
		}
		lag, err := ingest.GroupLag(ctx, []string{brokerAddr}, "smsgw-e2e", eventgen.TopicNames())
		if err != nil || lag > 0 {
			continue
		}
		if states["queued"]+states["sending"]+states["submitted"]+states["unknown"] == 0 && len(states) > 0 {
			return states
		}
	}
}

type ledgerMsg struct {
	id        int64
	recipient string
	carrier   string
	state     string
	segments  int
	ids       []string
	submitted time.Time
	stats     []string // per part, its final receipt's stat in the ledger ("" without one)
}

// checkParts holds the ledger against what the handsets received. shift
// turns the gateway's clock (--now) into the simulators' (ledger time +
// shift = wall time).
func checkParts(t *testing.T, view *ledgerView, sims map[string]*carrierSim, shift time.Duration) {
	t.Helper()
	rows, err := view.db.Query(`SELECT id, recipient, carrier, state, segments, carrier_ids, submitted_at FROM messages WHERE state <> 'suppressed'`)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []ledgerMsg
	for rows.Next() {
		var m ledgerMsg
		var cids string
		var sub int64
		if err := rows.Scan(&m.id, &m.recipient, &m.carrier, &m.state, &m.segments, &cids, &sub); err != nil {
			t.Fatal(err)
		}
		m.submitted = time.Unix(0, sub)
		if cids != "" {
			m.ids = strings.Split(cids, ",")
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	// Parts a receipt reconciled (by text, after an unknown outcome) are
	// in parts only: the message names them too.
	byID := make(map[int64]*ledgerMsg, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		for m.segments > 1 && len(m.ids) < m.segments {
			m.ids = append(m.ids, "")
		}
		byID[m.id] = m
	}
	prows, err := view.db.Query(`SELECT message_id, seq, carrier_id FROM parts WHERE seq >= 0`)
	if err != nil {
		t.Fatal(err)
	}
	for prows.Next() {
		var id, seq int64
		var cid string
		if err := prows.Scan(&id, &seq, &cid); err != nil {
			t.Fatal(err)
		}
		m := byID[id]
		if m == nil {
			continue
		}
		for len(m.ids) <= int(seq) {
			m.ids = append(m.ids, "")
		}
		if m.ids[seq] == "" {
			m.ids[seq] = cid
		}
	}
	prows.Close()
	// Each part's final receipt, from the log of applied receipts (parts
	// rows move to the newest submission of a reused id).
	type msgPart struct {
		id  int64
		cid string
	}
	finalStat := map[msgPart]string{}
	frows, err := view.db.Query(`SELECT message_id, carrier_id, stat FROM receipts ORDER BY received_at`)
	if err != nil {
		t.Fatal(err)
	}
	for frows.Next() {
		var k msgPart
		var stat string
		if err := frows.Scan(&k.id, &k.cid, &stat); err != nil {
			t.Fatal(err)
		}
		if _, ok := finalStat[k]; !ok && (ledger.FinalStat(stat) || stat == ledger.StatAccepted) {
			finalStat[k] = stat
		}
	}
	frows.Close()
	for i := range msgs {
		m := &msgs[i]
		m.stats = make([]string, len(m.ids))
		for seq, cid := range m.ids {
			m.stats[seq] = finalStat[msgPart{m.id, cid}]
		}
	}

	// What reached the handsets: accepted submits, per carrier, recipient
	// and normalised id (ids repeat after an SMSC restart; the recipient
	// and part number tell those apart).
	type partRef struct{ carrier, dest, id string }
	type handsetPart struct {
		sub   acceptedPart
		named int // ledger messages naming it
	}
	onHandset := map[partRef][]*handsetPart{}
	var all []*handsetPart
	sameRef := 0
	for _, name := range carriers {
		for _, sub := range sims[name].parts() {
			dest := sub.Dest
			if n, err := route.Normalize(dest); err == nil {
				dest = n
			}
			sub.Dest = dest
			hp := &handsetPart{sub: sub}
			k := partRef{name, dest, ledger.NormalizeID(sub.MessageID)}
			onHandset[k] = append(onHandset[k], hp)
			all = append(all, hp)
		}
		sameRef += sims[name].sharedRefs()
	}
	byState := map[string]int{}
	carrierFragments, disagree := 0, 0
	for _, m := range msgs {
		byState[m.state]++
		switch m.state {
		case "queued", "sending", "submitted", "unknown":
			t.Errorf("message %d left %s", m.id, m.state)
		}
		named, held, heldNoReceipt, failedReceipt, delivReceipt := 0, 0, 0, 0, 0
		var ref uint16
		for seq, id := range m.ids {
			if id == "" {
				continue
			}
			named++
			stat := m.stats[seq]
			switch {
			case stat == ledger.StatDelivered || stat == ledger.StatAccepted:
				delivReceipt++
			case ledger.FinalStat(stat):
				failedReceipt++
			}
			// The part with this id, this part number and this many
			// parts (ids repeat after an SMSC restart, sometimes for the
			// same phone: then the one the SMSC took nearest the time the
			// ledger recorded the message's submission, not yet named).
			var hit *handsetPart
			var best time.Duration
			at := m.submitted.Add(shift)
			for _, hp := range onHandset[partRef{m.carrier, m.recipient, id}] {
				single := len(m.ids) <= 1 && hp.sub.Total <= 1
				multi := len(m.ids) > 1 && hp.sub.Total == len(m.ids) && hp.sub.Seq == seq+1
				if !single && !multi {
					continue
				}
				d := time.Duration(0)
				if !hp.sub.Time.IsZero() {
					d = max(hp.sub.Time.Sub(at), at.Sub(hp.sub.Time))
				}
				switch {
				case hit == nil, hit.named > 0 && hp.named == 0, (hit.named > 0) == (hp.named > 0) && d < best:
					hit, best = hp, d
				}
			}
			if hit == nil {
				t.Errorf("message %d (%s): part %d id %s is on no handset", m.id, m.state, seq+1, id)
				continue
			}
			hit.named++
			if hit.sub.OnHandset {
				held++
			}
			if ledger.FinalStat(stat) || stat == ledger.StatAccepted {
				if ok := stat == ledger.StatDelivered || stat == ledger.StatAccepted; ok != hit.sub.OnHandset {
					disagree++
					if disagree <= 5 {
						var same []string
						for _, hp := range onHandset[partRef{m.carrier, m.recipient, id}] {
							same = append(same, fmt.Sprintf("%s %s", hp.sub.Time.Format("15:04:05.000"), hp.sub.Stat))
						}
						t.Errorf("message %d (%s, submitted %s): part %d id %s has receipt %s in the ledger, on the handset: %v; the SMSC took this id for this phone at %q",
							m.id, m.state, m.submitted.Format("15:04:05.000"), seq+1, id, stat, hit.sub.OnHandset, same)
					}
				}
			} else if hit.sub.OnHandset {
				heldNoReceipt++ // its receipt was lost: the ledger cannot know
			}
			if named == 1 {
				ref = hit.sub.Ref
			} else if hit.sub.Ref != ref {
				t.Errorf("message %d: parts under references %d and %d: the handset cannot join them", m.id, ref, hit.sub.Ref)
			}
		}
		switch m.state {
		case "delivered", "no_receipt":
			if named != max(len(m.ids), 1) || len(m.ids) == 0 {
				t.Errorf("message %d %s with ids %q: not every part accepted", m.id, m.state, m.ids)
			}
			if m.state == "delivered" && held != named {
				t.Errorf("message %d delivered with ids %q: %d of its %d parts on the handset", m.id, m.ids, held, named)
			}
		case "failed", "expired":
			if named > 0 && failedReceipt == 0 {
				t.Errorf("message %d %s with ids %q: parts accepted and no failure receipt (%q)", m.id, m.state, m.ids, m.stats)
			}
			if held > delivReceipt+heldNoReceipt {
				t.Errorf("message %d %s: %d parts on the handset, %d with a DELIVRD receipt, %d without one (%q)",
					m.id, m.state, held, delivReceipt, heldNoReceipt, m.stats)
			}
			if held > 0 {
				carrierFragments++
			}
		case "partial":
			if named == 0 || named == len(m.ids) {
				t.Errorf("message %d partial with ids %q", m.id, m.ids)
			}
		}
	}
	orphans := 0
	for _, hp := range all {
		if hp.named != 1 {
			orphans++
			if orphans <= 5 {
				t.Errorf("part on handset %s (id %s, part %d/%d ref %d) named by %d ledger messages",
					hp.sub.Dest, hp.sub.MessageID, hp.sub.Seq, hp.sub.Total, hp.sub.Ref, hp.named)
			}
		}
	}
	if orphans > 0 {
		t.Errorf("%d of %d parts on handsets not named by exactly one message (sent twice, or a fragment the ledger does not know)", orphans, len(all))
	}
	// Every receipt is stored on the message whose part carried its id.
	rrows, err := view.db.Query(`SELECT r.message_id, r.carrier, r.carrier_id, m.carrier_ids FROM receipts r JOIN messages m ON m.id = r.message_id
		WHERE NOT EXISTS (SELECT 1 FROM parts p WHERE p.message_id = r.message_id AND p.carrier_id = r.carrier_id)`)
	if err != nil {
		t.Fatal(err)
	}
	bad, n := 0, 0
	for rrows.Next() {
		var id int64
		var carrier, cid, cids string
		if err := rrows.Scan(&id, &carrier, &cid, &cids); err != nil {
			t.Fatal(err)
		}
		n++
		if !containsID(cids, cid) {
			bad++
			if bad <= 5 {
				t.Errorf("receipt for id %s stored on message %d whose parts are %q", cid, id, cids)
			}
		}
	}
	rrows.Close()
	if err := view.db.QueryRow(`SELECT count(*) FROM receipts`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(byState))
	for k := range byState {
		keys = append(keys, fmt.Sprintf("%s=%d", k, byState[k]))
	}
	sort.Strings(keys)
	handset := 0
	for _, hp := range all {
		if hp.sub.OnHandset {
			handset++
		}
	}
	t.Logf("%d messages (%s), %d parts accepted, %d on handsets (%d part keys shared by messages at different times), %d parts twice or named by no message, %d receipts stored, %d on the wrong message, %d parts whose receipt disagrees with the handset, %d failed messages with parts the carrier delivered",
		len(msgs), strings.Join(keys, " "), len(all), handset, sameRef, orphans, n, bad, disagree, carrierFragments)
	if disagree > 0 {
		t.Errorf("%d parts whose final receipt in the ledger disagrees with the handset", disagree)
	}
	if handset == 0 {
		t.Error("nothing reached a handset: the test proves nothing")
	}
}

func containsID(cids, id string) bool {
	for _, x := range strings.Split(cids, ",") {
		if x == id {
			return true
		}
	}
	return false
}
