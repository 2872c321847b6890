package appdirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckWritable tells, without creating or changing anything, whether a
// program could write the file or directory at path: if it exists, it must
// be writable; if not, the nearest directory above it that exists must be
// writable, so that it and its missing parents can be made. It is what
// `sovgate validate` checks in place of opening a log file, an audit store
// or a spool for writing.
func CheckWritable(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		switch {
		case err == nil:
			if p != abs && !info.IsDir() {
				return fmt.Errorf("%s: %s is not a directory", path, p)
			}
			if err := canWrite(p); err != nil {
				if p == abs {
					return fmt.Errorf("%s is not writable: %w", path, err)
				}
				return fmt.Errorf("%s cannot be created: %s is not writable: %w", path, p, err)
			}
			return nil
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: %w", path, err)
		case p == filepath.Dir(p):
			return fmt.Errorf("%s: no directory above it exists", path)
		}
	}
}
