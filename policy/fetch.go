package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// Source is where a gateway gets its policy revisions: a directory it
// watches, the bundle compiled into the binary, or a bundle server it
// polls. A gateway asks Fetch for what the source holds now, puts it
// through the gate (LoadTested), and tells the source when a revision is
// in service (Activated). Fetching and activating are kept apart, as OPA
// keeps its download package apart from its bundle plugin: a source never
// decides what serves.
//
// Implementations are safe for concurrent use, though a gateway calls
// Fetch from one goroutine at a time.
type Source interface {
	// Name is how the source is shown in status pages and logs: the
	// directory, "embedded", or the URL without credentials.
	Name() string
	// Fetch returns the bundle the source holds now. An error wrapping a
	// *RejectedError is a bundle that was read but must not be loaded
	// (files that cannot be read, a bad signature); any other error means
	// the source could not be reached.
	Fetch(ctx context.Context) (Fetched, error)
	// Activated tells the source that the bundle it returned last is now
	// in service. A bundle server's source keeps it, so a restart while
	// the server is down starts on it.
	Activated() error
}

// Fetched is what a Source holds.
type Fetched struct {
	// Bundle holds the files, read once (a snapshot): testing them and
	// loading them sees the same bytes. Zero when NotModified.
	Bundle Bundle
	// NotModified says the source still holds what it returned last time
	// (a bundle server's 304 Not Modified, the embedded bundle).
	NotModified bool
	// Note is something the caller should log about how the bundle was
	// obtained (a bundle server unreachable at start-up, the cached
	// bundle used instead).
	Note string
}

// RejectedError is a bundle a source read but refuses to hand over. Digest
// identifies what was refused, so the same refusal is not reported again
// and again.
type RejectedError struct {
	Digest string
	Err    error
}

func (e *RejectedError) Error() string { return e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// rejected wraps err with a digest of what caused it.
func rejected(kind string, what []byte, err error) *RejectedError {
	sum := sha256.Sum256(what)
	return &RejectedError{Digest: kind + ":" + hex.EncodeToString(sum[:8]), Err: err}
}

// DirSource is a policy directory on disk (see Bundle for its layout).
type DirSource struct {
	dir string
}

// NewDirSource returns the source of the policy directory dir.
func NewDirSource(dir string) *DirSource { return &DirSource{dir: dir} }

// Name returns the directory.
func (s *DirSource) Name() string { return s.dir }

// Dir returns the directory, for the caller's file watcher.
func (s *DirSource) Dir() string { return s.dir }

// Fetch reads the directory's policy files into memory.
func (s *DirSource) Fetch(context.Context) (Fetched, error) {
	snap, err := DirBundle(s.dir).Snapshot()
	if err != nil {
		return Fetched{}, rejected("unreadable", []byte(err.Error()), err)
	}
	return Fetched{Bundle: snap}, nil
}

// Activated does nothing: the directory is its own record.
func (s *DirSource) Activated() error { return nil }

// EmbeddedSource is the default bundle compiled into the binary. It never
// changes while the process runs.
type EmbeddedSource struct {
	once sync.Once
}

// Name returns "embedded".
func (s *EmbeddedSource) Name() string { return EmbeddedBundle().Name() }

// Fetch returns the embedded bundle the first time, NotModified after.
func (s *EmbeddedSource) Fetch(context.Context) (Fetched, error) {
	f := Fetched{NotModified: true}
	s.once.Do(func() { f = Fetched{Bundle: EmbeddedBundle()} })
	return f, nil
}

// Activated does nothing.
func (s *EmbeddedSource) Activated() error { return nil }

// IsRejected reports whether err is a bundle the source refused (rather
// than a source it could not reach), and the digest of what was refused.
func IsRejected(err error) (string, bool) {
	var re *RejectedError
	if errors.As(err, &re) {
		return re.Digest, true
	}
	return "", false
}

var (
	_ Source = (*DirSource)(nil)
	_ Source = (*EmbeddedSource)(nil)
	_ Source = (*RemoteSource)(nil)
)

// errNoKey is the error of a bundle URL without a public key.
var errNoKey = fmt.Errorf("a bundle from a URL must be signed; set policy_public_key to the PEM public key that verifies it")
