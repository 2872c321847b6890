package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest"
)

// memHashes is every stored hash of a tree, in tlog's storage order: the
// reference the frontier-only Tree is checked against.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx >= int64(len(m)) {
			return nil, fmt.Errorf("index %d of %d", idx, len(m))
		}
		out[i] = m[idx]
	}
	return out, nil
}

func leaf(i int) tlog.Hash { return tlog.RecordHash([]byte(fmt.Sprint("leaf ", i))) }

func TestTreeMatchesTlog(t *testing.T) {
	var all memHashes
	tree := &Tree{}
	for i := range 1100 {
		want, err := tlog.StoredHashesForRecordHash(int64(i), leaf(i), all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tree.Append(leaf(i))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("leaf %d: stored hashes %v, want %v", i, got, want)
		}
		all = append(all, want...)
		root, err := tree.Root()
		wantRoot, _ := tlog.TreeHash(int64(i+1), all)
		if err != nil || root != wantRoot {
			t.Fatalf("size %d: root %v (%v), want %v", i+1, root, err, wantRoot)
		}
		// A tree read back at this size from the stored hashes goes on
		// exactly like the one that grew.
		if i%37 == 0 {
			again, err := TreeAt(int64(i+1), all)
			if err != nil || *again != *tree {
				t.Fatalf("TreeAt(%d) differs: %v", i+1, err)
			}
		}
	}
	if _, err := tree.ReadHashes([]int64{0}); err == nil {
		t.Error("a hash off the frontier was read")
	}
}

func TestStoredAtFindsEveryHash(t *testing.T) {
	var all memHashes
	var perEntry [][]byte
	tree := &Tree{}
	for i := range 300 {
		hashes, err := tree.Append(leaf(i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, hashes...)
		perEntry = append(perEntry, EncodeHashes(hashes))
	}
	for idx := range int64(len(all)) {
		seq, level := StoredAt(idx)
		h, ok := StoredHash(perEntry[seq-1], level)
		if !ok || h != all[idx] {
			t.Fatalf("index %d: entry %d level %d gives %v, want %v", idx, seq, level, h, all[idx])
		}
	}
}

func TestExtendChainsAndGrowsTheTree(t *testing.T) {
	head, tree := Head{Node: "gw-1", Hash: GenesisHash}, &Tree{}
	var entries []*Entry
	for i := range 5 {
		entries = append(entries, DecisionEntry(audittest.Record(i, "gw-1"), false))
	}
	head, err := Extend(head, tree, entries)
	if err != nil {
		t.Fatal(err)
	}
	var all memHashes
	for i, e := range entries {
		sum, _ := hex.DecodeString(e.Hash)
		if want := sha256.Sum256(e.Canonical(nil)); hex.EncodeToString(want[:]) != e.Hash || e.Seq != int64(i+1) {
			t.Fatalf("entry %d: seq %d hash %s", i, e.Seq, e.Hash)
		}
		if h, _ := StoredHash(e.Tree, 0); h != tlog.RecordHash(sum) {
			t.Fatalf("entry %d: leaf hash %v, want RecordHash of the chain hash", i, h)
		}
		for l := 0; l*tlog.HashSize < len(e.Tree); l++ {
			h, _ := StoredHash(e.Tree, l)
			all = append(all, h)
		}
	}
	if root, _ := tlog.TreeHash(5, all); head.Seq != 5 || head.Root != root || head.Hash != entries[4].Hash {
		t.Fatalf("head %+v, root want %v", head, root)
	}
	if _, err := Extend(Head{Node: "gw-1", Seq: 3}, &Tree{}, entries[:1]); err == nil {
		t.Error("Extend accepted a tree of another size than the chain")
	}
}
