package chain

import (
	"encoding/hex"
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// Each node's chain is also a Merkle tree (RFC 6962, as in Certificate
// Transparency and the Go checksum database), built with
// golang.org/x/mod/sumdb/tlog. Leaf n is the entry with seq n+1; its leaf
// hash is tlog.RecordHash of the 32 bytes of the entry's chain hash, so the
// tree commits to every column of every entry through the chain.
//
// The chain alone proves that nothing changed before a known last hash.
// The tree adds what a signed checkpoint (tree size, root hash) needs: a
// proof that one entry is in the log, in a few hundred bytes, and a proof
// that a later log extends an earlier one, without reading either.
//
// Each entry stores the tree hashes its leaf completes (tlog's stored
// hashes: its own leaf hash, then one hash per subtree it closes, two on
// average), so any proof can be built from the database alone.

// LeafHash returns the entry's leaf hash in the tree: tlog.RecordHash of
// its chain hash.
func (e *Entry) LeafHash() (tlog.Hash, error) {
	var raw [tlog.HashSize]byte
	if len(e.Hash) != 2*tlog.HashSize {
		return tlog.Hash{}, fmt.Errorf("entry %s/%d: hash %q is not 64 hex digits", e.Node, e.Seq, short(e.Hash))
	}
	if _, err := hex.Decode(raw[:], []byte(e.Hash)); err != nil {
		return tlog.Hash{}, fmt.Errorf("entry %s/%d: hash %q is not 64 hex digits", e.Node, e.Seq, short(e.Hash))
	}
	return tlog.RecordHash(raw[:]), nil
}

// Tree is a node's Merkle tree as it grows. It keeps only the tree size
// and the hashes of the complete subtrees the tree ends with (at most one
// per level), which is all that appending a leaf or computing the root
// needs.
type Tree struct {
	size int64
	// frontier[l] is the hash of the complete subtree of 2^l leaves among
	// the last ones, when bit l of size is set.
	frontier [64]tlog.Hash
}

// TreeAt returns the tree of a given size, reading the hashes of its
// complete subtrees from r (the stored hashes of earlier entries).
func TreeAt(size int64, r tlog.HashReader) (*Tree, error) {
	t := &Tree{size: size}
	if size == 0 {
		return t, nil
	}
	indexes := FrontierIndexes(size)
	hashes, err := r.ReadHashes(indexes)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(indexes) {
		return nil, fmt.Errorf("reading the tree of size %d: %d hashes for %d indexes", size, len(hashes), len(indexes))
	}
	for i, idx := range indexes {
		level, _ := tlog.SplitStoredHashIndex(idx)
		t.frontier[level] = hashes[i]
	}
	return t, nil
}

// FrontierIndexes are the stored-hash indexes of the complete subtrees a
// tree of size leaves ends with, largest first: the hashes TreeAt reads.
// Retention keeps them when it purges the first size entries of a chain,
// so later proofs can still be built.
func FrontierIndexes(size int64) []int64 {
	var out []int64
	for l := 63; l >= 0; l-- {
		if size&(1<<l) != 0 {
			out = append(out, tlog.StoredHashIndex(l, size>>l-1))
		}
	}
	return out
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// ReadHashes reads the frontier: it implements tlog.HashReader for the
// hashes that appending a leaf and computing the root need, and fails for
// any other.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		level, k := tlog.SplitStoredHashIndex(idx)
		if t.size&(1<<level) == 0 || k != t.size>>level-1 {
			return nil, fmt.Errorf("tree hash %d (level %d, subtree %d) is not on the frontier of a tree of size %d", idx, level, k, t.size)
		}
		out[i] = t.frontier[level]
	}
	return out, nil
}

// Append adds a leaf and returns the hashes to store with it: its leaf
// hash, then the hashes of the subtrees it completes, lowest first.
func (t *Tree) Append(leaf tlog.Hash) ([]tlog.Hash, error) {
	hashes, err := tlog.StoredHashesForRecordHash(t.size, leaf, t)
	if err != nil {
		return nil, err
	}
	t.size++
	// The new leaf closed subtrees at levels 0 to top-1; the one at level
	// top is now on the frontier, and the smaller ones merged into it.
	top := bits.TrailingZeros64(uint64(t.size))
	t.frontier[top] = hashes[len(hashes)-1]
	for l := range top {
		t.frontier[l] = tlog.Hash{}
	}
	return hashes, nil
}

// Root is the tree's root hash.
func (t *Tree) Root() (tlog.Hash, error) { return tlog.TreeHash(t.size, t) }

// EncodeHashes concatenates hashes, as the tree column stores them.
func EncodeHashes(hashes []tlog.Hash) []byte {
	out := make([]byte, 0, len(hashes)*tlog.HashSize)
	for _, h := range hashes {
		out = append(out, h[:]...)
	}
	return out
}

// StoredHash returns the hash at level of an entry's stored tree hashes
// (0 is its leaf hash), or false when the column is too short.
func StoredHash(tree []byte, level int) (tlog.Hash, bool) {
	var h tlog.Hash
	if len(tree) < (level+1)*tlog.HashSize {
		return h, false
	}
	copy(h[:], tree[level*tlog.HashSize:])
	return h, true
}

// StoredAt tells where the stored hash of a tree index lives: in the tree
// column of the entry with seq (the last leaf of its subtree), at level.
func StoredAt(index int64) (seq int64, level int) {
	level, k := tlog.SplitStoredHashIndex(index)
	return (k + 1) << level, level
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// purgedLeaf stands for each entry that retention purged before its chain
// had a Merkle tree (a store upgraded from the hash chain alone): the
// entry is gone, so its leaf is this fixed hash.
var purgedLeaf = tlog.RecordHash([]byte("sovgate audit: entry purged before its chain had a Merkle tree"))

// PurgedLeaf is the leaf hash of an entry gone before its chain had a tree.
func PurgedLeaf() tlog.Hash { return purgedLeaf }

// PurgedTree is the tree of size leaves that all stand for entries purged
// before the tree existed. Its frontier hashes (TreeAt's) are returned
// too, for the store to keep.
func PurgedTree(size int64) (*Tree, []int64, []tlog.Hash) {
	// A complete subtree of 2^l identical leaves has the same hash
	// wherever it is.
	var level [64]tlog.Hash
	level[0] = purgedLeaf
	for l := 1; l < 64; l++ {
		level[l] = tlog.NodeHash(level[l-1], level[l-1])
	}
	indexes := FrontierIndexes(size)
	hashes := make([]tlog.Hash, len(indexes))
	t := &Tree{size: size}
	for i, idx := range indexes {
		l, _ := tlog.SplitStoredHashIndex(idx)
		hashes[i], t.frontier[l] = level[l], level[l]
	}
	return t, indexes, hashes
}
