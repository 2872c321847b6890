package proof

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/audit/checkpoint"
	"github.com/sovgate/sovgate/audit/ingest"
	"github.com/sovgate/sovgate/audit/store"
	"github.com/sovgate/sovgate/audit/verify"
)

// TestMergedRecordsVerifyAndProve writes, through the gateway's writer into
// a real store (SQLite, PostgreSQL), exchanges that ended at once (each
// decision merged with its completion into one entry), tunnels that
// outlived the merge window and strict exchanges (a decision entry, then
// a completion entry), and a refusal. Every record reads back with every
// field as it was given (a record filled by reflection, so a field added
// later is covered), the log verifies against a signed checkpoint, and a
// merged record proves and checks like any other: one entry instead of
// two, and an altered byte fails.
func TestMergedRecordsVerifyAndProve(t *testing.T) {
	audittest.Backends(t, func(t *testing.T, location string) {
		ctx := context.Background()
		s, err := store.Open(ctx, location)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		w := ingest.NewWriter(s, ingest.WriterConfig{SpoolDir: t.TempDir(), HeadInterval: -1, MergeWindow: 100 * time.Millisecond})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		batched := w.Recorder(ingest.RecorderConfig{RecordPath: true})
		strict := w.Recorder(ingest.RecorderConfig{Strict: true, RecordPath: true})
		const node = "gw-merge"
		exchange := func(r *ingest.Recorder, rec *audit.Record, after time.Duration) {
			t.Helper()
			decided := *rec
			decided.DurationUS, decided.BytesUp, decided.BytesDown = 37, 0, 0
			decided.Count, decided.Last = 0, time.Time{}
			if err := r.Decided(&decided); err != nil {
				t.Fatal(err)
			}
			time.Sleep(after)
			r.Finished(rec)
		}
		full := func(summary bool) *audit.Record {
			rec := audittest.FullRecord(t, uuid.Must(uuid.NewV7()).String(), summary)
			rec.Node, rec.Action = node, audit.Forwarded
			return rec
		}
		want := map[string]*audit.Record{}
		var merged, apart []string
		for range 20 {
			rec := full(false)
			want[rec.ID] = rec
			merged = append(merged, rec.ID)
			exchange(batched, rec, 0)
		}
		for range 3 { // tunnels that outlive the window
			rec := full(false)
			want[rec.ID] = rec
			apart = append(apart, rec.ID)
			exchange(batched, rec, 150*time.Millisecond)
		}
		for _, summary := range []bool{false, true} { // strict: written before forwarding
			rec := full(summary)
			want[rec.ID] = rec
			apart = append(apart, rec.ID)
			exchange(strict, rec, 0)
		}
		refused := audittest.Record(1, node)
		refused.Action = audit.Blocked
		if err := batched.Decided(refused); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Merged != int64(len(merged)) {
			t.Errorf("the writer merged %d exchanges, want %d", st.Merged, len(merged))
		}

		// Every record reads back as it was given.
		for id, rec := range want {
			page, err := s.Query(ctx, store.Filter{ID: id})
			if err != nil || len(page.Records) != 1 {
				t.Fatalf("query %s: %v, %d records", id, err, len(page.Records))
			}
			got := page.Records[0]
			if !got.Completed || got.Hash == "" {
				t.Errorf("record %s: completed %v, hash %q", id, got.Completed, got.Hash)
			}
			got.PrevHash, got.Hash = "", ""
			if !reflect.DeepEqual(got.Record, *rec) {
				t.Errorf("record %s reads back as\n%+v\nwant\n%+v", id, got.Record, *rec)
			}
		}

		// The log verifies, against a signed checkpoint too.
		key, _, err := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), node)
		if err != nil {
			t.Fatal(err)
		}
		heads, err := s.Heads(ctx)
		if err != nil || len(heads) != 1 {
			t.Fatalf("heads %v %v", heads, err)
		}
		h := heads[0]
		signed, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: node, Size: h.Seq, Root: h.Root}, key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCheckpoint(ctx, node, h.Seq, signed); err != nil {
			t.Fatal(err)
		}
		v, _ := note.NewVerifier(key.Verifier)
		keys := note.VerifierList(v)
		res, err := verify.Log(ctx, s, verify.Options{Checkpoints: []checkpoint.Raw{{Note: signed, File: "cp", Line: 1}}, Keys: keys})
		if err != nil || !res.OK() {
			t.Fatalf("verify: %v %v", err, res.Break)
		}
		c := res.Chains[0]
		if c.Decisions != int64(len(want)+1) || c.Merged != int64(len(merged)) || c.Completions != int64(len(apart)) || c.Verified != h.Seq {
			t.Errorf("verify counts %+v: want %d decisions, %d merged, %d completions, verified to %d", c, len(want)+1, len(merged), len(apart), h.Seq)
		}

		// Proofs: a merged record is one entry, the others two.
		view, release, err := s.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		for _, id := range []string{merged[0], merged[len(merged)-1], apart[0], apart[len(apart)-1]} {
			p, err := Build(ctx, view, id, nil)
			if err != nil {
				t.Fatalf("prove %s: %v", id, err)
			}
			data, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			valid, err := Check(data, keys)
			if err != nil {
				t.Fatalf("check the proof of %s: %v", id, err)
			}
			entries := 2
			if id == merged[0] || id == merged[len(merged)-1] {
				entries = 1
			}
			rec := valid.Proof.Record
			if len(valid.Proof.Entries) != entries || !rec.Completed || rec.BytesDown != want[id].BytesDown || rec.DurationUS != want[id].DurationUS {
				t.Errorf("proof of %s: %d entries (want %d), record %+v", id, len(valid.Proof.Entries), entries, rec)
			}
			altered := bytes.Replace(data, []byte(`"bytes_down": `), []byte(`"bytes_down": 9`), 1)
			if bytes.Equal(altered, data) {
				t.Fatal("the proof shows no bytes_down")
			}
			if _, err := Check(altered, keys); err == nil {
				t.Errorf("the proof of %s with its bytes changed checks", id)
			}
		}
	})
}
