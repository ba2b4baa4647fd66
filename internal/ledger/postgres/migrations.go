package postgres

import "github.com/traffic12123/gateway/internal/ledger/internal/core"

// migrations is the PostgreSQL ledger schema, version by version
// (core.Migrate applies them at open under an advisory lock; README
// "Migrations"). Applied from the start they make the schema core.Schema
// describes, the same tables, columns and indexes as ledger/sqlite
// (TestMigrations/SchemaAgrees). Times are Unix nanoseconds, 0 meaning unset.
//
// To change the schema, append a version; never edit one that has been
// released.
var migrations = []core.Migration{
	{Version: 1, Statements: v1},
	{Version: 2, Statements: v2},
	{Version: 3, Statements: v3},
}

// v3 adds outbound notice calls (issue 20, ledger.CallStore): the calls
// table, one row per message with a voice plan, and the channel of a
// status change (the message's "sms", or its call's "voice" with the
// call's id). Existing status rows are the messages': channel 'sms'.
var v3 = []string{
	`CREATE TABLE calls (
	id BIGSERIAL PRIMARY KEY,
	message_id BIGINT NOT NULL,
	key TEXT NOT NULL UNIQUE,
	event_id TEXT NOT NULL DEFAULT '',
	rule_id TEXT NOT NULL DEFAULT '',
	entity TEXT NOT NULL DEFAULT '',
	recipient TEXT NOT NULL DEFAULT '',
	text TEXT NOT NULL DEFAULT '',
	say TEXT NOT NULL DEFAULT '',
	urgent BIGINT NOT NULL DEFAULT 0,
	priority BIGINT NOT NULL DEFAULT 0,
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	attempts BIGINT NOT NULL DEFAULT 0,
	fallback_after BIGINT NOT NULL DEFAULT 0,
	not_before BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0,
	owner TEXT NOT NULL DEFAULT '',
	claimed_at BIGINT NOT NULL DEFAULT 0,
	sip_call_id TEXT NOT NULL DEFAULT '',
	sip_status BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX calls_due ON calls (not_before, id) WHERE state = 'queued'`,
	`CREATE INDEX calls_armed ON calls (message_id) WHERE state = 'armed'`,
	`CREATE INDEX calls_active ON calls (owner, claimed_at) WHERE state IN ('claimed','dialling','ringing','answered')`,
	`CREATE INDEX calls_message ON calls (message_id)`,
	`ALTER TABLE status_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms'`,
	`ALTER TABLE status_outbox ADD COLUMN call_id BIGINT NOT NULL DEFAULT 0`,
}

// v2 keys pending_receipts by the whole receipt, not (carrier, carrier_id,
// stat): under an SMSC that reuses ids, a stale pending receipt with the
// same stat no longer hides a newer one (issue 12: duplicates are
// decided per part).
var v2 = []string{
	`ALTER TABLE pending_receipts DROP CONSTRAINT pending_receipts_pkey`,
	`ALTER TABLE pending_receipts ADD PRIMARY KEY (carrier, carrier_id, stat, done_at, recipient, err, body)`,
}

// v1 is the schema of the releases before versioned migrations, which ran
// it at every open; it stays idempotent because it also completes a ledger
// of those releases (core.Migrate). Region codes use the "C" collation so
// that a province or city is an index range.
//
// Summary counters: SQLite keeps one row per bucket with row triggers. Here
// a shared counter row would serialise the instances, so statement-level
// triggers append one signed delta row per bucket a statement touched
// (inserts only: no contention) and Summary adds the deltas up, folding
// them together now and then (Store.Summary). Needs PostgreSQL 14+.
var v1 = []string{
	// Messages and their parts, receipts, status outbox, opt-outs, contacts, Summary counters, audit.
	`CREATE TABLE IF NOT EXISTS messages (
	id BIGSERIAL PRIMARY KEY,
	key TEXT NOT NULL UNIQUE,
	event_id TEXT NOT NULL DEFAULT '',
	event_type TEXT NOT NULL DEFAULT '',
	entity TEXT NOT NULL DEFAULT '',
	rule_id TEXT NOT NULL DEFAULT '',
	template TEXT NOT NULL DEFAULT '',
	priority BIGINT NOT NULL DEFAULT 0,
	urgent BIGINT NOT NULL DEFAULT 0,
	dedupe_key TEXT NOT NULL DEFAULT '',
	cancel_key TEXT NOT NULL DEFAULT '',
	recipient TEXT NOT NULL DEFAULT '',
	carrier TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL DEFAULT '',
	encoding TEXT NOT NULL DEFAULT '',
	segments BIGINT NOT NULL DEFAULT 0,
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	not_before BIGINT NOT NULL DEFAULT 0,
	expires_at BIGINT NOT NULL DEFAULT 0,
	attempts BIGINT NOT NULL DEFAULT 0,
	requeues BIGINT NOT NULL DEFAULT 0,
	carrier_ids TEXT NOT NULL DEFAULT '',
	receipt_status TEXT NOT NULL DEFAULT '',
	receipt_error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL DEFAULT 0,
	submitted_at BIGINT NOT NULL DEFAULT 0,
	done_at BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL DEFAULT 0,
	owner TEXT NOT NULL DEFAULT '',
	claimed_at BIGINT NOT NULL DEFAULT 0
)`,
	`DROP INDEX IF EXISTS messages_next`,
	`CREATE INDEX IF NOT EXISTS messages_due ON messages (priority DESC, not_before, id) WHERE state IN ('queued','scheduled')`,
	`CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at) WHERE state IN ('queued','scheduled') AND expires_at > 0`,
	`CREATE INDEX IF NOT EXISTS messages_sending ON messages (owner, claimed_at) WHERE state = 'sending'`,
	`CREATE INDEX IF NOT EXISTS messages_unknown ON messages (updated_at) WHERE state = 'unknown'`,
	`CREATE INDEX IF NOT EXISTS messages_reconciled ON messages (updated_at) WHERE state = 'submitted' AND carrier_ids = ''`,
	`DROP INDEX IF EXISTS messages_unknown_rcpt`,
	`CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient, created_at)`,
	`CREATE INDEX IF NOT EXISTS messages_dedupe ON messages (dedupe_key, created_at) WHERE dedupe_key <> ''`,
	`CREATE INDEX IF NOT EXISTS messages_cancel ON messages (cancel_key) WHERE cancel_key <> ''`,
	`CREATE INDEX IF NOT EXISTS messages_event ON messages (event_id)`,
	`CREATE INDEX IF NOT EXISTS messages_entity ON messages (entity) WHERE entity <> ''`,
	`DROP INDEX IF EXISTS messages_final`,
	`CREATE INDEX IF NOT EXISTS messages_done ON messages (updated_at) WHERE state IN ('delivered','failed','expired','cancelled','suppressed','partial','no_receipt')`,
	`CREATE INDEX IF NOT EXISTS messages_awaiting ON messages (submitted_at) WHERE state = 'submitted'`,
	`CREATE TABLE IF NOT EXISTS parts (
	carrier TEXT NOT NULL,
	carrier_id TEXT NOT NULL,
	message_id BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	stat TEXT NOT NULL DEFAULT '',
	err TEXT NOT NULL DEFAULT '',
	done_at BIGINT NOT NULL DEFAULT 0,
	submitted_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (carrier, carrier_id)
)`,
	`CREATE INDEX IF NOT EXISTS parts_message ON parts (message_id, seq)`,
	// send_refs: the concatenation reference of a message whose parts were
	// not all accepted, so the missing ones go again under it (issue 12).
	`CREATE TABLE IF NOT EXISTS send_refs (
	message_id BIGINT PRIMARY KEY,
	ref BIGINT NOT NULL,
	outcomes TEXT NOT NULL DEFAULT '',
	updated_at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE TABLE IF NOT EXISTS receipts (
	id BIGSERIAL PRIMARY KEY,
	message_id BIGINT NOT NULL,
	carrier TEXT NOT NULL,
	carrier_id TEXT NOT NULL,
	stat TEXT NOT NULL,
	err TEXT NOT NULL DEFAULT '',
	done_at BIGINT NOT NULL DEFAULT 0,
	received_at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX IF NOT EXISTS receipts_message ON receipts (message_id)`,
	`CREATE TABLE IF NOT EXISTS pending_receipts (
	carrier TEXT NOT NULL,
	carrier_id TEXT NOT NULL,
	stat TEXT NOT NULL,
	err TEXT NOT NULL DEFAULT '',
	recipient TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL DEFAULT '',
	done_at BIGINT NOT NULL DEFAULT 0,
	received_at BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (carrier, carrier_id, stat)
)`,
	`CREATE INDEX IF NOT EXISTS pending_received ON pending_receipts (received_at)`,
	`CREATE INDEX IF NOT EXISTS pending_recipient ON pending_receipts (recipient)`,
	`CREATE TABLE IF NOT EXISTS status_outbox (
	id BIGSERIAL PRIMARY KEY,
	message_id BIGINT NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX IF NOT EXISTS status_outbox_message ON status_outbox (message_id)`,
	`CREATE TABLE IF NOT EXISTS meta (
	k TEXT PRIMARY KEY,
	v BIGINT NOT NULL DEFAULT 0
)`,
	`INSERT INTO meta (k, v) VALUES ('status_acked', 0) ON CONFLICT (k) DO NOTHING`,
	`CREATE TABLE IF NOT EXISTS opt_outs (
	phone TEXT PRIMARY KEY,
	at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE TABLE IF NOT EXISTS contacts (
	region TEXT COLLATE "C" NOT NULL,
	phone TEXT NOT NULL,
	entity TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (region, phone, entity)
)`,
	`CREATE TABLE IF NOT EXISTS counter_deltas (
	carrier TEXT NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL,
	submitted BIGINT NOT NULL,
	messages BIGINT NOT NULL,
	segments BIGINT NOT NULL
)`,
	`CREATE OR REPLACE FUNCTION ledger_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO counter_deltas (carrier, state, reason, submitted, messages, segments)
		SELECT carrier, state, CASE WHEN state = 'suppressed' THEN reason ELSE '' END,
			CASE WHEN submitted_at > 0 THEN 1 ELSE 0 END, count(*), sum(segments)
		FROM new_rows GROUP BY 1, 2, 3, 4;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO counter_deltas (carrier, state, reason, submitted, messages, segments)
		SELECT carrier, state, r, s, sum(n), sum(g) FROM (
			SELECT carrier, state, CASE WHEN state = 'suppressed' THEN reason ELSE '' END AS r,
				CASE WHEN submitted_at > 0 THEN 1 ELSE 0 END AS s, 1 AS n, segments AS g FROM new_rows
			UNION ALL
			SELECT carrier, state, CASE WHEN state = 'suppressed' THEN reason ELSE '' END,
				CASE WHEN submitted_at > 0 THEN 1 ELSE 0 END, -1, -segments FROM old_rows
		) x GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 OR sum(g) <> 0;
	ELSE
		INSERT INTO counter_deltas (carrier, state, reason, submitted, messages, segments)
		SELECT carrier, state, CASE WHEN state = 'suppressed' THEN reason ELSE '' END,
			CASE WHEN submitted_at > 0 THEN 1 ELSE 0 END, -count(*), -sum(segments)
		FROM old_rows GROUP BY 1, 2, 3, 4;
	END IF;
	RETURN NULL;
END
$$`,
	`CREATE OR REPLACE TRIGGER counters_insert AFTER INSERT ON messages
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_counters()`,
	`CREATE OR REPLACE TRIGGER counters_update AFTER UPDATE ON messages
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_counters()`,
	`CREATE OR REPLACE TRIGGER counters_delete AFTER DELETE ON messages
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_counters()`,
	`CREATE TABLE IF NOT EXISTS audit (
	day TEXT NOT NULL,
	rule_id TEXT NOT NULL,
	carrier TEXT NOT NULL,
	state TEXT NOT NULL,
	messages BIGINT NOT NULL DEFAULT 0,
	segments BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (day, rule_id, carrier, state)
)`,
	// Entity_state: the latest known licence/vehicle state of entities with pending messages (ledger.StateStore).
	`CREATE TABLE IF NOT EXISTS entity_state (
	entity TEXT PRIMARY KEY,
	kind TEXT NOT NULL DEFAULT '',
	data TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	event_type TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX IF NOT EXISTS entity_state_updated ON entity_state (updated_at)`,
	// Ledger.Safety: event content hashes for id conflicts, operators' decisions on held messages.
	`CREATE TABLE IF NOT EXISTS event_hashes (
	event_id TEXT PRIMARY KEY,
	hash TEXT NOT NULL,
	at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX IF NOT EXISTS event_hashes_at ON event_hashes (at)`,
	`CREATE TABLE IF NOT EXISTS held_decisions (
	id BIGSERIAL PRIMARY KEY,
	message_id BIGINT NOT NULL,
	decision TEXT NOT NULL,
	who TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL DEFAULT 0
)`,
	`CREATE INDEX IF NOT EXISTS held_decisions_message ON held_decisions (message_id)`,
	`CREATE INDEX IF NOT EXISTS messages_held ON messages (created_at, id) WHERE state = 'held'`,
	// Ledger.ActionLog: the console's operator actions; the partial index of advisory messages (ledger.Advisories).
	`CREATE TABLE IF NOT EXISTS operator_actions (
	id BIGSERIAL PRIMARY KEY,
	at BIGINT NOT NULL DEFAULT 0,
	who TEXT NOT NULL,
	role TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT ''
)`,
	`CREATE INDEX IF NOT EXISTS messages_advisory ON messages (created_at) WHERE event_type = 'advisory.published'`,
}
