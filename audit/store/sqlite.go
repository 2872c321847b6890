package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// openSQLite opens (create: or creates) the SQLite store at path, in WAL
// mode with synchronous=FULL: a committed batch is on disk. Temporary
// data stays in memory: a multi-row INSERT keeps a statement journal (to
// undo that statement alone), which SQLite otherwise spills to a file
// beyond 64 KiB, a write and a read per page for nothing.
func openSQLite(ctx context.Context, path string, create bool) (Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if create {
		if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
			return nil, fmt.Errorf("audit store %s: %w", path, err)
		}
	} else if _, err := os.Stat(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("audit store %s: no such file (give --audit STORE or --config FILE)", path)
		}
		return nil, fmt.Errorf("audit store %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	// 256 KiB of page cache per connection instead of SQLite's 2 MiB: the
	// gateway appends (ids and times ascend, so each index grows at its
	// right edge) and the commands read through the system's page cache.
	// Each of the gateway's connections can hold 1.75 MiB less, and the
	// ingest rate did not change (docs/PERFORMANCE.md).
	q.Add("_pragma", "cache_size(-256)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &sqlStore{db: db, desc: "sqlite:" + abs, app: &appender{}}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit store %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit store %s: %w", path, err)
	}
	return s, nil
}
