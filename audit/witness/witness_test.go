package witness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/chain"
	"github.com/sovgate/sovgate/audit/checkpoint"
)

// memLog is a log's tree in memory: every stored hash, so any tree size's
// root and any consistency proof can be computed.
type memLog struct {
	hashes []tlog.Hash
	tree   chain.Tree
}

func (m *memLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		out[i] = m.hashes[idx]
	}
	return out, nil
}

// grow appends n leaves; fork makes leaf 4 differ from the honest log.
func (m *memLog) grow(t *testing.T, n int, fork bool) {
	for range n {
		data := fmt.Sprint("entry ", m.tree.Size())
		if fork && m.tree.Size() == 4 {
			data = "rewritten entry 4"
		}
		h, err := m.tree.Append(tlog.RecordHash([]byte(data)))
		if err != nil {
			t.Fatal(err)
		}
		m.hashes = append(m.hashes, h...)
	}
}

func (m *memLog) checkpoint(t *testing.T, key checkpoint.Key, size int64) []byte {
	t.Helper()
	root, err := tlog.TreeHash(size, m)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: key.Signer.Name(), Size: size, Root: root}, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func (m *memLog) request(t *testing.T, key checkpoint.Key, old, size int64) []byte {
	t.Helper()
	var proof tlog.TreeProof
	if old > 0 && old < size {
		var err error
		if proof, err = tlog.ProveTree(size, old, m); err != nil {
			t.Fatal(err)
		}
	}
	body := fmt.Sprintf("old %d\n", old)
	for _, h := range proof {
		body += h.String() + "\n"
	}
	return append([]byte(body+"\n"), m.checkpoint(t, key, size)...)
}

func key(t *testing.T, name string) checkpoint.Key {
	t.Helper()
	k, _, err := checkpoint.LoadOrCreateKey(filepath.Join(t.TempDir(), name+".key"), name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verifier(t *testing.T, k checkpoint.Key) note.Verifier {
	v, err := note.NewVerifier(k.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWitnessCosignsConsistentCheckpointsOnly(t *testing.T) {
	gw, wk := key(t, "gw-lyon-1"), key(t, "witness-dsi")
	dir := t.TempDir()
	w, err := New(dir, wk, []note.Verifier{verifier(t, gw)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	honest := &memLog{}
	honest.grow(t, 30, false)
	expect := func(body []byte, status int, contains string) string {
		t.Helper()
		got, answer := w.AddCheckpoint(body)
		if got != status || !strings.Contains(answer, contains) {
			t.Fatalf("status %d %q, want %d with %q", got, answer, status, contains)
		}
		return answer
	}

	// The first checkpoint of a log is taken as it is; the answer is a
	// cosignature by the witness's key on the checkpoint.
	sigs := expect(honest.request(t, gw, 0, 10), http.StatusOK, "— witness-dsi ")
	cosigned := checkpoint.AddSignatures(honest.checkpoint(t, gw, 10), []byte(sigs))
	if s, err := checkpoint.Open(cosigned, note.VerifierList(verifier(t, gw), verifier(t, wk))); err != nil || len(s.Signers) != 2 {
		t.Fatalf("cosigned checkpoint: %+v %v", s, err)
	}
	// A larger tree with a valid consistency proof from 10.
	expect(honest.request(t, gw, 10, 20), http.StatusOK, "— witness-dsi ")
	// The same checkpoint again is fine.
	expect(honest.request(t, gw, 20, 20), http.StatusOK, "— witness-dsi ")

	// Smaller than the last one cosigned: the gateway is told the size
	// the witness has (409), whatever old size it claims.
	if answer := expect(honest.request(t, gw, 10, 15), http.StatusConflict, ""); answer != "20\n" {
		t.Fatalf("409 body %q, want the latest size", answer)
	}
	expect(honest.request(t, gw, 20, 15), http.StatusBadRequest, "larger than")
	// A rewritten log (entry 4 changed, re-hashed after it): no
	// consistency proof from the tree cosigned holds.
	forked := &memLog{}
	forked.grow(t, 40, true)
	expect(forked.request(t, gw, 20, 40), http.StatusUnprocessableEntity, "consistency proof")
	// A proof made of the honest log's hashes does not fit the forked root.
	body := honest.request(t, gw, 20, 30)
	body = append(body[:strings.Index(string(body), "\n\n")+2], forked.checkpoint(t, gw, 30)...)
	expect(body, http.StatusUnprocessableEntity, "consistency proof")
	// Same size, another root.
	expect(forked.request(t, gw, 20, 20), http.StatusConflict, "another root")

	// Refused checkpoints, validly signed, are kept as evidence.
	refused, _ := filepath.Glob(filepath.Join(dir, "gw-lyon-1", "*.refused"))
	if data, _ := os.ReadFile(refused[0]); len(refused) != 1 || strings.Count(string(data), "— gw-lyon-1 ") != 4 {
		t.Fatalf("refused evidence %v: %q", refused, data)
	}
	// A restarted witness remembers the last checkpoint it cosigned.
	w, _ = New(dir, wk, []note.Verifier{verifier(t, gw)}, nil)
	expect(forked.request(t, gw, 20, 40), http.StatusUnprocessableEntity, "consistency proof")
	expect(honest.request(t, gw, 20, 30), http.StatusOK, "— witness-dsi ")

	// Unknown log, and a checkpoint of a known origin signed by another key.
	other := key(t, "gw-paris")
	expect(honest.request(t, other, 0, 5), http.StatusNotFound, "unknown log")
	impostor := key(t, "gw-lyon-1")
	expect(honest.request(t, impostor, 30, 30), http.StatusForbidden, "")
	// Malformed requests.
	for _, bad := range []string{"", "old x\n\n", "old 1\nnot-a-hash\n\n", "old 01\n\n", "old 0\n\nnot a note"} {
		expect([]byte(bad), http.StatusBadRequest, "")
	}
	expect(append([]byte("old 0\n"+tlog.RecordHash(nil).String()+"\n\n"), honest.checkpoint(t, gw, 30)...), http.StatusBadRequest, "must be empty")

	// What the witness cosigned is in the checkpoint directory layout.
	raws, problems, err := checkpoint.ReadDir(dir)
	if err != nil || len(problems) != 0 || len(raws) != 4 {
		t.Fatalf("%d checkpoints in the witness directory (%v %v)", len(raws), problems, err)
	}
}

// TestClientAndWitnessOverHTTP runs the gateway's witness client against
// the witness server: the client learns the witness's size from a 409 and
// sends a consistency proof; a rewritten log is refused.
func TestClientAndWitnessOverHTTP(t *testing.T) {
	gw, wk := key(t, "gw-1"), key(t, "witness-1")
	dir := t.TempDir()
	w, err := New(dir, wk, []note.Verifier{verifier(t, gw)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	defer srv.Close()
	log := &memLog{}
	log.grow(t, 50, false)
	submit := func(c *checkpoint.WitnessClient, l *memLog, size int64) error {
		msg := l.checkpoint(t, gw, size)
		s, err := checkpoint.Open(msg, note.VerifierList(verifier(t, gw)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Submit(context.Background(), s, verifier(t, gw), func(old int64) (tlog.TreeProof, error) { return tlog.ProveTree(size, old, l) })
		return err
	}
	c1, _ := checkpoint.NewWitnessClient(srv.URL, wk.Verifier)
	if err := submit(c1, log, 20); err != nil {
		t.Fatal(err)
	}
	// A new client (a restarted gateway) does not know the witness is at
	// 20: it learns it from the 409 and proves consistency from there.
	c2, _ := checkpoint.NewWitnessClient(srv.URL+"/", wk.Verifier)
	if err := submit(c2, log, 35); err != nil {
		t.Fatal(err)
	}
	forked := &memLog{}
	forked.grow(t, 50, true)
	if err := submit(c2, forked, 50); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("a rewritten log was cosigned: %v", err)
	}
	// A client whose log shrank is told so.
	c3, _ := checkpoint.NewWitnessClient(srv.URL, "")
	if err := submit(c3, log, 30); err == nil || !strings.Contains(err.Error(), "larger tree") {
		t.Fatalf("smaller tree: %v", err)
	}
	// The latest cosigned checkpoint is served for monitors.
	resp, err := http.Get(srv.URL + "/checkpoint/gw-1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	// A witness client expecting another key refuses the cosignature.
	c4, _ := checkpoint.NewWitnessClient(srv.URL, key(t, "witness-1").Verifier)
	if err := submit(c4, log, 40); err == nil || !strings.Contains(err.Error(), "witness") {
		t.Fatalf("cosignature by an unexpected key accepted: %v", err)
	}
}

func FuzzAddCheckpoint(f *testing.F) {
	gw := checkpointKey(f, "gw-1")
	wk := checkpointKey(f, "witness-1")
	msg, _ := checkpoint.Sign(checkpoint.Checkpoint{Origin: "gw-1", Size: 3, Root: tlog.RecordHash(nil)}, gw.Signer)
	f.Add(append([]byte("old 0\n\n"), msg...))
	f.Add(append([]byte("old 2\n"+tlog.RecordHash(nil).String()+"\n\n"), msg...))
	f.Add([]byte("old 0\n"))
	v, _ := note.NewVerifier(gw.Verifier)
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := New(t.TempDir(), wk, []note.Verifier{v}, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, answer := w.AddCheckpoint(body)
		if status == http.StatusOK && !strings.HasPrefix(answer, "— witness-1 ") {
			t.Fatalf("200 with %q", answer)
		}
	})
}

func checkpointKey(f *testing.F, name string) checkpoint.Key {
	k, _, err := checkpoint.LoadOrCreateKey(filepath.Join(f.TempDir(), name+".key"), name)
	if err != nil {
		f.Fatal(err)
	}
	return k
}
