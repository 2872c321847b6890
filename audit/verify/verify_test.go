package verify

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/audittest/tamper"
	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/audit/store"
)

func TestMain(m *testing.M) { os.Exit(audittest.Main(m)) }

// backends runs a test against a real SQLite file and a real PostgreSQL
// database, each chain checked whole, then in two segments at once (as a
// long chain is) cut in its middle.
func backends(t *testing.T, fn func(t *testing.T, s store.Store, location string)) {
	for _, seg := range []struct {
		name string
		min  int64
	}{{"whole", minSegment}, {"two segments", 3}} {
		t.Run(seg.name, func(t *testing.T) {
			saved, cores := minSegment, segmentCores
			minSegment, segmentCores = seg.min, true
			defer func() { minSegment, segmentCores = saved, cores }()
			audittest.Backends(t, func(t *testing.T, loc string) { fn(t, openStore(t, loc), loc) })
		})
	}
}

func openStore(t testing.TB, location string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendRecords(t testing.TB, s store.Store, recs ...*audit.Record) {
	t.Helper()
	entries := make([]*chain.Entry, len(recs))
	for i, r := range recs {
		entries[i] = chain.DecisionEntry(r, false)
	}
	if _, _, err := s.Append(context.Background(), entries, false); err != nil {
		t.Fatal(err)
	}
}

// tamperSQL changes the database behind the store's back, as someone with
// write access to it could.
func tamperSQL(t *testing.T, location, query string, args ...any) {
	t.Helper()
	tamper.OpenDB(t, location).Tamper(t, query, args...)
}

// entryAt reads one entry of a chain.
func entryAt(t *testing.T, s store.Store, node string, seq int64) chain.Entry {
	t.Helper()
	var found chain.Entry
	if err := s.Walk(context.Background(), node, 1, 0, func(e *chain.Entry) error {
		if e.Seq == seq {
			found = *e
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found.Seq != seq {
		t.Fatalf("no entry %d in the chain of %s", seq, node)
	}
	return found
}

func TestVerifyFindsAnEditedException(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store, loc string) {
		ctx := context.Background()
		rec := audittest.Record(1, "gw-1")
		rec.Verdict, rec.Action = audit.Allow, audit.Forwarded
		rec.Reasons = []audit.Code{audit.CodeExceptionApplied, audit.CodeResidencyNonEU}
		rec.Exceptions = []string{"derog-2026-014"}
		appendRecords(t, s, rec, audittest.Record(2, "gw-1"))
		page, err := s.Query(ctx, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if got := page.Records[1]; got.ID != rec.ID || len(got.Exceptions) != 1 || got.Exceptions[0] != "derog-2026-014" {
			t.Fatalf("record %+v, want exception derog-2026-014", got.Record)
		}
		if len(page.Records[0].Exceptions) != 0 {
			t.Errorf("a record without exception shows %v", page.Records[0].Exceptions)
		}
		if res, err := Log(ctx, s, Options{}); err != nil || !res.OK() {
			t.Fatalf("verify: %v %+v", err, res)
		}
		// The exception is covered by the chain: editing it is tampering.
		tamperSQL(t, loc, `UPDATE audit_log SET detail = ? WHERE id = ? AND kind = 'decision'`, `{"exceptions":["forged"]}`, rec.ID)
		if res, err := Log(ctx, s, Options{}); err != nil || res.OK() {
			t.Fatalf("verify after editing the exception: %v ok=%v", err, res.OK())
		}
	})
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, s store.Store, loc string, recs []*audit.Record)
		seq    int64
		reason string
	}{
		{"edit a verdict", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `UPDATE audit_log SET verdict = 'allow', action = 'forwarded' WHERE node = 'gw-1' AND seq = 5`)
		}, 5, "edited"},
		{"edit and rehash one entry", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			e := entryAt(t, s, "gw-1", 5)
			e.Host = "innocent.example"
			h, _ := e.ComputeHash(nil)
			tamperSQL(t, loc, `UPDATE audit_log SET host = ?, hash = ? WHERE node = 'gw-1' AND seq = 5`, e.Host, h)
		}, 5, "Merkle tree hash"},
		{"edit and rehash one entry and its tree hashes", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			e := entryAt(t, s, "gw-1", 5)
			e.Host = "innocent.example"
			e.Hash, _ = e.ComputeHash(nil)
			tree, err := chain.TreeAt(4, hashReader(context.Background(), s, "gw-1"))
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := e.LeafHash()
			hashes, _ := tree.Append(leaf)
			tamperSQL(t, loc, `UPDATE audit_log SET host = ?, hash = ?, tree = ? WHERE node = 'gw-1' AND seq = 5`, e.Host, e.Hash, chain.EncodeHashes(hashes))
		}, 6, "prev_hash"},
		{"edit the tree hashes", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `UPDATE audit_log SET tree = ? WHERE node = 'gw-1' AND seq = 4`, make([]byte, 3*32))
		}, 4, "Merkle tree"},
		{"delete an entry", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq = 4`)
		}, 5, "missing"},
		{"insert an entry", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `UPDATE audit_log SET seq = seq + 1000 WHERE node = 'gw-1' AND seq >= 6`)
			tamperSQL(t, loc, `UPDATE audit_log SET seq = seq - 999 WHERE node = 'gw-1' AND seq >= 1006`)
			forged := chain.DecisionEntry(audittest.Record(99, "gw-1"), false)
			forged.Seq, forged.PrevHash = 6, "f00d"
			forged.Hash, _ = forged.ComputeHash(nil)
			db := tamper.OpenDB(t, loc)
			db.Tamper(t, `INSERT INTO audit_log (node, seq, kind, id, time, app, host, verdict, action, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				forged.Node, forged.Seq, forged.Kind, forged.ID, forged.Time, forged.App, forged.Host, forged.Verdict, forged.Action, forged.PrevHash, forged.Hash)
		}, 6, "prev_hash"},
		{"reorder two entries", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `UPDATE audit_log SET seq = -1 WHERE node = 'gw-1' AND seq = 3`)
			tamperSQL(t, loc, `UPDATE audit_log SET seq = 3 WHERE node = 'gw-1' AND seq = 7`)
			tamperSQL(t, loc, `UPDATE audit_log SET seq = 7 WHERE node = 'gw-1' AND seq = -1`)
		}, 3, "prev_hash"},
		{"cut the end", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq >= 9`)
		}, 8, "recorded head"},
		{"delete the first entries", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq <= 2`)
		}, 3, "no retention checkpoint"},
		{"drop a tag row", func(t *testing.T, s store.Store, loc string, recs []*audit.Record) {
			tamperSQL(t, loc, `DELETE FROM audit_tags WHERE id = ? AND tag = 'country:US'`, recs[1].ID)
		}, 0, "tag index"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, func(t *testing.T, s store.Store, loc string) {
				var recs []*audit.Record
				for i := range 10 {
					recs = append(recs, audittest.Record(i, "gw-1"))
				}
				appendRecords(t, s, recs...)
				appendRecords(t, s, audittest.Record(50, "gw-2"))
				ctx := context.Background()
				if res, err := Log(ctx, s, Options{}); err != nil || !res.OK() {
					t.Fatalf("before tampering: %v %+v", err, res.Break)
				}
				tc.change(t, s, loc, recs)
				res, err := Log(ctx, s, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if res.OK() {
					t.Fatal("tampering not detected")
				}
				if !strings.Contains(res.Break.Reason, tc.reason) {
					t.Errorf("break %q does not mention %q", res.Break, tc.reason)
				}
				if tc.seq != 0 && (res.Break.Node != "gw-1" || res.Break.Seq != tc.seq) {
					t.Errorf("break at %s/%d, want gw-1/%d: %s", res.Break.Node, res.Break.Seq, tc.seq, res.Break.Reason)
				}
			})
		})
	}
}

func TestVerifyAnchors(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store, loc string) {
		ctx := context.Background()
		for i := range 5 {
			appendRecords(t, s, audittest.Record(i, "gw-1"))
		}
		heads, _ := s.Heads(ctx)
		anchor := heads[0]
		if res, err := Log(ctx, s, Options{Anchors: []chain.Head{anchor}}); err != nil || !res.OK() {
			t.Fatalf("anchored verify: %v %+v", err, res.Break)
		}
		// Cut the last two entries and fix up the head: only the anchor
		// can tell.
		h3 := entryAt(t, s, "gw-1", 3).Hash
		tree3, err := chain.TreeAt(3, hashReader(ctx, s, "gw-1"))
		if err != nil {
			t.Fatal(err)
		}
		root3, _ := tree3.Root()
		tamperSQL(t, loc, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq > 3`)
		tamperSQL(t, loc, `UPDATE audit_heads SET seq = 3, hash = ?, root = ? WHERE node = 'gw-1'`, h3, root3[:])
		tamperSQL(t, loc, `DELETE FROM audit_tags WHERE id NOT IN (SELECT id FROM audit_log)`)
		if res, _ := Log(ctx, s, Options{}); !res.OK() {
			t.Fatalf("without the anchor the cut is invisible, yet: %v", res.Break)
		}
		res, err := Log(ctx, s, Options{Anchors: []chain.Head{anchor}})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() || !strings.Contains(res.Break.Reason, "anchored head") {
			t.Fatalf("break %+v", res.Break)
		}
	})
}

func TestPurgeKeepsTheRestVerifiable(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store, loc string) {
		ctx := context.Background()
		var recs []*audit.Record
		for i := range 40 {
			recs = append(recs, audittest.Record(i, "gw-1"))
		}
		appendRecords(t, s, recs...)
		cutoff := recs[25].Time
		cp, head, err := s.Purge(ctx, "gw-1", cutoff, 10)
		if err != nil || cp == nil {
			t.Fatalf("purge: %v %v", cp, err)
		}
		if cp.Seq != 41 || cp.Kind != chain.KindCheckpoint {
			t.Errorf("checkpoint %+v", cp)
		}
		if heads, _ := s.Heads(ctx); head.Seq != 41 || head.Hash != cp.Hash || head != heads[0] {
			t.Errorf("purge returned head %+v, the store has %+v", head, heads)
		}
		cp2, _, err := s.Purge(ctx, "gw-1", cutoff, 1000)
		if err != nil || cp2 == nil {
			t.Fatalf("second purge: %v %v", cp2, err)
		}
		if again, _, err := s.Purge(ctx, "gw-1", cutoff, 1000); err != nil || again != nil {
			t.Fatalf("third purge found more: %v %v", again, err)
		}
		res, err := Log(ctx, s, Options{})
		if err != nil || !res.OK() {
			t.Fatalf("verify after purge: %v %+v", err, res.Break)
		}
		if c := res.Chains[0]; c.First != 26 || c.Decisions != 15 || c.Checkpoints != 2 {
			t.Errorf("chain %+v", c)
		}
		page, err := s.Query(ctx, store.Filter{Limit: 1000})
		if err != nil || len(page.Records) != 15 {
			t.Fatalf("%d records after purge (%v)", len(page.Records), err)
		}
		if page, _ := s.Query(ctx, store.Filter{Country: "US", Until: cutoff}); len(page.Records) != 0 {
			t.Errorf("purged records still found by tag: %d", len(page.Records))
		}
		// Deleting one more entry at the start is not retention.
		tamperSQL(t, loc, `DELETE FROM audit_log WHERE node = 'gw-1' AND seq = 26`)
		res, err = Log(ctx, s, Options{})
		if err != nil || res.OK() || !strings.Contains(res.Break.Reason, "checkpoint") {
			t.Fatalf("verify after deleting past the checkpoint: %v %+v", err, res.Break)
		}
	})
}

// TestVerifyWhileWriting verifies while a writer appends: what was appended
// after verification started is not taken for tampering.
func TestVerifyWhileWriting(t *testing.T) {
	backends(t, func(t *testing.T, s store.Store, _ string) {
		w := ingest.NewWriter(s, ingest.WriterConfig{SpoolDir: t.TempDir(), HeadInterval: -1})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		r := w.Recorder(ingest.RecorderConfig{})
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rec := audittest.Record(i, "gw-1")
				_ = r.Decided(rec)
				if i%2 == 0 {
					r.Finished(rec)
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		for deadline := time.Now().Add(20 * time.Second); w.Stats().Written <= 200; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("timed out waiting for some records")
			}
		}
		for range 5 {
			res, err := Log(context.Background(), s, Options{})
			if err != nil || !res.OK() {
				close(stop)
				<-done
				t.Fatalf("verify during writes: %v %+v", err, res.Break)
			}
		}
		close(stop)
		<-done
	})
}
