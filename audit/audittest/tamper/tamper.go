// Package tamper changes an audit store behind sovgate's back, as someone
// with write access to its database (and sovgate's source) could: the
// rewrites a hash chain alone cannot show, which tests then expect the
// signed checkpoints to catch. Every change is plain SQL on a connection
// of its own; nothing goes through the store's API.
package tamper

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the database/sql driver "pgx"
	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// CutTail deletes the entries of node's chain after keep (and their tag
// rows), then moves the recorded head back to entry keep, with the right
// hash and tree root: the chain then verifies on its own.
func CutTail(t testing.TB, location, node string, keep int64) {
	t.Helper()
	s := open(t, location)
	entries := read(t, s, node)
	root := rootAt(t, s, node, keep)
	db := OpenDB(t, location)
	for _, e := range entries[keep:] {
		if e.Kind == chain.KindDecision {
			exec(t, db, `DELETE FROM audit_tags WHERE id = ?`, e.ID)
		}
	}
	db.Tamper(t, `DELETE FROM audit_log WHERE node = ? AND seq > ?`, node, keep)
	last := entries[keep-1]
	db.Tamper(t, `UPDATE audit_heads SET seq = ?, hash = ?, time = ?, root = ? WHERE node = ?`, last.Seq, last.Hash, last.Time, root[:], node)
}

// DeleteAndRehash deletes entry seq of node's chain (a decision someone
// wants gone, with its tag rows), renumbers the entries after it and
// re-hashes them, chain and tree, and moves the head: the chain then
// verifies on its own.
func DeleteAndRehash(t testing.TB, location, node string, seq int64) {
	t.Helper()
	s := open(t, location)
	entries := read(t, s, node)
	tree, err := chain.TreeAt(seq-1, reader(s, node))
	if err != nil {
		t.Fatal(err)
	}
	victim := entries[seq-1]
	later := make([]*chain.Entry, 0, len(entries)-int(seq))
	for _, e := range entries[seq:] {
		c := e
		later = append(later, &c)
	}
	prev := entries[seq-2]
	head, err := chain.Extend(chain.Head{Node: node, Seq: prev.Seq, Hash: prev.Hash}, tree, later)
	if err != nil {
		t.Fatal(err)
	}
	db := OpenDB(t, location)
	if victim.Kind == chain.KindDecision {
		exec(t, db, `DELETE FROM audit_tags WHERE id = ?`, victim.ID)
	}
	db.Tamper(t, `DELETE FROM audit_log WHERE node = ? AND seq >= ?`, node, seq)
	for _, e := range later {
		db.Tamper(t, `INSERT INTO audit_log (node, seq, kind, id, time, app, source_ip, method, scheme, host, port, path, addresses, verdict, action, mode, reasons, policy_revision, duration_us, bytes_up, bytes_down, detail, prev_hash, hash, tree)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Node, e.Seq, e.Kind, e.ID, e.Time, e.App, e.SourceIP, e.Method, e.Scheme, e.Host, e.Port, e.Path, e.Addresses, e.Verdict,
			e.Action, e.Mode, e.Reasons, e.PolicyRevision, e.DurationUS, e.BytesUp, e.BytesDown, e.Detail, e.PrevHash, e.Hash, e.Tree)
	}
	db.Tamper(t, `UPDATE audit_heads SET seq = ?, hash = ?, time = ?, root = ? WHERE node = ?`, head.Seq, head.Hash, head.Time, head.Root[:], node)
}

// Empty deletes every row of every audit table but the schema's: a store
// that verifies, with nothing in it.
func Empty(t testing.TB, location string) {
	t.Helper()
	db := OpenDB(t, location)
	for _, table := range []string{"audit_log", "audit_tags", "audit_heads", "audit_tree", "audit_checkpoints"} {
		exec(t, db, `DELETE FROM `+table)
	}
}

// exec runs a statement that may change no row.
func exec(t testing.TB, db *DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(db.Q(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func open(t testing.TB, location string) store.Store {
	t.Helper()
	s, err := store.OpenExisting(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// read returns every entry of a chain that starts at 1.
func read(t testing.TB, s store.Store, node string) []chain.Entry {
	t.Helper()
	var entries []chain.Entry
	if err := s.Walk(context.Background(), node, 1, 0, func(e *chain.Entry) error {
		entries = append(entries, *e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Seq != 1 {
		t.Fatalf("the chain of %s does not start at entry 1", node)
	}
	return entries
}

func reader(s store.Store, node string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return s.TreeHashes(context.Background(), node, idx)
	})
}

func rootAt(t testing.TB, s store.Store, node string, size int64) tlog.Hash {
	t.Helper()
	root, err := tlog.TreeHash(size, reader(s, node))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// DB is a connection of its own to the database of a store location, as
// someone with write access to it would have: tests change the log behind
// the store's back with it. Queries use ? placeholders on both backends.
type DB struct {
	*sql.DB
	postgres bool
}

// OpenDB opens the database of a store location; it is closed when the
// test ends.
func OpenDB(t testing.TB, location string) *DB {
	t.Helper()
	driver, dsn := "sqlite", location
	if strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://") {
		driver = "pgx"
	} else {
		dsn = "file:" + location + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &DB{DB: db, postgres: driver == "pgx"}
}

// Q rewrites ? placeholders to $n on PostgreSQL.
func (db *DB) Q(query string) string {
	if !db.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Tamper runs a statement that must change at least one row.
func (db *DB) Tamper(t testing.TB, query string, args ...any) {
	t.Helper()
	res, err := db.ExecContext(context.Background(), db.Q(query), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed nothing", query)
	}
}
