package smsgw

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/traffic12123/gateway/internal/broker"
	carriersmpp "github.com/traffic12123/gateway/internal/carrier/smpp"
	"github.com/traffic12123/gateway/internal/config"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/eventgen"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/pkg/smpp/smsc"
)

// poisonGateway is a running gateway with its broker, for the poison run.
type poisonGateway struct {
	t     *testing.T
	ctx   context.Context
	b     *broker.Broker
	a     *App
	reg   *prometheus.Registry
	logs  *lockedBuffer
	done  chan error
	token string
	w     *kafka.Writer
	sims  map[string]*smsc.Server // by carrier name
}

func startPoisonGateway(t *testing.T, maxAudience int, tune ...func(*config.Config)) *poisonGateway {
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
	token := "poison-run-admin-token-0123456789"
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Instance = "poison"
	cfg.Kafka.Brokers = b.Addrs()
	cfg.Ledger.DSN = "sqlite://" + filepath.Join(dir, "ledger.db")
	cfg.Rules.Dir = filepath.Join(repoRoot, "rules")
	cfg.Rules.Watch = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.HTTP.AdminListen = "127.0.0.1:0"
	cfg.HTTP.AdminTokenFile = tokenFile
	cfg.Safety.MaxAudience = maxAudience
	cfg.Sender.RetryBackoff = config.Duration(200 * time.Millisecond)
	cfg.Sender.DrainTimeout = config.Duration(5 * time.Second)
	cfg.Log.Level = "debug"
	sims := map[string]*smsc.Server{}
	for i, c := range DemoCarriers {
		s := smsc.New(smsc.Config{Name: c.Name, SystemID: "12123", Password: "ops", IDFormat: c.IDFormat,
			ReceiptDelay: 10 * time.Millisecond, Seed: int64(i + 1), Outcomes: map[string]float64{"DELIVRD": 1}})
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sims[c.Name] = s
		cfg.Carriers = append(cfg.Carriers, config.Carrier{Name: c.Name, Addr: s.Addr(), Password: "ops",
			Binds: 1, Window: 64, ResponseTimeout: config.Duration(10 * time.Second),
			Sections: carriersmpp.Sections(carriersmpp.Section{SystemID: "12123", EnquireLink: config.Duration(30 * time.Second)}),
		})
	}
	for _, f := range tune {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	a, err := New(ctx, Options{Config: &cfg, Now: clock, Registry: reg,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	g := &poisonGateway{t: t, ctx: ctx, b: b, a: a, reg: reg, logs: logs, done: make(chan error, 1), token: token, sims: sims,
		w: &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Balancer: &kafka.Hash{}, BatchBytes: 1_048_000,
			BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}}
	t.Cleanup(func() { g.w.Close() })
	ready := make(chan struct{})
	a.opts.Ready = func(*App) { close(ready) }
	runCtx, stop := context.WithCancel(ctx)
	go func() { g.done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-g.done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-g.done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	return g
}

// publish writes records one by one (a 1 MB record is a batch of its own).
func (g *poisonGateway) publish(msgs ...kafka.Message) {
	g.t.Helper()
	var small []kafka.Message
	for _, m := range msgs {
		if len(m.Value) > 100_000 {
			if err := g.w.WriteMessages(g.ctx, m); err != nil {
				g.t.Fatal(err)
			}
			continue
		}
		small = append(small, m)
	}
	if err := g.w.WriteMessages(g.ctx, small...); err != nil {
		g.t.Fatal(err)
	}
}

// alive fails the test when the gateway stopped (it must never restart).
func (g *poisonGateway) alive() {
	g.t.Helper()
	select {
	case err := <-g.done:
		g.t.Fatalf("gateway stopped: %v", err)
	default:
	}
}

// settle waits until the group has consumed everything and no message is
// on its way.
func (g *poisonGateway) settle() {
	g.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		g.alive()
		lag, err := ingest.GroupLag(g.ctx, g.b.Addrs(), g.a.cfg.Kafka.GroupID, eventgen.TopicNames())
		s, serr := g.a.Store().Summary(g.ctx)
		if err == nil && serr == nil && lag == 0 && metricSum(g.t, g.reg, "smsgw_contacts_pending") == 0 {
			st := s.States
			if st[message.StateQueued]+st[message.StateSending]+st[message.StateSubmitted]+st[message.StateUnknown] == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("did not settle: lag %d (%v), states %v (%v)", lag, err, s.States, serr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *poisonGateway) admin(method, path, token string, body any) (int, []byte) {
	g.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+g.a.AdminAddr()+path, r)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func encode(t *testing.T, topic string, key []byte, ev *event.Event) kafka.Message {
	t.Helper()
	v, err := event.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: topic, Key: key, Value: v}
}

// rawEvent encodes ev without validating it (for records that break the
// contract on purpose) by patching a valid encoding.
func patch(t *testing.T, m kafka.Message, from, to string) kafka.Message {
	t.Helper()
	if !bytes.Contains(m.Value, []byte(from)) {
		t.Fatalf("%q not in %s", from, m.Value)
	}
	m.Value = bytes.Replace(bytes.Clone(m.Value), []byte(from), []byte(to), 1)
	return m
}

func advisory(id string, regions []string, kind, text string) *event.Event {
	return &event.Event{ID: id, Source: "/tmsp/test/advisory", Type: event.TypeAdvisoryPublished,
		Time: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC),
		AdvisoryPublished: &event.AdvisoryPublished{ID: id, Regions: regions, Kind: kind, Text: text,
			ValidUntil: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}}
}

// TestPoisonRun is the proof: valid events interleaved with every
// poison case (and every malformed case the DLQ already handled) through
// the whole gateway. Every valid event's messages arrive, every poison
// record is in the DLQ with its reason or held with its reason, the
// gateway never stops, the lag returns to 0, and no phone or ID number of
// the poison records shows in logs, DLQ headers or metrics.
func TestPoisonRun(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level run")
	}
	const maxAudience = 40
	g := startPoisonGateway(t, maxAudience)
	gen := eventgen.New(23, time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)))
	valid := map[string]bool{}
	var firstPhase []*event.Event
	next := func() kafka.Message {
		topic, key, ev := gen.Next()
		for ev.AdvisoryPublished != nil { // a generated advisory may reach more than the limit
			topic, key, ev = gen.Next()
		}
		valid[ev.ID] = true
		firstPhase = append(firstPhase, ev)
		return encode(t, topic, key, ev)
	}
	wantDLQ := map[string]int{}
	dead := func(reason string, m kafka.Message) kafka.Message { wantDLQ[reason]++; return m }

	// The poison records' personal data, which must never show anywhere.
	const piiPhone, piiID = "13812345678", "310115197809042569"

	// Phase 1: valid events with the records the decoder refuses.
	template := next()
	var msgs []kafka.Message
	poison := []func() kafka.Message{
		func() kafka.Message { // ~1 MB invalid record: used to stop all ingestion
			big := bytes.Repeat([]byte("x"), 1_040_000)
			big[0] = '{'
			return dead("malformed_json", kafka.Message{Topic: "events.licence", Key: []byte("big"), Value: big})
		},
		func() kafka.Message { // a 400 KB id: used to stop sms.status
			m := next()
			delete(valid, firstPhase[len(firstPhase)-1].ID)
			return dead("invalid_field", patch(t, m, `"id":"`, `"id":"`+strings.Repeat("i", 400_000)))
		},
		func() kafka.Message { // invalid UTF-8
			m := next()
			delete(valid, firstPhase[len(firstPhase)-1].ID)
			return dead("malformed_json", patch(t, m, `"source":"`, "\"source\":\"\xff\xfe"))
		},
		func() kafka.Message { // a date in 1901
			return dead("invalid_field", patch(t, template, `"time":"2026`, `"time":"1901`))
		},
		func() kafka.Message { // a date in 9999
			return dead("invalid_field", patch(t, template, `"time":"2026`, `"time":"9999`))
		},
		func() kafka.Message { // unknown type
			return dead("unknown_type", patch(t, template, `"type":"`, `"type":"vehicle.deleted`+`","x":"`))
		},
		func() kafka.Message { // the time attribute holds a phone number
			m := patch(t, template, `"time":"`, `"time":"`+piiPhone+`","x":"`)
			return dead("invalid_field", m)
		},
		func() kafka.Message { // a data date holds an ID number
			ev := advisory("adv-pii", []string{"110100"}, "weather", "大雾")
			m := encode(t, "events.advisory", []byte("adv-pii"), ev)
			return dead("invalid_field", patch(t, m, `"valid_until":"`, `"valid_until":"`+piiID+`","y":"`))
		},
		func() kafka.Message { // 4,001 regions
			rs := make([]string, event.MaxRegions+1)
			for i := range rs {
				rs[i] = "110105"
			}
			ev := advisory("adv-4001", []string{"110100"}, "weather", "大雾")
			m := encode(t, "events.advisory", []byte("adv-4001"), ev)
			b, _ := json.Marshal(rs)
			return dead("invalid_field", patch(t, m, `"regions":["110100"]`, `"regions":`+string(b)))
		},
	}
	for _, r := range event.Reasons { // every malformed case the DLQ already handled
		poison = append(poison, func() kafka.Message {
			m := next()
			delete(valid, firstPhase[len(firstPhase)-1].ID)
			m.Value = eventgen.Corrupt(m.Value, r)
			return dead(string(r), m)
		})
	}
	msgs = append(msgs, template)
	for i := 0; i < 300; i++ {
		msgs = append(msgs, next())
		if i%20 == 10 && len(poison) > 0 {
			msgs = append(msgs, poison[0]())
			poison = poison[1:]
		}
	}
	for _, p := range poison {
		msgs = append(msgs, p())
	}
	g.publish(msgs...)
	g.settle()

	// Phase 2 needs the contacts of phase 1.
	count := func(regions []string) int {
		n := 0
		if err := g.a.Store().ContactsInRegions(g.ctx, regions, func(string) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var region string // a county with a few contacts
	for _, ev := range firstPhase {
		var r string
		switch {
		case ev.LicenceSnapshot != nil:
			r = ev.LicenceSnapshot.Licence.Region
		case ev.VehicleSnapshot != nil:
			r = ev.VehicleSnapshot.Vehicle.Region
		}
		if n := count([]string{r}); r != "" && n >= 1 && n <= maxAudience {
			region = r
			break
		}
	}
	if region == "" {
		t.Fatal("no region with contacts")
	}
	// ~3,000 county codes: none of the generator's (their counties are
	// below 60) except region.
	counties := []string{region}
	for p := 11; len(counties) < 3000; p++ {
		if !event.ValidRegion(fmt.Sprintf("%02d0160", p)) {
			continue
		}
		for c := 1; c <= 5 && len(counties) < 3000; c++ {
			for k := 60; k <= 99 && len(counties) < 3000; k++ {
				counties = append(counties, fmt.Sprintf("%02d%02d%02d", p, c, k))
			}
		}
	}
	provinces := []string{}
	for _, p := range []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
		"42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"} {
		provinces = append(provinces, p+"0000")
	}
	everyone := count(provinces)
	if everyone <= maxAudience {
		t.Fatalf("only %d contacts: the audience limit cannot be shown", everyone)
	}
	held := map[string]string{} // event id -> the reason family its messages are held for
	adv := func(ev *event.Event, heldFor string) kafka.Message {
		if heldFor == "" {
			valid[ev.ID] = true
		} else {
			held[ev.ID] = heldFor
		}
		return encode(t, "events.advisory", []byte(ev.AdvisoryPublished.ID), ev)
	}
	// An id reused with different content: a phase-1 event that made messages.
	var reused kafka.Message
	for _, ev := range firstPhase[1:] {
		if !valid[ev.ID] || ev.LicenceSnapshot == nil {
			continue
		}
		es, _ := g.a.Store().Trace(g.ctx, ledger.TraceQuery{EventID: ev.ID})
		if len(es) == 0 {
			continue
		}
		c := *ev
		l := *ev.LicenceSnapshot
		l.Licence.Points++
		c.LicenceSnapshot = &l
		reused = dead("id_conflict", encode(t, "events.licence", []byte(l.Licence.Number), &c))
		break
	}
	if reused.Value == nil {
		t.Fatal("no phase-1 licence snapshot made messages")
	}
	// A violation whose place carries a link (an event field, not the advisory body).
	var violation kafka.Message
	for _, ev := range firstPhase {
		if ev.ViolationRecorded == nil || !valid[ev.ID] {
			continue
		}
		if es, _ := g.a.Store().Trace(g.ctx, ledger.TraceQuery{EventID: ev.ID}); len(es) == 0 {
			continue
		}
		c := *ev
		v := *ev.ViolationRecorded
		c.ID = ev.ID + "-www"
		v.Violation.ID += "9"
		v.Violation.Place = "详见www.12123-jiaofei.com缴费"
		v.Vehicle.Phone = "13700000001" // a recipient without messages today (no daily cap)
		c.ViolationRecorded = &v
		held[c.ID] = "content_"
		violation = encode(t, "events.violation", []byte(v.Vehicle.Plate), &c)
		break
	}
	if violation.Value == nil {
		t.Fatal("no phase-1 violation made messages")
	}
	gen2 := eventgen.New(24, time.Date(2026, 11, 27, 10, 0, 0, 0, beijing(t)))
	msgs = msgs[:0]
	for i := 0; i < 100; i++ {
		topic, key, ev := gen2.Next()
		if ev.AdvisoryPublished != nil {
			continue // an advisory of the generator may reach more than the limit
		}
		valid[ev.ID] = true
		msgs = append(msgs, encode(t, topic, key, ev))
		switch i {
		case 10:
			msgs = append(msgs, adv(advisory("adv-counties", counties, "weather", "今明两天有大雾，能见度低于100米，请减速慢行。"), ""))
		case 20:
			msgs = append(msgs, adv(advisory("adv-phish", []string{region}, "traffic_control",
				"【交管12123】您有一笔罚款逾期，请访问http://12123-pay.example.cn/q缴纳，否则将扣分。"), "content_"))
		case 30:
			msgs = append(msgs, adv(advisory("adv-fullwidth", []string{region}, "weather", "大雾预警，详情见ｗｗｗ．ａｂｃ．ｃｏｍ"), "content_"))
		case 40:
			msgs = append(msgs, adv(advisory("adv-top", []string{region}, "weather", "道路施工，绕行请查abc.top"), "content_"))
		case 50:
			msgs = append(msgs, adv(advisory("adv-phone", []string{region}, "weather", "大雾，咨询请拨打13912345678"), "content_"))
		case 60:
			msgs = append(msgs, adv(advisory("adv-everyone", provinces, "weather", "全国大范围降温，请注意行车安全。"), ReasonAudience))
		case 70:
			msgs = append(msgs, reused, violation)
		}
	}
	g.publish(msgs...)
	g.settle()

	// Held: stored, not sent, visible with its reason.
	hs, err := g.a.Store().Held(g.ctx, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	heldBy := map[string][]*message.Message{}
	for _, m := range hs {
		heldBy[m.EventID] = append(heldBy[m.EventID], m)
	}
	for id, family := range held {
		ms := heldBy[id]
		if len(ms) == 0 {
			t.Errorf("%s: no held message (want %s…)", id, family)
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.Reason, family) {
				t.Errorf("%s held for %q, want %s…", id, m.Reason, family)
			}
		}
	}
	if n := len(heldBy["adv-everyone"]); n < everyone {
		t.Errorf("advisory to everyone: %d messages held, want at least %d", n, everyone)
	}
	if len(heldBy)-len(held) != 0 {
		t.Errorf("held messages of events that should pass: %v", heldBy)
	}

	// The admin API: closed without the token.
	for _, p := range []struct{ method, path string }{{"GET", "/held"}, {"POST", "/held/release"}, {"POST", "/-/reload"},
		{"GET", "/debug/pprof/goroutine?debug=2"}} {
		if code, _ := g.admin(p.method, p.path, "", nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", p.method, p.path, code)
		}
		if code, _ := g.admin(p.method, p.path, "wrong-token-wrong-token", nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d, want 401", p.method, p.path, code)
		}
	}
	if res, err := http.Post("http://"+g.a.HTTPAddr()+"/-/reload", "text/plain", nil); err == nil {
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Errorf("the main listener serves /-/reload: %d", res.StatusCode)
		}
	}
	code, body := g.admin("GET", "/held", g.token, nil)
	var listed []HeldMessage
	if code != http.StatusOK || json.Unmarshal(body, &listed) != nil || len(listed) != len(hs) {
		t.Fatalf("GET /held with the token: %d, %d listed, want %d", code, len(listed), len(hs))
	}
	// Release the phishing advisory? No: drop it, and release the
	// audience-limited one (an operator approved the campaign).
	code, body = g.admin("POST", "/held/drop", g.token, HeldRequest{IDs: ids(heldBy["adv-phish"]), Who: "wang.li", Note: "phishing"})
	if code != http.StatusOK {
		t.Fatalf("drop: %d %s", code, body)
	}
	code, body = g.admin("POST", "/held/release", g.token, HeldRequest{Reason: ReasonAudience, Who: "wang.li"})
	var rel HeldResult
	if code != http.StatusOK || json.Unmarshal(body, &rel) != nil || len(rel.Changed) != len(heldBy["adv-everyone"]) {
		t.Fatalf("release: %d %s", code, body)
	}
	if code, _ := g.admin("POST", "/held/release", g.token, HeldRequest{IDs: ids(heldBy["adv-top"])}); code != http.StatusBadRequest {
		t.Errorf("a decision without who: %d, want 400", code)
	}
	g.settle()
	ds, _ := g.a.Store().HeldDecisions(g.ctx, heldBy["adv-phish"][0].ID)
	if len(ds) != 1 || ds[0].Release || ds[0].Who != "wang.li" || ds[0].At.IsZero() {
		t.Errorf("decision on the phishing advisory: %+v", ds)
	}
	delete(held, "adv-everyone")
	valid["adv-everyone"] = true

	// Every valid event's messages arrived; the held ones were not sent.
	sent := 0
	for id := range valid {
		es, err := g.a.Store().Trace(g.ctx, ledger.TraceQuery{EventID: id})
		if err != nil {
			t.Fatal(err)
		}
		for st, m := range lastStates(es) {
			switch st {
			case message.StateDelivered:
				sent++
			case message.StateSuppressed, message.StateExpired, message.StateCancelled, message.StateScheduled:
			default:
				t.Errorf("valid event %s: message %d ended %s", id, m, st)
			}
		}
	}
	if sent < 100 {
		t.Errorf("only %d messages delivered", sent)
	}
	for id := range held {
		es, _ := g.a.Store().Trace(g.ctx, ledger.TraceQuery{EventID: id})
		for st := range lastStates(es) {
			if st != message.StateHeld && st != message.StateCancelled {
				t.Errorf("held event %s has a message in state %s", id, st)
			}
		}
	}

	// Every poison record is in the DLQ with its reason.
	dlq := readTopic(t, g.b.Addrs(), "events.dlq")
	got := map[string]int{}
	for _, m := range dlq {
		r := dlqHeader(m, "dlq-reason")
		got[r]++
		if r == "unknown_type" && strings.Contains(string(m.Value), "vehicle.deleted") && !strings.Contains(dlqHeader(m, "dlq-error"), `"vehicle.deleted"`) {
			t.Errorf("unknown_type error does not name the type: %q", dlqHeader(m, "dlq-error"))
		}
		if len(m.Value) < 1_000_000 && dlqHeader(m, "dlq-size") == "1040000" {
			if dlqHeader(m, "dlq-truncated") != "true" {
				t.Errorf("the 1 MB record's copy is not marked truncated")
			}
		}
	}
	for r, n := range wantDLQ {
		if got[r] != n {
			t.Errorf("DLQ %s: %d records, want %d (all: %v)", r, got[r], n, got)
		}
	}
	if len(dlq) != sum(wantDLQ) {
		t.Errorf("DLQ holds %d records, want %d: %v", len(dlq), sum(wantDLQ), got)
	}

	// Lag back to 0, ready, and the counters say what happened.
	deadline := time.Now().Add(30 * time.Second)
	for g.a.consumer.CommittedLag() != 0 || metricSum(t, g.reg, "ingest_committed_lag_records") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("committed lag %d", g.a.consumer.CommittedLag())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := g.a.Readiness(); err != nil {
		t.Errorf("not ready after the run: %v", err)
	}
	if n := counterSum(t, g.reg, "smsgw_event_id_conflicts_total"); n != 1 {
		t.Errorf("smsgw_event_id_conflicts_total = %v", n)
	}
	if n := counterSum(t, g.reg, "smsgw_messages_held_total"); int(n) != len(hs) {
		t.Errorf("smsgw_messages_held_total = %v, want %d", n, len(hs))
	}
	g.alive()

	// No phone or ID number of the poison records (or any full phone
	// number) in logs, DLQ headers or metrics.
	res, err := http.Get("http://" + g.a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var headers bytes.Buffer
	for _, m := range dlq {
		for _, h := range m.Headers {
			if strings.HasPrefix(h.Key, "dlq-") {
				fmt.Fprintf(&headers, "%s=%s\n", h.Key, h.Value)
			}
		}
	}
	phoneRE := regexp.MustCompile(`(^|[^0-9])1[3-9][0-9]{9}([^0-9]|$)`)
	idRE := regexp.MustCompile(`(^|[^0-9])[1-8][0-9]{16}[0-9X]([^0-9]|$)`)
	for what, b := range map[string][]byte{"logs": g.logs.Bytes(), "DLQ headers": headers.Bytes(), "metrics": metrics} {
		for _, s := range []string{piiPhone, piiID, "13912345678"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contain %s", what, s)
			}
		}
		if m := phoneRE.Find(b); m != nil {
			t.Errorf("%s contain a phone number: %q", what, m)
		}
		if m := idRE.Find(b); m != nil {
			t.Errorf("%s contain an ID number: %q", what, m)
		}
	}
	t.Logf("%d valid events, %d delivered, %d held (%d released, 1 advisory dropped), DLQ %v", len(valid), sent, len(hs), len(rel.Changed), got)
}

// ReasonAudience is dispatch.ReasonAudienceTooLarge, spelled out so that
// the test reads like the API.
const ReasonAudience = "audience_over_limit"

func ids(ms []*message.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// lastStates returns each message's last state in a trace, as state ->
// message id (one entry per message id).
func lastStates(es []ledger.TraceEntry) map[message.State]int64 {
	last := map[int64]message.State{}
	for _, e := range es {
		if e.Kind == ledger.TraceState {
			last[e.MessageID] = e.State
		}
	}
	out := map[message.State]int64{}
	for id, st := range last {
		out[st] = id
	}
	return out
}

func dlqHeader(m kafka.Message, k string) string {
	for _, h := range m.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func readTopic(t *testing.T, addrs []string, topic string) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(context.Background(), "tcp", addrs[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, last, err := conn.ReadOffsets()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: addrs, Topic: topic, Partition: 0, MaxWait: 50 * time.Millisecond, MaxBytes: 4 << 20})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for int64(len(out)) < last-first {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// metricSum sums a counter's or a gauge's series.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return n
}
