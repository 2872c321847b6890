package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/sovgate/sovgate/internal/appdirs"
)

// Probe checks, creating and changing nothing, that Open(location) would
// succeed: a SQLite file that exists must be a SQLite database the process
// may write, in a directory it may write (SQLite puts its journal beside
// it); one that does not exist must be creatable; a PostgreSQL server must
// accept a connection. `sovgate validate` probes where a running gateway
// opens, so that validating a configuration leaves no database behind.
func Probe(ctx context.Context, location string) error {
	kind, target, err := ParseLocation(location)
	if err != nil {
		return err
	}
	if kind == "postgres" {
		conn, err := pgx.Connect(ctx, target)
		if err != nil {
			return fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
		}
		return nil
	}
	f, err := os.Open(target)
	if errors.Is(err, fs.ErrNotExist) {
		if err := appdirs.CheckWritable(target); err != nil {
			return fmt.Errorf("audit store: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit store %s: %w", target, err)
	}
	defer f.Close()
	header := make([]byte, 16)
	n, err := io.ReadFull(f, header)
	if n > 0 && !bytes.Equal(header[:n], []byte("SQLite format 3\x00")[:n]) || err != nil && n > 0 {
		return fmt.Errorf("audit store %s: not a SQLite database", target)
	}
	for _, p := range []string{target, filepath.Dir(target)} {
		if err := appdirs.CheckWritable(p); err != nil {
			return fmt.Errorf("audit store: %w", err)
		}
	}
	return nil
}
