package verify

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
)

// A claim is a signed checkpoint found outside the store: what it says,
// read without checking its signature yet. Checking an Ed25519 signature
// costs tens of microseconds, and a month of checkpoints every ten
// seconds is a quarter of a million: the signature of a claim is checked
// only when the verdict rests on it (the first one the store disagrees
// with, the largest one it agrees with).
type claim struct {
	checkpoint.Checkpoint
	raw   checkpoint.Raw
	state int8 // 0 not checked, 1 signature holds, -1 does not
}

// claimSet holds the claims by node, each node's sorted by tree size.
type claimSet struct {
	mu      sync.Mutex // segments check signatures at once
	keys    note.Verifiers
	byNode  map[string][]*claim
	ignored []string
}

// readClaims parses the checkpoints given. A checkpoint counts when its
// origin's key (a key named after the origin) is among the keys and
// signed it; it is ignored, and listed, otherwise.
func readClaims(raws []checkpoint.Raw, keys note.Verifiers) *claimSet {
	cs := &claimSet{keys: keys, byNode: map[string][]*claim{}}
	if keys == nil {
		keys = note.VerifierList()
		cs.keys = keys
	}
	for _, raw := range raws {
		c, err := parseClaim(raw, keys)
		if err != nil {
			cs.ignored = append(cs.ignored, fmt.Sprintf("%s: %v", raw, err))
			continue
		}
		cs.byNode[c.Origin] = append(cs.byNode[c.Origin], c)
	}
	for node, list := range cs.byNode {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Size < list[j].Size })
		cs.byNode[node] = list
	}
	return cs
}

// parseClaim reads a signed note without checking its signatures, and
// finds the origin's among them.
func parseClaim(raw checkpoint.Raw, keys note.Verifiers) (*claim, error) {
	_, err := note.Open(raw.Note, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("not a signed note: %v", err)
	}
	c, err := checkpoint.Parse(unverified.Note.Text)
	if err != nil {
		return nil, err
	}
	for _, sig := range unverified.Note.UnverifiedSigs {
		if sig.Name != c.Origin {
			continue
		}
		if _, err := keys.Verifier(sig.Name, sig.Hash); err == nil {
			return &claim{Checkpoint: c, raw: raw}, nil
		}
	}
	return nil, fmt.Errorf("checkpoint of %s: signed by no key given for %s (--key)", c.Origin, c.Origin)
}

// valid checks the claim's signatures once, and lists it as ignored when
// they do not hold.
func (cs *claimSet) valid(c *claim) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c.state == 0 {
		c.state = 1
		if _, err := checkpoint.Open(c.raw.Note, cs.keys); err != nil {
			c.state = -1
			cs.ignored = append(cs.ignored, fmt.Sprintf("%s: %v", c.raw, err))
		}
	}
	return c.state > 0
}

// at returns the claim of node at a tree size whose signature holds.
func (cs *claimSet) at(node string, size int64) *claim {
	for _, c := range cs.byNode[node] {
		if c.Size == size && cs.valid(c) {
			return c
		}
	}
	return nil
}

// skipClaims passes over the claims of sizes below size: trees of entries
// purged before this walk, or verified by an earlier one.
func (c *chainCheck) skipClaims(size int64) {
	for c.next < len(c.claims) && c.claims[c.next].Size < size {
		c.next++
	}
}

// compareClaims compares the tree, now of size leaves, with the claims of
// that size. A claim the store disagrees with is a break when its
// signature holds (and ignored when it does not).
func (c *chainCheck) compareClaims(size int64) *Break {
	for c.next < len(c.claims) && c.claims[c.next].Size == size {
		cl := c.claims[c.next]
		c.next++
		c.report.Signed++
		root, err := c.tree.Root()
		if err != nil {
			return &Break{Node: c.node, Seq: size, Reason: err.Error()}
		}
		if root == cl.Root {
			c.agreed = append(c.agreed, cl)
			continue
		}
		if !c.keys.valid(cl) {
			c.report.Signed--
			continue
		}
		return &Break{Node: c.node, Seq: size, TreeSize: size, Checkpoint: cl.raw.String(), AgreesUpTo: c.agreedUpTo(), changed: true,
			Reason: fmt.Sprintf("the store disagrees with the checkpoint signed at tree size %d (%s): its tree of the first %d entries has root %s, the checkpoint %s; entries up to %d were changed or deleted after it was signed",
				size, cl.raw, size, root, cl.Root, size)}
	}
	return nil
}

// claimsBeyond checks the claims larger than the chain: each, when its
// signature holds, shows entries the store no longer has. Then it records
// the largest claim the chain agreed with whose signature holds.
func (c *chainCheck) claimsBeyond() *Break {
	size := c.prevSeq
	for ; c.next < len(c.claims); c.next++ {
		cl := c.claims[c.next]
		if !c.keys.valid(cl) {
			continue
		}
		c.report.Signed++
		reason := fmt.Sprintf("the chain ends at entry %d, but the checkpoint signed at tree size %d (%s) shows %d entries: %d were removed after it was signed (the end of the log cut and its head moved back, or entries deleted after entry %d and the chain re-hashed)",
			size, cl.Size, cl.raw, cl.Size, cl.Size-size, c.agreedUpTo())
		if !c.started && c.from == 0 {
			reason = fmt.Sprintf("the store has no entry of node %s, but the checkpoint signed at tree size %d (%s) shows %d entries: they were deleted", c.node, cl.Size, cl.raw, cl.Size)
		}
		return &Break{Node: c.node, Seq: size + 1, TreeSize: cl.Size, Checkpoint: cl.raw.String(), AgreesUpTo: c.agreedUpTo(), Reason: reason}
	}
	for i := len(c.agreed) - 1; i >= 0; i-- {
		if c.keys.valid(c.agreed[i]) {
			c.report.Verified = c.agreed[i].Size
			break
		}
	}
	return nil
}

// agreedUpTo is the largest tree size of a claim the store agreed with so
// far (its signature unchecked: it only places the divergence).
func (c *chainCheck) agreedUpTo() int64 {
	if n := len(c.agreed); n > 0 {
		return c.agreed[n-1].Size
	}
	return c.from
}

func agreement(upTo int64) string {
	if upTo == 0 {
		return ""
	}
	return fmt.Sprintf(" (the store agrees with the checkpoint of tree size %d: the change is after entry %d)", upTo, upTo)
}

// startAfter sets up an incremental walk after the tree size of a claim
// verified earlier: the tree of that size is read from the store's hashes
// and must have the claim's root.
func (c *chainCheck) startAfter(size int64) *Break {
	c.report.From = size
	cl := c.keys.at(c.node, size)
	tree, err := chain.TreeAt(size, hashReader(c.ctx, c.s, c.node))
	if err != nil {
		return &Break{Node: c.node, Seq: size, TreeSize: size, Reason: fmt.Sprintf("the Merkle tree hashes of the first %d entries cannot be read: %v", size, err)}
	}
	root, err := tree.Root()
	if err != nil || root != cl.Root {
		return &Break{Node: c.node, Seq: size, TreeSize: size, Checkpoint: cl.raw.String(),
			Reason: fmt.Sprintf("the tree hashes the store keeps for the first %d entries give root %s, but the checkpoint verified earlier (%s) says %s: the log was rewritten since", size, root, cl.raw, cl.Root)}
	}
	// The proof that entry size is in that tree, for link: read now, as
	// no other query may run while the walk reads.
	if c.linkProof, err = tlog.ProveRecord(size, size-1, hashReader(c.ctx, c.s, c.node)); err != nil {
		return &Break{Node: c.node, Seq: size, TreeSize: size, Reason: fmt.Sprintf("the Merkle tree hashes of the first %d entries cannot be read: %v", size, err)}
	}
	c.tree = tree
	c.agreed = append(c.agreed, cl)
	c.skipClaims(size + 1)
	return nil
}

// link checks the last entry of the verified part, which the next one
// must follow: its content is in the tree the earlier checkpoint signed.
func (c *chainCheck) link(e *chain.Entry) *Break {
	var h string
	h, c.scratch = e.ComputeHash(c.scratch)
	if h != e.Hash {
		return c.broken(e, "the entry was edited: its content hashes to %s, but it carries %s", short(h), short(e.Hash))
	}
	leaf, err := e.LeafHash()
	if err == nil {
		var root tlog.Hash
		if root, err = c.tree.Root(); err == nil {
			err = tlog.CheckRecord(c.linkProof, e.Seq, root, e.Seq-1, leaf)
		}
	}
	if err != nil {
		return c.broken(e, "entry %d is not the one the checkpoint verified earlier covers: %v", e.Seq, err)
	}
	c.started = true
	c.firstSeq = e.Seq
	c.report.First = e.Seq + 1
	c.prevSeq, c.prevHash = e.Seq, e.Hash
	return nil
}
