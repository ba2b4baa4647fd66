package ivr

import (
	"context"
	"sync"
	"time"
)

// Lockouts counts verification failures per caller number and locks a
// number after too many. Several IVR instances share lockouts through a
// shared implementation (internal/records over PostgreSQL); Lockout is the
// in-memory one of a single instance.
type Lockouts interface {
	// Locked reports whether the phone is locked at now.
	Locked(ctx context.Context, phone string, now time.Time) (bool, error)
	// Fail records a failure and reports whether the phone is now locked.
	Fail(ctx context.Context, phone string, now time.Time, maxFailures int, lockFor time.Duration) (bool, error)
	// Success clears the phone's failures.
	Success(ctx context.Context, phone string) error
}

var _ Lockouts = (*Lockout)(nil)

// Lockout is the in-memory Lockouts of one instance.
type Lockout struct {
	mu      sync.Mutex
	entries map[string]*lockEntry
}

type lockEntry struct {
	failures int
	until    time.Time
}

// NewLockout returns an empty lockout table.
func NewLockout() *Lockout { return &Lockout{entries: map[string]*lockEntry{}} }

// Locked reports whether the phone is locked at now.
func (l *Lockout) Locked(_ context.Context, phone string, now time.Time) (bool, error) {
	return l.locked(phone, now), nil
}

func (l *Lockout) locked(phone string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[phone]
	if e == nil {
		return false
	}
	if !e.until.IsZero() && now.Before(e.until) {
		return true
	}
	if !e.until.IsZero() {
		delete(l.entries, phone) // lock expired: start over
	}
	return false
}

// Fail records a failure; it returns true when the phone is now locked.
func (l *Lockout) Fail(_ context.Context, phone string, now time.Time, maxFailures int, lockFor time.Duration) (bool, error) {
	return l.fail(phone, now, maxFailures, lockFor), nil
}

func (l *Lockout) fail(phone string, now time.Time, maxFailures int, lockFor time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) > 100000 {
		for k, e := range l.entries { // bound memory: drop expired entries
			if e.until.IsZero() || now.After(e.until) {
				delete(l.entries, k)
			}
		}
	}
	e := l.entries[phone]
	if e == nil {
		e = &lockEntry{}
		l.entries[phone] = e
	}
	e.failures++
	if e.failures >= maxFailures {
		e.until = now.Add(lockFor)
		return true
	}
	return false
}

// Success clears the failures of a phone.
func (l *Lockout) Success(_ context.Context, phone string) error {
	l.mu.Lock()
	delete(l.entries, phone)
	l.mu.Unlock()
	return nil
}
