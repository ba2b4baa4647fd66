package core

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Schema describes the ledger schema at the latest version: what both
// stores' migration lists must produce, table for table, column for column
// (types normalised), index for index. Each store's
// TestMigrations/SchemaAgrees reads the schema back from the database
// (sqlite_master and pragmas; information_schema, pg_indexes and pg_index)
// and compares it with this. A schema change is a new migration in both
// stores plus the change here.
var Schema = Description{
	Version: 3,
	Tables: []Table{
		{
			Name: "schema_migrations",
			Columns: []Column{
				{Name: "version", Type: Int, NotNull: true},
				{Name: "applied_at", Type: Int, NotNull: true},
			},
			Key: []string{"version"},
		},
		{
			Name: "messages",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				{Name: "key", Type: Text, NotNull: true},
				text("event_id"), text("event_type"), text("entity"), text("rule_id"), text("template"),
				integer("priority"), integer("urgent"),
				text("dedupe_key"), text("cancel_key"), text("recipient"), text("carrier"), text("source"),
				text("body"), text("encoding"),
				integer("segments"),
				{Name: "state", Type: Text, NotNull: true},
				text("reason"),
				integer("not_before"), integer("expires_at"), integer("attempts"), integer("requeues"),
				text("carrier_ids"), text("receipt_status"), text("receipt_error"),
				integer("created_at"), integer("submitted_at"), integer("done_at"), integer("updated_at"),
				text("owner"),
				integer("claimed_at"),
			},
			Key:    []string{"id"},
			Unique: [][]string{{"key"}},
			Indexes: []Index{
				{Name: "messages_due", Columns: []string{"priority DESC", "not_before", "id"}, Where: "state IN ('queued','scheduled')"},
				{Name: "messages_expiry", Columns: []string{"expires_at"}, Where: "state IN ('queued','scheduled') AND expires_at > 0"},
				{Name: "messages_sending", Columns: []string{"owner", "claimed_at"}, Where: "state = 'sending'"},
				{Name: "messages_unknown", Columns: []string{"updated_at"}, Where: "state = 'unknown'"},
				{Name: "messages_reconciled", Columns: []string{"updated_at"}, Where: "state = 'submitted' AND carrier_ids = ''"},
				{Name: "messages_recipient", Columns: []string{"recipient", "created_at"}},
				{Name: "messages_dedupe", Columns: []string{"dedupe_key", "created_at"}, Where: "dedupe_key <> ''"},
				{Name: "messages_cancel", Columns: []string{"cancel_key"}, Where: "cancel_key <> ''"},
				{Name: "messages_event", Columns: []string{"event_id"}},
				{Name: "messages_entity", Columns: []string{"entity"}, Where: "entity <> ''"},
				{Name: "messages_done", Columns: []string{"updated_at"},
					Where: "state IN ('delivered','failed','expired','cancelled','suppressed','partial','no_receipt')"},
				{Name: "messages_awaiting", Columns: []string{"submitted_at"}, Where: "state = 'submitted'"},
				{Name: "messages_held", Columns: []string{"created_at", "id"}, Where: "state = 'held'"},
				{Name: "messages_advisory", Columns: []string{"created_at"}, Where: "event_type = 'advisory.published'"},
			},
			Triggers: []string{"counters_delete", "counters_insert", "counters_update"},
		},
		{
			Name: "parts",
			Columns: []Column{
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "carrier_id", Type: Text, NotNull: true},
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "seq", Type: Int, NotNull: true},
				text("stat"), text("err"), integer("done_at"), integer("submitted_at"),
			},
			Key:     []string{"carrier", "carrier_id"},
			Indexes: []Index{{Name: "parts_message", Columns: []string{"message_id", "seq"}}},
		},
		{
			Name: "send_refs",
			Columns: []Column{
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "ref", Type: Int, NotNull: true},
				text("outcomes"), integer("updated_at"),
			},
			Key: []string{"message_id"},
		},
		{
			Name: "receipts",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "carrier_id", Type: Text, NotNull: true},
				{Name: "stat", Type: Text, NotNull: true},
				text("err"), integer("done_at"), integer("received_at"),
			},
			Key:     []string{"id"},
			Indexes: []Index{{Name: "receipts_message", Columns: []string{"message_id"}}},
		},
		{
			Name: "pending_receipts",
			Columns: []Column{
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "carrier_id", Type: Text, NotNull: true},
				{Name: "stat", Type: Text, NotNull: true},
				text("err"), text("recipient"), text("body"), integer("done_at"), integer("received_at"),
			},
			// One row per distinct receipt (version 2): a newer receipt for
			// a reused id with the same stat is kept beside a stale one.
			Key: []string{"carrier", "carrier_id", "stat", "done_at", "recipient", "err", "body"},
			Indexes: []Index{
				{Name: "pending_received", Columns: []string{"received_at"}},
				{Name: "pending_recipient", Columns: []string{"recipient"}},
			},
		},
		{
			Name: "status_outbox",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "state", Type: Text, NotNull: true},
				text("reason"), integer("at"),
				// Version 3: "sms" rows are the message's changes, "voice"
				// rows its call's (call_id).
				{Name: "channel", Type: Text, NotNull: true, Default: "'sms'"},
				integer("call_id"),
			},
			Key:     []string{"id"},
			Indexes: []Index{{Name: "status_outbox_message", Columns: []string{"message_id"}}},
		},
		{
			// Outbound notice calls (version 3, ledger.CallStore): one per
			// message with a voice plan, keyed like it.
			Name: "calls",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "key", Type: Text, NotNull: true},
				text("event_id"), text("rule_id"), text("entity"), text("recipient"), text("text"), text("say"),
				integer("urgent"), integer("priority"),
				{Name: "state", Type: Text, NotNull: true},
				text("reason"),
				integer("attempts"), integer("fallback_after"), integer("not_before"), integer("expires_at"),
				text("owner"), integer("claimed_at"), text("sip_call_id"), integer("sip_status"),
				integer("created_at"), integer("updated_at"),
			},
			Key:    []string{"id"},
			Unique: [][]string{{"key"}},
			Indexes: []Index{
				{Name: "calls_due", Columns: []string{"not_before", "id"}, Where: "state = 'queued'"},
				{Name: "calls_armed", Columns: []string{"message_id"}, Where: "state = 'armed'"},
				{Name: "calls_active", Columns: []string{"owner", "claimed_at"}, Where: "state IN ('claimed','dialling','ringing','answered')"},
				{Name: "calls_message", Columns: []string{"message_id"}},
			},
		},
		{
			Name:    "meta",
			Columns: []Column{{Name: "k", Type: Text, NotNull: true}, integer("v")},
			Key:     []string{"k"},
		},
		{
			Name:    "opt_outs",
			Columns: []Column{{Name: "phone", Type: Text, NotNull: true}, integer("at")},
			Key:     []string{"phone"},
		},
		{
			Name: "contacts",
			Columns: []Column{
				{Name: "region", Type: Text, NotNull: true},
				{Name: "phone", Type: Text, NotNull: true},
				text("entity"),
			},
			Key: []string{"region", "phone", "entity"},
		},
		{
			// Summary's buckets, one row each, kept by row triggers.
			Name: "counters",
			Only: "sqlite",
			Columns: []Column{
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "state", Type: Text, NotNull: true},
				{Name: "reason", Type: Text, NotNull: true},
				{Name: "submitted", Type: Int, NotNull: true},
				integer("messages"), integer("segments"),
			},
			Key: []string{"carrier", "state", "reason", "submitted"},
		},
		{
			// Summary's signed deltas, appended by statement triggers.
			Name: "counter_deltas",
			Only: "postgres",
			Columns: []Column{
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "state", Type: Text, NotNull: true},
				{Name: "reason", Type: Text, NotNull: true},
				{Name: "submitted", Type: Int, NotNull: true},
				{Name: "messages", Type: Int, NotNull: true},
				{Name: "segments", Type: Int, NotNull: true},
			},
		},
		{
			Name: "audit",
			Columns: []Column{
				{Name: "day", Type: Text, NotNull: true},
				{Name: "rule_id", Type: Text, NotNull: true},
				{Name: "carrier", Type: Text, NotNull: true},
				{Name: "state", Type: Text, NotNull: true},
				integer("messages"), integer("segments"),
			},
			Key: []string{"day", "rule_id", "carrier", "state"},
		},
		{
			Name: "entity_state",
			Columns: []Column{
				{Name: "entity", Type: Text, NotNull: true},
				text("kind"), text("data"), text("event_id"), text("event_type"),
				integer("at"), integer("updated_at"),
			},
			Key:     []string{"entity"},
			Indexes: []Index{{Name: "entity_state_updated", Columns: []string{"updated_at"}}},
		},
		{
			Name: "event_hashes",
			Columns: []Column{
				{Name: "event_id", Type: Text, NotNull: true},
				{Name: "hash", Type: Text, NotNull: true},
				integer("at"),
			},
			Key:     []string{"event_id"},
			Indexes: []Index{{Name: "event_hashes_at", Columns: []string{"at"}}},
		},
		{
			Name: "held_decisions",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				{Name: "message_id", Type: Int, NotNull: true},
				{Name: "decision", Type: Text, NotNull: true},
				{Name: "who", Type: Text, NotNull: true},
				text("note"), integer("at"),
			},
			Key:     []string{"id"},
			Indexes: []Index{{Name: "held_decisions_message", Columns: []string{"message_id"}}},
		},
		{
			Name: "operator_actions",
			Columns: []Column{
				{Name: "id", Type: Int, NotNull: true, Auto: true},
				integer("at"),
				{Name: "who", Type: Text, NotNull: true},
				text("role"),
				{Name: "action", Type: Text, NotNull: true},
				text("target"), text("detail"), text("remote"),
			},
			Key: []string{"id"},
		},
	},
}

// text is a text column, not null, defaulting to the empty string;
// integer an integer one defaulting to 0: most of the ledger's columns.
func text(name string) Column    { return Column{Name: name, Type: Text, NotNull: true, Default: "''"} }
func integer(name string) Column { return Column{Name: name, Type: Int, NotNull: true, Default: "0"} }

// Description is a schema as both databases can report it.
type Description struct {
	Version int
	Tables  []Table
}

// Type is a column type, normalised: SQLite INTEGER and BIGINT and
// PostgreSQL bigint are Int.
type Type string

// Column types.
const (
	Int  Type = "int"
	Text Type = "text"
)

// Table is a table with its columns (in order), primary key, unique
// constraints, indexes and triggers.
type Table struct {
	Name     string
	Only     string // "sqlite" or "postgres" for a table of one store; "" for both
	Columns  []Column
	Key      []string   // primary key columns
	Unique   [][]string // UNIQUE constraints
	Indexes  []Index    // named indexes (not those of the key or UNIQUE)
	Triggers []string   // names, sorted
}

// Column is a column. Key columns are NotNull in both databases.
type Column struct {
	Name    string
	Type    Type
	NotNull bool
	Default string // SQL literal ("0", "''"); "" for none
	Auto    bool   // numbered by the database (SQLite AUTOINCREMENT, PostgreSQL BIGSERIAL)
}

// Index is a named index.
type Index struct {
	Name    string
	Columns []string // "col" or "col DESC"
	Unique  bool
	Where   string // predicate of a partial index, as SQLite writes it
}

// For returns the tables that store ("sqlite" or "postgres") has.
func (d Description) For(store string) []Table {
	var out []Table
	for _, t := range d.Tables {
		if t.Only == "" || t.Only == store {
			out = append(out, t)
		}
	}
	return out
}

// Diff compares the schema a store reports (got) with want and returns one
// line per difference, naming the table and what differs; none when they
// agree. Partial index predicates are compared after NormalizePredicate.
func Diff(want, got []Table) []string {
	var out []string
	gotBy := map[string]Table{}
	for _, t := range got {
		gotBy[t.Name] = t
	}
	wantBy := map[string]bool{}
	for _, w := range want {
		wantBy[w.Name] = true
		g, ok := gotBy[w.Name]
		if !ok {
			out = append(out, fmt.Sprintf("table %s: missing", w.Name))
			continue
		}
		out = append(out, diffTable(w, g)...)
	}
	for _, g := range got {
		if !wantBy[g.Name] {
			out = append(out, fmt.Sprintf("table %s: not in the description", g.Name))
		}
	}
	return out
}

func diffTable(w, g Table) []string {
	var out []string
	add := func(format string, args ...any) {
		out = append(out, fmt.Sprintf("table %s: ", w.Name)+fmt.Sprintf(format, args...))
	}
	names := func(cs []Column) []string {
		var n []string
		for _, c := range cs {
			n = append(n, c.Name)
		}
		return n
	}
	if wn, gn := names(w.Columns), names(g.Columns); !slices.Equal(wn, gn) {
		add("columns %v, want %v", gn, wn)
	}
	gcols := map[string]Column{}
	for _, c := range g.Columns {
		gcols[c.Name] = c
	}
	for _, wc := range w.Columns {
		if gc, ok := gcols[wc.Name]; ok && gc != wc {
			add("column %s is %s, want %s", wc.Name, gc, wc)
		}
	}
	if !slices.Equal(w.Key, g.Key) {
		add("primary key %v, want %v", g.Key, w.Key)
	}
	if ws, gs := joinSets(w.Unique), joinSets(g.Unique); !slices.Equal(ws, gs) {
		add("unique constraints %v, want %v", gs, ws)
	}
	gidx := map[string]Index{}
	for _, i := range g.Indexes {
		gidx[i.Name] = i
	}
	widx := map[string]bool{}
	for _, wi := range w.Indexes {
		widx[wi.Name] = true
		gi, ok := gidx[wi.Name]
		switch {
		case !ok:
			add("index %s: missing", wi.Name)
		case !slices.Equal(wi.Columns, gi.Columns) || wi.Unique != gi.Unique ||
			NormalizePredicate(wi.Where) != NormalizePredicate(gi.Where):
			add("index %s is %s, want %s", wi.Name, gi, wi)
		}
	}
	for _, gi := range g.Indexes {
		if !widx[gi.Name] {
			add("index %s (%s): not in the description", gi.Name, gi)
		}
	}
	if !slices.Equal(w.Triggers, g.Triggers) {
		add("triggers %v, want %v", g.Triggers, w.Triggers)
	}
	return out
}

func joinSets(sets [][]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, strings.Join(s, ","))
	}
	slices.Sort(out)
	return out
}

func (c Column) String() string {
	s := string(c.Type)
	if c.NotNull {
		s += " NOT NULL"
	}
	if c.Default != "" {
		s += " DEFAULT " + c.Default
	}
	if c.Auto {
		s += " auto-numbered"
	}
	return s
}

func (i Index) String() string {
	s := "(" + strings.Join(i.Columns, ", ") + ")"
	if i.Unique {
		s = "UNIQUE " + s
	}
	if i.Where != "" {
		s += " WHERE " + i.Where
	}
	return s
}

var (
	anyArray = regexp.MustCompile(`= any \(array\[([^\]]*)\]\)`)
	casts    = regexp.MustCompile(`::\w+`)
	spaces   = regexp.MustCompile(`[\s()]+`)
)

// NormalizePredicate brings a partial index predicate as SQLite keeps it
// (the CREATE INDEX text) and as PostgreSQL prints it
// (pg_get_expr: casts, = ANY (ARRAY[…]), parentheses) to one form.
func NormalizePredicate(p string) string {
	p = strings.ToLower(p)
	p = casts.ReplaceAllString(p, "")
	p = anyArray.ReplaceAllString(p, "in ($1)")
	return spaces.ReplaceAllString(p, "")
}
