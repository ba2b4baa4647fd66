package voice

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/traffic12123/gateway/pkg/ivr"
)

// Journal keeps the outbound call records on local disk, one JSON line
// each, synced before Record returns: the record a crash leaves behind is
// what Stage reconciles a call in progress from. It is an ivr.CDRSink
// (next to the Kafka one) and Records. Records older than the retention
// are dropped when the journal is opened.
type Journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// DefaultJournalRetention is how long call records are kept in the journal.
const DefaultJournalRetention = 7 * 24 * time.Hour

// maxJournalLine bounds one record (a longer line is skipped as corrupt).
const maxJournalLine = 64 << 10

// OpenJournal opens (creating, mode 0600) the journal at path, keeping
// the records that ended after now-retain.
func OpenJournal(path string, now time.Time, retain time.Duration) (*Journal, error) {
	if retain <= 0 {
		retain = DefaultJournalRetention
	}
	if err := compact(path, now.Add(-retain)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("call journal: %w", err)
	}
	return &Journal{path: path, f: f}, nil
}

// compact rewrites the journal without records that ended before cut
// (and without lines a crash cut short).
func compact(path string, cut time.Time) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	var keep bytes.Buffer
	dropped := false
	for line := range bytes.Lines(b) {
		var c ivr.CDR
		if !bytes.HasSuffix(line, []byte("\n")) || json.Unmarshal(line, &c) != nil || c.End.Before(cut) {
			dropped = true
			continue
		}
		keep.Write(line)
	}
	if !dropped {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep.Bytes(), 0o600); err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	return nil
}

// Record appends one call record and syncs it.
func (j *Journal) Record(_ context.Context, c ivr.CDR) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("call journal: closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	return nil
}

// Lookup returns the records of the given SIP Call-IDs that the journal
// holds (the last one of each).
func (j *Journal) Lookup(callIDs []string) (map[string]ivr.CDR, error) {
	want := map[string]bool{}
	for _, id := range callIDs {
		if id != "" {
			want[id] = true
		}
	}
	out := map[string]ivr.CDR{}
	if len(want) == 0 {
		return out, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	f, err := os.Open(j.path)
	if err != nil {
		return nil, fmt.Errorf("call journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), maxJournalLine)
	for sc.Scan() {
		var c ivr.CDR
		if json.Unmarshal(sc.Bytes(), &c) != nil {
			continue // a line a crash cut short
		}
		if want[c.CallID] {
			out[c.CallID] = c
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("call journal: %w", err)
	}
	return out, nil
}

// Close closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
