package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
)

// prepareFiles creates the database's directory 0700 (when it is new) and
// the database file 0600, and narrows an existing file and its -wal/-shm
// to 0600: the ledger holds phone numbers and message texts. SQLite gives
// the journal files the database file's permissions.
func prepareFiles(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("ledger sqlite directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ledger sqlite file: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("ledger sqlite file mode: %w", err)
		}
	}
	return nil
}
