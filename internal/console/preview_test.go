package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/console"
	"github.com/traffic12123/gateway/internal/directory"
	"github.com/traffic12123/gateway/internal/dispatch"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
)

// The preview's policy reads the ledger the gateway writes: these tests
// put earlier events through the real dispatch pipeline (the fixture's
// rules directory, the real policy, router and directory) into the
// fixture's ledger, then preview the next event.

// dispatchAt runs one batch of events through the gateway's pipeline with
// its clock at at.
func (f *fixture) dispatchAt(at time.Time, raws ...string) {
	f.t.Helper()
	set, err := rules.LoadDir(f.rules.dir, rules.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	var ev dispatch.Evaluator = set
	cur := &atomic.Pointer[dispatch.Evaluator]{}
	cur.Store(&ev)
	router, err := route.New(route.Table{}, route.Carrier("china_mobile"))
	if err != nil {
		f.t.Fatal(err)
	}
	dir := directory.New(directory.Config{Store: f.store, Sync: true})
	ctx, cancel := context.WithCancel(f.t.Context())
	done := make(chan struct{})
	go func() { defer close(done); dir.Run(ctx) }()
	defer func() { cancel(); <-done }()
	p := dispatch.NewPipeline(dispatch.PipelineConfig{
		Rules: cur, Policy: policy.New(policy.Config{Location: set.Settings().Location}, f.store), Router: router, Ledger: f.store, Directory: dir,
		Carriers: map[route.Carrier]bool{"china_mobile": true, "china_unicom": true, "china_telecom": true},
		Now:      func() time.Time { return at }, Metrics: dispatch.NewMetrics(nil),
	})
	batch := make([]ingest.Record, len(raws))
	for i, raw := range raws {
		e, err := event.Decode([]byte(raw))
		if err != nil {
			f.t.Fatalf("event %d: %v", i, err)
		}
		batch[i] = ingest.Record{Event: e, Topic: "t", Offset: int64(i)}
	}
	if err := p.Handle(ctx, batch); err != nil {
		f.t.Fatal(err)
	}
}

// violationN is violationEvent with another event id and violation id.
func violationN(n int) string {
	s := strings.Replace(violationEvent, `"id":"ev-console-1"`, fmt.Sprintf(`"id":"ev-console-v%d"`, n), 1)
	return strings.Replace(s, `"id":"V2026112600042"`, fmt.Sprintf(`"id":"V20261126%05d"`, n), 1)
}

// processed is a violation.processed event for the licence of the
// violation example (phone 18912345678): points before and after.
func processed(id string, before, after int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/tmsp/310000/violation","type":"violation.processed",
"time":"2026-11-27T09:00:00+08:00","data":{
"violation":{"id":"V2026112600042","time":"2026-11-26T18:42:00+08:00","place":"延安高架路成都北路下匝道","code":"1352",
"description":"机动车违反禁令标志指示","fine":200,"points":%d,"monitoring":true},
"points_applied":%d,"points_before":%d,
"licence":{"number":"310115198808124567","holder":"王五","phone":"18912345678","region":"310115","class":"C1","status":"A",
"points":%d,"cycle_end":"2027-03-01T00:00:00+08:00","valid_until":"2030-08-12T00:00:00+08:00"}}}`, id, after-before, after-before, before, after)
}

func (c *client) preview(event, now string) console.PreviewResult {
	c.f.t.Helper()
	code, b := c.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(event), "now": now})
	if code != 200 {
		c.f.t.Fatalf("preview: %d %s", code, b)
	}
	return decodeJSON[console.PreviewResult](c.f.t, b)
}

func fired(t *testing.T, res console.PreviewResult, rule string) console.Fired {
	t.Helper()
	for _, f := range res.Fired {
		if f.Rule == rule {
			return f
		}
	}
	t.Fatalf("%s did not fire: %+v", rule, res.Fired)
	return console.Fired{}
}

func TestPreviewDedupe(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	// The gateway takes the event in and stores its message.
	f.dispatchAt(now, violationEvent)
	// The same event again: the rule fires, policy suppresses it as a
	// duplicate, and says why.
	fr := fired(t, v.preview(violationEvent, "2026-11-27T10:05"), "violation.recorded")
	if fr.Policy != policy.ReasonDuplicate || !strings.Contains(fr.PolicyDetail, "dedupe key") || !strings.Contains(fr.PolicyDetail, "90d") {
		t.Fatalf("the same event again: policy %q (%s), want duplicate within 90d", fr.Policy, fr.PolicyDetail)
	}
	// Another violation to the same person is news: it is sent.
	if fr := fired(t, v.preview(violationN(1), "2026-11-27T10:05"), "violation.recorded"); fr.Policy != "send" || fr.PolicyDetail != "" {
		t.Fatalf("another violation: policy %q (%s), want send", fr.Policy, fr.PolicyDetail)
	}
	// Past the rule's 90-day window the same violation is told again.
	if fr := fired(t, v.preview(violationEvent, "2027-03-01T10:00"), "violation.recorded"); fr.Policy != "send" {
		t.Fatalf("after the dedupe window: policy %q (%s), want send", fr.Policy, fr.PolicyDetail)
	}
}

func TestPreviewCaps(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	// rules/settings.yaml: 3 per recipient per day, 10 per week. Three
	// violations today reach the daily cap.
	f.dispatchAt(now.Add(-time.Hour), violationN(1), violationN(2), violationN(3))
	fr := fired(t, v.preview(violationEvent, "2026-11-27T10:00"), "violation.recorded")
	if fr.Policy != policy.ReasonDailyCap || !strings.Contains(fr.PolicyDetail, "3 messages today") {
		t.Fatalf("fourth today: policy %q (%s), want daily_cap", fr.Policy, fr.PolicyDetail)
	}
	// An urgent rule (满分, violation.points_12) is not held back by caps.
	if fr := fired(t, v.preview(processed("ev-p12", 9, 12), "2026-11-27T10:00"), "violation.points_12"); !fr.Urgent || fr.Policy != "send" {
		t.Fatalf("urgent under the cap: %+v", fr)
	}
	// Tomorrow the day starts afresh; the week still counts 3.
	if fr := fired(t, v.preview(violationEvent, "2026-11-28T10:00"), "violation.recorded"); fr.Policy != "send" {
		t.Fatalf("next day: policy %q (%s), want send", fr.Policy, fr.PolicyDetail)
	}

	// Ten over the last week, two a day: the weekly cap, with none today.
	g := newFixture(t)
	n := 10
	for day := 22; day <= 26; day++ {
		g.dispatchAt(time.Date(2026, 11, day, 10, 0, 0, 0, now.Location()), violationN(n), violationN(n+1))
		n += 2
	}
	vg := g.login("vera", pwViewer)
	fr = fired(t, vg.preview(violationEvent, "2026-11-27T10:00"), "violation.recorded")
	if fr.Policy != policy.ReasonWeeklyCap || !strings.Contains(fr.PolicyDetail, "10 messages in the last 7 days") {
		t.Fatalf("eleventh this week: policy %q (%s), want weekly_cap", fr.Policy, fr.PolicyDetail)
	}
	// A week later the oldest have left the window.
	if fr := fired(t, vg.preview(violationEvent, "2026-11-29T10:00"), "violation.recorded"); fr.Policy != "send" {
		t.Fatalf("two days on: policy %q (%s), want send", fr.Policy, fr.PolicyDetail)
	}
}

func TestPreviewInhibition(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	// 8 → 14 points crosses 9 and 12 in one event: 满分 (violation.points_12)
	// inhibits the 9-point reminder, which is not sent, with the reason
	// the gateway stores.
	res := v.preview(processed("ev-p14", 8, 14), "2026-11-27T10:00")
	p9, p12 := fired(t, res, "violation.points_9"), fired(t, res, "violation.points_12")
	if p9.InhibitedBy != "violation.points_12" || p9.Policy != "inhibited_by:violation.points_12" || !strings.Contains(p9.PolicyDetail, "violation.points_12") {
		t.Fatalf("points_9: inhibited_by %q, policy %q (%s)", p9.InhibitedBy, p9.Policy, p9.PolicyDetail)
	}
	if p12.Policy != "send" || len(p12.Inhibits) != 1 || p12.Inhibits[0].Rules[0] != "violation.points_9" ||
		p12.Inhibits[0].Reason != "inhibited_by:violation.points_12" || p12.Inhibits[0].Pending != 0 {
		t.Fatalf("points_12: policy %q, inhibits %+v", p12.Policy, p12.Inhibits)
	}

	// At 22:00 a 6 → 9 event leaves a 9-point reminder waiting for the end
	// of quiet hours. The next event's 满分 would cancel it.
	late := time.Date(2026, 11, 26, 22, 0, 0, 0, now.Location())
	f.dispatchAt(late, processed("ev-p9", 6, 9))
	res = v.preview(processed("ev-p12", 9, 12), "2026-11-26T22:30")
	if len(res.Fired) != 1 {
		t.Fatalf("9 → 12 fired %+v", res.Fired)
	}
	if p12 := res.Fired[0]; p12.Rule != "violation.points_12" || len(p12.Inhibits) != 1 || p12.Inhibits[0].Pending != 1 ||
		p12.Inhibits[0].Reason != "inhibited_by:violation.points_12" {
		t.Fatalf("points_12 after a pending points_9: %+v", p12)
	}
	// The preview changed nothing: the pending reminder is still there.
	res = v.preview(processed("ev-p12", 9, 12), "2026-11-26T22:30")
	if res.Fired[0].Inhibits[0].Pending != 1 {
		t.Fatalf("a preview cancelled: %+v", res.Fired[0].Inhibits)
	}
	// Once the gateway takes the event in, the pipeline cancels it: nothing
	// is pending any more.
	f.dispatchAt(late.Add(30*time.Minute), processed("ev-p12", 9, 12))
	res = v.preview(processed("ev-p12b", 9, 12), "2026-11-26T23:00")
	if got := res.Fired[0].Inhibits[0].Pending; got != 0 {
		t.Fatalf("after the gateway took 满分 in: %d pending", got)
	}
}

func TestPreviewSkipped(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	// Traffic control that ended at 09:00, previewed at 10:00: the rule
	// matches but is skipped as expired, and the detail says when.
	adv := `{"specversion":"1.0","id":"ev-adv-1","source":"/tmsp/320100/advisory","type":"advisory.published",
"time":"2026-11-27T08:00:00+08:00","data":{"id":"ADV-2026-1127-004","regions":["320100"],"kind":"traffic_control",
"text":"11月27日8时至9时长江大桥交通管制。","valid_until":"2026-11-27T09:00:00+08:00"}}`
	res := v.preview(adv, "2026-11-27T10:00")
	if len(res.Fired) != 0 || len(res.Skipped) != 1 {
		t.Fatalf("expired advisory: fired %+v skipped %+v", res.Fired, res.Skipped)
	}
	if s := res.Skipped[0]; s.Rule != "advisory.warning" || s.Reason != rules.SkipExpired ||
		s.Detail != "expires 2026-11-27T09:00:00+08:00, not before 2026-11-27T10:00:00+08:00" {
		t.Fatalf("skipped = %+v", s)
	}
	if strings.Join(res.NoMatch, ",") != "advisory.notice" {
		t.Fatalf("no match = %v, want the other advisory rule", res.NoMatch)
	}

	// A violation without the owner's phone: skipped, no recipient.
	noPhone := strings.Replace(violationEvent, `"phone":"18912345678",`, "", 1)
	res = v.preview(noPhone, "2026-11-27T10:00")
	if len(res.Fired) != 0 || len(res.Skipped) != 1 || res.Skipped[0].Rule != "violation.recorded" ||
		res.Skipped[0].Reason != rules.SkipNoRecipient || res.Skipped[0].Detail != "recipient is empty" {
		t.Fatalf("no phone: fired %+v skipped %+v", res.Fired, res.Skipped)
	}
	// A recipient expression that yields no mobile number (events carry
	// valid phones, an edited rule may not): the rule fires, and the
	// gateway would store it suppressed, as the pipeline does.
	o := f.login("otto", pwOperator)
	orig, err := os.ReadFile(filepath.Join(f.rules.dir, "violation.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "recipient: event.vehicle.phone", `recipient: '"021-5555"'`, 1)
	code, b := o.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent), "now": "2026-11-27T10:00",
		"files": map[string]string{"violation.yaml": edited}})
	if code != 200 {
		t.Fatalf("edited preview: %d %s", code, b)
	}
	if fr := fired(t, decodeJSON[console.PreviewResult](t, b), "violation.recorded"); fr.Policy != dispatch.ReasonInvalidRecipient {
		t.Fatalf("bad phone: policy %q (%s)", fr.Policy, fr.PolicyDetail)
	}
}
