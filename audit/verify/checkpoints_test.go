package verify

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/store"
)

// signedLog is a store of node gw-1 grown in batches of 10 entries (6
// decisions, 4 of them completed), with a checkpoint
// signed after each batch, as the gateway would.
type signedLog struct {
	s     store.Store
	loc   string
	key   checkpoint.Key
	raws  []checkpoint.Raw
	sizes []int64
}

func newSignedLog(t *testing.T, loc string, batches int) *signedLog {
	t.Helper()
	l := &signedLog{s: openStore(t, loc), loc: loc}
	var err error
	l.key, _, err = checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	for b := range batches {
		var entries []*chain.Entry
		for i := range 6 {
			rec := audittest.Record(b*6+i, "gw-1")
			entries = append(entries, chain.DecisionEntry(rec, false))
			if i%3 != 2 {
				rec.BytesUp = 10
				entries = append(entries, chain.CompletionEntry(rec))
			}
		}
		l.sign(t, entries)
	}
	return l
}

// sign appends entries and signs a checkpoint of the new head.
func (l *signedLog) sign(t *testing.T, entries []*chain.Entry) {
	t.Helper()
	heads, _, err := l.s.Append(context.Background(), entries, false)
	if err != nil {
		t.Fatal(err)
	}
	h := heads[0]
	msg, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: h.Node, Size: h.Seq, Root: h.Root}, l.key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	l.raws = append(l.raws, checkpoint.Raw{Note: msg, File: "cp", Line: len(l.raws) + 1})
	l.sizes = append(l.sizes, h.Seq)
}

func (l *signedLog) keys(t *testing.T) note.Verifiers {
	v, err := note.NewVerifier(l.key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	return note.VerifierList(v)
}

func (l *signedLog) verify(t *testing.T, opts Options) *Result {
	t.Helper()
	opts.Checkpoints, opts.Keys = l.raws, l.keys(t)
	res, err := Log(context.Background(), l.s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerifyAgainstCheckpoints(t *testing.T) {
	backends(t, func(t *testing.T, _ store.Store, loc string) {
		l := newSignedLog(t, loc, 6) // 10 entries a batch: sizes 10, 20 ... 60
		res := l.verify(t, Options{})
		if !res.OK() {
			t.Fatalf("intact log: %v", res.Break)
		}
		if c := res.Chains[0]; c.Signed != 6 || c.Verified != 60 {
			t.Fatalf("chain %+v: want 6 checkpoints compared, verified up to 60", c)
		}
	})
}

// TestCheckpointsCatchRewrites: three rewrites the hash chain alone does
// not show (each verifies without the checkpoints), and the checkpoints
// do, naming the node and the tree size where store and checkpoint part.
func TestCheckpointsCatchRewrites(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rewrite  func(t *testing.T, loc string)
		treeSize int64
		agrees   int64
		reason   string
	}{
		{"cut tail, head moved back", func(t *testing.T, loc string) { tamper.CutTail(t, loc, "gw-1", 43) }, 50, 40, "were removed"},
		{"middle deleted and re-hashed", func(t *testing.T, loc string) { tamper.DeleteAndRehash(t, loc, "gw-1", 25) }, 30, 20, "changed or deleted"},
		{"emptied store", func(t *testing.T, loc string) { tamper.Empty(t, loc) }, 10, 0, "no entry of node gw-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, _ store.Store, loc string) {
				l := newSignedLog(t, loc, 6)
				tc.rewrite(t, loc)
				plain, err := Log(context.Background(), l.s, Options{})
				if err != nil || !plain.OK() {
					t.Fatalf("without checkpoints the rewrite should pass unseen, yet: %v %v", err, plain.Break)
				}
				res := l.verify(t, Options{})
				if res.OK() {
					t.Fatal("the rewrite was not detected")
				}
				b := res.Break
				if b.Node != "gw-1" || b.TreeSize != tc.treeSize || b.AgreesUpTo != tc.agrees || !strings.Contains(b.Reason, tc.reason) {
					t.Fatalf("break %+v: want node gw-1, tree size %d, agreeing up to %d, %q", b, tc.treeSize, tc.agrees, tc.reason)
				}
			})
		})
	}
}

func TestCheckpointsThatDoNotCount(t *testing.T) {
	backends(t, func(t *testing.T, _ store.Store, loc string) {
		l := newSignedLog(t, loc, 3)
		// A checkpoint whose root was edited in the file: its signature no
		// longer holds, so it proves nothing and is set aside.
		forged := bytes.Clone(l.raws[1].Note)
		root := l.raws[1].Note[bytes.Index(forged, []byte("\n20\n"))+4:]
		root = root[:bytes.IndexByte(root, '\n')]
		forged = bytes.Replace(forged, root, []byte(strings.Repeat("A", 43)+"="), 1)
		// One by a key nobody gave; one that is not a note.
		other, _, _ := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "gw-9")
		stranger, _ := checkpoint.Sign(checkpoint.Checkpoint{Origin: "gw-9", Size: 5}, other.Signer)
		l.raws = append(l.raws, checkpoint.Raw{Note: forged, File: "forged", Line: 1},
			checkpoint.Raw{Note: stranger, File: "stranger", Line: 1}, checkpoint.Raw{Note: []byte("junk\n"), File: "junk", Line: 1})
		res := l.verify(t, Options{})
		if !res.OK() || len(res.Ignored) != 3 || res.Chains[0].Signed != 3 {
			t.Fatalf("break %v, ignored %q, chain %+v", res.Break, res.Ignored, res.Chains)
		}
		// A validly signed checkpoint the store disagrees with is a break
		// whatever else agrees (the gateway signed two trees of size 20).
		var other20 []*chain.Entry
		for i := range 20 {
			other20 = append(other20, chain.DecisionEntry(audittest.Record(100+i, "gw-1"), false))
		}
		fork := newSignedLog(t, filepath.Join(t.TempDir(), "fork.db"), 0)
		fork.key = l.key
		fork.sign(t, other20)
		l.raws = append(l.raws, fork.raws...)
		if res := l.verify(t, Options{}); res.OK() || res.Break.TreeSize != 20 {
			t.Fatalf("a conflicting signed checkpoint: %+v", res.Break)
		}
	})
}

func TestIncrementalVerify(t *testing.T) {
	backends(t, func(t *testing.T, _ store.Store, loc string) {
		l := newSignedLog(t, loc, 6)
		res := l.verify(t, Options{From: map[string]int64{"gw-1": 40}})
		if !res.OK() {
			t.Fatalf("incremental: %v", res.Break)
		}
		if c := res.Chains[0]; c.From != 40 || c.First != 41 || c.Entries != 20 || c.Verified != 60 || res.TagRows != 0 {
			t.Fatalf("chain %+v, %d tag rows: want entries 41 to 60 only, no tag index", c, res.TagRows)
		}
		if _, err := Log(context.Background(), l.s, Options{Checkpoints: l.raws, Keys: l.keys(t), From: map[string]int64{"gw-1": 41}}); err == nil {
			t.Error("--from a size no checkpoint has was accepted")
		}
		// A change after the starting point is found; one before it, left
		// to the full verify, is not looked at.
		tamper.DeleteAndRehash(t, loc, "gw-1", 47)
		if res := l.verify(t, Options{From: map[string]int64{"gw-1": 40}}); res.OK() || res.Break.TreeSize != 50 {
			t.Fatalf("change after the start: %+v", res.Break)
		}
		l2 := newSignedLog(t, filepath.Join(t.TempDir(), "b.db"), 6)
		tamper.DeleteAndRehash(t, l2.loc, "gw-1", 12)
		if res := l2.verify(t, Options{From: map[string]int64{"gw-1": 40}}); res.OK() || !strings.Contains(res.Break.Reason, "rewritten since") {
			t.Fatalf("the stored tree of the verified part no longer has the checkpoint's root: %+v", res.Break)
		}
	})
}

func TestProgress(t *testing.T) {
	l := newSignedLog(t, filepath.Join(t.TempDir(), "a.db"), 2)
	var calls []Progress
	l.verify(t, Options{Progress: func(p Progress) { calls = append(calls, p) }})
	last := calls[len(calls)-1]
	if last.Node != "gw-1" || !last.Finished || last.Done != 20 || last.Total != 20 {
		t.Fatalf("progress %+v", calls)
	}
}

// TestLongChain verifies a chain long enough for the database to stream
// it (the walk, the tag index and the tree reads then overlap on
// PostgreSQL and SQLite alike), in two segments, with checkpoints.
func TestLongChain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	saved, cores := minSegment, segmentCores
	minSegment, segmentCores = 5000, true
	defer func() { minSegment, segmentCores = saved, cores }()
	audittest.Backends(t, func(t *testing.T, loc string) {
		l := &signedLog{s: openStore(t, loc), loc: loc}
		l.key, _, _ = checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "gw-1")
		for b := range 4 {
			var entries []*chain.Entry
			for i := range 5000 {
				entries = append(entries, chain.DecisionEntry(audittest.Record(b*5000+i, "gw-1"), false))
			}
			l.sign(t, entries)
		}
		if res := l.verify(t, Options{}); !res.OK() || res.Chains[0].Verified != 20000 || res.TagRows == 0 {
			t.Fatalf("%v %+v", res.Break, res.Chains)
		}
		if res := l.verify(t, Options{From: map[string]int64{"gw-1": 5000}}); !res.OK() || res.Chains[0].Entries != 15000 {
			t.Fatalf("incremental: %v %+v", res.Break, res.Chains)
		}
		tamper.DeleteAndRehash(t, loc, "gw-1", 17000)
		if res := l.verify(t, Options{}); res.OK() || res.Break.TreeSize != 20000 || res.Break.AgreesUpTo != 15000 {
			t.Fatalf("rewrite in the second segment: %+v", res.Break)
		}
	})
}
