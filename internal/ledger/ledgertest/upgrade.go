package ledgertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/message"
)

// The upgrade test: a ledger written by a release before versioned
// migrations (schema version 1, created from each store's frozen
// testdata/ledger_v1.sql) holds V1Rows; opened by this code it is
// migrated, and CheckV1Rows and CheckV1Writes read and use those rows
// through the Store API. Both stores run it (TestMigrations/UpgradeFromV1).

// v1States is the state of message i+1 of V1Rows: every state a message
// can be in.
var v1States = []message.State{
	message.StateQueued, // waiting to resend its missing second part
	message.StateScheduled,
	message.StateSending, // claimed by "gw-old" when it stopped
	message.StateSubmitted,
	message.StateDelivered,
	message.StateFailed,
	message.StatePartial,
	message.StateNoReceipt,
	message.StateHeld,
	message.StateCancelled,
	message.StateSuppressed,
	message.StateExpired,
	message.StateUnknown,
}

// v1Phone is the recipient of message i (1-based) of V1Rows.
func v1Phone(i int) string { return fmt.Sprintf("138%08d", i) }

// V1Rows returns INSERT statements (the same on both databases) that fill
// a version 1 ledger as that release left it, around T0: one message in
// each state, with parts, the send reference of a message waiting for a
// missing part, receipts, a pending receipt, status outbox rows partly
// acknowledged, an opt-out, a contact, an entity state, an event hash, a
// held decision, an operator action and an audit row. Run them in order on
// an empty version 1 schema: messages get ids 1 … 13 from the database, as
// the release's inserts did.
func V1Rows() []string {
	t0 := T0.UnixNano()
	hour := int64(time.Hour)
	var out []string
	for i, st := range v1States {
		id := i + 1
		rule, evType := "r", "licence.snapshot"
		notBefore, segments, ids, reason := t0-hour, 1, "", ""
		owner, claimed, submitted := "", int64(0), int64(0)
		switch st {
		case message.StateQueued, message.StatePartial:
			segments, ids, submitted = 2, fmt.Sprintf("c-%da,", id), t0-hour
		case message.StateSubmitted, message.StateDelivered, message.StateNoReceipt:
			ids, submitted = fmt.Sprintf("c-%da", id), t0-hour
		case message.StateScheduled:
			rule, evType, notBefore = "adv", "advisory.published", t0+hour
		case message.StateSending:
			owner, claimed = "gw-old", t0-int64(10*time.Second)
		case message.StateFailed:
			reason = "refused 0x00000058"
		case message.StateHeld:
			reason = "audience too large"
		case message.StateCancelled:
			reason = ledger.ReasonDroppedBy + "op"
		case message.StateSuppressed:
			reason = "opted out"
		case message.StateExpired:
			reason = "expired before send"
		case message.StateUnknown:
			reason = ledger.ReasonCrash
		}
		out = append(out, fmt.Sprintf(`INSERT INTO messages (key, event_id, event_type, entity, rule_id, template, recipient, carrier, source,
			body, encoding, segments, state, reason, not_before, carrier_ids, created_at, submitted_at, updated_at, owner, claimed_at)
			VALUES ('%s', 'ev-1', '%s', 'E%d', '%s', '%s', '%s', 'cmcc', '12123', '【交管12123】message %d', 'ucs2', %d, '%s', '%s', %d, '%s', %d, %d, %d, '%s', %d)`,
			message.Key("ev-1", rule, v1Phone(id)), evType, id, rule, rule, v1Phone(id), id, segments, st, reason, notBefore, ids,
			t0-2*hour, submitted, t0-hour, owner, claimed))
		stat, done, changed := "", int64(0), t0-hour
		if st == message.StateDelivered {
			stat, done, changed = "DELIVRD", t0-hour/2, t0-hour/2
		}
		out = append(out, fmt.Sprintf(`INSERT INTO status_outbox (message_id, state, reason, at) VALUES (%d, '%s', '%s', %d)`,
			id, st, reason, changed))
		if ids != "" {
			if st == message.StateDelivered {
				out = append(out, fmt.Sprintf(`INSERT INTO receipts (message_id, carrier, carrier_id, stat, err, done_at, received_at)
					VALUES (%d, 'cmcc', 'c-%da', 'DELIVRD', '000', %d, %d)`, id, id, done, done),
					fmt.Sprintf(`UPDATE messages SET receipt_status = 'DELIVRD', receipt_error = '000', done_at = %d WHERE id = %d`, done, id))
			}
			out = append(out, fmt.Sprintf(`INSERT INTO parts (carrier, carrier_id, message_id, seq, stat, err, done_at, submitted_at)
				VALUES ('cmcc', 'c-%da', %d, 0, '%s', '', %d, %d)`, id, id, stat, done, t0-hour))
		}
		if st == message.StateQueued {
			out = append(out, fmt.Sprintf(`INSERT INTO send_refs (message_id, ref, outcomes, updated_at)
				VALUES (%d, 77, 'accepted;refused 0x00000058', %d)`, id, t0-hour))
		}
		if st == message.StateCancelled {
			out = append(out, fmt.Sprintf(`INSERT INTO held_decisions (message_id, decision, who, note, at)
				VALUES (%d, 'drop', 'op', 'not for tonight', %d)`, id, t0-hour))
		}
	}
	return append(out,
		`UPDATE meta SET v = 10 WHERE k = 'status_acked'`,
		fmt.Sprintf(`INSERT INTO pending_receipts (carrier, carrier_id, stat, err, recipient, body, done_at, received_at)
			VALUES ('cmcc', 'c-99', 'DELIVRD', '000', '13900000000', '', %d, %d)`, t0-hour, t0-hour),
		fmt.Sprintf(`INSERT INTO opt_outs (phone, at) VALUES ('%s', %d)`, v1Phone(11), t0-hour),
		`INSERT INTO contacts (region, phone, entity) VALUES ('110101', '13800000020', 'E1')`,
		fmt.Sprintf(`INSERT INTO entity_state (entity, kind, data, event_id, event_type, at, updated_at)
			VALUES ('E1', 'licence', '{"number":"E1"}', 'ev-1', 'licence.snapshot', %d, %d)`, t0-hour, t0-hour),
		fmt.Sprintf(`INSERT INTO event_hashes (event_id, hash, at) VALUES ('ev-1', 'h1', %d)`, t0-hour),
		fmt.Sprintf(`INSERT INTO operator_actions (at, who, role, action, target, detail, remote)
			VALUES (%d, 'op', 'admin', 'drop', '10', 'not for tonight', '127.0.0.1')`, t0-hour),
		`INSERT INTO audit (day, rule_id, carrier, state, messages, segments) VALUES ('2026-03-01', 'r', 'cmcc', 'delivered', 5, 5)`,
	)
}

// CheckV1Rows reads the rows of V1Rows back through the Store API; it
// changes nothing, so it can run again after a reopen.
func CheckV1Rows(t *testing.T, s ledger.Store) {
	t.Helper()
	ctx := t.Context()
	sum, err := s.Summary(ctx)
	if err != nil {
		t.Fatalf("summary: %v", err)
	}
	for _, st := range v1States {
		if sum.States[st] != 1 {
			t.Errorf("summary: %d messages %s, want 1 (%v)", sum.States[st], st, sum.States)
		}
	}
	if sum.Pending != 1 || sum.Suppressed["opted out"] != 1 {
		t.Errorf("summary: pending %d, suppressed %v; want 1 pending, 1 opted out", sum.Pending, sum.Suppressed)
	}
	if len(sum.Calls) != 0 {
		t.Errorf("summary: calls %v, want none", sum.Calls)
	}

	tr, err := s.Trace(ctx, ledger.TraceQuery{EventID: "ev-1"})
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	var kinds []string
	for _, e := range tr {
		if e.MessageID == 5 {
			kinds = append(kinds, fmt.Sprintf("%s %s%s%s", e.Kind, e.CarrierID, e.Stat, e.State))
		}
	}
	if want := []string{"part c-5a", "receipt c-5aDELIVRD", "state delivered"}; !slices.Equal(kinds, want) {
		t.Errorf("trace of message 5: %q, want %q", kinds, want)
	}
	if len(tr) != len(v1States)+5+1 { // a state each, 5 parts, 1 receipt
		t.Errorf("trace: %d entries, want %d", len(tr), len(v1States)+6)
	}

	changes, err := s.PendingStatus(ctx, 100)
	if err != nil {
		t.Fatalf("pending status: %v", err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, fmt.Sprintf("%d:%d:%s:%s:%s:%d", c.ID, c.MessageID, c.State, c.Recipient, c.Channel, c.CallID))
	}
	// Rows from before version 3 are the messages' (channel sms).
	if want := []string{"11:11:suppressed:" + v1Phone(11) + ":sms:0", "12:12:expired:" + v1Phone(12) + ":sms:0",
		"13:13:unknown:" + v1Phone(13) + ":sms:0"}; !slices.Equal(got, want) {
		t.Errorf("pending status changes %q, want %q", got, want)
	}

	held, err := s.Held(ctx, 10)
	if err != nil || len(held) != 1 || held[0].ID != 9 || held[0].Reason != "audience too large" {
		t.Errorf("held: %v %v, want message 9", ids(held), err)
	}
	ds, err := s.HeldDecisions(ctx, 10)
	if err != nil || len(ds) != 1 || ds[0].Who != "op" || ds[0].Release || ds[0].Note != "not for tonight" {
		t.Errorf("held decisions of message 10: %+v %v", ds, err)
	}
	unknown, err := s.Unknown(ctx, T0, 10)
	if err != nil || !slices.Equal(ids(unknown), []int64{13}) {
		t.Errorf("unknown: %v %v, want [13]", ids(unknown), err)
	}
	opted, err := s.OptedOut(ctx, []string{v1Phone(11), v1Phone(12)})
	if err != nil || !opted[v1Phone(11)] || opted[v1Phone(12)] {
		t.Errorf("opted out: %v %v", opted, err)
	}
	var phones []string
	err = s.ContactsInRegions(ctx, []string{"110101"}, func(p string) error { phones = append(phones, p); return nil })
	if err != nil || !slices.Equal(phones, []string{"13800000020"}) {
		t.Errorf("contacts in 110101: %v %v", phones, err)
	}
	stored, err := s.RecordEvents(ctx, []ledger.EventHash{{EventID: "ev-1", Hash: "other"}})
	if err != nil || stored["ev-1"] != "h1" {
		t.Errorf("event hash of ev-1: %v %v, want h1", stored, err)
	}
	audit, err := s.Audit(ctx)
	if err != nil || len(audit) != 1 || audit[0].Messages != 5 || audit[0].State != message.StateDelivered {
		t.Errorf("audit: %+v %v", audit, err)
	}
	checkV1Extras(ctx, t, s)
}

// checkV1Extras reads the tables behind the optional interfaces.
func checkV1Extras(ctx context.Context, t *testing.T, s ledger.Store) {
	t.Helper()
	ss, ok := s.(ledger.StateStore)
	if !ok {
		t.Fatalf("%T is no ledger.StateStore", s)
	}
	states, err := ss.LatestStates(ctx, []string{"E1"})
	if err != nil || states["E1"].Kind != "licence" || string(states["E1"].Data) != `{"number":"E1"}` || !states["E1"].At.Equal(T0.Add(-time.Hour)) {
		t.Errorf("entity state E1: %+v %v", states, err)
	}
	al, ok := s.(ledger.ActionLog)
	if !ok {
		t.Fatalf("%T is no ledger.ActionLog", s)
	}
	acts, err := al.Actions(ctx, 0, 10)
	if err != nil || len(acts) != 1 || acts[0].Who != "op" || acts[0].Target != "10" {
		t.Errorf("operator actions: %+v %v", acts, err)
	}
}

// CheckV1Writes goes on from V1Rows with writes: the message waiting for
// its missing part is claimed with its reference and the part already
// accepted, a receipt settles a submitted message by its part's id, the
// old instance's claim is recovered, and new messages take ids after the
// old ones while an old key is still a duplicate.
func CheckV1Writes(t *testing.T, s ledger.Store) {
	t.Helper()
	ctx := t.Context()
	ms, err := s.Claim(ctx, T0, 10, "gw-new")
	if err != nil || len(ms) != 1 {
		t.Fatalf("claim: %v %v, want message 1", ids(ms), err)
	}
	if m := ms[0]; m.ID != 1 || !m.HasConcatRef || m.ConcatRef != 77 || strings.Join(m.CarrierIDs, ",") != "c-1a," {
		t.Errorf("claimed %d ref %d (%v) parts %q; want 1, ref 77, parts [c-1a, \"\"]", m.ID, m.ConcatRef, m.HasConcatRef, m.CarrierIDs)
	}
	rs, err := s.Receipts(ctx, []ledger.Receipt{
		{Carrier: "cmcc", MessageID: "C-4A", Stat: "DELIVRD", Done: T0},
		// The very receipt pending since version 1 (its key changed in 2).
		{Carrier: "cmcc", MessageID: "c-99", Stat: "DELIVRD", Err: "000", Recipient: "13900000000", Done: T0.Add(-time.Hour)},
	})
	if err != nil || len(rs) != 2 {
		t.Fatalf("receipts: %+v %v", rs, err)
	}
	if r := rs[0]; r.Outcome != ledger.OutcomeMatched || r.MessageID != 4 || r.State != message.StateDelivered {
		t.Errorf("receipt for c-4a: %+v, want message 4 delivered", r)
	}
	if rs[1].Outcome != ledger.OutcomeDuplicate {
		t.Errorf("receipt for c-99 again: %+v, want a duplicate of the pending one", rs[1])
	}
	if n, err := s.Recover(ctx, "gw-old", T0.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("recover gw-old: %d %v, want 1", n, err)
	}
	old := &message.Message{Key: message.Key("ev-1", "r", v1Phone(1)), EventID: "ev-1", RuleID: "r", Recipient: v1Phone(1), State: message.StateQueued}
	fresh := Msg("ev-2", "r", 1)
	if err := s.Insert(ctx, []*message.Message{old, fresh}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if old.ID != 1 || old.State != message.StateSending || fresh.ID <= int64(len(v1States)) {
		t.Errorf("insert: old key got id %d (%s), want 1 (sending); new message id %d, want one after %d",
			old.ID, old.State, fresh.ID, len(v1States))
	}
}

// CheckCallWrites goes on from CheckV1Writes in a ledger upgraded to
// calls (version 3): a new message with a voice fallback gets its armed
// call, which its failed SMS queues, with status changes on the voice
// channel after the old rows' ids.
func CheckCallWrites(t *testing.T, s ledger.Store) {
	t.Helper()
	ctx := t.Context()
	cs, ok := s.(ledger.CallStore)
	if !ok {
		t.Fatalf("%T is no ledger.CallStore", s)
	}
	m := VoiceMsg("ev-3", "r", 3, time.Minute)
	m.Recipient, m.Key = "13900000003", message.Key("ev-3", "r", "13900000003")
	if err := s.Insert(ctx, []*message.Message{m}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	if err := s.Transition(ctx, []ledger.Transition{{ID: m.ID, State: message.StateFailed, Reason: "refused"}}); err != nil {
		t.Fatalf("transition: %v", err)
	}
	if res, err := cs.ArmCalls(ctx, T0); err != nil || res.Queued != 1 {
		t.Fatalf("arm calls: %+v %v, want 1 queued", res, err)
	}
	calls, err := cs.Calls(ctx, []int64{m.ID})
	if err != nil || len(calls) != 1 || calls[0].State != ledger.CallQueued || calls[0].Reason != "sms_failed" {
		t.Fatalf("calls of the new message: %+v %v", calls, err)
	}
	changes, err := s.PendingStatus(ctx, 100)
	if err != nil {
		t.Fatalf("pending status: %v", err)
	}
	var voice []string
	for _, c := range changes {
		if c.ID <= 13 {
			continue
		}
		if c.MessageID == m.ID && c.Channel == ledger.ChannelVoice && c.CallID == calls[0].ID {
			voice = append(voice, string(c.State))
		}
	}
	if want := []string{"armed", "queued"}; !slices.Equal(voice, want) {
		t.Errorf("voice status changes %q, want %q", voice, want)
	}
}
