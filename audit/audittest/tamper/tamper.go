// Package tamper changes an audit store behind sovgate's back, as someone
// with write access to its database (and sovgate's source) could: the
// rewrites a hash chain alone cannot show, which tests then expect the
// signed checkpoints to catch. Every change is plain SQL on a connection
// of its own; nothing goes through the store's API.
package tamper

import (
	"context"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest"
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
	db := audittest.OpenDB(t, location)
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
	db := audittest.OpenDB(t, location)
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
	db := audittest.OpenDB(t, location)
	for _, table := range []string{"audit_log", "audit_tags", "audit_heads", "audit_tree", "audit_checkpoints"} {
		exec(t, db, `DELETE FROM `+table)
	}
}

// exec runs a statement that may change no row.
func exec(t testing.TB, db *audittest.DB, query string, args ...any) {
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
	if err := s.Walk(context.Background(), node, 1, func(e *chain.Entry) error {
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
