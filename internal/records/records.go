// Package records is the IVR's read model: licences by phone, vehicles by
// owner phone, unprocessed violations per plate and safety advisories, kept
// current from the event topics by its own consumer group (Store implements
// ingest.Handler), plus the IVR's call detail records. It answers the
// questions pkg/ivr asks (Store implements ivr.Records and ivr.CDRSink).
//
// SQLite (modernc.org/sqlite, pure Go) is the default; a postgres:// DSN
// uses PostgreSQL through pgx with the same schema. Times are stored as Unix
// seconds, 0 meaning "none". Applying an event is idempotent: snapshots
// only replace older state, a processed violation stays processed when its
// recorded event is redelivered later.
package records

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/ingest"
	"github.com/traffic12123/gateway/pkg/ivr"
)

// Store is the read model over SQLite or PostgreSQL.
type Store struct {
	db       *sql.DB
	postgres bool
}

var (
	_ ingest.Handler = (*Store)(nil)
	_ ingest.Prober  = (*Store)(nil)
	_ ivr.Records    = (*Store)(nil)
	_ ivr.CDRSink    = (*Store)(nil)
	_ ivr.Lockouts   = (*Store)(nil)
)

const schema = `
CREATE TABLE IF NOT EXISTS ivr_licences (
	number TEXT PRIMARY KEY, phone TEXT NOT NULL, region TEXT NOT NULL, status TEXT NOT NULL,
	points BIGINT NOT NULL, cycle_end BIGINT NOT NULL, valid_until BIGINT NOT NULL,
	review_due BIGINT NOT NULL, medical_due BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS ivr_licences_phone ON ivr_licences(phone);
CREATE TABLE IF NOT EXISTS ivr_vehicles (
	plate TEXT PRIMARY KEY, phone TEXT NOT NULL, region TEXT NOT NULL, status TEXT NOT NULL,
	inspection BIGINT NOT NULL, scrap BIGINT NOT NULL, updated BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS ivr_vehicles_phone ON ivr_vehicles(phone);
CREATE TABLE IF NOT EXISTS ivr_violations (
	id TEXT PRIMARY KEY, plate TEXT NOT NULL, at BIGINT NOT NULL, place TEXT NOT NULL,
	fine BIGINT NOT NULL, points BIGINT NOT NULL, processed INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ivr_violations_plate ON ivr_violations(plate, processed);
CREATE TABLE IF NOT EXISTS ivr_advisories (
	id TEXT PRIMARY KEY, regions TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, valid_until BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ivr_cdrs (
	call_id TEXT NOT NULL, caller TEXT NOT NULL, started BIGINT NOT NULL, ended BIGINT NOT NULL,
	verification TEXT NOT NULL, cause TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ivr_cdrs_started ON ivr_cdrs(started);
CREATE TABLE IF NOT EXISTS ivr_attempts (
	lock_key TEXT PRIMARY KEY, attempts BIGINT NOT NULL, since BIGINT NOT NULL, locked_until BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ivr_meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL);
`

// Open opens (and creates) the store: a postgres:// or postgresql:// DSN
// selects PostgreSQL, anything else is a SQLite file path (":memory:" for a
// private in-memory database).
func Open(ctx context.Context, dsn string) (*Store, error) {
	s := &Store{}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.postgres = true
		s.db, err = sql.Open("pgx", dsn)
	} else {
		path := strings.TrimPrefix(dsn, "sqlite:")
		u := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL"
		if path == ":memory:" {
			u = "file::memory:"
		}
		s.db, err = sql.Open("sqlite", u)
		if err == nil {
			// One writer; readers wait on the busy timeout. Plenty for an
			// IVR's lookups, and :memory: needs a single connection.
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("records open: %w", err)
	}
	for _, stmt := range strings.Split(schema, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("records schema: %w", err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database (for /readyz).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Probe implements ingest.Prober: it writes a row in a transaction, as
// Handle does. When one record keeps failing alone while Probe succeeds,
// the consumer dead-letters it as unprocessable instead of retrying it for
// ever and holding its partition; while Probe fails (disk full, database
// down) the record is retried.
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO ivr_meta (k, v) VALUES ('probe', ?)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v`), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("records probe: %w", err)
	}
	return nil
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0)
}

// Handle applies a batch of events in one transaction (ingest.Handler).
func (s *Store) Handle(ctx context.Context, batch []ingest.Record) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("records begin: %w", err)
	}
	defer rollback(tx, &err)
	for _, r := range batch {
		if r.Event == nil {
			continue
		}
		if err := s.apply(ctx, tx, r.Event); err != nil {
			return fmt.Errorf("records apply %s: %w", r.Event.Type, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("records commit: %w", err)
	}
	return nil
}

// rollback ends tx on the paths that did not commit (after Commit it is a
// no-op). A rollback that fails is added to the error returned in *err.
func rollback(tx *sql.Tx, err *error) {
	if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		*err = errors.Join(*err, fmt.Errorf("records rollback: %w", rerr))
	}
}

// Apply applies events outside Kafka (tests, tools).
func (s *Store) Apply(ctx context.Context, evs ...*event.Event) error {
	batch := make([]ingest.Record, len(evs))
	for i, e := range evs {
		batch[i] = ingest.Record{Event: e}
	}
	return s.Handle(ctx, batch)
}

func (s *Store) apply(ctx context.Context, tx *sql.Tx, e *event.Event) error {
	at := e.Time.Unix()
	switch {
	case e.LicenceSnapshot != nil:
		return s.licence(ctx, tx, e.LicenceSnapshot.Licence, at)
	case e.LicenceStatusChanged != nil:
		return s.licence(ctx, tx, e.LicenceStatusChanged.Licence, at)
	case e.VehicleSnapshot != nil:
		return s.vehicle(ctx, tx, e.VehicleSnapshot.Vehicle, at)
	case e.VehicleStatusChanged != nil:
		return s.vehicle(ctx, tx, e.VehicleStatusChanged.Vehicle, at)
	case e.ViolationRecorded != nil:
		v := e.ViolationRecorded
		if err := s.vehicle(ctx, tx, v.Vehicle, at); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ivr_violations (id, plate, at, place, fine, points, processed)
			VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING`),
			v.Violation.ID, v.Vehicle.Plate, unix(v.Violation.Time), v.Violation.Place, v.Violation.Fine, v.Violation.Points)
		return err
	case e.ViolationProcessed != nil:
		v := e.ViolationProcessed
		if err := s.licence(ctx, tx, v.Licence, at); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ivr_violations (id, plate, at, place, fine, points, processed)
			VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO UPDATE SET processed = 1`),
			v.Violation.ID, v.Plate, unix(v.Violation.Time), v.Violation.Place, v.Violation.Fine, v.Violation.Points)
		return err
	case e.AdvisoryPublished != nil:
		a := e.AdvisoryPublished
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ivr_advisories (id, regions, kind, body, valid_until)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET regions = excluded.regions, kind = excluded.kind,
			body = excluded.body, valid_until = excluded.valid_until`),
			a.ID, strings.Join(a.Regions, ","), a.Kind, a.Text, unix(a.ValidUntil))
		return err
	}
	return nil
}

func (s *Store) licence(ctx context.Context, tx *sql.Tx, l event.Licence, at int64) error {
	if l.Number == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ivr_licences
		(number, phone, region, status, points, cycle_end, valid_until, review_due, medical_due, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (number) DO UPDATE SET phone = excluded.phone, region = excluded.region,
		status = excluded.status, points = excluded.points, cycle_end = excluded.cycle_end,
		valid_until = excluded.valid_until, review_due = excluded.review_due,
		medical_due = excluded.medical_due, updated = excluded.updated
		WHERE excluded.updated >= ivr_licences.updated`),
		l.Number, normPhone(l.Phone), l.Region, l.Status, l.Points, unix(l.CycleEnd), unix(l.ValidUntil),
		unix(l.ReviewDue), unix(l.MedicalDue), at)
	return err
}

func (s *Store) vehicle(ctx context.Context, tx *sql.Tx, v event.Vehicle, at int64) error {
	if v.Plate == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ivr_vehicles (plate, phone, region, status, inspection, scrap, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (plate) DO UPDATE SET phone = excluded.phone, region = excluded.region,
		status = excluded.status, inspection = excluded.inspection, scrap = excluded.scrap,
		updated = excluded.updated WHERE excluded.updated >= ivr_vehicles.updated`),
		v.Plate, normPhone(v.Phone), v.Region, v.Status, unix(v.InspectionValidUntil), unix(v.ScrapDeadline), at)
	return err
}

// normPhone strips +86 / 0086 and spaces so lookups by caller ID match.
func normPhone(p string) string {
	p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
	p = strings.TrimPrefix(p, "+86")
	return strings.TrimPrefix(p, "0086")
}

// Registered reports whether a licence or a vehicle has this phone.
func (s *Store) Registered(ctx context.Context, phone string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT
		(SELECT COUNT(*) FROM ivr_licences WHERE phone = ?) + (SELECT COUNT(*) FROM ivr_vehicles WHERE phone = ?)`),
		normPhone(phone), normPhone(phone)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("records registered: %w", err)
	}
	return n > 0, nil
}

// IDNumber returns the phone's licence number (the ID number), "" when none.
func (s *Store) IDNumber(ctx context.Context, phone string) (string, error) {
	var number string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT number FROM ivr_licences WHERE phone = ? ORDER BY updated DESC LIMIT 1`),
		normPhone(phone)).Scan(&number)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("records id: %w", err)
	}
	return number, nil
}

// Licence returns the phone's most recently updated licence.
func (s *Store) Licence(ctx context.Context, phone string) (*ivr.Licence, error) {
	var l ivr.Licence
	var cycle, valid, review, medical int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT status, points, cycle_end, valid_until, review_due, medical_due
		FROM ivr_licences WHERE phone = ? ORDER BY updated DESC LIMIT 1`), normPhone(phone)).
		Scan(&l.Status, &l.Points, &cycle, &valid, &review, &medical)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("records licence: %w", err)
	}
	l.CycleEnd, l.ValidUntil, l.ReviewDue, l.MedicalDue = fromUnix(cycle), fromUnix(valid), fromUnix(review), fromUnix(medical)
	return &l, nil
}

// Vehicles returns the phone's vehicles by plate.
func (s *Store) Vehicles(ctx context.Context, phone string) ([]ivr.Vehicle, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT plate, status, inspection, scrap FROM ivr_vehicles
		WHERE phone = ? ORDER BY plate LIMIT 50`), normPhone(phone))
	if err != nil {
		return nil, fmt.Errorf("records vehicles: %w", err)
	}
	defer rows.Close()
	var out []ivr.Vehicle
	for rows.Next() {
		var v ivr.Vehicle
		var insp, scrap int64
		if err := rows.Scan(&v.Plate, &v.Status, &insp, &scrap); err != nil {
			return nil, fmt.Errorf("records vehicles: %w", err)
		}
		v.InspectionValidUntil, v.ScrapDeadline = fromUnix(insp), fromUnix(scrap)
		out = append(out, v)
	}
	return out, rows.Err()
}

// Violations sums the unprocessed violations of the phone's vehicles.
func (s *Store) Violations(ctx context.Context, phone string) (ivr.ViolationSummary, error) {
	var v ivr.ViolationSummary
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*), COALESCE(SUM(x.fine), 0), COALESCE(SUM(x.points), 0)
		FROM ivr_violations x JOIN ivr_vehicles v ON v.plate = x.plate
		WHERE v.phone = ? AND x.processed = 0`), normPhone(phone)).Scan(&v.Count, &v.Fine, &v.Points)
	if err != nil {
		return v, fmt.Errorf("records violations: %w", err)
	}
	if v.Count == 0 {
		return v, nil
	}
	var at int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT x.at, x.place FROM ivr_violations x
		JOIN ivr_vehicles v ON v.plate = x.plate WHERE v.phone = ? AND x.processed = 0
		ORDER BY x.at DESC LIMIT 1`), normPhone(phone)).Scan(&at, &v.LatestPlace)
	if err != nil {
		return v, fmt.Errorf("records latest violation: %w", err)
	}
	v.Latest = fromUnix(at)
	return v, nil
}

// Regions returns the division codes of the phone's licence and vehicles.
func (s *Store) Regions(ctx context.Context, phone string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT region FROM ivr_licences WHERE phone = ?
		UNION SELECT region FROM ivr_vehicles WHERE phone = ?`), normPhone(phone), normPhone(phone))
	if err != nil {
		return nil, fmt.Errorf("records regions: %w", err)
	}
	defer rows.Close()
	var regions []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("records regions: %w", err)
		}
		if r != "" {
			regions = append(regions, r)
		}
	}
	return regions, rows.Err()
}

// Advisories returns the advisories in force at now covering any of the
// regions (every one in force for none), most recent expiry first.
func (s *Store) Advisories(ctx context.Context, regions []string, now time.Time) ([]ivr.Advisory, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT regions, kind, body, valid_until FROM ivr_advisories
		WHERE valid_until = 0 OR valid_until > ? ORDER BY valid_until DESC LIMIT 1000`), now.Unix())
	if err != nil {
		return nil, fmt.Errorf("records advisories: %w", err)
	}
	defer rows.Close()
	var out []ivr.Advisory
	for rows.Next() {
		var codes string
		var a ivr.Advisory
		var until int64
		if err := rows.Scan(&codes, &a.Kind, &a.Text, &until); err != nil {
			return nil, fmt.Errorf("records advisories: %w", err)
		}
		a.ValidUntil = fromUnix(until)
		if len(regions) == 0 || covers(strings.Split(codes, ","), regions) {
			out = append(out, a)
		}
	}
	return out, rows.Err()
}

// covers reports whether any advisory code covers any region: equal, or a
// code ending in "00" covering its city ("110100" → "1101..") or province
// ("110000" → "11....").
func covers(codes, regions []string) bool {
	for _, c := range codes {
		prefix := c
		switch {
		case strings.HasSuffix(c, "0000"):
			prefix = strings.TrimSuffix(c, "0000")
		case strings.HasSuffix(c, "00"):
			prefix = strings.TrimSuffix(c, "00")
		}
		if slices.ContainsFunc(regions, func(r string) bool {
			// A region shorter than a division code is an area prefix
			// ("44": anywhere in Guangdong) and takes what lies in it.
			return r == c || (prefix != "" && strings.HasPrefix(r, prefix)) || (len(r) < 6 && strings.HasPrefix(c, r))
		}) {
			return true
		}
	}
	return false
}

// Record stores a call detail record (ivr.CDRSink).
func (s *Store) Record(ctx context.Context, c ivr.CDR) error {
	detail, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("records cdr: %w", err)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO ivr_cdrs (call_id, caller, started, ended, verification, cause, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), c.CallID, c.Caller, unix(c.Start), unix(c.End), c.Verification, c.Cause, string(detail))
	if err != nil {
		return fmt.Errorf("records cdr: %w", err)
	}
	return nil
}

// CDRs returns the most recent call records, newest first.
func (s *Store) CDRs(ctx context.Context, limit int) ([]ivr.CDR, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT detail FROM ivr_cdrs ORDER BY started DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("records cdrs: %w", err)
	}
	defer rows.Close()
	var out []ivr.CDR
	for rows.Next() {
		var d string
		var c ivr.CDR
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("records cdrs: %w", err)
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			return nil, fmt.Errorf("records cdrs: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Attempt counts a verification attempt against every key before the
// digits are compared (ivr.Lockouts, shared by every IVR instance on the
// same database). Each key's count is one atomic upsert, all keys in one
// transaction in key order: parallel attempts cannot pass a check made
// before the others counted. A lock that has run out, or a period of
// lockFor since a key's first attempt without a lock, starts it over.
func (s *Store) Attempt(ctx context.Context, keys []string, now time.Time, maxAttempts int, lockFor time.Duration) (_ ivr.AttemptResult, err error) {
	res := ivr.AttemptResult{Allowed: true}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	t, until, periodStart := now.Unix(), now.Add(lockFor).Unix(), now.Add(-lockFor).Unix()
	firstLock := int64(0)
	if maxAttempts <= 1 {
		firstLock = until
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("records lockout: %w", err)
	}
	defer rollback(tx, &err)
	const reset = `((ivr_attempts.locked_until <> 0 AND ivr_attempts.locked_until <= ?) OR
		(ivr_attempts.locked_until = 0 AND ivr_attempts.since <= ?))`
	for _, k := range keys {
		var attempts int64
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO ivr_attempts (lock_key, attempts, since, locked_until)
			VALUES (?, 1, ?, ?)
			ON CONFLICT (lock_key) DO UPDATE SET
			attempts = CASE WHEN `+reset+` THEN 1 ELSE ivr_attempts.attempts + 1 END,
			since = CASE WHEN `+reset+` THEN ? ELSE ivr_attempts.since END,
			locked_until = CASE WHEN `+reset+` THEN ?
				WHEN ivr_attempts.locked_until <> 0 THEN ivr_attempts.locked_until
				WHEN ivr_attempts.attempts + 1 >= ? THEN ? ELSE 0 END
			RETURNING attempts`),
			k, t, firstLock,
			t, periodStart,
			t, periodStart, t,
			t, periodStart, firstLock, maxAttempts, until).Scan(&attempts)
		if err != nil {
			return ivr.AttemptResult{}, fmt.Errorf("records lockout: %w", err)
		}
		switch {
		case attempts > int64(maxAttempts):
			res.Allowed = false
		case attempts == int64(maxAttempts):
			res.Last = true
		}
	}
	if err := tx.Commit(); err != nil {
		return ivr.AttemptResult{}, fmt.Errorf("records lockout: %w", err)
	}
	res.Last = res.Last && res.Allowed
	return res, nil
}

// Succeeded clears the keys after a matching attempt.
func (s *Store) Succeeded(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM ivr_attempts WHERE lock_key = ?`), k); err != nil {
			return fmt.Errorf("records lockout: %w", err)
		}
	}
	return nil
}
