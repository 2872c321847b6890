package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// A running gateway takes a new policy revision only through the gate:
//
//	snapshot := src.Snapshot()        // the bytes, read once
//	RunTests(snapshot)                // the revision's own tests must pass
//	Load(snapshot)                    // the same bytes are compiled
//
// so the bytes tested are the bytes activated, even if someone saves a file
// in between. LoadTested does the three steps.

// TestFailure is the error LoadTested returns when the revision compiles
// but its own tests fail or error.
type TestFailure struct {
	Source  string
	Summary TestSummary
	// Report is the `opa test` style report of the failures, with the
	// failing line of each.
	Report string
}

func (e *TestFailure) Error() string {
	return fmt.Sprintf("policies from %s: %d of %d tests failed or errored\n%s",
		e.Source, e.Summary.Failed+e.Summary.Errored, e.Summary.Total(), strings.TrimRight(e.Report, "\n"))
}

// Digest identifies every file of b that sovgate reads, tests included: two
// bundles with equal digests have the same rules, data and tests. (Revision,
// by contrast, leaves tests out: it names what decides.)
func (b Bundle) Digest() (string, error) {
	files, diags, err := readSource(b, true)
	if err != nil {
		return "", err
	}
	if len(diags) > 0 {
		return "", fmt.Errorf("read policies from %s: %w", b.Name(), diags)
	}
	return digestFiles(files), nil
}

func digestFiles(files []sourceFile) string {
	return hashFiles(files)[:16]
}

// hashFiles is the hex SHA-256 of the files' names and contents, each
// length-prefixed, so no two different sets of files hash alike.
func hashFiles(files []sourceFile) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range files {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.rel)))
		h.Write(n[:])
		h.Write([]byte(f.rel))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.raw)))
		h.Write(n[:])
		h.Write(f.raw)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Digest is the digest of the bundle the engine was gated from (see
// LoadTested), or "" for an engine loaded without its tests.
func (e *Engine) Digest() string { return e.digest }

// Tests is the outcome of the tests the engine was gated on (see
// LoadTested); zero for an engine loaded without its tests.
func (e *Engine) Tests() TestSummary { return e.tests }

// LoadTested is how a gateway accepts a revision: it snapshots src, runs
// the snapshot's tests, and loads the snapshot only if every test passes.
// Compile errors give an error wrapping Diagnostics; failing tests give a
// *TestFailure. A revision without tests is accepted (Tests().Total() is
// 0): the caller decides whether to warn.
//
// The tests of a digest that passed once in this process are not run again:
// a configuration reload that keeps the same policy files costs a load, not a
// test run.
func LoadTested(ctx context.Context, src Bundle) (*Engine, error) {
	snap, err := src.Snapshot()
	if err != nil {
		return nil, err
	}
	digest, err := snap.Digest()
	if err != nil {
		return nil, err
	}
	sum, passed := passedTests.get(digest)
	if !passed {
		sum, err = runTests(ctx, snap, TestOptions{}, &bytes.Buffer{}, false)
		if err != nil {
			return nil, err
		}
		if !sum.OK() {
			// Run again with tracing, for the failing line of each failure.
			var report bytes.Buffer
			if _, err := runTests(ctx, snap, TestOptions{}, &report, true); err != nil {
				return nil, err
			}
			return nil, &TestFailure{Source: src.Name(), Summary: sum, Report: report.String()}
		}
	}
	e, err := Load(ctx, snap)
	if err != nil {
		return nil, err
	}
	passedTests.put(digest, sum)
	e.digest, e.tests = digest, sum
	return e, nil
}

// passedTests remembers the digests whose tests passed in this process.
var passedTests = &testCache{m: map[string]TestSummary{}}

type testCache struct {
	mu sync.Mutex
	m  map[string]TestSummary
}

const maxTestCache = 64

func (c *testCache) get(digest string) (TestSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[digest]
	return s, ok
}

func (c *testCache) put(digest string, s TestSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxTestCache {
		clear(c.m)
	}
	c.m[digest] = s
}
