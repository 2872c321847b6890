// Package store keeps the audit log in a database: SQLite (a file, the
// embedded default) or PostgreSQL (one log shared by several gateways).
// Both backends have the same tables and answer the same queries; the
// schema is migrated in place when sovgate is upgraded.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
)

// Store is where the audit log lives. Two backends implement it: SQLite
// (a file, the embedded default) and PostgreSQL (a log shared by several
// gateways). Both keep the same tables, so the same verification and
// queries apply.
type Store interface {
	// Append writes entries in one transaction, chaining them after the
	// head of their node's chain (it sets Seq, PrevHash, Hash and Tree). With
	// dedupe, entries already in the store (same kind and id) are skipped:
	// a spool replay after an ambiguous failure writes each entry once.
	// It returns the new heads of the chains it extended and the number
	// of entries written.
	Append(ctx context.Context, entries []*chain.Entry, dedupe bool) ([]chain.Head, int, error)
	// Query returns one page of decision records, newest first.
	Query(ctx context.Context, f Filter) (Page, error)
	// Scan calls fn for every decision record matching f, oldest first
	// (used by reports). Limit and cursor are ignored.
	Scan(ctx context.Context, f Filter, fn func(*audit.Stored) error) error
	// Entries returns the entries of a decision: its decision entry and,
	// once the exchange ended, its completion entry (none if unknown).
	Entries(ctx context.Context, id string) ([]*chain.Entry, error)
	// Nodes lists the nodes that have a chain.
	Nodes(ctx context.Context) ([]string, error)
	// Walk calls fn for every entry of a node's chain in seq order, from
	// the entry with seq from (or the first after it) to the one with seq
	// to (0: to the end).
	Walk(ctx context.Context, node string, from, to int64, fn func(*chain.Entry) error) error
	// Span returns the seq of the first and the last entry of a node's
	// chain (0, 0 when it has none).
	Span(ctx context.Context, node string) (first, last int64, err error)
	// TreeHashes reads stored Merkle tree hashes of a node's chain, by
	// tlog stored-hash index: proofs and roots are computed from them.
	TreeHashes(ctx context.Context, node string, indexes []int64) ([]tlog.Hash, error)
	// SaveCheckpoint keeps a signed checkpoint of a node's tree (again
	// with more cosignatures: the later copy replaces the earlier).
	SaveCheckpoint(ctx context.Context, node string, size int64, signed []byte) error
	// Checkpoint returns the latest signed checkpoint of a node whose
	// tree size is at least minSize, or nil when there is none.
	Checkpoint(ctx context.Context, node string, minSize int64) ([]byte, error)
	// WalkTags calls fn for every row of the tag index.
	WalkTags(ctx context.Context, fn func(tag, id string) error) error
	// Heads returns the chain heads recorded in the store.
	Heads(ctx context.Context) ([]chain.Head, error)
	// Purge deletes the oldest entries of a node's chain whose time is
	// before the cutoff (at most max entries), and appends a checkpoint
	// entry naming the last purged entry, in one transaction. It returns
	// the checkpoint and the chain's new head, or nil when nothing was old
	// enough.
	Purge(ctx context.Context, node string, before time.Time, max int) (*chain.Entry, chain.Head, error)
	// Snapshot returns a view of the store inside one read-only
	// transaction: every read through it sees the log as it was at the
	// first one, while the gateway goes on appending. release ends it.
	Snapshot(ctx context.Context) (view Store, release func(), err error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Describe names the store for logs and status, without credentials.
	Describe() string
	Close() error
}

// Open opens the store named by location: a postgres:// or postgresql://
// URL, or a SQLite file path (sqlite:// and file: prefixes are accepted).
// The schema is created or migrated as needed.
func Open(ctx context.Context, location string) (Store, error) {
	return open(ctx, location, true)
}

// OpenExisting opens a store for reading (the audit commands): a SQLite
// file must already exist. The schema is migrated only when it is older
// than this build's.
func OpenExisting(ctx context.Context, location string) (Store, error) {
	return open(ctx, location, false)
}

func open(ctx context.Context, location string, create bool) (Store, error) {
	kind, target, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return openPostgres(ctx, target)
	}
	return openSQLite(ctx, target, create)
}

// ParseLocation tells a PostgreSQL URL from a SQLite path.
func ParseLocation(location string) (kind, target string, err error) {
	location = strings.TrimSpace(location)
	if location == "" {
		return "", "", errors.New("empty audit store: give a SQLite file path or a postgres:// URL")
	}
	lower := strings.ToLower(location)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		u, err := url.Parse(location)
		if err != nil {
			return "", "", fmt.Errorf("audit store %s: %v", Redact(location), redactErr(err, location))
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return "", "", fmt.Errorf("audit store %s: the URL names no host", Redact(location))
		}
		return "postgres", location, nil
	case strings.HasPrefix(lower, "sqlite://"):
		location = location[len("sqlite://"):]
	case strings.HasPrefix(lower, "file:"):
		location = location[len("file:"):]
	case strings.Contains(lower, "://"):
		return "", "", fmt.Errorf("audit store %q: unknown scheme (use a file path or a postgres:// URL)", Redact(location))
	}
	if location == "" {
		return "", "", errors.New("empty SQLite path")
	}
	if strings.ContainsAny(location, "?#") {
		return "", "", fmt.Errorf("audit store %q: a SQLite path may not contain '?' or '#'", location)
	}
	return "sqlite", filepath.Clean(location), nil
}

// Redact removes the password from a store location.
func Redact(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Scheme == "" || u.Host == "" && u.User == nil {
		return location
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func redactErr(err error, location string) string {
	msg := err.Error()
	if u, perr := url.Parse(location); perr == nil && u.User != nil {
		if pw, has := u.User.Password(); has && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// Page is one page of query results.
type Page struct {
	Records []audit.Stored `json:"records"`
	// NextCursor continues the listing after the last record; empty at the
	// end.
	NextCursor string `json:"next_cursor,omitempty"`
}
