// Package template renders the Chinese text of an SMS from a template whose
// placeholders are CEL expressions: "您的驾驶证(证号末4位{{ last4(event.licence.number) }})…".
//
// It covers compiling and linting templates (every placeholder type-checked,
// no 【】 brackets because the signature is added by the rule set, no links,
// worst-case length within the allowed number of segments), the helper
// functions templates and rules share (dates in the set's time zone, masking
// of personal data, code-to-name tables) and measuring rendered text
// (encoding, characters, segments, as the carrier will bill it).
//
// It leaves the CEL environment (which variables exist and their types) to
// its caller, internal/rules, and sending to the pipeline.
package template
