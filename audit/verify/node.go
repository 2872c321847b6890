package verify

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// minSegment is the smallest run of entries worth cores of its own: a
// chain with twice as many entries to check is cut in two, each segment
// read and hashed on cores of its own, when there are cores for it
// (segmentCores). On two cores, the chain's reader, its hasher and the tag
// index's reader already keep both busy: a second segment only adds
// contention (measured: BenchmarkVerifySegments).
var (
	minSegment   int64 = 100_000
	segmentCores       = runtime.NumCPU() >= 4
)

// nodeCheck verifies one node's chain, in one segment or two.
type nodeCheck struct {
	ctx context.Context
	// s is the snapshot the whole verification reads; the segments read
	// entries (bounded by the last seq of s, so the same as s's) through
	// readers, read transactions of their own.
	s       store.Store
	readers []store.Store
	// segments allows a long chain to be cut in two (readers are two
	// transactions).
	segments bool
	node     string
	// first and last are the seq of the chain's first and last entries in
	// the snapshot (0, 0: none).
	first, last int64
	head        chain.Head
	hasHead     bool
	claims      []*claim
	keys        *claimSet
	from        int64
	anchors     []chain.Head
	progress    func(Progress)
}

func (n *nodeCheck) run() (ChainReport, *Break, tagDigest, error) {
	first, last := n.first, n.last
	start := max(first, 1)
	if n.from > 0 {
		start = n.from + 1
	}
	total := max(n.head.Seq, last)
	if k := len(n.claims); k > 0 {
		total = max(total, n.claims[k-1].Size)
	}
	report := n.reporter(start-1, total)
	segs := []*chainCheck{n.segment(n.readers[0], first, last, false, true)}
	if n.segments && segmentCores && last-start+1 >= 2*minSegment {
		split := start + (last-start+1)/2 - 1
		segs = []*chainCheck{n.segment(n.readers[0], first, split, false, false), n.segment(n.readers[1], split+1, last, true, true)}
	}
	breaks := make([]*Break, len(segs))
	errs := make([]error, len(segs))
	var wg sync.WaitGroup
	for i, c := range segs {
		c.progress = func(done int64) { report(i, done) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			breaks[i], errs[i] = c.walk()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return ChainReport{}, nil, tagDigest{}, err
		}
	}
	c, brk := n.stitch(segs, breaks)
	var err error
	if brk == nil {
		brk, err = c.end()
	}
	if brk == nil && err == nil {
		c.claims = n.claims
		c.next = sort.Search(len(c.claims), func(i int) bool { return c.claims[i].Size > c.prevSeq })
		brk = c.claimsBeyond()
	}
	report(-1, 0)
	if brk != nil && brk.changed {
		brk.Reason += agreement(brk.AgreesUpTo)
	}
	return c.report, brk, c.digest, err
}

// segment makes the check of entries lo to hi, with the claims and anchors
// in that range; the final segment takes the anchors beyond the chain.
func (n *nodeCheck) segment(s store.Store, lo, hi int64, mid, final bool) *chainCheck {
	c := &chainCheck{ctx: n.ctx, s: s, node: n.node, head: n.head, hasHead: n.hasHead, keys: n.keys,
		lo: lo, hi: hi, mid: mid, anchors: map[int64]string{}}
	if !mid {
		c.from = n.from
	}
	// The first segment takes what is at or below its end (retention
	// and incremental verifies skip what is below their start), the
	// second what is at or above its start; the final one what is beyond
	// the chain too.
	in := func(seq int64) bool { return (!mid || seq >= lo) && (final || seq <= hi) }
	for _, cl := range n.claims {
		if in(cl.Size) {
			c.claims = append(c.claims, cl)
		}
	}
	for _, a := range n.anchors {
		if in(a.Seq) {
			c.anchors[a.Seq] = a.Hash
		}
	}
	return c
}

// stitch joins the segments: each must start where the one before ended
// (seq, prev_hash, tree root), and their tallies add up. The first break
// in seq order wins.
func (n *nodeCheck) stitch(segs []*chainCheck, breaks []*Break) (*chainCheck, *Break) {
	c := segs[0]
	if breaks[0] != nil {
		return c, breaks[0]
	}
	for i, b := range segs[1:] {
		if b.firstSeq != 0 {
			switch {
			case c.prevSeq != b.lo-1:
				return c, &Break{Node: n.node, Seq: b.firstSeq, Reason: fmt.Sprintf("entries %d to %d are missing (deleted?)", c.prevSeq+1, b.lo-1)}
			case c.prevHash != b.firstPrev:
				return c, &Break{Node: n.node, Seq: b.firstSeq, Reason: fmt.Sprintf("prev_hash %s is not the hash of entry %d (%s): an entry was inserted, deleted or reordered here",
					short(b.firstPrev), c.prevSeq, short(c.prevHash))}
			}
			if c.tree != nil {
				if root, err := c.tree.Root(); err != nil || root != b.startRoot {
					return c, &Break{Node: n.node, Seq: b.lo, Reason: fmt.Sprintf("the Merkle tree the entries up to %d stored gives root %s, the entries give %s", b.lo-1, b.startRoot, root)}
				}
			}
		}
		if brk := breaks[i+1]; brk != nil {
			if brk.TreeSize > 0 {
				brk.AgreesUpTo = max(brk.AgreesUpTo, c.agreedUpTo())
			}
			return c, brk
		}
		c.absorb(b)
	}
	return c, nil
}

// absorb adds a later segment's tallies and end to c.
func (c *chainCheck) absorb(b *chainCheck) {
	if b.firstSeq == 0 {
		return
	}
	r, o := &c.report, b.report
	r.Entries += o.Entries
	r.Decisions += o.Decisions
	r.Completions += o.Completions
	r.Merged += o.Merged
	r.Checkpoints += o.Checkpoints
	r.Signed += o.Signed
	c.started = true
	c.prevSeq, c.prevHash, c.tree = b.prevSeq, b.prevHash, b.tree
	if b.latestCP != nil && (c.latestCP == nil || b.latestCP.PurgedThrough > c.latestCP.PurgedThrough) {
		c.latestCP, c.latestCPAt = b.latestCP, b.latestCPAt
	}
	c.agreed = append(c.agreed, b.agreed...)
	c.digest.merge(b.digest)
	for seq, h := range b.anchors {
		c.anchors[seq] = h
	}
}

// reporter returns the progress function of the segments: segment i has
// walked done entries (i -1: finished).
func (n *nodeCheck) reporter(before, total int64) func(i int, done int64) {
	var mu sync.Mutex
	walked := map[int]int64{}
	return func(i int, done int64) {
		if n.progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if i >= 0 {
			walked[i] = done
		}
		sum := before
		for _, w := range walked {
			sum += w
		}
		n.progress(Progress{Node: n.node, Done: min(sum, total), Total: total, Finished: i < 0})
	}
}
