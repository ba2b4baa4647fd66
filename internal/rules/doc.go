// Package rules turns the operators' rule files (rules/*.yaml, templates in
// rules/templates/*.yaml, set-wide settings in rules/settings.yaml) into
// compiled CEL programs, and evaluates events against them: which reminders
// an event triggers, for whom, with which rendered text, when they may be
// sent (schedule, quiet hours, expiry) and which earlier scheduled reminders
// it makes moot; which reminders of the same event a more severe one
// inhibits (inhibit rules); and, through still_due, whether a pending
// reminder is still due on the latest state of its licence or vehicle.
//
// Every expression is type-checked at load against the typed event schema
// (internal/event structs exposed to CEL by their json names), its estimated
// cost is bounded, and a set that has any error is refused whole with
// file:line:column positions. A loaded Set is immutable and safe for
// concurrent use; the gateway swaps sets atomically on reload.
//
// It also runs the examples kept next to the rules (rules/tests/*.yaml) and
// renders previews for the operators' offline tools (smsgw rules test,
// smsgw rules preview).
//
// It leaves dedupe, caps, opt-out and the actual deferral of messages to
// internal/policy and internal/dispatch: a Decision only carries the keys,
// windows and times those stages need. Template rendering, helper functions
// and segment counting live in internal/template.
package rules
