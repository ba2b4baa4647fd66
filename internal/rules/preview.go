package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/message"
	"github.com/traffic12123/gateway/internal/template"
)

// maskEntity hides an ID (licence) number but its last 4 characters; plates
// and advisory ids pass.
func maskEntity(s string) string {
	return idNumberRE.ReplaceAllStringFunc(s, func(id string) string { return strings.Repeat("*", 14) + id[14:] })
}

var idNumberRE = regexp.MustCompile(`\b\d{17}[\dXx]\b`)

// maskPhones hides the middle of mobile numbers in s.
func maskPhones(s string) string { return mobileRE.ReplaceAllStringFunc(s, template.MaskPhone) }

var mobileRE = regexp.MustCompile(`\b1\d{10}\b`)

// channelsNote says how a decision reaches its recipient.
func channelsNote(v *message.Voice) string {
	switch {
	case v == nil:
		return ChannelSMS
	case v.Only:
		return ChannelVoice + " only (the message is stored suppressed, reason " + message.ReasonVoiceOnly + "; the call is queued for not before)"
	}
	return ChannelSMS + ", then " + ChannelVoice + ": a call when the SMS ends failed, expired, partial or no_receipt, or is not delivered " +
		ShortDuration(v.FallbackAfter) + " after it was submitted"
}

// sayNote is the rendered say list of a call, one "[kind value]" per
// item, with ID and phone numbers masked.
func sayNote(items []message.SayItem) string {
	if len(items) == 0 {
		return "after the intro, the SMS text (synthesized)"
	}
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = "[" + it.Kind + " " + maskPhones(maskEntity(it.Value)) + "]"
	}
	return "after the intro, " + strings.Join(parts, " ")
}

// Preview evaluates ev at now and describes, for operators (`smsgw rules
// preview`), the rules that fire with their rendered messages, the rules
// that matched but were skipped and why, the cancellations, and the rules
// listening to the type that did not match. Phone and ID numbers outside the
// message texts are masked. The error is Evaluate's: the event cannot be
// evaluated.
func Preview(set *Set, ev *event.Event, now time.Time) (string, error) {
	loc := set.settings.Location
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04:05 MST")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "event %s %s (%s), evaluated at %s, rule set %.12s\n", ev.Type, ev.ID, maskEntity(ev.Entity()), ts(now), set.Hash())
	res, err := set.Evaluate(ev, now)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, d := range res.Decisions {
		seen[d.RuleID] = true
		to := template.MaskPhone(d.Recipient)
		if len(d.Regions) > 0 {
			to = "regions " + strings.Join(d.Regions, ",")
		}
		fmt.Fprintf(&b, "\nFIRES %s → %s (template %s, priority %d", d.RuleID, to, d.Template, d.Priority)
		if d.Urgent {
			b.WriteString(", urgent")
		}
		b.WriteString(")\n")
		fmt.Fprintf(&b, "  text:       %s\n", d.Text)
		fmt.Fprintf(&b, "  length:     %d chars, %s, %d segment(s)\n", d.Chars, d.Encoding, d.Segments)
		fmt.Fprintf(&b, "  channels:   %s\n", channelsNote(d.Voice))
		if d.Voice != nil {
			fmt.Fprintf(&b, "  say:        %s\n", sayNote(d.Voice.Say))
		}
		nb := ts(d.NotBefore)
		if d.NotBefore.After(now) {
			nb += " (deferred: " + deferral(set, d.DeferredBy) + ")"
		}
		fmt.Fprintf(&b, "  not before: %s\n", nb)
		if d.InhibitedBy != "" {
			fmt.Fprintf(&b, "  inhibited:  by %s (same person and cause): stored suppressed, reason inhibited_by:%s\n", d.InhibitedBy, d.InhibitedBy)
		}
		for _, t := range d.Inhibits {
			fmt.Fprintf(&b, "  inhibits:   pending %s", strings.Join(t.Rules, ", "))
			if t.Recipient != "" {
				fmt.Fprintf(&b, " to %s", template.MaskPhone(t.Recipient))
			}
			if t.Entity != "" {
				fmt.Fprintf(&b, " about %s", maskEntity(t.Entity))
			}
			b.WriteString("\n")
		}
		if r := set.Rule(d.RuleID); r != nil && r.StillDue != "" {
			fmt.Fprintf(&b, "  re-checked: just before sending, still_due: %s\n", strings.Join(strings.Fields(r.StillDue), " "))
		}
		fmt.Fprintf(&b, "  expires:    %s\n", ts(d.ExpiresAt))
		if d.DedupeKey != "" {
			fmt.Fprintf(&b, "  dedupe:     %s within %s\n", maskEntity(d.DedupeKey), fmtDuration(d.DedupeWindow))
		}
		if d.CancelKey != "" {
			fmt.Fprintf(&b, "  cancel key: %s\n", maskEntity(d.CancelKey))
		}
	}
	for _, s := range res.Skipped {
		seen[s.RuleID] = true
		fmt.Fprintf(&b, "\nSKIPPED %s: %s (%s)\n", s.RuleID, s.Reason, s.Detail)
	}
	for _, c := range res.Cancels {
		fmt.Fprintf(&b, "\nCANCELS %s (%s)\n", maskEntity(c.CancelKey), c.Reason)
	}
	var quiet []string
	for _, c := range set.byType[ev.Type] {
		if !seen[c.rule.ID] && !slices.Contains(quiet, c.rule.ID) {
			quiet = append(quiet, c.rule.ID)
		}
	}
	if len(quiet) > 0 {
		fmt.Fprintf(&b, "\nno match: %s\n", strings.Join(quiet, ", "))
	}
	if len(res.Decisions) == 0 && len(res.Skipped) == 0 && len(res.Cancels) == 0 {
		b.WriteString("\nnothing fires\n")
	}
	return b.String(), nil
}

// deferral names why a message waits: the rule's own send time, quiet
// hours, or the rule's send time moved out of quiet hours.
func deferral(set *Set, by string) string {
	quiet := "quiet hours " + set.settings.QuietStart + "–" + set.settings.QuietEnd
	switch by {
	case DeferredByTiming:
		return "the rule's send time (timing.at)"
	case DeferredByQuietHours:
		return quiet
	case DeferredByTiming + "+" + DeferredByQuietHours:
		return "the rule's send time (timing.at), then " + quiet
	}
	return by
}
