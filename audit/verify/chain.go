package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// chainCheck verifies one segment of a node's chain, entry by entry: the
// whole chain, or (a long chain is cut in two, checked on two cores) a run
// of entries that starts from the tree its first entry's predecessors
// stored, stitched to the segment before it afterwards.
type chainCheck struct {
	ctx      context.Context
	s        store.Store
	node     string
	head     chain.Head
	hasHead  bool
	digest   tagDigest
	claims   []*claim // this node's, by tree size
	keys     *claimSet
	from     int64 // incremental: start after this tree size
	progress func(done int64)
	anchors  map[int64]string
	// lo and hi bound the segment: the first segment from the chain's
	// first entry (lo, 0 if it has none), or from after an incremental
	// start; mid is set for a segment after the first.
	lo, hi int64
	mid    bool

	report ChainReport
	tree   *chain.Tree
	// startRoot is the root of the tree a mid segment starts from.
	startRoot tlog.Hash
	// linkProof proves the entry an incremental walk starts after.
	linkProof tlog.RecordProof
	// treeErr is why the tree of purged entries could not be read: the
	// purge itself is suspect, which is reported first.
	treeErr    error
	started    bool
	prevSeq    int64
	prevHash   string
	firstSeq   int64
	firstPrev  string
	latestCP   *chain.PurgeDetail
	latestCPAt int64
	scratch    []byte
	// next is the first claim not compared yet; agreed those the store
	// agreed with.
	next   int
	agreed []*claim
}

var errBreak = errors.New("break")

// walk checks the segment's entries; it returns the first break.
func (c *chainCheck) walk() (*Break, error) {
	c.report.Node = c.node
	var brk *Break
	start := max(c.lo, 1)
	switch {
	case c.from > 0:
		if brk = c.startAfter(c.from); brk != nil {
			return brk, nil
		}
		start = c.from
	case c.mid:
		if brk = c.startMid(c.lo); brk != nil {
			return brk, nil
		}
	case c.lo > 0:
		// Entries before the first were purged: their largest subtrees'
		// hashes were kept for the tree to go on. If they were not, the
		// purge itself is suspect: that is reported first, at the end.
		// (Read before the walk: no other query may run while it reads.)
		c.tree, c.treeErr = chain.TreeAt(c.lo-1, hashReader(c.ctx, c.s, c.node))
	}
	if c.hi < start {
		return nil, nil // no entry in the snapshot
	}
	err := walkPipelined(c.ctx, c.s, c.node, start, c.hi, func(e *chain.Entry) error {
		if c.from > 0 && e.Seq == c.from {
			brk = c.link(e)
		} else {
			brk = c.step(e)
		}
		if brk == nil {
			if want, ok := c.anchors[e.Seq]; ok {
				if want != e.Hash {
					brk = c.broken(e, "the anchored head says entry %d has hash %s; the store has %s", e.Seq, short(want), short(e.Hash))
				}
				delete(c.anchors, e.Seq)
			}
		}
		if brk != nil {
			return errBreak
		}
		if c.report.Entries%65536 == 0 && c.progress != nil {
			c.progress(c.report.Entries)
		}
		return nil
	})
	if c.progress != nil {
		c.progress(c.report.Entries)
	}
	if err != nil && err != errBreak {
		return nil, err
	}
	return brk, nil
}

// startMid sets up a segment after the first: the tree of the entries
// before lo is read from the hashes they stored (the segment before checks
// each of them), and the first entry's prev_hash is checked at the stitch.
func (c *chainCheck) startMid(lo int64) *Break {
	tree, err := chain.TreeAt(lo-1, hashReader(c.ctx, c.s, c.node))
	if err != nil {
		return &Break{Node: c.node, Seq: lo, Reason: fmt.Sprintf("the Merkle tree hashes of the first %d entries cannot be read: %v", lo-1, err)}
	}
	if c.startRoot, err = tree.Root(); err != nil {
		return &Break{Node: c.node, Seq: lo, Reason: err.Error()}
	}
	c.tree, c.started, c.prevSeq = tree, true, lo-1
	c.skipClaims(lo)
	return nil
}

func (c *chainCheck) broken(e *chain.Entry, format string, args ...any) *Break {
	cp := *e
	return &Break{Node: c.node, Seq: e.Seq, Reason: fmt.Sprintf(format, args...), Entry: &cp}
}

// step checks one entry against the one before it, and the tree.
func (c *chainCheck) step(e *chain.Entry) *Break {
	if !c.started {
		if brk := c.first(e); brk != nil {
			return brk
		}
	} else {
		if e.Seq != c.prevSeq+1 {
			if e.Seq > c.prevSeq+1 {
				return c.broken(e, "entries %d to %d are missing (deleted?)", c.prevSeq+1, e.Seq-1)
			}
			return c.broken(e, "seq %d follows %d (inserted or renumbered?)", e.Seq, c.prevSeq)
		}
		if c.firstSeq == 0 {
			c.firstSeq, c.firstPrev = e.Seq, e.PrevHash // checked at the stitch
		} else if e.PrevHash != c.prevHash {
			return c.broken(e, "prev_hash %s is not the hash of entry %d (%s): an entry was inserted, deleted or reordered here",
				short(e.PrevHash), c.prevSeq, short(c.prevHash))
		}
	}
	if e.Node != c.node {
		return c.broken(e, "entry of node %q in the chain of %q", e.Node, c.node)
	}
	var h string
	h, c.scratch = e.ComputeHash(c.scratch)
	if h != e.Hash {
		return c.broken(e, "the entry was edited: its content hashes to %s, but it carries %s", short(h), short(e.Hash))
	}
	if c.tree != nil {
		if what := checkTree(e, c.tree); what != "" {
			return c.broken(e, "%s", what)
		}
		if brk := c.compareClaims(e.Seq); brk != nil {
			return brk
		}
	}
	if brk := c.count(e); brk != nil {
		return brk
	}
	c.prevSeq, c.prevHash = e.Seq, e.Hash
	return nil
}

// first checks the first entry of a full walk, and sets up the tree.
func (c *chainCheck) first(e *chain.Entry) *Break {
	c.started = true
	c.firstSeq = e.Seq
	c.report.First = e.Seq
	c.firstPrev = e.PrevHash
	if e.Seq < 1 {
		return c.broken(e, "seq %d: a chain starts at 1", e.Seq)
	}
	if e.Seq == 1 && e.PrevHash != chain.GenesisHash {
		return c.broken(e, "the first entry's prev_hash is %s, not the genesis hash", short(e.PrevHash))
	}
	if e.Seq != c.lo {
		// Not the first entry the snapshot had: one was deleted under the
		// walk (the tree read for it does not apply).
		return c.broken(e, "entries %d to %d are missing (deleted?)", c.lo, e.Seq-1)
	}
	if c.tree != nil {
		c.skipClaims(e.Seq - 1)
		return c.compareClaims(e.Seq - 1)
	}
	return nil
}

// count tallies the entry by kind, and its tags.
func (c *chainCheck) count(e *chain.Entry) *Break {
	switch e.Kind {
	case chain.KindDecision:
		c.report.Decisions++
		if e.Completed() {
			c.report.Merged++
		}
		tags, err := e.Tags()
		if err != nil {
			return c.broken(e, "unreadable addresses or reasons: %v", err)
		}
		for _, t := range tags {
			c.digest.add(t, e.ID)
		}
	case chain.KindCompletion:
		c.report.Completions++
	case chain.KindCheckpoint:
		c.report.Checkpoints++
		var cp chain.PurgeDetail
		if err := json.Unmarshal([]byte(e.Detail), &cp); err != nil {
			return c.broken(e, "unreadable retention checkpoint: %v", err)
		}
		if c.latestCP == nil || cp.PurgedThrough > c.latestCP.PurgedThrough {
			c.latestCP, c.latestCPAt = &cp, e.Seq
		}
	default:
		return c.broken(e, "unknown entry kind %q", e.Kind)
	}
	c.report.Entries++
	return nil
}

// end checks the chain as a whole once walked: retention, head, anchors.
func (c *chainCheck) end() (*Break, error) {
	r := &c.report
	r.Last, r.Head = c.prevSeq, c.prevHash
	if c.tree != nil {
		var err error
		if r.Root, err = c.tree.Root(); err != nil {
			return nil, err
		}
	}
	head, hasHead := c.head, c.hasHead
	switch {
	case !c.started && c.from == 0 && hasHead && head.Seq > 0:
		return &Break{Node: c.node, Seq: head.Seq, Reason: fmt.Sprintf("the chain is empty, but its recorded head is entry %d (%s)", head.Seq, short(head.Hash))}, nil
	case !c.started && c.from == 0:
		return nil, nil // no entry, no head: only checkpoints can tell
	}
	if r.First > 1 && c.from == 0 {
		switch {
		case c.latestCP == nil:
			return &Break{Node: c.node, Seq: r.First, Reason: fmt.Sprintf("entries 1 to %d are missing and no retention checkpoint accounts for them", r.First-1)}, nil
		case c.latestCP.PurgedThrough != r.First-1:
			return &Break{Node: c.node, Seq: r.First, Reason: fmt.Sprintf("the chain starts at entry %d, but the latest retention checkpoint (entry %d) purged entries up to %d", r.First, c.latestCPAt, c.latestCP.PurgedThrough)}, nil
		case c.latestCP.LastHash != c.firstPrev:
			return &Break{Node: c.node, Seq: r.First, Reason: fmt.Sprintf("prev_hash %s of the first entry is not the last purged hash %s named by the retention checkpoint (entry %d)", short(c.firstPrev), short(c.latestCP.LastHash), c.latestCPAt)}, nil
		}
	}
	if c.treeErr != nil {
		return &Break{Node: c.node, Seq: r.First, Reason: fmt.Sprintf("the Merkle tree of the %d purged entries before entry %d cannot be read: %v", r.First-1, r.First, c.treeErr)}, nil
	}
	if !hasHead {
		return &Break{Node: c.node, Seq: r.Last, Reason: "the chain has no recorded head"}, nil
	}
	if head.Seq != r.Last || head.Hash != r.Head {
		return &Break{Node: c.node, Seq: r.Last, Reason: fmt.Sprintf("the chain ends at entry %d (%s) but its recorded head is entry %d (%s): entries were removed from the end, or added after it",
			r.Last, short(r.Head), head.Seq, short(head.Hash))}, nil
	}
	if head.Root != r.Root {
		return &Break{Node: c.node, Seq: r.Last, Reason: fmt.Sprintf("the recorded head's Merkle tree root is %s, but the entries give %s", head.Root, r.Root)}, nil
	}
	for seq, h := range c.anchors {
		if c.latestCP != nil && seq <= c.latestCP.PurgedThrough || seq < c.from {
			continue // purged by retention since it was anchored, or verified earlier
		}
		return &Break{Node: c.node, Seq: seq, Reason: fmt.Sprintf("the anchored head %s:%d:%s is not in the chain (it ends at entry %d): entries were removed from the end", c.node, seq, short(h), r.Last)}, nil
	}
	return nil, nil
}

// checkTree appends the entry's leaf to tree and checks that the tree
// hashes the entry stores are the ones it must: it returns what is wrong,
// or "".
func checkTree(e *chain.Entry, tree *chain.Tree) string {
	leaf, err := e.LeafHash()
	if err != nil {
		return err.Error()
	}
	want, err := tree.Append(leaf)
	if err != nil {
		return err.Error()
	}
	if len(e.Tree) != len(want)*tlog.HashSize {
		return fmt.Sprintf("the entry stores %d bytes of Merkle tree hashes, %d expected: the tree was edited", len(e.Tree), len(want)*tlog.HashSize)
	}
	for level, h := range want {
		if got, _ := chain.StoredHash(e.Tree, level); got != h {
			return fmt.Sprintf("its Merkle tree hash of level %d is %s, but the entries up to it give %s: the tree was edited", level, got, h)
		}
	}
	return ""
}

// hashReader reads a node's stored tree hashes from s.
func hashReader(ctx context.Context, s store.Store, node string) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		return s.TreeHashes(ctx, node, indexes)
	})
}
