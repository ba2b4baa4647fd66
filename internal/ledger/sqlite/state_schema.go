package sqlite

// stateSchema is the latest known state of licences and vehicles with
// pending messages (ledger.StateStore); the same table as ledger/postgres.
const stateSchema = `
CREATE TABLE IF NOT EXISTS entity_state (
	entity TEXT PRIMARY KEY,
	kind TEXT NOT NULL DEFAULT '',
	data TEXT NOT NULL DEFAULT '',
	event_id TEXT NOT NULL DEFAULT '',
	event_type TEXT NOT NULL DEFAULT '',
	at INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_state_updated ON entity_state (updated_at);
`
