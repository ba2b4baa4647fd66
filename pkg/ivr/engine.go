package ivr

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo/sip"

	"github.com/traffic12123/gateway/pkg/ivr/flow"
	"github.com/traffic12123/gateway/pkg/ivr/say"
)

// maxPath bounds the menu path kept in a CDR.
const maxPath = 200

func (c *call) path(s string) {
	if len(c.cdr.Path) < maxPath {
		c.cdr.Path = append(c.cdr.Path, s)
	}
}

// causeOf turns a context end into a hang-up cause.
func causeOf(ctx context.Context, err error) string {
	switch {
	case errors.Is(context.Cause(ctx), errShutdown):
		return "shutdown"
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "max_duration"
	case ctx.Err() != nil:
		return "caller_hangup"
	}
	if err != nil {
		return "error"
	}
	return ""
}

// run executes the flow and returns the hang-up cause.
func (c *call) run(ctx context.Context, f *flow.Flow) string {
	menu := f.Start
	for steps := 0; steps < 1000; steps++ {
		m := f.Menus[menu]
		if m == nil {
			return "error"
		}
		c.path(menu)
		acts := m.Actions
		if len(m.Options) > 0 {
			var err error
			acts, err = c.inputMenu(ctx, menu, m)
			if err != nil {
				return causeOf(ctx, err)
			}
		}
		next, cause, err := c.do(ctx, f, acts)
		switch {
		case err != nil:
			return causeOf(ctx, err)
		case cause != "":
			return cause
		case next != "":
			menu = next
		}
		// An option without goto returns to its menu.
	}
	return "loop"
}

// inputMenu plays the prompt, collects keys with retries and returns the
// actions of the chosen option, or on_fail.
func (c *call) inputMenu(ctx context.Context, name string, m *flow.Menu) ([]flow.Action, error) {
	cl := *m.Collect
	for try := 1; ; try++ {
		if _, err := c.prompts(ctx, m.Prompt, true); err != nil {
			return nil, err
		}
		digits, st, err := c.collect(ctx, cl)
		if err != nil {
			return nil, err
		}
		if st == collected {
			if acts, ok := m.Options[digits]; ok {
				c.s.m.MenuChoices.WithLabelValues(name, digits).Inc()
				c.path(name + ":" + digits)
				return acts, nil
			}
			st = badInput
		}
		retry := cl.Invalid
		if st == noInput {
			c.s.m.MenuChoices.WithLabelValues(name, "noinput").Inc()
			retry = cl.NoInput
		} else {
			c.s.m.MenuChoices.WithLabelValues(name, "invalid").Inc()
		}
		if try >= cl.Retries {
			c.path(name + ":fail")
			return m.OnFail, nil
		}
		c.flushKeys()
		if _, err := c.prompts(ctx, retry, false); err != nil {
			return nil, err
		}
	}
}

// do runs actions: it returns the next menu, or a hang-up cause.
func (c *call) do(ctx context.Context, f *flow.Flow, acts []flow.Action) (next, cause string, err error) {
	for _, a := range acts {
		switch {
		case a.Play != "":
			if _, err := c.prompts(ctx, []string{a.Play}, true); err != nil {
				return "", "", err
			}
		case a.Query != "":
			if flow.Personal(a.Query) && !c.verified {
				ok, cause, err := c.verify(ctx, f)
				if err != nil {
					return "", "", err
				}
				if cause != "" {
					return "", cause, nil
				}
				if !ok {
					return f.Verification.OnRefused, "", nil
				}
			}
			c.cdr.Queries = append(c.cdr.Queries, a.Query)
			if err := c.answer(ctx, a.Query); err != nil {
				return "", "", err
			}
		case a.Transfer != "":
			cause, err := c.transfer(ctx, f, a.Transfer)
			return "", cause, err
		case a.Goto != "":
			return a.Goto, "", nil
		case a.Hangup != "":
			return "", a.Hangup, nil
		}
	}
	return "", "", nil
}

// verify checks the caller: the last six characters of the ID number
// registered to the caller number. ok false without cause: refused, go to
// on_refused.
//
// Until an ID has been keyed every caller hears the same thing, whether the
// number is registered, unregistered or locked: nothing is looked up
// before. Each keyed ID is then counted (Lockouts.Attempt, per caller
// number and per ID number) before it is compared, so parallel calls share
// one budget; a refused attempt hears the locked prompt.
func (c *call) verify(ctx context.Context, f *flow.Flow) (ok bool, cause string, err error) {
	vf := f.Verification
	s := c.s
	silent := 0
	for {
		if _, err := c.prompts(ctx, vf.Prompt, true); err != nil {
			return false, "", err
		}
		digits, st, err := c.collect(ctx, vf.Digits)
		if err != nil {
			return false, "", err
		}
		if st == noInput {
			silent++
			if silent > vf.Digits.Retries {
				c.cdr.Verification = "no_input"
				return false, "", nil
			}
			if _, err := c.prompts(ctx, vf.Digits.NoInput, false); err != nil {
				return false, "", err
			}
			continue
		}
		reg, err := s.records.Registered(ctx, c.phone)
		if err != nil {
			s.log.Warn("records lookup failed", "err", err)
			return false, "error", nil
		}
		id := ""
		if reg {
			if id, err = s.records.IDNumber(ctx, c.phone); err != nil {
				s.log.Warn("records lookup failed", "err", err)
				return false, "error", nil
			}
		}
		keys := []string{PhoneKey(c.phone)}
		if id != "" {
			keys = append(keys, IDKey(id))
		}
		att, err := s.lockout.Attempt(ctx, keys, s.cfg.Now(), vf.MaxFailures, vf.LockFor)
		if err != nil {
			// Fail closed: without a count there is no comparison.
			s.log.Warn("lockout update failed", "err", err)
			return false, "error", nil
		}
		if !att.Allowed {
			s.m.Verifications.WithLabelValues("locked").Inc()
			c.cdr.Verification = "locked"
			_, err := c.prompts(ctx, vf.Locked, false)
			return false, "locked", err
		}
		r := []rune(strings.ToUpper(id))
		if !reg || len(r) < 6 {
			s.m.Verifications.WithLabelValues("not_registered").Inc()
			c.cdr.Verification = "not_registered"
			_, err := c.prompts(ctx, vf.NotRegistered, false)
			return false, "", err
		}
		suffix := string(r[len(r)-6:])
		entered := strings.ReplaceAll(digits, "*", "X")
		if st == collected && subtle.ConstantTimeCompare([]byte(entered), []byte(suffix)) == 1 {
			if err := s.lockout.Succeeded(ctx, keys); err != nil {
				s.log.Warn("lockout reset failed", "err", err)
			}
			s.m.Verifications.WithLabelValues("ok").Inc()
			c.verified = true
			c.cdr.Verification = "ok"
			_, err := c.prompts(ctx, vf.Success, true)
			return true, "", err
		}
		s.m.Verifications.WithLabelValues("failed").Inc()
		c.cdr.Verification = "failed"
		c.flushKeys()
		if att.Last {
			c.cdr.Verification = "locked"
			_, err := c.prompts(ctx, vf.Locked, false)
			return false, "locked", err
		}
		if _, err := c.prompts(ctx, vf.Failed, false); err != nil {
			return false, "", err
		}
	}
}

// transfer hands the call to an agent queue by REFER and waits for the
// outcome; with nobody answering in time the caller hears an apology.
func (c *call) transfer(ctx context.Context, f *flow.Flow, name string) (string, error) {
	t := f.Transfers[name]
	if _, err := c.prompts(ctx, t.Prompt, false); err != nil {
		return "", err
	}
	var uri sip.Uri
	result := "unavailable"
	if err := sip.ParseUri(t.URI, &uri); err == nil && t.Method == "bridge" {
		answered, err := c.bridge(ctx, uri, t.Timeout)
		if answered {
			result = "ok"
		}
		if err != nil {
			c.s.log.Warn("bridge failed", "err", err)
		}
	} else if err == nil {
		codes := make(chan int, 8)
		tctx, cancel := context.WithTimeout(ctx, t.Timeout)
		err := c.d.ReferOptions(tctx, uri, diago.ReferServerOptions{OnNotify: func(code int) {
			select {
			case codes <- code:
			default:
			}
		}})
		if err == nil {
		wait:
			for {
				select {
				case code := <-codes:
					if code >= 200 && code < 300 {
						result = "ok"
						break wait
					}
					if code >= 300 {
						break wait
					}
				case <-tctx.Done():
					break wait
				}
			}
		} else {
			c.s.log.Info("refer refused", "err", err)
		}
		cancel()
	}
	c.cdr.Transfer = name + ":" + result
	c.s.m.Transfers.WithLabelValues(result).Inc()
	if result == "ok" {
		return "transferred", nil
	}
	if ctx.Err() != nil {
		return causeOf(ctx, ctx.Err()), nil
	}
	if _, err := c.prompts(ctx, t.Unavailable, false); err != nil {
		return "", err
	}
	return "agent_unavailable", nil
}

// answer speaks the result of a query.
func (c *call) answer(ctx context.Context, q string) error {
	s := c.s
	var clips []string
	var err error
	switch q {
	case flow.QueryLicence:
		clips, err = s.licenceClips(ctx, c.phone)
	case flow.QueryVehicles:
		clips, err = s.vehicleClips(ctx, c.phone)
	case flow.QueryViolations:
		clips, err = s.violationClips(ctx, c.phone)
	case flow.QueryAdvisories:
		clips, err = c.advisoryClips(ctx)
	}
	if err != nil {
		s.log.Warn("records lookup failed", "query", q, "err", err)
		clips = []string{"status_unknown"}
	}
	_, err = c.play(ctx, clips, true)
	return err
}

func units(u []string) []string {
	out := make([]string, len(u))
	for i, n := range u {
		out[i] = "units/" + n
	}
	return out
}

func (s *Server) date(t time.Time) []string { return units(say.Date(t.In(s.cfg.Location))) }

func (s *Server) licenceClips(ctx context.Context, phone string) ([]string, error) {
	l, err := s.records.Licence(ctx, phone)
	if err != nil || l == nil {
		return []string{"no_licence"}, err
	}
	out := []string{"licence_status", statusPrompt("licence", l.Status, s.lib), "points_prefix"}
	out = append(out, units(append(say.Number(l.Points), say.Fen))...)
	if !l.CycleEnd.IsZero() {
		out = append(append(out, "cycle_end"), s.date(l.CycleEnd)...)
	}
	if !l.ValidUntil.IsZero() {
		out = append(append(out, "valid_until"), s.date(l.ValidUntil)...)
	}
	if !l.ReviewDue.IsZero() {
		out = append(append(out, "review_due"), s.date(l.ReviewDue)...)
	}
	if !l.MedicalDue.IsZero() {
		out = append(append(out, "medical_due"), s.date(l.MedicalDue)...)
	}
	return out, nil
}

func (s *Server) vehicleClips(ctx context.Context, phone string) ([]string, error) {
	vs, err := s.records.Vehicles(ctx, phone)
	if err != nil || len(vs) == 0 {
		return []string{"no_vehicles"}, err
	}
	out := append([]string{"vehicles_count"}, units(say.Number(int64(len(vs))))...)
	out = append(out, "vehicles_unit")
	for i, v := range vs {
		if i == 5 {
			break
		}
		out = append(append(out, "vehicle_plate"), units(say.Plate(v.Plate))...)
		if !v.InspectionValidUntil.IsZero() {
			out = append(append(out, "inspection_until"), s.date(v.InspectionValidUntil)...)
		}
		if !v.ScrapDeadline.IsZero() {
			out = append(append(out, "scrap_date"), s.date(v.ScrapDeadline)...)
		}
		out = append(out, "vehicle_status", statusPrompt("vehicle", v.Status, s.lib))
	}
	return out, nil
}

func (s *Server) violationClips(ctx context.Context, phone string) ([]string, error) {
	v, err := s.records.Violations(ctx, phone)
	if err != nil || v.Count == 0 {
		return []string{"no_violations"}, err
	}
	out := append([]string{"violations_count"}, units(say.Number(v.Count))...)
	out = append(out, "count_unit", "fine_total")
	out = append(out, units(say.Money(v.Fine))...)
	out = append(out, "points_total")
	out = append(out, units(append(say.Number(v.Points), say.Fen))...)
	if !v.Latest.IsZero() {
		out = append(append(out, "latest_violation"), s.date(v.Latest)...)
		out = append(out, units(say.Clock(v.Latest.In(s.cfg.Location)))...)
		// Place names are free text: no recorded units say them.
		if s.synth != nil && v.LatestPlace != "" {
			out = append(out, "place", ttsClip("place_see_app", v.LatestPlace))
		} else {
			out = append(out, "place_see_app")
		}
	}
	return out, nil
}

// advisoryClips reads the advisories for a verified caller's regions, or,
// without verification, for the home area of the caller number in the
// public numbering plan (HomeArea): an unverified caller hears nothing
// that depends on anyone's records.
func (c *call) advisoryClips(ctx context.Context) ([]string, error) {
	s := c.s
	var regions []string
	if c.verified {
		var err error
		if regions, err = s.records.Regions(ctx, c.phone); err != nil {
			return nil, err
		}
	}
	if len(regions) == 0 {
		if area := HomeArea(c.phone); area != "" {
			regions = []string{area}
		}
	}
	as, err := s.records.Advisories(ctx, regions, s.cfg.Now())
	if err != nil || len(as) == 0 {
		return []string{"no_advisories", "safety_general"}, err
	}
	out := append([]string{"advisories_count"}, units(say.Number(int64(len(as))))...)
	out = append(out, "count_unit")
	for i, a := range as {
		if i == 3 {
			break
		}
		if p := "advisory_" + a.Kind; s.lib.HasPrompt(p) {
			out = append(out, p)
		}
		if s.synth != nil && a.Text != "" {
			out = append(out, ttsClip("", a.Text))
		}
		if !a.ValidUntil.IsZero() {
			out = append(append(out, "advisory_until"), s.date(a.ValidUntil)...)
		}
	}
	return append(out, "safety_general"), nil
}

func statusPrompt(kind, code string, lib *Library) string {
	if len(code) > 0 {
		p := "status_" + kind + "_" + strings.ToUpper(code[:1])
		if lib.HasPrompt(p) {
			return p
		}
	}
	return "status_unknown"
}

// AnswerPrompts are the prompts the answers are built from.
var AnswerPrompts = []string{
	"licence_status", "status_unknown", "points_prefix", "cycle_end", "valid_until", "review_due",
	"medical_due", "no_licence", "vehicles_count", "vehicles_unit", "vehicle_plate", "inspection_until",
	"scrap_date", "vehicle_status", "no_vehicles", "violations_count", "count_unit", "fine_total",
	"points_total", "latest_violation", "place", "place_see_app", "no_violations", "advisories_count",
	"advisory_until", "no_advisories", "safety_general", "status_licence_A", "status_vehicle_A",
}

// MissingAudio lists the prompts and units a flow and the answers need that
// the library lacks.
func MissingAudio(lib *Library, f *flow.Flow) []string {
	var missing []string
	for _, p := range append(f.Prompts(), AnswerPrompts...) {
		if !lib.HasPrompt(p) {
			missing = append(missing, p)
		}
	}
	for _, u := range say.Units() {
		if !lib.HasUnit(u.Name) {
			missing = append(missing, "units/"+u.Name)
		}
	}
	return missing
}
