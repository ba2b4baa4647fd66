package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AdvisoryView is one advisory (event and rule) being sent.
type AdvisoryView struct {
	EventID   string    `json:"event_id"`
	Rule      string    `json:"rule"`
	Audience  int       `json:"audience"` // messages created
	Sent      int       `json:"sent"`     // accepted by a carrier (submitted, delivered, failed after submit)
	Delivered int       `json:"delivered"`
	Failed    int       `json:"failed"`  // failed or expired
	Pending   int       `json:"pending"` // queued, scheduled, sending, unknown
	Held      int       `json:"held"`
	Cancelled int       `json:"cancelled"` // cancelled or suppressed
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	ETA       float64   `json:"eta_seconds"` // pending / the gateway's current submit rate; 0: done; -1: no estimate (no rate, or held)
}

// submitRate is the gateway's submits per second over the last minute of
// samples (every carrier).
func (s *sampler) submitRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0.0
	for _, ps := range s.series {
		if len(ps) < 2 {
			continue
		}
		last := ps[len(ps)-1]
		first := ps[0]
		for i := len(ps) - 1; i >= 0 && last.At.Sub(ps[i].At) <= time.Minute; i-- {
			first = ps[i]
		}
		if dt := last.At.Sub(first.At).Seconds(); dt > 0 {
			total += max(0, last.Submits-first.Submits) / dt
		}
	}
	return total
}

func (c *Console) advisories(w http.ResponseWriter, r *http.Request, _ *session) {
	hours := 24
	if s := r.URL.Query().Get("hours"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 24*14 {
			jsonError(w, http.StatusBadRequest, "hours: 1..336")
			return
		}
		hours = n
	}
	cs, err := c.cfg.Ledger.AdvisoryCounts(r.Context(), c.cfg.Now().Add(-time.Duration(hours)*time.Hour))
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	rate := c.sampler.submitRate()
	byKey := map[string]*AdvisoryView{}
	var order []*AdvisoryView
	for _, x := range cs {
		k := x.EventID + "\x00" + x.RuleID
		v := byKey[k]
		if v == nil {
			v = &AdvisoryView{EventID: x.EventID, Rule: x.RuleID, First: x.First}
			byKey[k] = v
			order = append(order, v)
		}
		if x.First.Before(v.First) {
			v.First = x.First
		}
		if x.Last.After(v.Last) {
			v.Last = x.Last
		}
		v.Audience += x.Messages
		switch x.State {
		case "submitted":
			v.Sent += x.Messages
		case "delivered":
			v.Sent += x.Messages
			v.Delivered += x.Messages
		case "failed", "expired":
			v.Failed += x.Messages
		case "queued", "scheduled", "sending", "unknown":
			v.Pending += x.Messages
		case "held":
			v.Held += x.Messages
		default: // cancelled, suppressed
			v.Cancelled += x.Messages
		}
	}
	out := make([]AdvisoryView, 0, len(order))
	for i := len(order) - 1; i >= 0; i-- { // newest first
		v := order[i]
		v.ETA = -1 // held ones wait for an operator: no estimate
		if v.Pending == 0 && v.Held == 0 {
			v.ETA = 0
		} else if v.Pending > 0 && rate > 0 {
			v.ETA = float64(v.Pending) / rate
		}
		out = append(out, *v)
	}
	writeJSON(w, map[string]any{"submit_rate": rate, "advisories": out})
}

// CancelAdvisoryRequest is POST /api/advisories/cancel.
type CancelAdvisoryRequest struct {
	EventID string `json:"event_id"`
	Rule    string `json:"rule"`
	Note    string `json:"note,omitempty"`
}

func (c *Console) cancelAdvisory(w http.ResponseWriter, r *http.Request, ss *session) {
	var req CancelAdvisoryRequest
	if !decode(w, r, &req) {
		return
	}
	req.EventID, req.Rule = strings.TrimSpace(req.EventID), strings.TrimSpace(req.Rule)
	if req.EventID == "" || req.Rule == "" || len(req.Note) > 1024 {
		jsonError(w, http.StatusBadRequest, "give event_id and rule (and a note of at most 1024 bytes)")
		return
	}
	n, err := c.cfg.Ledger.CancelAdvisory(r.Context(), req.EventID, req.Rule, "cancelled by console:"+ss.user)
	if err != nil {
		jsonError(w, http.StatusServiceUnavailable, "ledger: "+err.Error())
		return
	}
	c.record(r, ss, "advisory.cancel", req.Rule+" of event "+req.EventID, fmt.Sprintf("%d messages cancelled; note: %s", n, req.Note))
	writeJSON(w, map[string]int{"cancelled": n})
}
