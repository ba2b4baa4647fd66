package ivr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
)

// Lockouts counts verification attempts per key — the caller number and
// the ID number being guessed — and refuses attempts beyond the limit.
// The count is taken before the entered digits are compared, in one atomic
// step with the check, so parallel calls cannot each pass a check made
// before the others counted. Several IVR instances share it through the
// records database (internal/records, SQLite or PostgreSQL); Lockout is the
// in-memory one of a single instance.
type Lockouts interface {
	// Attempt counts one attempt against every key and reports whether it
	// may be compared: none of the keys is locked at now or has had maxAttempts
	// attempts in the current period (lockFor long, from its first
	// attempt). The attempt that reaches maxAttempts locks the keys until
	// now+lockFor (Last). A refused attempt counts too.
	Attempt(ctx context.Context, keys []string, now time.Time, maxAttempts int, lockFor time.Duration) (AttemptResult, error)
	// Succeeded clears the keys after an attempt that matched.
	Succeeded(ctx context.Context, keys []string) error
}

// AttemptResult is what Attempt decided.
type AttemptResult struct {
	Allowed bool // compare the digits
	Last    bool // allowed, and the last one before the keys are locked
}

// PhoneKey and IDKey are the lockout keys of a caller number and of an ID
// number. The ID is kept as a hash: the lockout table holds no ID numbers.
func PhoneKey(phone string) string { return "phone:" + phone }

// IDKey is the lockout key of an ID number (case-insensitive).
func IDKey(id string) string {
	h := sha256.Sum256([]byte("12123-ivr-lockout:" + strings.ToUpper(strings.TrimSpace(id))))
	return "id:" + hex.EncodeToString(h[:16])
}

var _ Lockouts = (*Lockout)(nil)

// Lockout is the in-memory Lockouts of one instance.
type Lockout struct {
	mu      sync.Mutex
	entries map[string]*lockEntry
}

type lockEntry struct {
	attempts int
	since    time.Time
	until    time.Time // zero: not locked
}

// NewLockout returns an empty lockout table.
func NewLockout() *Lockout { return &Lockout{entries: map[string]*lockEntry{}} }

// Attempt counts an attempt against every key (Lockouts).
func (l *Lockout) Attempt(_ context.Context, keys []string, now time.Time, maxAttempts int, lockFor time.Duration) (AttemptResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) > 100000 {
		for k, e := range l.entries { // bound memory: drop what has expired
			if e.expired(now, lockFor) {
				delete(l.entries, k)
			}
		}
	}
	res := AttemptResult{Allowed: true}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
		e := l.entries[k]
		if e == nil || e.expired(now, lockFor) {
			e = &lockEntry{since: now}
			l.entries[k] = e
		}
		e.attempts++
		if e.until.IsZero() && e.attempts >= maxAttempts {
			e.until = now.Add(lockFor)
		}
		switch {
		case e.attempts > maxAttempts:
			res.Allowed = false
		case e.attempts == maxAttempts:
			res.Last = true
		}
	}
	res.Last = res.Last && res.Allowed
	return res, nil
}

// expired: a lock that has run out, or a period without a lock that has.
func (e *lockEntry) expired(now time.Time, lockFor time.Duration) bool {
	if !e.until.IsZero() {
		return !now.Before(e.until)
	}
	return !now.Before(e.since.Add(lockFor))
}

// Succeeded clears the keys (Lockouts).
func (l *Lockout) Succeeded(_ context.Context, keys []string) error {
	l.mu.Lock()
	for _, k := range keys {
		delete(l.entries, k)
	}
	l.mu.Unlock()
	return nil
}
