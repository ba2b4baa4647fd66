package postgres

// actionsSchema holds ledger.ActionLog (matching ledger/sqlite): every
// operator action taken through the console, for the audit page; and the
// partial index of advisory messages (ledger.Advisories), which only
// advisory rows pay for.
const actionsSchema = `
CREATE TABLE IF NOT EXISTS operator_actions (
	id BIGSERIAL PRIMARY KEY,
	at BIGINT NOT NULL DEFAULT 0,
	who TEXT NOT NULL,
	role TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_advisory ON messages (created_at) WHERE event_type = 'advisory.published';
`
