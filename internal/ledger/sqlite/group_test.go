package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/traffic12123/gateway/internal/ledger"
	"github.com/traffic12123/gateway/internal/ledger/internal/core"
	"github.com/traffic12123/gateway/internal/ledger/sqlite"
)

// TestGroupCommit: concurrent writes share a transaction (fewer commits
// than writers); a writer's error or panic rolls back its own rows only;
// and a writer returns only once its rows are committed, as another
// connection to the file sees them.
func TestGroupCommit(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := sqlite.Open(ctx, path, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := sqlite.Write(ctx, s, func(q core.Q) error {
		_, err := q.Exec(ctx, `CREATE TABLE group_test (writer INTEGER, row INTEGER)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	committed := func(w int) (int, error) {
		var n int
		err := other.QueryRowContext(ctx, `SELECT count(*) FROM group_test WHERE writer = $1`, w).Scan(&n)
		return n, err
	}

	const writers, rows = 12, 3
	const failing, panicking = 4, 7
	errFail := errors.New("writer fails")
	insert := func(q core.Q, w int) error {
		for r := range rows {
			if _, err := q.Exec(ctx, `INSERT INTO group_test (writer, row) VALUES ($1, $2)`, int64(w), int64(r)); err != nil {
				return err
			}
		}
		return nil
	}

	// Writer 0 holds the writer until every other writer has queued:
	// they then form one group.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock() // a failing test must not leave Close waiting on writer 0
	before := sqlite.Commits(s)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	wg.Go(func() {
		errs[0] = sqlite.Write(ctx, s, func(q core.Q) error {
			close(entered)
			<-release
			return insert(q, 0)
		})
	})
	<-entered
	for w := 1; w < writers; w++ {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					errs[w] = fmt.Errorf("panic: %v", p)
				}
			}()
			err := sqlite.Write(ctx, s, func(q core.Q) error {
				if err := insert(q, w); err != nil {
					return err
				}
				switch w {
				case failing:
					return errFail
				case panicking:
					panic("writer panics")
				}
				return nil
			})
			if err == nil {
				// Returned: committed, so another connection sees it.
				n, qerr := committed(w)
				if qerr != nil || n != rows {
					err = fmt.Errorf("writer %d returned before its rows were committed: %d of %d visible (%w)", w, n, rows, qerr)
				}
			}
			errs[w] = err
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for sqlite.Queued(s) < writers-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q := sqlite.Queued(s); q != writers-1 {
		t.Fatalf("%d writers queued, want %d", q, writers-1)
	}
	unblock()
	wg.Wait()

	commits := sqlite.Commits(s) - before
	if commits >= writers || commits != 2 {
		t.Errorf("%d writers made %d commits, want 2 (writer 0's, then one for the group)", writers, commits)
	}
	for w := range writers {
		n, err := committed(w)
		if err != nil {
			t.Fatal(err)
		}
		switch w {
		case failing:
			if !errors.Is(errs[w], errFail) || n != 0 {
				t.Errorf("failing writer: err %v, %d rows committed; want its error and none", errs[w], n)
			}
		case panicking:
			if errs[w] == nil || errs[w].Error() != "panic: writer panics" || n != 0 {
				t.Errorf("panicking writer: %v, %d rows committed; want its panic raised to it and no rows", errs[w], n)
			}
		default:
			if errs[w] != nil || n != rows {
				t.Errorf("writer %d: err %v, %d of %d rows committed", w, errs[w], n, rows)
			}
		}
	}

	// A cancelled writer in a group is skipped; the others commit.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := sqlite.Write(cctx, s, func(q core.Q) error { return insert(q, 100) }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled writer: %v", err)
	}
	if n, _ := committed(100); n != 0 {
		t.Errorf("cancelled writer committed %d rows", n)
	}
}
