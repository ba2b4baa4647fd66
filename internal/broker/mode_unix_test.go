//go:build unix

package broker

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDataFilesOwnerOnly: with the process umask cmd/smsgw sets (077),
// every file the embedded broker writes is 0600 and every directory 0700.
// kfake asks for 0644 files; the umask is what narrows them, so this
// pins that the broker never widens a mode itself (a chmod, a fixed
// mode that ignores the umask).
func TestDataFilesOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "kafka")
	b, err := Start(t.Context(), Config{DataDir: dir, Topics: map[string]int{"t": 2}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, b.Addrs(), "t", 50, 0)
	b.Close()
	files := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if got := info.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", p, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the broker wrote no data files: nothing was checked")
	}
	t.Logf("%d files checked", files)
}
