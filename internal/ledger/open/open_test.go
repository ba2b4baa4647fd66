package open_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/open"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
	"github.com/traffic12123/gateway/internal/message"
)

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		dsn, want string
		bad       bool
	}{
		{"sqlite:///var/lib/smsgw/ledger.db", "/var/lib/smsgw/ledger.db", false},
		{"sqlite://ledger.db", "ledger.db", false},
		{"sqlite:data/ledger.db", "data/ledger.db", false},
		{"sqlite::memory:", sqlite.Memory, false},
		{"sqlite:///tmp/x.db?mode=rw", "/tmp/x.db", false},
		{"sqlite://", "", true},
		{"mysql://x", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			got, err := open.SQLitePath(tc.dsn)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("SQLitePath(%q) = %q, %v; want %q bad=%v", tc.dsn, got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ledger.db")
	for _, dsn := range []string{"sqlite://" + file, "sqlite::memory:"} {
		t.Run(dsn, func(t *testing.T) {
			s, err := open.Open(t.Context(), dsn, ledger.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := &message.Message{Key: "e|r|13800138000", Recipient: "13800138000", Text: "x", Segments: 1}
			if err := s.Insert(t.Context(), []*message.Message{m}); err != nil || m.ID == 0 {
				t.Fatalf("insert: %v id %d", err, m.ID)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Insert(t.Context(), []*message.Message{m}); !errors.Is(err, ledger.ErrClosed) {
				t.Fatalf("insert after close: %v", err)
			}
		})
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("file ledger not created: %v", err)
	}
	// Reopening the file keeps the data: the duplicate is recognised.
	s, err := open.Open(t.Context(), "sqlite://"+file, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := &message.Message{Key: "e|r|13800138000", Recipient: "13800138000"}
	if err := s.Insert(t.Context(), []*message.Message{m}); err != nil || m.ID != 1 {
		t.Fatalf("reopened insert: %v id %d", err, m.ID)
	}
	_, err = open.Open(t.Context(), "mysql://u:secret@h/db", ledger.Options{})
	if !errors.Is(err, ledger.ErrBadDSN) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad dsn error: %v", err)
	}
}
