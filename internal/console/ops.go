package console

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/redact"
)

// ---- trace

// TraceLine is one line of a trace timeline.
type TraceLine struct {
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // state, part, receipt, call
	MessageID int64     `json:"message_id"`
	EventID   string    `json:"event_id"`
	Rule      string    `json:"rule"`
	Recipient string    `json:"recipient"`
	State     string    `json:"state,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Carrier   string    `json:"carrier,omitempty"`
	CarrierID string    `json:"carrier_id,omitempty"`
	Seq       int       `json:"seq"`
	Stat      string    `json:"stat,omitempty"`
	Err       string    `json:"err,omitempty"`
	// Kind call: the fallback call's attempt and SIP Call-ID.
	Attempt   int    `json:"attempt,omitempty"`
	SIPCallID string `json:"sip_call_id,omitempty"`
}

// TraceResult is GET /api/trace.
type TraceResult struct {
	Masked bool        `json:"masked"`
	Lines  []TraceLine `json:"lines"`
}

var (
	phoneRE = regexp.MustCompile(`\b1\d{10}\b`)
	idRE    = regexp.MustCompile(`\b\d{17}[\dXx]\b`)
	plateRE = regexp.MustCompile(`\p{Han}[A-Z][A-Z0-9]{4,6}`)
	nameRE  = regexp.MustCompile(`"(holder|owner|name|driver|contact)"(\s*:\s*)"([^"]*)"`)
)

// maskText hides phone and ID numbers, plates and the names of JSON name
// fields in free text (reasons, texts, dead-letter samples).
func maskText(s string) string {
	s = idRE.ReplaceAllStringFunc(s, redact.ID)
	s = phoneRE.ReplaceAllStringFunc(s, redact.Phone)
	s = plateRE.ReplaceAllStringFunc(s, redact.Plate)
	return nameRE.ReplaceAllStringFunc(s, func(m string) string {
		g := nameRE.FindStringSubmatch(m)
		return `"` + g[1] + `"` + g[2] + `"` + redact.Name(g[3]) + `"`
	})
}

// maskEntity masks a plate or a licence (ID) number.
func maskEntity(s string) string {
	if idRE.MatchString(s) {
		return redact.ID(s)
	}
	return redact.Plate(s)
}

func (c *Console) trace(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	tq := ledger.TraceQuery{Phone: strings.TrimSpace(q.Get("phone")), EventID: strings.TrimSpace(q.Get("event"))}
	plate, licence := strings.TrimSpace(q.Get("plate")), strings.TrimSpace(q.Get("licence"))
	if plate != "" && licence != "" {
		jsonError(w, http.StatusBadRequest, "give a plate or a licence number, not both")
		return
	}
	tq.Entity = plate + licence
	if tq.Phone == "" && tq.EventID == "" && tq.Entity == "" {
		jsonError(w, http.StatusBadRequest, "give a phone, plate, licence number or event id")
		return
	}
	unmask := q.Get("unmask") == "1"
	if unmask && !ss.role.Allows(Operator) {
		c.record(r, ss, "trace.unmask.denied", describeQuery(tq), "")
		jsonError(w, http.StatusForbidden, fmt.Sprintf("role %s may not unmask (needs operator)", ss.role))
		return
	}
	es, err := c.cfg.Ledger.Trace(r.Context(), tq)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	if unmask {
		c.record(r, ss, "trace.unmask", describeQuery(tq), fmt.Sprintf("%d lines shown unmasked", len(es)))
	}
	res := TraceResult{Masked: !unmask, Lines: make([]TraceLine, 0, len(es))}
	for _, e := range es {
		l := TraceLine{At: e.At, Kind: string(e.Kind), MessageID: e.MessageID, EventID: e.EventID, Rule: e.RuleID, Recipient: e.Recipient,
			State: string(e.State), Reason: e.Reason, Carrier: e.Carrier, CarrierID: e.CarrierID, Seq: e.Seq, Stat: e.Stat, Err: e.Err,
			Attempt: e.Attempt, SIPCallID: e.SIPCallID}
		if !unmask {
			l.Recipient, l.Reason = redact.Phone(l.Recipient), maskText(l.Reason)
		}
		res.Lines = append(res.Lines, l)
	}
	writeJSON(w, res)
}

// describeQuery is a trace query for the audit, masked.
func describeQuery(q ledger.TraceQuery) string {
	var parts []string
	if q.Phone != "" {
		parts = append(parts, "phone "+redact.Phone(q.Phone))
	}
	if q.Entity != "" {
		parts = append(parts, "entity "+maskEntity(q.Entity))
	}
	if q.EventID != "" {
		parts = append(parts, "event "+q.EventID)
	}
	return strings.Join(parts, ", ")
}

// ---- held messages

// HeldView is one held message.
type HeldView struct {
	ID        int64     `json:"id"`
	EventID   string    `json:"event_id"`
	Rule      string    `json:"rule"`
	Recipient string    `json:"recipient"` // masked
	Carrier   string    `json:"carrier"`
	Reason    string    `json:"reason"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

const heldPage = 1000

func (c *Console) heldList(w http.ResponseWriter, r *http.Request, _ *session) {
	ms, err := c.cfg.Ledger.Held(r.Context(), heldPage)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	out := struct {
		Messages []HeldView     `json:"messages"`
		Reasons  map[string]int `json:"reasons"`
	}{Messages: []HeldView{}, Reasons: map[string]int{}}
	for _, m := range ms {
		out.Messages = append(out.Messages, HeldView{ID: m.ID, EventID: m.EventID, Rule: m.RuleID, Recipient: redact.Phone(m.Recipient),
			Carrier: m.Carrier, Reason: m.Reason, Text: maskText(m.Text), CreatedAt: m.CreatedAt})
		out.Reasons[m.Reason]++
	}
	writeJSON(w, out)
}

// HeldRequest is POST /api/held/release and /api/held/drop.
type HeldRequest struct {
	IDs    []int64 `json:"ids"`
	Reason string  `json:"reason,omitempty"` // instead of ids: every listed held message with this reason
	Note   string  `json:"note,omitempty"`
}

func (c *Console) heldDecide(w http.ResponseWriter, r *http.Request, ss *session, release bool) {
	var req HeldRequest
	if !decode(w, r, &req) {
		return
	}
	if (len(req.IDs) == 0) == (req.Reason == "") {
		jsonError(w, http.StatusBadRequest, "give ids or reason")
		return
	}
	if len(req.Note) > 1024 || len(req.IDs) > heldPage {
		jsonError(w, http.StatusBadRequest, "at most 1000 ids and a note of 1024 bytes")
		return
	}
	ids := req.IDs
	if req.Reason != "" {
		ms, err := c.cfg.Ledger.Held(r.Context(), heldPage)
		if err != nil {
			jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
			return
		}
		for _, m := range ms {
			if m.Reason == req.Reason {
				ids = append(ids, m.ID)
			}
		}
	}
	changed, err := c.cfg.Ledger.DecideHeld(r.Context(), ids, ledger.HeldDecision{Release: release, Who: "console:" + ss.user, Note: req.Note})
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	action := "held.drop"
	if release {
		action = "held.release"
		if c.cfg.Wake != nil {
			c.cfg.Wake()
		}
	}
	target := "ids " + joinIDs(changed)
	if req.Reason != "" {
		target = "reason " + req.Reason + ": " + target
	}
	c.record(r, ss, action, target, fmt.Sprintf("%d of %d changed; note: %s", len(changed), len(ids), req.Note))
	if changed == nil {
		changed = []int64{}
	}
	writeJSON(w, map[string][]int64{"changed": changed})
}

func joinIDs(ids []int64) string {
	const show = 20
	var b strings.Builder
	for i, id := range ids {
		if i == show {
			fmt.Fprintf(&b, " … (%d in all)", len(ids))
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

// ---- dead letters

// DeadLetterGroup is one reason's dead letters.
type DeadLetterGroup struct {
	Reason  string             `json:"reason"`
	Count   int                `json:"count"`
	Samples []DeadLetterSample `json:"samples"`
}

// DeadLetterSample is one dead letter, masked.
type DeadLetterSample struct {
	Partition int       `json:"partition"`
	Offset    int64     `json:"offset"`
	Time      time.Time `json:"time"`
	Topic     string    `json:"topic"`
	Error     string    `json:"error"`
	Size      int       `json:"size"`
	Truncated bool      `json:"truncated"`
	Excerpt   string    `json:"excerpt"` // masked, at most 300 bytes
}

const dlqRead = 5000

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request, _ *session) {
	if c.cfg.DeadLetters == nil {
		jsonError(w, http.StatusNotFound, "no dead-letter topic configured")
		return
	}
	ds, err := c.cfg.DeadLetters.DeadLetters(r.Context(), dlqRead)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "dead letters: "+err.Error())
		return
	}
	groups := map[string]*DeadLetterGroup{}
	for i := len(ds) - 1; i >= 0; i-- { // newest first
		d := ds[i]
		g := groups[d.Reason]
		if g == nil {
			g = &DeadLetterGroup{Reason: d.Reason, Samples: []DeadLetterSample{}}
			groups[d.Reason] = g
		}
		g.Count++
		if len(g.Samples) < 5 {
			ex := string(d.Value)
			if len(ex) > 300 {
				ex = strings.ToValidUTF8(ex[:300], "") + "…"
			}
			g.Samples = append(g.Samples, DeadLetterSample{Partition: d.Partition, Offset: d.Offset, Time: d.Time, Topic: d.Topic,
				Error: maskText(d.Error), Size: d.Size, Truncated: d.Truncated, Excerpt: maskText(strings.ToValidUTF8(ex, "?"))})
		}
	}
	out := struct {
		Read   int                `json:"read"`
		Groups []*DeadLetterGroup `json:"groups"`
	}{Read: len(ds), Groups: []*DeadLetterGroup{}}
	for _, g := range groups {
		out.Groups = append(out.Groups, g)
	}
	sort.Slice(out.Groups, func(i, j int) bool {
		if out.Groups[i].Count != out.Groups[j].Count {
			return out.Groups[i].Count > out.Groups[j].Count
		}
		return out.Groups[i].Reason < out.Groups[j].Reason
	})
	writeJSON(w, out)
}

// ReplayRequest is POST /api/deadletters/replay.
type ReplayRequest struct {
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request, ss *session) {
	if c.cfg.DeadLetters == nil {
		jsonError(w, http.StatusNotFound, "no dead-letter topic configured")
		return
	}
	var req ReplayRequest
	if !decode(w, r, &req) {
		return
	}
	topic, err := c.cfg.DeadLetters.Replay(r.Context(), req.Partition, req.Offset)
	target := fmt.Sprintf("dead letter %d/%d", req.Partition, req.Offset)
	if err != nil {
		c.record(r, ss, "deadletter.replay.failed", target, err.Error())
		jsonError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	c.record(r, ss, "deadletter.replay", target, "to "+topic)
	writeJSON(w, map[string]string{"topic": topic})
}

// ---- audit

// AuditLine is one operator action.
type AuditLine struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Role   string    `json:"role"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail"`
	Remote string    `json:"remote"`
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	limit := 200
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			jsonError(w, http.StatusBadRequest, "limit: 1..1000")
			return
		}
		limit = n
	}
	as, err := c.cfg.Ledger.Actions(r.Context(), before, limit)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	out := make([]AuditLine, 0, len(as))
	for _, a := range as {
		out = append(out, AuditLine(a))
	}
	writeJSON(w, out)
}
