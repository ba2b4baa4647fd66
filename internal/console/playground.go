package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/policy"
	"github.com/traffic12123/gateway/internal/redact"
	"github.com/traffic12123/gateway/internal/route"
	"github.com/traffic12123/gateway/internal/rules"
	"github.com/traffic12123/gateway/pkg/smpp/coding"
)

// readRules reads the rules directory the way rules.LoadDir does.
func readRules(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, p := range []string{"*.yaml", "*.yml", "templates/*.yaml", "templates/*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, p))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			rel, _ := filepath.Rel(dir, f)
			files[filepath.ToSlash(rel)] = b
		}
	}
	return files, nil
}

// RuleFile is one rules file as the playground edits it.
type RuleFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func (c *Console) rulesFiles(w http.ResponseWriter, _ *http.Request, _ *session) {
	files, err := readRules(c.cfg.Rules.Dir())
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "rules: "+err.Error())
		return
	}
	out := struct {
		Hash  string     `json:"hash"`
		Files []RuleFile `json:"files"`
	}{Hash: c.cfg.Rules.Hash()}
	for n, b := range files {
		out.Files = append(out.Files, RuleFile{Name: n, Content: string(b)})
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].Name < out.Files[j].Name })
	writeJSON(w, out)
}

// PreviewRequest is POST /api/rules/preview.
type PreviewRequest struct {
	Event json.RawMessage   `json:"event"`
	Now   string            `json:"now,omitempty"`   // RFC 3339 or 2006-01-02T15:04 in the rules' zone; empty: the gateway's clock
	Files map[string]string `json:"files,omitempty"` // edited files, replacing the directory's
}

// Problem is one load error at file:line:column.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
	Text string `json:"text"` // file:line:col: msg
}

// Fired is a rule that fires, with what would happen to its message.
type Fired struct {
	Rule        string    `json:"rule"`
	Template    string    `json:"template"`
	Priority    int       `json:"priority"`
	Urgent      bool      `json:"urgent"`
	Recipient   string    `json:"recipient"` // masked
	Regions     []string  `json:"regions,omitempty"`
	Text        string    `json:"text"`
	Encoding    string    `json:"encoding"`
	Chars       int       `json:"chars"`
	Parts       []string  `json:"parts"` // the text cut where the carrier cuts it
	NotBefore   time.Time `json:"not_before"`
	Deferred    string    `json:"deferred,omitempty"` // why later than now
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	InhibitedBy string    `json:"inhibited_by,omitempty"`
	// Policy is "send", or the reason the gateway would store the message
	// suppressed with: opted_out, duplicate, daily_cap, weekly_cap
	// (internal/policy), inhibited_by:<rule> or invalid_recipient.
	Policy       string `json:"policy"`
	PolicyDetail string `json:"policy_detail,omitempty"` // why, in words
	// Inhibits is what this rule's firing does to other reminders to the
	// same person about the same cause (inhibit rules).
	Inhibits []Inhibition `json:"inhibits,omitempty"`
	StillDue string       `json:"still_due,omitempty"`
}

// Inhibition is one inhibit rule's effect when a source rule fires: the
// target rules' reminders in the same event are suppressed, and those
// still pending from earlier events are cancelled, with Reason.
type Inhibition struct {
	Rules   []string `json:"rules"`
	Pending int      `json:"pending"` // pending (queued or scheduled) reminders in the ledger it would cancel
	Reason  string   `json:"reason"`  // inhibited_by:<rule>
}

// Skipped is a rule that matched without a message.
type Skipped struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// PreviewResult is the playground's answer.
type PreviewResult struct {
	Hash     string    `json:"hash"`
	Edited   bool      `json:"edited"` // evaluated with edited files, not the live set
	Now      time.Time `json:"now"`
	Event    string    `json:"event"` // type and id
	Fired    []Fired   `json:"fired"`
	Skipped  []Skipped `json:"skipped"`
	Cancels  []string  `json:"cancels"`
	NoMatch  []string  `json:"no_match"`
	Problems []Problem `json:"problems,omitempty"`
}

func problems(err error) []Problem {
	var les rules.LoadErrors
	if !errors.As(err, &les) {
		return []Problem{{Msg: err.Error(), Text: err.Error()}}
	}
	out := make([]Problem, 0, len(les))
	for _, e := range les {
		out = append(out, Problem{File: e.File, Line: e.Line, Col: e.Col, Msg: e.Msg, Text: e.Error()})
	}
	return out
}

// validName accepts the names LoadDir reads: a yaml file at the top or
// under templates/.
func validName(n string) bool {
	if n != path.Clean(n) || strings.Contains(n, "\\") || strings.HasPrefix(n, ".") {
		return false
	}
	dir, base := path.Split(n)
	if dir != "" && dir != "templates/" {
		return false
	}
	if base == "" || strings.HasPrefix(base, ".") {
		return false
	}
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}

// load builds a set from the directory with edits applied.
func (c *Console) load(edits map[string]string) (*rules.Set, []Problem, error) {
	files, err := readRules(c.cfg.Rules.Dir())
	if err != nil {
		return nil, nil, err
	}
	for n, s := range edits {
		if !validName(n) {
			return nil, nil, fmt.Errorf("file %q: want NAME.yaml or templates/NAME.yaml", n)
		}
		files[n] = []byte(s)
	}
	set, err := rules.Load(files, rules.Options{})
	if err != nil {
		return nil, problems(err), nil
	}
	return set, nil, nil
}

func (c *Console) parseNow(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return c.cfg.Now(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("now %q: want RFC 3339 or 2006-01-02T15:04", s)
}

func (c *Console) preview(w http.ResponseWriter, r *http.Request, ss *session) {
	var req PreviewRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Files) > 0 && !ss.role.Allows(Operator) {
		jsonError(w, http.StatusForbidden, "role viewer may not preview edited rules (needs operator)")
		return
	}
	set, probs, err := c.load(req.Files)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if probs != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		writeJSON(w, PreviewResult{Problems: probs, Edited: len(req.Files) > 0})
		return
	}
	loc := set.Settings().Location
	now, err := c.parseNow(req.Now, loc)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	ev, err := event.Decode(req.Event)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "event: "+err.Error())
		return
	}
	res, err := set.Evaluate(ev, now)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "event: "+err.Error())
		return
	}
	out := PreviewResult{Hash: set.Hash(), Edited: len(req.Files) > 0, Now: now, Event: string(ev.Type) + " " + ev.ID,
		Fired: []Fired{}, Skipped: []Skipped{}, Cancels: []string{}, NoMatch: []string{}}
	seen := map[string]bool{}
	var cands []policy.Candidate
	for i := range res.Decisions {
		d := &res.Decisions[i]
		seen[d.RuleID] = true
		f := Fired{Rule: d.RuleID, Template: d.Template, Priority: d.Priority, Urgent: d.Urgent, Recipient: redact.Phone(d.Recipient),
			Regions: d.Regions, Text: d.Text, Encoding: d.Encoding, Chars: d.Chars, Parts: splitParts(d.Text),
			NotBefore: d.NotBefore, ExpiresAt: d.ExpiresAt, InhibitedBy: d.InhibitedBy, Policy: "send"}
		if d.NotBefore.After(now) {
			f.Deferred = d.DeferredBy
		}
		if rr := set.Rule(d.RuleID); rr != nil && rr.StillDue != "" {
			f.StillDue = strings.Join(strings.Fields(rr.StillDue), " ")
		}
		// The message as the pipeline builds it (dispatch.Pipeline's
		// candidate; the console may not import dispatch, and the tests
		// compare against the real pipeline): normalised recipient,
		// per-recipient dedupe key, inhibited ones suppressed before policy.
		m := &message.Message{Urgent: d.Urgent, State: message.StateQueued}
		switch n, err := route.Normalize(d.Recipient); {
		case d.Recipient == "":
			m.State = message.StateSuppressed // an advisory: policy applies to each of its audience later
		case err != nil:
			m.State = message.StateSuppressed
			f.Policy, f.PolicyDetail = reasonInvalidRecipient, "the recipient is not a mobile number"
		default:
			m.Recipient = n
			if d.DedupeKey != "" {
				m.DedupeKey = d.DedupeKey + "|" + n // "do not tell this person the same thing twice"
			}
		}
		if d.InhibitedBy != "" {
			m.State = message.StateSuppressed
			f.Policy = rules.InhibitedReason(d.InhibitedBy)
			f.PolicyDetail = d.InhibitedBy + " fires for the same person and cause; only the more severe reminder is sent"
		}
		inh, err := c.inhibits(r.Context(), d)
		if err != nil {
			jsonError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		f.Inhibits = inh
		out.Fired = append(out.Fired, f)
		cands = append(cands, policy.Candidate{Msg: m, DedupeWindow: d.DedupeWindow})
	}
	caps := set.Settings().Caps
	pol := policy.New(policy.Config{Location: loc}, c.cfg.Ledger)
	if err := pol.ApplyCaps(r.Context(), cands, now, policy.Caps{Day: caps.PerRecipientPerDay, Week: caps.PerRecipientPerWeek}); err != nil {
		jsonError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	for i, cd := range cands {
		if f := &out.Fired[i]; f.Policy == "send" && cd.Msg.State == message.StateSuppressed && cd.Msg.Recipient != "" {
			f.Policy = cd.Msg.Reason
			f.PolicyDetail = policyDetail(cd.Msg.Reason, res.Decisions[i].DedupeWindow, caps)
		}
	}
	for _, s := range res.Skipped {
		seen[s.RuleID] = true
		out.Skipped = append(out.Skipped, Skipped{Rule: s.RuleID, Reason: s.Reason, Detail: s.Detail})
	}
	for _, cn := range res.Cancels {
		out.Cancels = append(out.Cancels, cn.Reason)
	}
	for _, rr := range set.Rules() {
		if !seen[rr.ID] && slices.Contains(rr.On, ev.Type) {
			out.NoMatch = append(out.NoMatch, rr.ID)
		}
	}
	writeJSON(w, out)
}

// policyDetail says in words why internal/policy suppresses a message.
func policyDetail(reason string, window time.Duration, caps rules.Caps) string {
	switch reason {
	case policy.ReasonOptedOut:
		return "the recipient opted out"
	case policy.ReasonDuplicate:
		return "a message with the same dedupe key went to this recipient within the rule's window of " + fmtWindow(window)
	case policy.ReasonDailyCap:
		return fmt.Sprintf("this recipient already has %d messages today (caps.per_recipient_per_day; urgent rules are exempt)", caps.PerRecipientPerDay)
	case policy.ReasonWeeklyCap:
		return fmt.Sprintf("this recipient already has %d messages in the last 7 days (caps.per_recipient_per_week; urgent rules are exempt)", caps.PerRecipientPerWeek)
	}
	return ""
}

// fmtWindow writes whole days as the rules files do (90d).
func fmtWindow(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// reasonInvalidRecipient is dispatch.ReasonInvalidRecipient.
const reasonInvalidRecipient = "invalid_recipient"

// inhibitions are the pending messages the pipeline cancels when d fires
// (dispatch's inhibitions: recipients normalised as messages store them).
func inhibitions(d *rules.Decision) []ledger.Inhibition {
	var out []ledger.Inhibition
	for _, t := range d.Inhibits {
		in := ledger.Inhibition{Rules: t.Rules, Entity: t.Entity, Reason: rules.InhibitedReason(d.RuleID)}
		if t.Recipient != "" {
			n, err := route.Normalize(t.Recipient)
			if err != nil {
				continue
			}
			in.Recipient = n
		}
		if in.Recipient == "" && in.Entity == "" {
			continue
		}
		out = append(out, in)
	}
	return out
}

// inhibits reports what d's firing does to other reminders: for each
// inhibition, the target rules and how many of their reminders are pending
// (queued or scheduled) in the ledger for the same recipient and entity:
// those the pipeline would cancel (ledger CancelInhibited).
func (c *Console) inhibits(ctx context.Context, d *rules.Decision) ([]Inhibition, error) {
	var out []Inhibition
	for _, in := range inhibitions(d) {
		es, err := c.cfg.Ledger.Trace(ctx, ledger.TraceQuery{Phone: in.Recipient, Entity: in.Entity})
		if err != nil {
			return nil, fmt.Errorf("inhibition: %w", err)
		}
		last := map[int64]ledger.TraceEntry{}
		for _, e := range es {
			if e.Kind == ledger.TraceState {
				last[e.MessageID] = e // entries come in time order
			}
		}
		n := 0
		for _, e := range last {
			if (e.State == message.StateQueued || e.State == message.StateScheduled) && slices.Contains(in.Rules, e.RuleID) {
				n++
			}
		}
		out = append(out, Inhibition{Rules: in.Rules, Pending: n, Reason: in.Reason})
	}
	return out, nil
}

// splitParts cuts text where the SMPP layer cuts it (pkg/smpp/coding):
// one part up to 160 septets / 70 UTF-16 units, else parts of 153 / 67,
// never inside an escape sequence or a surrogate pair.
func splitParts(text string) []string {
	enc := coding.Choose(text)
	single, per := coding.GSM7Single, coding.GSM7Part
	if enc == coding.UCS2 {
		single, per = coding.UCS2Single, coding.UCS2Part
	}
	units := func(r rune) int {
		if enc == coding.GSM7 {
			return coding.GSM7Len(string(r))
		}
		return len(utf16.Encode([]rune{r}))
	}
	total := 0
	for _, r := range text {
		total += units(r)
	}
	if total <= single {
		return []string{text}
	}
	var parts []string
	var cur strings.Builder
	n := 0
	for _, r := range text {
		k := units(r)
		if n+k > per {
			parts = append(parts, cur.String())
			cur.Reset()
			n = 0
		}
		cur.WriteRune(r)
		n += k
	}
	return append(parts, cur.String())
}

// SaveRequest is POST /api/rules/save.
type SaveRequest struct {
	File    string `json:"file"`
	Content string `json:"content"`
}

func (c *Console) saveRule(w http.ResponseWriter, r *http.Request, ss *session) {
	var req SaveRequest
	if !decode(w, r, &req) {
		return
	}
	if !validName(req.File) {
		jsonError(w, http.StatusBadRequest, fmt.Sprintf("file %q: want NAME.yaml or templates/NAME.yaml", req.File))
		return
	}
	// Validate the whole set with the new file first: a set that does not
	// load is refused here, with file:line:column, and nothing is written.
	_, probs, err := c.load(map[string]string{req.File: req.Content})
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return
	}
	if probs != nil {
		c.record(r, ss, "rules.save.refused", req.File, probs[0].Text)
		w.WriteHeader(http.StatusUnprocessableEntity)
		writeJSON(w, map[string]any{"error": "the rules do not load; nothing saved", "problems": probs})
		return
	}
	dst := filepath.Join(c.cfg.Rules.Dir(), filepath.FromSlash(req.File))
	old, oldErr := os.ReadFile(dst)
	if err := writeFileAtomic(dst, []byte(req.Content)); err != nil {
		jsonError(w, http.StatusInternalServerError, "write: "+err.Error())
		return
	}
	if err := c.cfg.Rules.Reload(); err != nil {
		// Another file changed under us: put the old content back so the
		// directory matches the running set.
		if oldErr == nil {
			_ = writeFileAtomic(dst, old)
		} else {
			_ = os.Remove(dst)
		}
		c.record(r, ss, "rules.save.refused", req.File, err.Error())
		w.WriteHeader(http.StatusUnprocessableEntity)
		writeJSON(w, map[string]any{"error": "reload refused; file restored", "problems": problems(err)})
		return
	}
	c.record(r, ss, "rules.save", req.File, "hash "+c.cfg.Rules.Hash())
	writeJSON(w, map[string]string{"hash": c.cfg.Rules.Hash()})
}

func writeFileAtomic(dst string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".console-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

func (c *Console) samples(w http.ResponseWriter, _ *http.Request, _ *session) {
	out := []json.RawMessage{}
	if c.cfg.Samples != nil {
		out = append(out, c.cfg.Samples()...)
	}
	writeJSON(w, out)
}
