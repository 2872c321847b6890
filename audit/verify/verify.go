// Package verify is the auditor's tamper-evidence check: it walks every
// chain of an audit store and reports the first entry that does not hold.
package verify

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/store"
)

// Options tunes Log.
type Options struct {
	// Anchors are chain heads recorded outside the database (the
	// "audit chain head" log lines): each must still be in the chain with
	// the same hash, which proves nothing was cut from the end or rewritten
	// before it.
	Anchors []chain.Head
}

// Break describes the first entry where a chain does not hold.
type Break struct {
	Node   string `json:"node"`
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
	// Entry is the broken entry as stored, when there is one.
	Entry *chain.Entry `json:"entry,omitempty"`
}

func (b *Break) String() string {
	return fmt.Sprintf("node %s, seq %d: %s", b.Node, b.Seq, b.Reason)
}

// ChainReport summarises one intact chain.
type ChainReport struct {
	Node string `json:"node"`
	// First and Last are the seq of the first and last entry present;
	// entries before First were purged by retention (a checkpoint says so).
	First   int64  `json:"first"`
	Last    int64  `json:"last"`
	Entries int64  `json:"entries"`
	Head    string `json:"head"`
	// Root is the root hash of the chain's Merkle tree (Last leaves).
	Root tlog.Hash `json:"root"`
	// Decisions, Completions and Checkpoints count entries by kind.
	Decisions   int64 `json:"decisions"`
	Completions int64 `json:"completions"`
	Checkpoints int64 `json:"checkpoints"`
}

// Result is the outcome of Log: Break is nil when every chain is
// intact.
type Result struct {
	Chains []ChainReport `json:"chains"`
	Break  *Break        `json:"break,omitempty"`
	// TagRows is the number of tag index rows checked.
	TagRows int64 `json:"tag_rows"`
}

// OK reports whether the log is intact.
func (r *Result) OK() bool { return r.Break == nil }

// Log walks every chain of the store and checks, for each entry in seq
// order: that seq follows the previous one (a deleted or inserted entry
// breaks this), that prev_hash is the previous entry's hash (a reordered
// entry breaks this), that hash is the SHA-256 of the entry's canonical
// encoding (an edited entry breaks this), and that the Merkle tree hashes
// it stores are the ones the chain gives (proofs are built from them). A chain that does not
// start at seq 1 must be explained by a retention checkpoint. Each chain
// must end at the head the store recorded (with the same tree root), and
// at every anchor given.
// Then it checks that the tag index (country, provider, reason filters)
// matches the decision entries, so no filtered query can hide a record.
//
// It stops at the first break. An error is returned only when the store
// cannot be read.
func Log(ctx context.Context, s store.Store, opts Options) (*Result, error) {
	// A gateway may be appending while we read: read one snapshot.
	view, release, err := s.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	s = view
	res := &Result{}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	heads, err := s.Heads(ctx)
	if err != nil {
		return nil, err
	}
	headOf := make(map[string]chain.Head, len(heads))
	for _, h := range heads {
		headOf[h.Node] = h
	}
	anchorsOf := make(map[string][]chain.Head)
	for _, a := range opts.Anchors {
		anchorsOf[a.Node] = append(anchorsOf[a.Node], a)
	}
	for node := range anchorsOf {
		if _, ok := headOf[node]; !ok {
			res.Break = &Break{Node: node, Reason: "an anchor names this node, but the store has no chain for it"}
			return res, nil
		}
	}
	var expected tagDigest
	for _, node := range nodes {
		report, brk, err := verifyChain(ctx, s, node, headOf, anchorsOf[node], &expected)
		if err != nil {
			return nil, err
		}
		if brk != nil {
			res.Break = brk
			return res, nil
		}
		res.Chains = append(res.Chains, report)
	}
	var actual tagDigest
	if err := s.WalkTags(ctx, func(tag, id string) error {
		actual.add(tag, id)
		return nil
	}); err != nil {
		return nil, err
	}
	res.TagRows = actual.count
	if actual != expected {
		res.Break = &Break{Reason: fmt.Sprintf(
			"the tag index (country, provider and reason filters) does not match the records: %d rows, %d expected; filtered queries could hide or invent records",
			actual.count, expected.count)}
		// Find the first decision whose tags differ, to name it.
		if brk, err := locateTagBreak(ctx, s, nodes); err == nil && brk != nil {
			res.Break = brk
		}
	}
	return res, nil
}

func verifyChain(ctx context.Context, s store.Store, node string, headOf map[string]chain.Head, anchors []chain.Head, digest *tagDigest) (ChainReport, *Break, error) {
	report := ChainReport{Node: node}
	var (
		brk        *Break
		prev       *chain.Entry
		firstPrev  string
		latestCP   *chain.PurgeDetail
		latestCPAt int64
		scratch    []byte
		prevSeq    int64
		prevHash   string
		tree       *chain.Tree
		treeErr    error
	)
	anchorAt := make(map[int64]string, len(anchors))
	for _, a := range anchors {
		anchorAt[a.Seq] = a.Hash
	}
	fail := func(e *chain.Entry, format string, args ...any) error {
		cp := *e
		brk = &Break{Node: node, Seq: e.Seq, Reason: fmt.Sprintf(format, args...), Entry: &cp}
		return errStop
	}
	err := walkPipelined(ctx, s, node, func(e *chain.Entry) error {
		if prev == nil {
			report.First = e.Seq
			firstPrev = e.PrevHash
			if e.Seq < 1 {
				return fail(e, "seq %d: a chain starts at 1", e.Seq)
			}
			if e.Seq == 1 && e.PrevHash != chain.GenesisHash {
				return fail(e, "the first entry's prev_hash is %s, not the genesis hash", short(e.PrevHash))
			}
			// Entries before the first were purged: their largest
			// subtrees' hashes were kept for the tree to go on. If they
			// were not, the purge itself is suspect: that is reported
			// first, below.
			tree, treeErr = chain.TreeAt(e.Seq-1, hashReader(ctx, s, node))
		} else {
			if e.Seq != prevSeq+1 {
				if e.Seq > prevSeq+1 {
					return fail(e, "entries %d to %d are missing (deleted?)", prevSeq+1, e.Seq-1)
				}
				return fail(e, "seq %d follows %d (inserted or renumbered?)", e.Seq, prevSeq)
			}
			if e.PrevHash != prevHash {
				return fail(e, "prev_hash %s is not the hash of entry %d (%s): an entry was inserted, deleted or reordered here",
					short(e.PrevHash), prevSeq, short(prevHash))
			}
		}
		if e.Node != node {
			return fail(e, "entry of node %q in the chain of %q", e.Node, node)
		}
		var h string
		h, scratch = e.ComputeHash(scratch)
		if h != e.Hash {
			return fail(e, "the entry was edited: its content hashes to %s, but it carries %s", short(h), short(e.Hash))
		}
		if tree != nil {
			if brk := checkTree(e, tree); brk != "" {
				return fail(e, "%s", brk)
			}
		}
		if want, ok := anchorAt[e.Seq]; ok {
			if want != e.Hash {
				return fail(e, "the anchored head says entry %d has hash %s; the store has %s", e.Seq, short(want), short(e.Hash))
			}
			delete(anchorAt, e.Seq)
		}
		switch e.Kind {
		case chain.KindDecision:
			report.Decisions++
			tags, err := e.Tags()
			if err != nil {
				return fail(e, "unreadable addresses or reasons: %v", err)
			}
			for _, t := range tags {
				digest.add(t, e.ID)
			}
		case chain.KindCompletion:
			report.Completions++
		case chain.KindCheckpoint:
			report.Checkpoints++
			var cp chain.PurgeDetail
			if err := json.Unmarshal([]byte(e.Detail), &cp); err != nil {
				return fail(e, "unreadable checkpoint: %v", err)
			}
			if latestCP == nil || cp.PurgedThrough > latestCP.PurgedThrough {
				latestCP, latestCPAt = &cp, e.Seq
			}
		default:
			return fail(e, "unknown entry kind %q", e.Kind)
		}
		report.Entries++
		if prev == nil {
			prev = new(chain.Entry)
		}
		prevSeq, prevHash = e.Seq, e.Hash
		return nil
	})
	if err != nil && err != errStop {
		return report, nil, err
	}
	if brk != nil {
		return report, brk, nil
	}
	report.Last, report.Head = prevSeq, prevHash
	if tree != nil {
		if report.Root, err = tree.Root(); err != nil {
			return report, nil, err
		}
	}
	head, hasHead := headOf[node]
	switch {
	case prev == nil && hasHead && head.Seq > 0:
		return report, &Break{Node: node, Seq: head.Seq, Reason: fmt.Sprintf("the chain is empty, but its recorded head is entry %d (%s)", head.Seq, short(head.Hash))}, nil
	case prev == nil:
		return report, nil, nil
	}
	if report.First > 1 {
		switch {
		case latestCP == nil:
			return report, &Break{Node: node, Seq: report.First, Reason: fmt.Sprintf("entries 1 to %d are missing and no retention checkpoint accounts for them", report.First-1)}, nil
		case latestCP.PurgedThrough != report.First-1:
			return report, &Break{Node: node, Seq: report.First, Reason: fmt.Sprintf("the chain starts at entry %d, but the latest retention checkpoint (entry %d) purged entries up to %d", report.First, latestCPAt, latestCP.PurgedThrough)}, nil
		case latestCP.LastHash != firstPrev:
			return report, &Break{Node: node, Seq: report.First, Reason: fmt.Sprintf("prev_hash %s of the first entry is not the last purged hash %s named by the retention checkpoint (entry %d)", short(firstPrev), short(latestCP.LastHash), latestCPAt)}, nil
		}
	}
	if treeErr != nil {
		return report, &Break{Node: node, Seq: report.First, Reason: fmt.Sprintf("the Merkle tree of the %d purged entries before entry %d cannot be read: %v", report.First-1, report.First, treeErr)}, nil
	}
	if !hasHead {
		return report, &Break{Node: node, Seq: report.Last, Reason: "the chain has no recorded head"}, nil
	}
	if head.Seq != report.Last || head.Hash != report.Head {
		return report, &Break{Node: node, Seq: report.Last, Reason: fmt.Sprintf("the chain ends at entry %d (%s) but its recorded head is entry %d (%s): entries were removed from the end, or added after it",
			report.Last, short(report.Head), head.Seq, short(head.Hash))}, nil
	}
	if head.Root != report.Root {
		return report, &Break{Node: node, Seq: report.Last, Reason: fmt.Sprintf("the recorded head's Merkle tree root is %s, but the entries give %s", head.Root, report.Root)}, nil
	}
	for seq, h := range anchorAt {
		if latestCP != nil && seq <= latestCP.PurgedThrough {
			continue // purged by retention since it was anchored
		}
		return report, &Break{Node: node, Seq: seq, Reason: fmt.Sprintf("the anchored head %s:%d:%s is not in the chain (it ends at entry %d): entries were removed from the end", node, seq, short(h), report.Last)}, nil
	}
	return report, nil, nil
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

// walkPipelined is s.Walk with the reading in another goroutine, handing
// entries over in batches, so reading the store and hashing run on two
// cores. fn may stop the walk by returning an error.
func walkPipelined(ctx context.Context, s store.Store, node string, fn func(*chain.Entry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	const size = 512
	ch := make(chan []chain.Entry, 4)
	errc := make(chan error, 1)
	go func() {
		defer close(ch)
		batch := make([]chain.Entry, 0, size)
		send := func() error {
			select {
			case ch <- batch:
				batch = make([]chain.Entry, 0, size)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err := s.Walk(ctx, node, func(e *chain.Entry) error {
			batch = append(batch, *e)
			if len(batch) == size {
				return send()
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
			err = send()
		}
		errc <- err
	}()
	var fnErr error
	for batch := range ch {
		if fnErr != nil {
			continue // drain until the reader sees the cancellation
		}
		for i := range batch {
			if fnErr = fn(&batch[i]); fnErr != nil {
				cancel()
				break
			}
		}
	}
	werr := <-errc
	if fnErr != nil {
		return fnErr
	}
	return werr
}

// locateTagBreak finds the first decision whose tag rows differ from what
// its addresses and reasons say. It reads every tag row into memory, so it
// runs only once a mismatch is known.
func locateTagBreak(ctx context.Context, s store.Store, nodes []string) (*Break, error) {
	actual := make(map[string][]string)
	if err := s.WalkTags(ctx, func(tag, id string) error {
		actual[id] = append(actual[id], tag)
		return nil
	}); err != nil {
		return nil, err
	}
	var brk *Break
	for _, node := range nodes {
		err := s.Walk(ctx, node, func(e *chain.Entry) error {
			if e.Kind != chain.KindDecision {
				return nil
			}
			want, _ := e.Tags()
			got := actual[e.ID]
			delete(actual, e.ID)
			if !sameSet(want, got) {
				cp := *e
				brk = &Break{Node: node, Seq: e.Seq, Entry: &cp, Reason: fmt.Sprintf(
					"the tag index has [%s] for this record, its content says [%s]: filtered queries would show it wrongly",
					strings.Join(got, " "), strings.Join(want, " "))}
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return nil, err
		}
		if brk != nil {
			return brk, nil
		}
	}
	for id, tags := range actual {
		return &Break{Reason: fmt.Sprintf("the tag index has rows [%s] for %s, which is no decision in the log: filtered queries would show an invented record", strings.Join(tags, " "), id)}, nil
	}
	return nil, nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
		if seen[x] < 0 {
			return false
		}
	}
	return true
}

// tagDigest is an order-independent digest of a set of (tag, id) rows:
// their count and the sum, modulo 2^256, of each row's SHA-256.
type tagDigest struct {
	count int64
	sum   [4]uint64
}

func (d *tagDigest) add(tag, id string) {
	var buf [256]byte
	b := append(buf[:0], tag...)
	b = append(b, 0)
	b = append(b, id...)
	h := sha256.Sum256(b)
	var carry uint64
	for i := 3; i >= 0; i-- {
		d.sum[i], carry = bits.Add64(d.sum[i], binary.BigEndian.Uint64(h[i*8:]), carry)
	}
	d.count++
}

// errStop ends a walk early; it is never returned to callers.
var errStop = errors.New("stop")

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	if h == "" {
		return `""`
	}
	return h
}

// ParseAnchor reads an anchor as logged: node:seq:hash.
func ParseAnchor(s string) (chain.Head, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash, as in the \"audit chain head\" log line", s)
	}
	rest, hash := s[:i], s[i+1:]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash", s)
	}
	node, seqText := rest[:j], rest[j+1:]
	seq, err := strconv.ParseInt(seqText, 10, 64)
	hash = strings.ToLower(hash)
	if _, herr := hex.DecodeString(hash); err != nil || herr != nil || seq < 1 || node == "" || len(hash) != 64 {
		return chain.Head{}, fmt.Errorf("anchor %q: want node:seq:hash with a positive seq and a 64-digit hash", s)
	}
	return chain.Head{Node: node, Seq: seq, Hash: hash}, nil
}
