// Package proof makes and checks the proof that one decision is in the
// audit log, for an auditor who receives that decision alone (for a
// complaint, say) and trusts neither the gateway's database nor its
// administrators. A proof is one JSON file: the record, the entries it was
// stored as (the decision, and the completion with the bytes and duration
// once the exchange ended), an inclusion proof of each in the node's
// Merkle tree (RFC 6962, golang.org/x/mod/sumdb/tlog), and the signed
// checkpoint of that tree. Checking it needs the gateway's verifier key,
// and nothing else: no store, no configuration.
package proof

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
)

// Format names the proof format; a later one gets another name.
const Format = "sovgate-audit-proof/v1"

// Proof is a self-contained proof of one decision.
type Proof struct {
	Format string `json:"format"`
	// Record is the decision as auditors read it. It is derived from the
	// entries, and checked against them.
	Record audit.Stored `json:"record"`
	// Entries are the stored entries of the decision, each with its
	// inclusion proof.
	Entries []Included `json:"entries"`
	// Checkpoint is the signed checkpoint (a signed note, with any
	// witnesses' cosignatures) of the tree the entries are proved in.
	Checkpoint string `json:"checkpoint"`
}

// Included is one entry and its inclusion proof in the checkpoint's tree.
type Included struct {
	Entry chain.Entry `json:"entry"`
	// LeafIndex is the entry's leaf in the tree: its seq minus one.
	LeafIndex int64 `json:"leaf_index"`
	// Inclusion is the audit path from the leaf to the root.
	Inclusion tlog.RecordProof `json:"inclusion"`
}

// Log is what Build reads of the audit store (store.Store has it; give it
// a snapshot, so the entries and the tree hashes are read as of one
// moment).
type Log interface {
	// Entries returns the decision and completion entries of an id.
	Entries(ctx context.Context, id string) ([]*chain.Entry, error)
	// Checkpoint returns the latest signed checkpoint of node whose tree
	// size is at least minSize, or nil.
	Checkpoint(ctx context.Context, node string, minSize int64) ([]byte, error)
	// TreeHashes reads stored tree hashes of node's chain.
	TreeHashes(ctx context.Context, node string, indexes []int64) ([]tlog.Hash, error)
}

// ErrNotFound is returned by Build for an id no decision has.
var ErrNotFound = errors.New("no decision with this id in the audit log")

// Build makes the proof of decision id from the store. The checkpoint is
// the latest signed one that covers the decision's entries: the store's
// copy, or one of extra (checkpoints read from a directory), whichever is
// larger.
func Build(ctx context.Context, view Log, id string, extra []checkpoint.Raw) (*Proof, error) {
	entries, err := view.Entries(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	decision, completion, err := split(entries)
	if err != nil {
		return nil, err
	}
	node, last := decision.Node, decision.Seq
	if completion != nil {
		last = max(last, completion.Seq)
	}
	signed, c, err := covering(ctx, view, node, last, extra)
	if err != nil {
		return nil, err
	}
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return view.TreeHashes(ctx, node, idx) })
	root, err := tlog.TreeHash(c.Size, reader)
	if err != nil {
		return nil, fmt.Errorf("reading the tree of %s at size %d: %w", node, c.Size, err)
	}
	if root != c.Root {
		return nil, fmt.Errorf("the store no longer agrees with the checkpoint of %s at tree size %d (root %s, the store gives %s): run sovgate audit verify", node, c.Size, c.Root, root)
	}
	p := &Proof{Format: Format, Checkpoint: string(signed)}
	if p.Record, err = decision.Record(completion); err != nil {
		return nil, err
	}
	for _, e := range []*chain.Entry{decision, completion} {
		if e == nil {
			continue
		}
		path, err := tlog.ProveRecord(c.Size, e.Seq-1, reader)
		if err != nil {
			return nil, fmt.Errorf("proving entry %d of %s: %w", e.Seq, node, err)
		}
		e.Tree = nil
		p.Entries = append(p.Entries, Included{Entry: *e, LeafIndex: e.Seq - 1, Inclusion: path})
	}
	return p, nil
}

// split tells the decision entry from its completion.
func split(entries []*chain.Entry) (decision, completion *chain.Entry, err error) {
	for _, e := range entries {
		switch {
		case e.Kind == chain.KindDecision && decision == nil:
			decision = e
		case e.Kind == chain.KindCompletion && completion == nil:
			completion = e
		default:
			return nil, nil, fmt.Errorf("decision %s: unexpected %s entry %s/%d", e.ID, e.Kind, e.Node, e.Seq)
		}
	}
	if decision == nil {
		return nil, nil, fmt.Errorf("decision %s: no decision entry, only its completion", entries[0].ID)
	}
	if completion != nil && completion.Node != decision.Node {
		return nil, nil, fmt.Errorf("decision %s: its completion is in the chain of another node", decision.ID)
	}
	return decision, completion, nil
}

// covering finds the latest signed checkpoint of node whose tree holds
// entry last.
func covering(ctx context.Context, s Log, node string, last int64, extra []checkpoint.Raw) ([]byte, checkpoint.Checkpoint, error) {
	var best []byte
	var bestC checkpoint.Checkpoint
	consider := func(msg []byte) {
		text, ok := noteText(msg)
		if !ok {
			return
		}
		c, err := checkpoint.Parse(text)
		if err == nil && c.Origin == node && c.Size >= last && (best == nil || c.Size > bestC.Size) {
			best, bestC = msg, c
		}
	}
	msg, err := s.Checkpoint(ctx, node, last)
	if err != nil {
		return nil, bestC, err
	}
	if msg != nil {
		consider(msg)
	}
	for _, r := range extra {
		consider(r.Note)
	}
	if best == nil {
		return nil, bestC, fmt.Errorf("%w covers entry %d of %s yet: the gateway signs one every audit_checkpoint_interval (10s by default); try again shortly", checkpoint.ErrNoCheckpoint, last, node)
	}
	return best, bestC, nil
}

func noteText(msg []byte) (string, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return "", false
	}
	return string(msg[:i+1]), true
}

// Encode writes a proof as `sovgate audit prove` prints it: indented JSON
// and a final newline. Check accepts exactly these bytes.
func (p *Proof) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Valid is what a proof proved.
type Valid struct {
	Proof *Proof
	// Signed is its checkpoint, with the keys whose signatures held.
	Signed checkpoint.Signed
}

// Check checks a proof with the gateways' (and witnesses') verifier keys:
// the file must be exactly as Encode wrote it (any byte changed fails,
// even one JSON would read the same), the checkpoint signed by the key of
// its node, every entry's hash its content's, every entry in the tree of
// the checkpoint, and the record the one the entries give.
func Check(data []byte, keys note.Verifiers) (*Valid, error) {
	var p Proof
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("not a proof: %v", err)
	}
	canonical, err := p.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canonical, data) {
		return nil, fmt.Errorf("the file is not exactly as sovgate audit prove wrote it (it differs at byte %d): it was edited", firstDiff(canonical, data))
	}
	if p.Format != Format {
		return nil, fmt.Errorf("format %q: this sovgate reads %s", p.Format, Format)
	}
	signed, err := checkpoint.OpenAll([]byte(p.Checkpoint), keys)
	if err != nil {
		return nil, err
	}
	var entries []*chain.Entry
	for i := range p.Entries {
		in := &p.Entries[i]
		if err := checkEntry(in, signed.Checkpoint); err != nil {
			return nil, err
		}
		entries = append(entries, &in.Entry)
	}
	if len(entries) == 0 {
		return nil, errors.New("the proof holds no entry")
	}
	decision, completion, err := split(entries)
	if err != nil {
		return nil, err
	}
	want, err := decision.Record(completion)
	if err != nil {
		return nil, err
	}
	got, _ := json.Marshal(p.Record)
	derived, _ := json.Marshal(want)
	if !bytes.Equal(got, derived) {
		return nil, errors.New("the record shown is not the one its entries hold: it was edited")
	}
	return &Valid{Proof: &p, Signed: signed}, nil
}

// checkEntry checks one entry's hash and its inclusion in c's tree.
func checkEntry(in *Included, c checkpoint.Checkpoint) error {
	e := &in.Entry
	if e.Node != c.Origin {
		return fmt.Errorf("entry %d belongs to node %s, the checkpoint to %s", e.Seq, e.Node, c.Origin)
	}
	if in.LeafIndex != e.Seq-1 || e.Seq < 1 || e.Seq > c.Size {
		return fmt.Errorf("entry %d is not leaf %d of a tree of %d entries", e.Seq, in.LeafIndex, c.Size)
	}
	if h, _ := e.ComputeHash(nil); h != e.Hash {
		return fmt.Errorf("entry %d was edited: its content hashes to %s, it carries %s", e.Seq, h, e.Hash)
	}
	leaf, err := e.LeafHash()
	if err != nil {
		return err
	}
	if err := tlog.CheckRecord(in.Inclusion, c.Size, c.Root, in.LeafIndex, leaf); err != nil {
		return fmt.Errorf("entry %d is not in the tree of the checkpoint (%s at tree size %d): %v", e.Seq, c.Origin, c.Size, err)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
