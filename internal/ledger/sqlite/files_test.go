package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/traffic12123/gateway/internal/ledger"
)

// TestFileModes: the ledger holds personal data; its file (and WAL) are
// 0600 in a 0700 directory, also when an older file was 0644.
func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "ledger.db")
	s, err := Open(t.Context(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		for _, p := range []string{path, path + "-wal"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s is %v, want 0600", filepath.Base(p), st.Mode().Perm())
			}
		}
		st, _ := os.Stat(dir)
		if st.Mode().Perm() != 0o700 {
			t.Errorf("directory is %v, want 0700", st.Mode().Perm())
		}
	}
	check()
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check()
}
