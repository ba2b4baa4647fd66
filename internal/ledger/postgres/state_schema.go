package postgres

// stateSchema is the latest known state of licences and vehicles with
// pending messages (ledger.StateStore); the same table as ledger/sqlite.
const stateSchema = `
CREATE TABLE IF NOT EXISTS entity_state (
	entity TEXT PRIMARY KEY,
	kind TEXT NOT NULL DEFAULT '',
	data TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	event_type TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL DEFAULT 0,
	updated_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entity_state_updated ON entity_state (updated_at);
`
