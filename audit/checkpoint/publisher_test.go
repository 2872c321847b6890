package checkpoint_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/witness"
)

func TestMain(m *testing.M) { os.Exit(audittest.Main(m)) }

type fixture struct {
	s       store.Store
	loc     string
	key     checkpoint.Key
	dir     string
	pub     *checkpoint.Publisher
	logs    *observer.ObservedLogs
	witness *witness.Witness
	wdir    string
	up      atomic.Bool // the witness answers
}

func newFixture(t *testing.T, loc string) *fixture {
	t.Helper()
	s, err := store.Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{s: s, loc: loc, dir: t.TempDir(), wdir: t.TempDir()}
	f.key, _, err = checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "signing.key"), "gw-1")
	if err != nil {
		t.Fatal(err)
	}
	wkey, _, _ := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "witness.key"), "witness-1")
	v, _ := note.NewVerifier(f.key.Verifier)
	f.witness, _ = witness.New(f.wdir, wkey, []note.Verifier{v}, nil)
	f.up.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !f.up.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		f.witness.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	wc, err := checkpoint.NewWitnessClient(srv.URL, wkey.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	f.logs = logs
	f.pub = checkpoint.NewPublisher(s, func() []chain.Head {
		heads, _ := s.Heads(context.Background())
		return heads
	})
	f.pub.Configure(checkpoint.Config{Node: "gw-1", Key: f.key, Dir: f.dir, Witnesses: []*checkpoint.WitnessClient{wc}, Logger: zap.New(core)})
	return f
}

func (f *fixture) add(t *testing.T, n int) {
	t.Helper()
	var entries []*chain.Entry
	for i := range n {
		entries = append(entries, chain.DecisionEntry(audittest.Record(i, "gw-1"), false))
	}
	if _, _, err := f.s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) dirSizes(t *testing.T) []int64 {
	t.Helper()
	raws, _, err := checkpoint.ReadDir(f.dir)
	if err != nil {
		return nil
	}
	v, _ := note.NewVerifier(f.key.Verifier)
	var sizes []int64
	for _, r := range raws {
		s, err := checkpoint.Open(r.Note, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, s.Size)
	}
	return sizes
}

func TestPublisherSignsWritesAndGetsCosigned(t *testing.T) {
	audittest.Backends(t, func(t *testing.T, loc string) {
		f := newFixture(t, loc)
		ctx := context.Background()
		f.pub.Publish(ctx) // an empty log: nothing to sign
		f.add(t, 10)
		f.pub.Publish(ctx)
		f.pub.Publish(ctx) // the tree did not grow: no new checkpoint
		f.add(t, 5)
		f.pub.Publish(ctx)
		if got := f.dirSizes(t); len(got) != 2 || got[0] != 10 || got[1] != 15 {
			t.Fatalf("checkpoint directory holds sizes %v, want [10 15]", got)
		}
		st := f.pub.Stats()
		if st.Signed != 2 || st.Cosigned != 2 || st.WitnessFailures != 0 || st.LastSize != 15 {
			t.Fatalf("stats %+v", st)
		}
		// The store keeps the latest, with the witness's cosignature.
		msg, err := f.s.Checkpoint(ctx, "gw-1", 12)
		if err != nil || msg == nil {
			t.Fatalf("checkpoint in the store: %v", err)
		}
		if s, err := checkpoint.Open(msg, note.VerifierList(mustVerifier(t, f.key.Verifier))); err != nil || s.Size != 15 || len(s.Signers) != 1 {
			t.Fatalf("%+v %v", s, err)
		}
		if n, _ := note.Open(msg, note.VerifierList(mustVerifier(t, f.key.Verifier))); len(n.UnverifiedSigs) != 1 || n.UnverifiedSigs[0].Name != "witness-1" {
			t.Fatalf("the stored checkpoint lacks the witness's cosignature: %q", msg)
		}

		// The witness is down: requests go on, a counter and an error log
		// show it, the next checkpoint retries.
		f.up.Store(false)
		f.add(t, 5)
		f.pub.Publish(ctx)
		f.pub.Publish(ctx)
		st = f.pub.Stats()
		if st.WitnessFailures != 2 || st.WitnessesPending != 1 || st.Signed != 3 {
			t.Fatalf("stats with the witness down: %+v", st)
		}
		if n := f.logs.FilterMessageSnippet("did not cosign").Len(); n != 1 {
			t.Errorf("%d error logs for two failures in a row, want 1 (then every 5 minutes)", n)
		}
		f.up.Store(true)
		f.pub.Publish(ctx) // no new entry: the pending checkpoint is sent again
		if st := f.pub.Stats(); st.Cosigned != 3 || st.WitnessesPending != 0 {
			t.Fatalf("after the witness is back: %+v", st)
		}

		// Cut the last entries and move the head back, as a database
		// administrator could: the publisher refuses to sign the rewritten
		// chain, and says so.
		db := tamper.OpenDB(t, f.loc)
		db.Tamper(t, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq > 12`)
		tree, err := chain.TreeAt(12, hashReader(f.s))
		if err != nil {
			t.Fatal(err)
		}
		root, _ := tree.Root()
		e := lastEntry(t, f.s)
		db.Tamper(t, `UPDATE audit_heads SET seq = 12, hash = ?, root = ? WHERE node = 'gw-1'`, e.Hash, root[:])
		f.add(t, 30) // and the log grows past the old size again
		f.pub.Publish(ctx)
		if st := f.pub.Stats(); st.Conflicts != 1 || st.Signed != 3 {
			t.Fatalf("a rewritten chain was signed: %+v", st)
		}
		if f.logs.FilterMessageSnippet("AUDIT LOG REWRITTEN").Len() != 1 {
			t.Error("no error log for the rewritten chain")
		}
		// A restarted gateway finds the last checkpoint in the directory
		// (off the box) and refuses too.
		restarted := checkpoint.NewPublisher(f.s, func() []chain.Head { heads, _ := f.s.Heads(ctx); return heads })
		restarted.Configure(checkpoint.Config{Node: "gw-1", Key: f.key, Dir: f.dir, Logger: zap.NewNop()})
		db.Tamper(t, `DELETE FROM audit_checkpoints`)
		restarted.Publish(ctx)
		if st := restarted.Stats(); st.Conflicts != 1 || st.Signed != 0 {
			t.Fatalf("restarted: %+v", st)
		}
	})
}

func TestPublisherCloseSignsTheLastCheckpoint(t *testing.T) {
	f := newFixture(t, filepath.Join(t.TempDir(), "audit.db"))
	f.pub.Configure(checkpoint.Config{Node: "gw-1", Key: f.key, Dir: f.dir, Interval: time.Hour, Logger: zap.NewNop()})
	f.pub.Start()
	f.add(t, 7)
	f.pub.Close()
	if got := f.dirSizes(t); len(got) != 1 || got[0] != 7 {
		t.Fatalf("checkpoints at stop: %v", got)
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hashReader(s store.Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		return s.TreeHashes(context.Background(), "gw-1", idx)
	})
}

func lastEntry(t *testing.T, s store.Store) chain.Entry {
	var last chain.Entry
	if err := s.Walk(context.Background(), "gw-1", 1, 0, func(e *chain.Entry) error { last = *e; return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}
