package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

func open(t *testing.T, location string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustVerify(t *testing.T, s store.Store) *verify.Result {
	t.Helper()
	res, err := verify.Log(context.Background(), s, verify.Options{})
	if err != nil || !res.OK() {
		t.Fatalf("verify: %v %v", err, res.Break)
	}
	return res
}

func reader(s store.Store, node string) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return s.TreeHashes(context.Background(), node, idx)
	})
}

// referenceRoot computes a chain's tree root from its entries alone, with
// tlog and every hash in memory; purged entries before the first count as
// chain.PurgedLeaf.
func referenceRoot(t *testing.T, s store.Store, node string) (tlog.Hash, int64) {
	t.Helper()
	var all []tlog.Hash
	mem := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = all[x]
		}
		return out, nil
	})
	var n int64
	add := func(leaf tlog.Hash) {
		h, err := tlog.StoredHashesForRecordHash(n, leaf, mem)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, h...)
		n++
	}
	if err := s.Walk(context.Background(), node, 1, 0, func(e *chain.Entry) error {
		for n < e.Seq-1 {
			add(chain.PurgedLeaf())
		}
		leaf, err := e.LeafHash()
		add(leaf)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	root, err := tlog.TreeHash(n, mem)
	if err != nil {
		t.Fatal(err)
	}
	return root, n
}

// checkTrees checks that a proof of inclusion of the first remaining
// entry of each chain holds and, with fromEntries, that every head's root
// is the one its entries give (entries purged since the tree exists
// cannot be counted again: then only the proof is checked).
func checkTrees(t *testing.T, s store.Store, fromEntries bool) {
	t.Helper()
	heads, err := s.Heads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if root, n := referenceRoot(t, s, h.Node); fromEntries && (n != h.Seq || root != h.Root) {
			t.Fatalf("node %s: head %d root %v, entries give %d leaves, root %v", h.Node, h.Seq, h.Root, n, root)
		}
		var first *chain.Entry
		_ = s.Walk(context.Background(), h.Node, 1, 0, func(e *chain.Entry) error {
			if first == nil {
				c := *e
				first = &c
			}
			return nil
		})
		proof, err := tlog.ProveRecord(h.Seq, first.Seq-1, reader(s, h.Node))
		if err != nil {
			t.Fatalf("node %s: proving entry %d: %v", h.Node, first.Seq, err)
		}
		leaf, _ := first.LeafHash()
		if err := tlog.CheckRecord(proof, h.Seq, h.Root, first.Seq-1, leaf); err != nil {
			t.Fatalf("node %s: proof of entry %d: %v", h.Node, first.Seq, err)
		}
	}
}

// TestSchema1StoreIsUpgraded opens a store written by sovgate before the
// Merkle tree (the hash chain alone, one chain purged by retention): it is
// upgraded in place, verifies, and goes on taking records.
func TestSchema1StoreIsUpgraded(t *testing.T) {
	raw, err := os.ReadFile("testdata/schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	loc := filepath.Join(t.TempDir(), "audit.db")
	if err := os.WriteFile(loc, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, loc)
	res := mustVerify(t, s)
	if len(res.Chains) != 2 || res.Chains[1].First != 35 {
		t.Fatalf("chains %+v", res.Chains)
	}
	checkTrees(t, s, true)
	appendSome(t, s, "gw-lyon-2", 30)
	mustVerify(t, s)
	checkTrees(t, s, true)
}

func appendSome(t *testing.T, s store.Store, node string, n int) {
	t.Helper()
	var entries []*chain.Entry
	for i := range n {
		entries = append(entries, chain.DecisionEntry(audittest.Record(i, node), false))
	}
	if _, _, err := s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
}

// TestStoreIsUpgradedInPlace takes a store of each backend back to schema
// 1 (the hash chain alone), opens it again, and checks the trees the
// upgrade builds: the same roots as before for whole chains.
func TestStoreIsUpgradedInPlace(t *testing.T) {
	audittest.Backends(t, func(t *testing.T, loc string) {
		s := open(t, loc)
		appendSome(t, s, "gw-1", 1500)
		appendSome(t, s, "gw-2", 40)
		if _, _, err := s.Purge(context.Background(), "gw-2", audittest.Start.Add(10*37*time.Second), 100); err != nil {
			t.Fatal(err)
		}
		before, _ := s.Heads(context.Background())
		s.Close()
		db := tamper.OpenDB(t, loc)
		for _, stmt := range []string{
			`ALTER TABLE audit_log DROP COLUMN tree`,
			`ALTER TABLE audit_heads DROP COLUMN root`,
			`DROP TABLE audit_tree`,
			`DROP TABLE audit_checkpoints`,
			`DELETE FROM audit_schema_migrations WHERE version > 1`,
		} {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		db.Close()
		s = open(t, loc)
		if v := store.SchemaVersion(); v < 2 {
			t.Fatalf("schema version %d", v)
		}
		mustVerify(t, s)
		checkTrees(t, s, false)
		after, _ := s.Heads(context.Background())
		if before[0].Root != after[0].Root {
			t.Errorf("gw-1: root %v before, %v after the upgrade", before[0].Root, after[0].Root)
		}
		appendSome(t, s, "gw-1", 10)
		mustVerify(t, s)
	})
}

// TestTreeSurvivesRetention purges the first entries of a chain: the root
// of the tree as it was is still computable, proofs of the remaining
// entries still hold, and the new tree extends the old one.
func TestTreeSurvivesRetention(t *testing.T) {
	audittest.Backends(t, func(t *testing.T, loc string) {
		ctx := context.Background()
		s := open(t, loc)
		appendSome(t, s, "gw-1", 77)
		heads, _ := s.Heads(ctx)
		old := heads[0]
		for _, cut := range []int{20, 45, 70} {
			if _, _, err := s.Purge(ctx, "gw-1", audittest.Start.Add(time.Duration(cut)*37*time.Second), 1000); err != nil {
				t.Fatal(err)
			}
			root, err := tlog.TreeHash(old.Seq, reader(s, "gw-1"))
			if err != nil || root != old.Root {
				t.Fatalf("after purging up to %d: root of the old tree %v (%v), want %v", cut, root, err, old.Root)
			}
			heads, _ := s.Heads(ctx)
			proof, err := tlog.ProveTree(heads[0].Seq, old.Seq, reader(s, "gw-1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(proof, heads[0].Seq, heads[0].Root, old.Seq, old.Root); err != nil {
				t.Fatalf("the tree after purging up to %d does not extend the old one: %v", cut, err)
			}
			mustVerify(t, s)
			checkTrees(t, s, false)
		}
		// Only the largest subtrees of the purged part are kept.
		var kept int
		if err := tamper.OpenDB(t, loc).QueryRow(`SELECT count(*) FROM audit_tree`).Scan(&kept); err != nil || kept > 7 {
			t.Errorf("%d hashes kept for the purged entries (%v), want at most log2", kept, err)
		}
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	loc := filepath.Join(t.TempDir(), "audit.db")
	s := open(t, loc)
	tamper.OpenDB(t, loc).Tamper(t, `INSERT INTO audit_schema_migrations (version, description, applied_at) VALUES (99, 'future', 0)`)
	s.Close()
	if _, err := store.Open(context.Background(), loc); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err = %v", err)
	}
	if _, err := store.OpenExisting(context.Background(), filepath.Join(t.TempDir(), "missing.db")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing store: %v", err)
	}
}
