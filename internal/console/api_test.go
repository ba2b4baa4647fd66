package console_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/console"
	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/ledgertest"
	"github.com/traffic12123/gateway/internal/message"
)

// violationEvent fires violation.recorded with a 2-part message (the
// example of rules/tests/violation.yaml).
const violationEvent = `{"specversion":"1.0","id":"ev-console-1","source":"/tmsp/310000/violation","type":"violation.recorded",
"time":"2026-11-26T18:45:00+08:00","datacontenttype":"application/json","data":{
"violation":{"id":"V2026112600042","time":"2026-11-26T18:42:00+08:00","place":"延安高架路成都北路下匝道","code":"1352",
"description":"机动车违反禁令标志指示","fine":200,"points":2,"monitoring":true},
"vehicle":{"plate":"沪B7N2K9","plate_type":"52","owner":"王五","phone":"18912345678","region":"310115","use":"private","status":"A",
"inspection_valid_until":"2028-05-31T00:00:00+08:00"}}}`

func TestPreview(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	code, b := v.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent), "now": "2026-11-27T10:00"})
	if code != 200 {
		t.Fatalf("preview: %d %s", code, b)
	}
	res := decodeJSON[console.PreviewResult](t, b)
	if len(res.Fired) != 1 {
		t.Fatalf("fired = %+v", res.Fired)
	}
	fr := res.Fired[0]
	if fr.Rule != "violation.recorded" || fr.Recipient != "189****5678" || fr.Encoding != "ucs2" || len(fr.Parts) != 2 || fr.Policy != "send" {
		t.Fatalf("fired = %+v", fr)
	}
	if strings.Join(fr.Parts, "") != fr.Text || len([]rune(fr.Parts[0])) != 67 {
		t.Fatalf("parts %q do not cut %q at 67", fr.Parts, fr.Text)
	}
	if !fr.NotBefore.Equal(time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("not before %v", fr.NotBefore)
	}

	// At 23:00 it waits for the end of quiet hours.
	_, b = v.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent), "now": "2026-11-27T23:00"})
	if res := decodeJSON[console.PreviewResult](t, b); len(res.Fired) != 1 || res.Fired[0].Deferred != "quiet_hours" {
		t.Fatalf("quiet hours: %s", b)
	}

	// The policy answers from the ledger: an opted-out recipient.
	if err := f.store.OptOut(t.Context(), "18912345678", true); err != nil {
		t.Fatal(err)
	}
	_, b = v.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent), "now": "2026-11-27T10:00"})
	if res := decodeJSON[console.PreviewResult](t, b); res.Fired[0].Policy != "opted_out" {
		t.Fatalf("opted out: %s", b)
	}

	// Bad input.
	for _, body := range []map[string]any{
		{"event": json.RawMessage(`{"type":"nope"}`)},
		{"event": json.RawMessage(violationEvent), "now": "yesterday"},
	} {
		if code, b := v.do("POST", "rules/preview", body); code != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, code, b)
		}
	}

	// An operator previews an edit; a broken one answers file:line:column.
	o := f.login("otto", pwOperator)
	orig, _ := os.ReadFile(filepath.Join(f.rules.dir, "violation.yaml"))
	edited := strings.Replace(string(orig), "id: violation.recorded", "id: violation.recorded.renamed", 1)
	code, b = o.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent), "now": "2026-11-27T10:00",
		"files": map[string]string{"violation.yaml": edited}})
	if res := decodeJSON[console.PreviewResult](t, b); code != 200 || !res.Edited || len(res.Fired) != 1 || res.Fired[0].Rule != "violation.recorded.renamed" {
		t.Fatalf("edited preview: %d %s", code, b)
	}
	code, b = o.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent),
		"files": map[string]string{"violation.yaml": "rules:\n  - id: [broken\n"}})
	if code != http.StatusUnprocessableEntity || !regexp.MustCompile(`violation\.yaml:\d+:\d+: `).Match(b) {
		t.Fatalf("broken edit: %d %s", code, b)
	}
	if code, b := o.do("POST", "rules/preview", map[string]any{"event": json.RawMessage(violationEvent),
		"files": map[string]string{"../etc/passwd.yaml": "x"}}); code != http.StatusBadRequest {
		t.Fatalf("path outside the rules: %d %s", code, b)
	}
}

// The playground's form: every event type's data fields, by JSON path and
// kind, as the event package defines them.
func TestSchema(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	sch := decodeJSON[map[string][]console.Field](t, mustGet(t, v, "rules/schema"))
	for _, typ := range event.Types {
		if len(sch[string(typ)]) == 0 {
			t.Errorf("no fields for %s", typ)
		}
	}
	kinds := func(typ string) map[string]string {
		m := map[string]string{}
		for _, fl := range sch[typ] {
			m[fl.Path] = fl.Kind
		}
		return m
	}
	vr := kinds("violation.recorded")
	for path, kind := range map[string]string{
		"violation.id": "string", "violation.fine": "number", "violation.monitoring": "bool", "violation.time": "time",
		"vehicle.phone": "string", "vehicle.plate": "string", "vehicle.inspection_valid_until": "time",
	} {
		if vr[path] != kind {
			t.Errorf("violation.recorded %s: kind %q, want %q (fields %v)", path, vr[path], kind, vr)
		}
	}
	if ap := kinds("advisory.published"); ap["regions"] != "list" || ap["valid_until"] != "time" || ap["text"] != "string" {
		t.Errorf("advisory.published fields = %v", ap)
	}
	if vp := kinds("violation.processed"); vp["points_before"] != "number" || vp["licence.points"] != "number" {
		t.Errorf("violation.processed fields = %v", vp)
	}
}

func TestSaveRule(t *testing.T) {
	f := newFixture(t)
	ad := f.login("ada", pwAdmin)
	path := filepath.Join(f.rules.dir, "violation.yaml")
	orig, _ := os.ReadFile(path)
	hash0, reloads0 := f.rules.Hash(), f.rules.reloads

	// Refused with file:line:column; nothing written, nothing reloaded.
	code, b := ad.do("POST", "rules/save", map[string]any{"file": "violation.yaml", "content": "rules:\n  - id: [broken\n"})
	if code != http.StatusUnprocessableEntity || !regexp.MustCompile(`"text":"violation\.yaml:\d+:\d+: `).Match(b) {
		t.Fatalf("broken save: %d %s", code, b)
	}
	if now, _ := os.ReadFile(path); string(now) != string(orig) || f.rules.reloads != reloads0 {
		t.Fatal("a refused save changed the file or reloaded")
	}
	if act := f.lastAction(); act.Action != "rules.save.refused" || act.Who != "ada" {
		t.Fatalf("refusal audit = %+v", act)
	}
	for _, name := range []string{"../x.yaml", "templates/../../x.yaml", "sub/x.yaml", ".hidden.yaml", "x.txt", "/abs.yaml"} {
		if code, _ := ad.do("POST", "rules/save", map[string]any{"file": name, "content": "rules: []\n"}); code != http.StatusBadRequest {
			t.Errorf("save %q: %d", name, code)
		}
	}

	// Saved and swapped in.
	edited := strings.Replace(string(orig), "id: violation.recorded", "id: violation.recorded.v2", 1)
	code, b = ad.do("POST", "rules/save", map[string]any{"file": "violation.yaml", "content": edited})
	if code != 200 {
		t.Fatalf("save: %d %s", code, b)
	}
	if now, _ := os.ReadFile(path); string(now) != edited || f.rules.Hash() == hash0 || f.rules.reloads != reloads0+1 {
		t.Fatal("save did not write and reload")
	}
	if act := f.lastAction(); act.Action != "rules.save" || act.Target != "violation.yaml" || !strings.Contains(act.Detail, f.rules.Hash()) {
		t.Fatalf("save audit = %+v", act)
	}
	// The files API shows the saved content.
	_, b = ad.do("GET", "rules", nil)
	if !strings.Contains(string(b), "violation.recorded.v2") {
		t.Fatal("rules files do not show the save")
	}
}

// traced inserts a delivered 1-part message for 13800000001.
func traced(t *testing.T, f *fixture) *message.Message {
	t.Helper()
	m := ledgertest.Msg("ev-trace", "vehicle.inspection", 1)
	ctx := t.Context()
	if err := f.store.Insert(ctx, []*message.Message{m}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Claim(ctx, now.Add(time.Minute), 10, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Submitted(ctx, []ledger.Submission{{ID: m.ID, Carrier: "cmcc", CarrierIDs: []string{"abc123"}, At: now}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Receipts(ctx, []ledger.Receipt{{Carrier: "cmcc", MessageID: "abc123", Stat: "DELIVRD", Done: now}}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrace(t *testing.T) {
	f := newFixture(t)
	m := traced(t, f)
	v := f.login("vera", pwViewer)
	for _, q := range []string{"phone=" + m.Recipient, "event=ev-trace", "plate=" + m.Entity} {
		code, b := v.do("GET", "trace?"+q, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, b)
		}
		res := decodeJSON[console.TraceResult](t, b)
		kinds := map[string]bool{}
		for _, l := range res.Lines {
			kinds[l.Kind] = true
			if l.Recipient != "138****0001" {
				t.Fatalf("%s: recipient %q not masked", q, l.Recipient)
			}
		}
		if !res.Masked || !kinds["state"] || !kinds["part"] || !kinds["receipt"] {
			t.Fatalf("%s: %s", q, b)
		}
	}
	if strings.Contains(string(mustGet(t, v, "trace?phone="+m.Recipient)), m.Recipient) {
		t.Fatal("the full phone number reached a viewer")
	}
	for _, q := range []string{"", "plate=a&licence=b"} {
		if code, _ := v.do("GET", "trace?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("trace?%s: %d", q, code)
		}
	}
	before := len(f.actions())
	o := f.login("otto", pwOperator)
	code, b := o.do("GET", "trace?unmask=1&phone="+m.Recipient, nil)
	res := decodeJSON[console.TraceResult](t, b)
	if code != 200 || res.Masked || res.Lines[0].Recipient != m.Recipient {
		t.Fatalf("unmasked: %d %s", code, b)
	}
	as := f.actions()
	if len(as) != before+2 { // otto's login and the unmask
		t.Fatalf("actions %d → %d", before, len(as))
	}
	if a := as[0]; a.Action != "trace.unmask" || a.Who != "otto" || a.Target != "phone 138****0001" {
		t.Fatalf("unmask audit = %+v", a)
	}
}

func mustGet(t *testing.T, c *client, path string) []byte {
	t.Helper()
	code, b := c.do("GET", path, nil)
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, b)
	}
	return b
}

func TestHeld(t *testing.T) {
	f := newFixture(t)
	var ms []*message.Message
	for i := 1; i <= 4; i++ {
		m := ledgertest.Msg("ev-held", "advisory.notice", i)
		m.State, m.Reason = message.StateHeld, "audience_over_limit"
		if i == 4 {
			m.Reason = "content:url"
		}
		ms = append(ms, m)
	}
	if err := f.store.Insert(t.Context(), ms); err != nil {
		t.Fatal(err)
	}
	v := f.login("vera", pwViewer)
	var list struct {
		Messages []console.HeldView
		Reasons  map[string]int
	}
	list = decodeJSON[struct {
		Messages []console.HeldView
		Reasons  map[string]int
	}](t, mustGet(t, v, "held"))
	if len(list.Messages) != 4 || list.Reasons["audience_over_limit"] != 3 || list.Messages[0].Recipient != "138****0001" {
		t.Fatalf("held = %+v", list)
	}
	o := f.login("otto", pwOperator)
	for _, body := range []map[string]any{{}, {"ids": []int64{1}, "reason": "x"}, {"ids": []int64{1}, "note": strings.Repeat("n", 2000)}} {
		if code, _ := o.do("POST", "held/release", body); code != http.StatusBadRequest {
			t.Errorf("%v: %d", body, code)
		}
	}
	code, b := o.do("POST", "held/release", map[string]any{"ids": []int64{ms[0].ID}, "note": "checked"})
	if code != 200 || !strings.Contains(string(b), `"changed":[`+itoa(ms[0].ID)+`]`) {
		t.Fatalf("release: %d %s", code, b)
	}
	if a := f.lastAction(); a.Action != "held.release" || a.Who != "otto" || a.Target != "ids "+itoa(ms[0].ID) || !strings.Contains(a.Detail, "checked") {
		t.Fatalf("release audit = %+v", a)
	}
	ds, _ := f.store.HeldDecisions(t.Context(), ms[0].ID)
	if len(ds) != 1 || ds[0].Who != "console:otto" || !ds[0].Release {
		t.Fatalf("decisions = %+v", ds)
	}
	code, b = o.do("POST", "held/drop", map[string]any{"reason": "audience_over_limit"})
	if code != 200 || !strings.Contains(string(b), itoa(ms[1].ID)+","+itoa(ms[2].ID)) {
		t.Fatalf("drop by reason: %d %s", code, b)
	}
	if a := f.lastAction(); a.Action != "held.drop" || !strings.HasPrefix(a.Target, "reason audience_over_limit: ids ") {
		t.Fatalf("drop audit = %+v", a)
	}
	list = decodeJSON[struct {
		Messages []console.HeldView
		Reasons  map[string]int
	}](t, mustGet(t, v, "held"))
	if len(list.Messages) != 1 || list.Messages[0].ID != ms[3].ID {
		t.Fatalf("left held = %+v", list.Messages)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestAuditPaging(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	for range 3 {
		f.login("otto", pwOperator)
	}
	all := decodeJSON[[]console.AuditLine](t, mustGet(t, v, "audit"))
	if len(all) != 4 || all[0].Who != "otto" || all[3].Who != "vera" || all[0].Remote != "127.0.0.1" {
		t.Fatalf("audit = %+v", all)
	}
	page := decodeJSON[[]console.AuditLine](t, mustGet(t, v, "audit?limit=2&before="+itoa(all[1].ID)))
	if len(page) != 2 || page[0].ID != all[2].ID {
		t.Fatalf("page = %+v", page)
	}
	if code, _ := v.do("GET", "audit?limit=0", nil); code != http.StatusBadRequest {
		t.Fatal("limit 0 accepted")
	}
}

func TestSamplesAndNoDeadLetters(t *testing.T) {
	f := newFixture(t)
	v := f.login("vera", pwViewer)
	if s := decodeJSON[[]json.RawMessage](t, mustGet(t, v, "rules/samples")); len(s) != 50 {
		t.Fatalf("%d samples", len(s))
	}
	if code, _ := v.do("GET", "deadletters", nil); code != http.StatusNotFound {
		t.Fatalf("dead letters without a topic: %d", code)
	}
	o := f.login("otto", pwOperator)
	if code, _ := o.do("POST", "deadletters/replay", map[string]int{"partition": 0, "offset": 0}); code != http.StatusNotFound {
		t.Fatalf("replay without a topic: %d", code)
	}
}

func TestAdvisories(t *testing.T) {
	f := newFixture(t)
	var ms []*message.Message
	for i := 1; i <= 5; i++ {
		m := ledgertest.Msg("ev-adv", "advisory.warning", i)
		m.EventType, m.Entity = "advisory.published", "adv-ev-adv"
		if i > 3 {
			m.State, m.Reason = message.StateHeld, "audience_over_limit"
		}
		ms = append(ms, m)
	}
	if err := f.store.Insert(t.Context(), append(ms, ledgertest.Msg("ev-other", "vehicle.inspection", 9))); err != nil {
		t.Fatal(err)
	}
	v := f.login("vera", pwViewer)
	type list struct {
		SubmitRate float64 `json:"submit_rate"`
		Advisories []console.AdvisoryView
	}
	l := decodeJSON[list](t, mustGet(t, v, "advisories"))
	if len(l.Advisories) != 1 {
		t.Fatalf("advisories = %+v", l)
	}
	a := l.Advisories[0]
	if a.EventID != "ev-adv" || a.Rule != "advisory.warning" || a.Audience != 5 || a.Pending != 3 || a.Held != 2 || a.ETA != -1 {
		t.Fatalf("advisory = %+v", a)
	}
	if code, _ := v.do("GET", "advisories?hours=0", nil); code != http.StatusBadRequest {
		t.Fatal("hours=0 accepted")
	}
	if code, _ := v.do("POST", "advisories/cancel", map[string]string{"event_id": "ev-adv", "rule": "advisory.warning"}); code != http.StatusForbidden {
		t.Fatalf("viewer cancelled: %d", code)
	}
	o := f.login("otto", pwOperator)
	if code, _ := o.do("POST", "advisories/cancel", map[string]string{"event_id": "ev-adv"}); code != http.StatusBadRequest {
		t.Fatalf("cancel without rule: %d", code)
	}
	code, b := o.do("POST", "advisories/cancel", map[string]string{"event_id": "ev-adv", "rule": "advisory.warning", "note": "wrong region"})
	if code != 200 || !strings.Contains(string(b), `"cancelled":5`) {
		t.Fatalf("cancel: %d %s", code, b)
	}
	if act := f.lastAction(); act.Action != "advisory.cancel" || act.Target != "advisory.warning of event ev-adv" || !strings.Contains(act.Detail, "5 messages") {
		t.Fatalf("cancel audit = %+v", act)
	}
	l = decodeJSON[list](t, mustGet(t, v, "advisories"))
	if a := l.Advisories[0]; a.Cancelled != 5 || a.Pending != 0 || a.Held != 0 || a.ETA != 0 {
		t.Fatalf("after cancel = %+v", a)
	}
}
