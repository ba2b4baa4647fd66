package postgres

// safetySchema holds the tables of ledger.Safety (matching ledger/sqlite):
// event content hashes for id conflicts, and operators' decisions on held
// messages.
const safetySchema = `
CREATE TABLE IF NOT EXISTS event_hashes (
	event_id TEXT PRIMARY KEY,
	hash TEXT NOT NULL,
	at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS event_hashes_at ON event_hashes (at);
CREATE TABLE IF NOT EXISTS held_decisions (
	id BIGSERIAL PRIMARY KEY,
	message_id BIGINT NOT NULL,
	decision TEXT NOT NULL,
	who TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS held_decisions_message ON held_decisions (message_id);
CREATE INDEX IF NOT EXISTS messages_held ON messages (created_at, id) WHERE state = 'held';
`
