// Package verify is the auditor's tamper-evidence check. It walks every
// chain of an audit store and checks each entry against the one before it
// (the hash chain) and against the Merkle tree, then compares the store
// with the signed checkpoints kept outside it: a store cut, rewritten or
// emptied after the fact no longer matches them. It reports the first
// thing that does not hold.
package verify

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/store"
)

// Options tunes Log.
type Options struct {
	// Anchors are chain heads recorded outside the database (the
	// "audit chain head" log lines): each must still be in the chain with
	// the same hash, which proves nothing was cut from the end or rewritten
	// before it.
	Anchors []chain.Head
	// Checkpoints are signed checkpoints kept outside the database (the
	// audit_checkpoints directory, a witness's): the store must be
	// consistent with every one whose signature holds. They are read but
	// not yet verified: the signature of each checkpoint the verdict rests
	// on is checked with Keys, the others are compared by content only.
	Checkpoints []checkpoint.Raw
	// Keys are the verifier keys of the gateways (and witnesses).
	Keys note.Verifiers
	// From makes the walk of a node's chain incremental: it starts after
	// the entries covered by a signed checkpoint verified earlier, of the
	// tree size given, which must be among Checkpoints. The tag index is
	// then not checked (it takes a full verify).
	From map[string]int64
	// Progress, when set, is called as entries are checked.
	Progress func(Progress)
}

// Progress tells how far a verification is.
type Progress struct {
	Node string
	// Done entries of Total in this node's chain (Total is the chain's
	// recorded head, or the largest checkpoint's size).
	Done, Total int64
	// Finished is set on the last call for the node.
	Finished bool
}

// Break describes the first place where the log does not hold.
type Break struct {
	Node   string `json:"node"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
	// TreeSize, when the store disagrees with a signed checkpoint, is
	// that checkpoint's tree size, and Checkpoint says where it was found.
	TreeSize   int64  `json:"tree_size,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// AgreesUpTo is the largest tree size of a checkpoint the store still
	// agrees with: the divergence is between it and TreeSize.
	AgreesUpTo int64 `json:"agrees_up_to,omitempty"`
	// Entry is the broken entry as stored, when there is one.
	Entry *chain.Entry `json:"entry,omitempty"`
	// changed marks a checkpoint the store's tree disagrees with (rather
	// than one larger than the chain).
	changed bool
}

func (b *Break) String() string {
	return fmt.Sprintf("node %s, seq %d: %s", b.Node, b.Seq, b.Reason)
}

// ChainReport summarises one intact chain.
type ChainReport struct {
	Node string `json:"node"`
	// First and Last are the seq of the first and last entry checked;
	// entries before First were purged by retention (a checkpoint entry
	// says so), or verified earlier (incremental verify).
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Entries int64  `json:"entries"`
	Head    string `json:"head"`
	// Root is the root hash of the chain's Merkle tree (Last leaves).
	Root tlog.Hash `json:"root"`
	// Decisions, Completions and Checkpoints count entries by kind
	// (Checkpoints are retention checkpoint entries).
	Decisions   int64 `json:"decisions"`
	Completions int64 `json:"completions"`
	Checkpoints int64 `json:"checkpoints"`
	// Merged counts the decision entries (among Decisions) that hold their
	// completion: an exchange that ended before its decision was written
	// is one entry (see chain.Merge).
	Merged int64 `json:"merged,omitempty"`
	// Signed is the number of signed checkpoints the chain was compared
	// with, and Verified the largest one it agrees with whose signature
	// was checked (0 if none): an incremental verify can start there.
	Signed   int   `json:"signed_checkpoints"`
	Verified int64 `json:"verified_tree_size,omitempty"`
	// From is the tree size an incremental verify started after.
	From int64 `json:"from,omitempty"`
}

// Result is the outcome of Log: Break is nil when every chain is
// intact.
type Result struct {
	Chains []ChainReport `json:"chains"`
	Break  *Break        `json:"break,omitempty"`
	// TagRows is the number of tag index rows checked (none in an
	// incremental verify).
	TagRows int64 `json:"tag_rows"`
	// Ignored are the checkpoints given that could not count: unreadable,
	// signed by no known key, or with a signature that does not hold.
	Ignored []string `json:"ignored_checkpoints,omitempty"`
}

// OK reports whether the log is intact.
func (r *Result) OK() bool { return r.Break == nil }

// Log walks every chain of the store and checks, for each entry in seq
// order: that seq follows the previous one (a deleted or inserted entry
// breaks this), that prev_hash is the previous entry's hash (a reordered
// entry breaks this), that hash is the SHA-256 of the entry's canonical
// encoding (an edited entry breaks this), and that the Merkle tree hashes
// it stores are the ones the chain gives (proofs are built from them). A
// chain that does not start at seq 1 must be explained by a retention
// checkpoint entry. Each chain must end at the head the store recorded
// (with the same tree root), and at every anchor given.
//
// Then the store must agree with every signed checkpoint given: the root
// of its tree at each checkpoint's size must be the checkpoint's, and no
// checkpoint may be larger than the chain. A tail cut with the head moved
// back, an entry deleted and the chain re-hashed after it, and an emptied
// store all fail here, naming the node and the tree size.
//
// Last, it checks that the tag index (country, provider, reason filters)
// matches the decision entries, so no filtered query can hide a record.
//
// It stops at the first break. An error is returned only when the store
// cannot be read, or an option is wrong.
func Log(ctx context.Context, s store.Store, opts Options) (*Result, error) {
	// A gateway may be appending while we read: read one snapshot.
	original := s
	view, release, err := s.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	s = view
	res := &Result{}
	claims := readClaims(opts.Checkpoints, opts.Keys)
	defer func() { res.Ignored = claims.ignored }() // once every segment is done
	nodes, headOf, err := chainsOf(ctx, s, claims)
	if err != nil {
		return nil, err
	}
	anchorsOf := make(map[string][]chain.Head)
	for _, a := range opts.Anchors {
		if _, ok := headOf[a.Node]; !ok {
			res.Break = &Break{Node: a.Node, Reason: "an anchor names this node, but the store has no chain for it"}
			return res, nil
		}
		anchorsOf[a.Node] = append(anchorsOf[a.Node], a)
	}
	for node, size := range opts.From {
		if claims.at(node, size) == nil {
			return nil, fmt.Errorf("--from %s:%d: no signed checkpoint of %s at tree size %d among the checkpoints given", node, size, node, size)
		}
	}
	// Reading rows costs more than checking them: the tag index is read
	// from the snapshot while the chains are read, at once, from read
	// transactions of their own (their entries are bounded by the
	// snapshot's last ones, which do not change), a long chain in two
	// segments (see minSegment).
	spans := make(map[string][2]int64, len(nodes))
	for _, node := range nodes {
		first, last, err := s.Span(ctx, node)
		if err != nil {
			return nil, err
		}
		spans[node] = [2]int64{first, last}
	}
	readers, concurrent := []store.Store{s, s}, true
	for i := range readers {
		view, release, err := original.Snapshot(ctx)
		if err != nil {
			// One transaction only: everything in turn, from the snapshot.
			readers, concurrent = []store.Store{s, s}, false
			break
		}
		readers[i] = view
		defer release()
	}
	if concurrent && !sameSpans(ctx, readers, spans) {
		// A retention purge committed between the snapshot and the
		// readers' transactions: they lack entries the snapshot has.
		// Read everything from the snapshot, in turn.
		readers, concurrent = []store.Store{s, s}, false
	}
	tags := make(chan tagDigest, 1)
	tagsErr := make(chan error, 1)
	walkTags := func() {
		d, err := digestTags(ctx, s)
		tags <- d
		tagsErr <- err
	}
	full := len(opts.From) == 0
	if full && concurrent {
		go walkTags()
	}
	var expected tagDigest
	for _, node := range nodes {
		n := &nodeCheck{ctx: ctx, s: s, readers: readers, segments: concurrent, node: node, first: spans[node][0], last: spans[node][1],
			claims: claims.byNode[node], keys: claims, from: opts.From[node], anchors: anchorsOf[node], progress: opts.Progress}
		n.head, n.hasHead = headOf[node]
		report, brk, digest, err := n.run()
		if err != nil || brk != nil {
			if full && concurrent {
				<-tagsErr // the tag walk uses the snapshot: let it end first
			}
			if err != nil {
				return nil, err
			}
			res.Break = brk
			return res, nil
		}
		expected.merge(digest)
		res.Chains = append(res.Chains, report)
	}
	if !full {
		return res, nil
	}
	if !concurrent {
		walkTags()
	}
	actual := <-tags
	if err := <-tagsErr; err != nil {
		return nil, err
	}
	res.TagRows = actual.count
	res.Break = checkTags(ctx, s, nodes, expected, actual)
	return res, nil
}

// sameSpans tells whether every reader sees each chain as the snapshot
// does. Appends cannot change what a reader sees (entries are read up to
// the snapshot's last), but a purge removes entries from the front.
func sameSpans(ctx context.Context, readers []store.Store, spans map[string][2]int64) bool {
	for _, r := range readers {
		for node, span := range spans {
			first, _, err := r.Span(ctx, node)
			if err != nil || first != span[0] {
				return false
			}
		}
	}
	return true
}

// chainsOf lists the chains to check: every node of the store, and every
// node a signed checkpoint names (an emptied store has none left), with
// the heads the store recorded.
func chainsOf(ctx context.Context, s store.Store, claims *claimSet) ([]string, map[string]chain.Head, error) {
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	heads, err := s.Heads(ctx)
	if err != nil {
		return nil, nil, err
	}
	headOf := make(map[string]chain.Head, len(heads))
	for _, h := range heads {
		headOf[h.Node] = h
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n] = true
	}
	for n := range claims.byNode {
		if !seen[n] {
			nodes = append(nodes, n)
		}
	}
	sort.Strings(nodes)
	return nodes, headOf, nil
}
