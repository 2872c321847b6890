package proof

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
)

// memLog is an audit log in memory: the chains, every stored tree hash,
// and signed checkpoints; what Build reads of a store. The round trip
// through a real store, SQLite and PostgreSQL, is in the e2e tests (sovgate
// audit prove and verify-proof); without a database here, the fuzz target
// runs at full speed.
type memLog struct {
	heads       map[string]chain.Head
	trees       map[string]*chain.Tree
	hashes      map[string][]tlog.Hash
	entries     []*chain.Entry
	checkpoints map[string][][]byte
}

func newMemLog() *memLog {
	return &memLog{heads: map[string]chain.Head{}, trees: map[string]*chain.Tree{}, hashes: map[string][]tlog.Hash{}, checkpoints: map[string][][]byte{}}
}

func (m *memLog) append(t testing.TB, entries ...*chain.Entry) chain.Head {
	t.Helper()
	node := entries[0].Node
	head, ok := m.heads[node]
	if !ok {
		head, m.trees[node] = chain.Head{Node: node, Hash: chain.GenesisHash}, &chain.Tree{}
	}
	head, err := chain.Extend(head, m.trees[node], entries)
	if err != nil {
		t.Fatal(err)
	}
	m.heads[node] = head
	for _, e := range entries {
		for l := 0; ; l++ {
			h, ok := chain.StoredHash(e.Tree, l)
			if !ok {
				break
			}
			m.hashes[node] = append(m.hashes[node], h)
		}
	}
	m.entries = append(m.entries, entries...)
	return head
}

func (m *memLog) Entries(_ context.Context, id string) ([]*chain.Entry, error) {
	var out []*chain.Entry
	for _, e := range m.entries {
		if e.ID == id && e.Kind != chain.KindCheckpoint {
			c := *e
			out = append(out, &c)
		}
	}
	return out, nil
}

func (m *memLog) Checkpoint(_ context.Context, node string, minSize int64) ([]byte, error) {
	list := m.checkpoints[node]
	for i := len(list) - 1; i >= 0; i-- {
		text, _ := noteText(list[i])
		if c, _ := checkpoint.Parse(text); c.Size >= minSize {
			return list[i], nil
		}
	}
	return nil, nil
}

func (m *memLog) TreeHashes(_ context.Context, node string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		if idx >= int64(len(m.hashes[node])) {
			return nil, errors.New("no such tree hash")
		}
		out[i] = m.hashes[node][idx]
	}
	return out, nil
}

type fixture struct {
	log  *memLog
	key  checkpoint.Key
	recs []*audit.Record
}

// newFixture is a log of 300 decisions of gw-1 (every third completed,
// appended in batches of 10), and 40 of gw-2 in between, with a checkpoint
// of gw-1 signed after the first 200 decisions and one at the end; the key
// is gw-1's.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{log: newMemLog()}
	var err error
	f.key, _, err = checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < 300; start += 10 {
		var entries []*chain.Entry
		for i := start; i < start+10; i++ {
			r := audittest.Record(i, "gw-1")
			f.recs = append(f.recs, r)
			entries = append(entries, chain.DecisionEntry(r, false))
			if i%3 == 0 {
				fin := *r
				fin.BytesUp, fin.BytesDown, fin.DurationUS = 1200, 34000, 3_000_000
				entries = append(entries, chain.CompletionEntry(&fin))
			}
			if i%7 == 0 {
				f.log.append(t, chain.DecisionEntry(audittest.Record(i, "gw-2"), false))
			}
		}
		h := f.log.append(t, entries...)
		if start+10 == 200 || start+10 == 300 {
			msg, _ := checkpoint.Sign(checkpoint.Checkpoint{Origin: "gw-1", Size: h.Seq, Root: h.Root}, f.key.Signer)
			f.log.checkpoints["gw-1"] = append(f.log.checkpoints["gw-1"], msg)
		}
	}
	return f
}

func (f *fixture) keys(t *testing.T) note.Verifiers {
	v, err := note.NewVerifier(f.key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	return note.VerifierList(v)
}

func (f *fixture) prove(t testing.TB, id string) []byte {
	t.Helper()
	p, err := Build(context.Background(), f.log, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestProveAndCheckRoundTrip(t *testing.T) {
	{
		f := newFixture(t)
		for _, i := range []int{0, 1, 3, 150, 299} {
			rec := f.recs[i]
			v, err := Check(f.prove(t, rec.ID), f.keys(t))
			if err != nil {
				t.Fatalf("decision %d: %v", i, err)
			}
			got := v.Proof.Record
			if got.ID != rec.ID || got.Host != rec.Host || got.Verdict != rec.Verdict || got.Completed != (i%3 == 0) {
				t.Fatalf("decision %d: record %+v", i, got)
			}
			if want := 1 + map[bool]int{true: 1}[i%3 == 0]; len(v.Proof.Entries) != want {
				t.Fatalf("decision %d: %d entries, want %d", i, len(v.Proof.Entries), want)
			}
			if v.Signed.Size < v.Proof.Entries[0].Entry.Seq || v.Signed.Signers[0] != "gw-1" {
				t.Fatalf("checkpoint %+v", v.Signed)
			}
		}
		if _, err := Build(context.Background(), f.log, "no-such-id", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		// A decision of gw-2, whose checkpoints this log does not have.
		if _, err := Build(context.Background(), f.log, f.log.entries[0].ID, nil); !errors.Is(err, checkpoint.ErrNoCheckpoint) {
			t.Fatalf("no checkpoint: %v", err)
		}
		// A proof is against the latest checkpoint that covers the
		// decision; one from a directory counts too.
		early, _ := Build(context.Background(), f.log, f.recs[5].ID, nil)
		if text, _ := noteText([]byte(early.Checkpoint)); !strings.Contains(text, "\n") {
			t.Fatal(text)
		}
		if _, err := Build(context.Background(), f.log, f.recs[299].ID, []checkpoint.Raw{{Note: f.log.checkpoints["gw-1"][0]}}); err != nil {
			t.Fatal(err)
		}
		// A store that no longer agrees with its checkpoint gives no proof.
		hashes := f.log.hashes["gw-1"]
		hashes[len(hashes)-1][0] ^= 1
		if _, err := Build(context.Background(), f.log, f.recs[5].ID, nil); err == nil || !strings.Contains(err.Error(), "no longer agrees") {
			t.Fatalf("a rewritten store: %v", err)
		}
	}
}

// TestAnyAlteredByteFails flips every byte of a proof, in three ways: no
// altered proof is valid.
func TestAnyAlteredByteFails(t *testing.T) {
	f := newFixture(t)
	data := f.prove(t, f.recs[3].ID) // a completed decision: two entries
	keys := f.keys(t)
	if _, err := Check(data, keys); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			if _, err := Check(bad, keys); err == nil {
				t.Fatalf("byte %d (%q) xor %#x: the altered proof is valid", i, data[i], x)
			}
		}
	}
	for _, cut := range []int{1, len(data) / 2, len(data) - 1} {
		if _, err := Check(data[:cut], keys); err == nil {
			t.Fatalf("a proof cut at %d is valid", cut)
		}
	}
	if _, err := Check(append(bytes.Clone(data), '\n'), keys); err == nil {
		t.Fatal("a proof with a byte added is valid")
	}
	t.Logf("%d bytes, each altered 3 ways: every one fails", len(data))
}

// TestEditsThatStillParse makes changes a forger would make, each written
// back as prove writes it: every one fails for what it is.
func TestEditsThatStillParse(t *testing.T) {
	f := newFixture(t)
	data := f.prove(t, f.recs[3].ID)
	keys := f.keys(t)
	for _, tc := range []struct {
		name, want string
		edit       func(p *Proof)
	}{
		{"verdict in the record", "record shown", func(p *Proof) { p.Record.Verdict = "allow" }},
		{"verdict in the entry", "was edited", func(p *Proof) { p.Entries[0].Entry.Verdict = "allow" }},
		{"entry re-hashed", "not in the tree", func(p *Proof) {
			e := &p.Entries[0].Entry
			e.Host = "innocent.example"
			e.Hash, _ = e.ComputeHash(nil)
			p.Record.Host = e.Host
		}},
		{"leaf index", "not leaf", func(p *Proof) { p.Entries[0].LeafIndex++ }},
		{"completion dropped", "record shown", func(p *Proof) { p.Entries = p.Entries[:1] }},
		{"checkpoint root", "signature", func(p *Proof) {
			p.Checkpoint = strings.Replace(p.Checkpoint, "\n"+strings.Split(p.Checkpoint, "\n")[2]+"\n", "\n"+strings.Repeat("A", 43)+"=\n", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Proof
			if err := json.Unmarshal(data, &p); err != nil {
				t.Fatal(err)
			}
			tc.edit(&p)
			edited, _ := p.Encode()
			_, err := Check(edited, keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error about %q", err, tc.want)
			}
		})
	}
	// Another gateway's key, or a key of the same name, proves nothing.
	other, _, _ := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "gw-1")
	v, _ := note.NewVerifier(other.Verifier)
	if _, err := Check(data, note.VerifierList(v)); err == nil {
		t.Fatal("a proof checked with another key is valid")
	}
}

func FuzzCheck(f *testing.F) {
	fx := newFixture(f)
	data := fx.prove(f, fx.recs[3].ID)
	f.Add(data)
	f.Add([]byte("{}"))
	v, _ := note.NewVerifier(fx.key.Verifier)
	keys := note.VerifierList(v)
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := Check(in, keys); err == nil && !bytes.Equal(in, data) {
			t.Fatalf("another input than the proof is valid: %q", in)
		}
	})
}

// TestCosignedProof: a proof whose checkpoint a witness cosigned holds
// with the gateway's key and the witness's; with the gateway's alone the
// cosignature cannot be checked, so the proof is not taken (a change to
// it would go unseen), and the witness is named.
func TestCosignedProof(t *testing.T) {
	f := newFixture(t)
	wk, _, _ := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "w"), "witness-dsi")
	list := f.log.checkpoints["gw-1"]
	text, _ := noteText(list[len(list)-1])
	cosig, _ := note.Sign(&note.Note{Text: text}, wk.Signer)
	list[len(list)-1] = checkpoint.AddSignatures(list[len(list)-1], cosig[len(text)+1:])
	data := f.prove(t, f.recs[250].ID)
	gw, _ := note.NewVerifier(f.key.Verifier)
	w, _ := note.NewVerifier(wk.Verifier)
	v, err := Check(data, note.VerifierList(gw, w))
	if err != nil || len(v.Signed.Signers) != 2 || v.Signed.Signers[1] != "witness-dsi" {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := Check(data, note.VerifierList(gw)); err == nil || !strings.Contains(err.Error(), "witness-dsi") {
		t.Fatalf("with the gateway's key alone: %v", err)
	}
	at := bytes.Index(data, []byte("— witness-dsi ")) + 30
	bad := bytes.Clone(data)
	bad[at] ^= 1
	if _, err := Check(bad, note.VerifierList(gw, w)); err == nil {
		t.Fatal("an altered cosignature is valid")
	}
}
