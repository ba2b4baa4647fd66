package ivr

import (
	"sync"
	"time"
)

// Lockout counts verification failures per caller number and locks a
// number after too many. It is kept in memory by one IVR instance.
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
func (l *Lockout) Locked(phone string, now time.Time) bool {
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
func (l *Lockout) Fail(phone string, now time.Time, maxFailures int, lockFor time.Duration) bool {
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
func (l *Lockout) Success(phone string) {
	l.mu.Lock()
	delete(l.entries, phone)
	l.mu.Unlock()
}
