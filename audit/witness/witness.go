// Package witness is a small cosigning witness for the audit log's signed
// checkpoints, which any other department of the city (or the auditor)
// can run on its own machine. It speaks the add-checkpoint call of C2SP
// tlog-witness: a gateway sends each checkpoint with a consistency proof
// from the last one this witness cosigned; the witness checks the
// gateway's signature and the proof, records the checkpoint, and answers
// with its cosignature. It never cosigns a checkpoint that is not
// consistent with the last one it saw of the same log (smaller, or with no
// valid consistency proof): a log rewritten after the fact cannot get a
// cosignature, and the checkpoints the witness keeps show the rewrite.
//
// Cosignatures are Ed25519 note signatures (golang.org/x/mod/sumdb/note),
// as in the Go checksum database, rather than the timestamped
// cosignature/v1 of C2SP tlog-cosignature.
package witness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sovgate/sovgate/audit/checkpoint"
)

// Witness cosigns checkpoints of the logs it knows. Its state is a
// directory: per log, the latest checkpoint it cosigned (DIR/<origin>/latest)
// and every checkpoint it cosigned, in the checkpoint directory layout
// (DIR/<origin>/<day>.checkpoints), which `sovgate audit verify
// --checkpoints DIR` reads. Checkpoints it refused, validly signed by the
// log, are kept as evidence in DIR/<origin>/<day>.refused.
type Witness struct {
	dir  string
	key  checkpoint.Key
	logs map[string][]note.Verifier // by origin: the log's keys are named after it
	log  *zap.Logger
	now  func() time.Time

	mu sync.Mutex // one checkpoint at a time: check and record are atomic
}

// New makes a witness keeping its state in dir, cosigning with key, for
// the logs whose verifier keys are given (a log's key is named after its
// origin, the gateway's node name).
func New(dir string, key checkpoint.Key, logs []note.Verifier, logger *zap.Logger) (*Witness, error) {
	if len(logs) == 0 {
		return nil, errors.New("the witness knows no log: give the verifier key of each gateway (sovgate audit key prints it)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("witness directory: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	w := &Witness{dir: dir, key: key, logs: map[string][]note.Verifier{}, log: logger, now: time.Now}
	for _, v := range logs {
		w.logs[v.Name()] = append(w.logs[v.Name()], v)
	}
	return w, nil
}

// maxBody bounds a request: a checkpoint, a few signatures and at most 63
// proof lines fit in a fraction of it.
const maxBody = 64 << 10

// ServeHTTP answers POST /add-checkpoint, and GET /checkpoint/<origin>
// with the latest checkpoint cosigned for that log.
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/add-checkpoint":
		if r.Method != http.MethodPost {
			rw.Header().Set("Allow", http.MethodPost)
			http.Error(rw, "use POST", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			http.Error(rw, "request body unreadable or larger than 64 KiB", http.StatusBadRequest)
			return
		}
		status, answer := w.AddCheckpoint(body)
		if status == http.StatusConflict && answer != "" && answer[0] >= '0' && answer[0] <= '9' {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
		} else {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		rw.WriteHeader(status)
		io.WriteString(rw, answer)
	case strings.HasPrefix(r.URL.Path, "/checkpoint/") && r.Method == http.MethodGet:
		origin := strings.TrimPrefix(r.URL.Path, "/checkpoint/")
		if len(w.logs[origin]) == 0 {
			http.Error(rw, "unknown log "+origin, http.StatusNotFound)
			return
		}
		data, err := os.ReadFile(w.latestPath(origin))
		if err != nil {
			http.Error(rw, "no checkpoint cosigned for "+origin, http.StatusNotFound)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(data)
	default:
		http.Error(rw, "not found: POST /add-checkpoint, GET /checkpoint/<origin>", http.StatusNotFound)
	}
}

// AddCheckpoint handles one add-checkpoint request body and returns the
// HTTP status and the answer: the cosignature lines (200), the size of the
// latest cosigned checkpoint (409, when the request's old size is not it),
// or the reason for a refusal.
func (w *Witness) AddCheckpoint(body []byte) (int, string) {
	old, proof, msg, err := parseRequest(body)
	if err != nil {
		return http.StatusBadRequest, err.Error() + "\n"
	}
	text, ok := noteText(msg)
	if !ok {
		return http.StatusBadRequest, "the checkpoint is not a signed note\n"
	}
	c, err := checkpoint.Parse(text)
	if err != nil {
		return http.StatusBadRequest, err.Error() + "\n"
	}
	keys := w.logs[c.Origin]
	if len(keys) == 0 {
		return http.StatusNotFound, fmt.Sprintf("unknown log %q: this witness has no key for it\n", c.Origin)
	}
	signed, err := checkpoint.Open(msg, note.VerifierList(keys...))
	if err != nil {
		return http.StatusForbidden, err.Error() + "\n"
	}
	if old > c.Size {
		return http.StatusBadRequest, fmt.Sprintf("old size %d is larger than the checkpoint's %d\n", old, c.Size)
	}
	if old == 0 && len(proof) > 0 {
		return http.StatusBadRequest, "a consistency proof from size 0 must be empty\n"
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	latest, err := w.latest(c.Origin)
	if err != nil {
		w.log.Error("reading the witness state", zap.String("log", c.Origin), zap.Error(err))
		return http.StatusInternalServerError, "witness state unreadable\n"
	}
	switch {
	case old != latest.Size:
		if c.Size < latest.Size {
			w.refuse(signed, fmt.Sprintf("smaller than the tree of size %d cosigned before", latest.Size))
		}
		return http.StatusConflict, strconv.FormatInt(latest.Size, 10) + "\n"
	case old == c.Size && old > 0 && c.Root != latest.Root:
		w.refuse(signed, "same size as the checkpoint cosigned before, another root")
		return http.StatusConflict, fmt.Sprintf("a checkpoint of size %d with another root was cosigned before\n", old)
	case old > 0 && old < c.Size:
		if err := tlog.CheckTree(proof, c.Size, c.Root, old, latest.Root); err != nil {
			w.refuse(signed, "no valid consistency proof from the tree cosigned before: "+err.Error())
			return http.StatusUnprocessableEntity, fmt.Sprintf("the consistency proof from size %d does not hold: %v\n", old, err)
		}
	}
	cosigned, err := note.Sign(&note.Note{Text: text}, w.key.Signer)
	if err != nil {
		return http.StatusInternalServerError, "signing failed\n"
	}
	sigs := cosigned[len(text)+1:]
	if err := w.record(c.Origin, checkpoint.AddSignatures(msg, sigs)); err != nil {
		w.log.Error("recording a cosigned checkpoint; not cosigned", zap.String("log", c.Origin), zap.Error(err))
		return http.StatusInternalServerError, "witness state not writable\n"
	}
	w.log.Info("checkpoint cosigned", zap.String("log", c.Origin), zap.Int64("size", c.Size), zap.Int64("previous_size", latest.Size), zap.String("root", c.Root.String()))
	return http.StatusOK, string(sigs)
}

// parseRequest reads an add-checkpoint body: "old N", up to 63 proof
// lines, a blank line, then the signed checkpoint.
func parseRequest(body []byte) (old int64, proof tlog.TreeProof, msg []byte, err error) {
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, nil, errors.New("empty request: want \"old N\", proof lines, a blank line, the checkpoint")
	}
	size, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	old, perr := strconv.ParseInt(size, 10, 64)
	if !ok || perr != nil || old < 0 || strconv.FormatInt(old, 10) != size {
		return 0, nil, nil, fmt.Errorf("first line %q: want \"old N\"", strings.TrimSpace(line))
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errors.New("no blank line before the checkpoint")
		}
		if line == "\n" {
			break
		}
		if len(proof) == 63 {
			return 0, nil, nil, errors.New("more than 63 consistency proof lines")
		}
		h, err := tlog.ParseHash(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return 0, nil, nil, fmt.Errorf("proof line %q is not a base64 hash", strings.TrimSpace(line))
		}
		proof = append(proof, h)
	}
	msg, _ = io.ReadAll(r)
	return old, proof, msg, nil
}

// noteText is the text of a signed note, before its signatures.
func noteText(msg []byte) (string, bool) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return "", false
	}
	return string(msg[:i+1]), true
}

func (w *Witness) latestPath(origin string) string {
	return filepath.Join(checkpoint.OriginDir(w.dir, origin), "latest")
}

// latest is the latest checkpoint cosigned for origin (size 0 if none).
func (w *Witness) latest(origin string) (checkpoint.Checkpoint, error) {
	data, err := os.ReadFile(w.latestPath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint.Checkpoint{Origin: origin}, nil
	}
	if err != nil {
		return checkpoint.Checkpoint{}, err
	}
	text, ok := noteText(data)
	if !ok {
		return checkpoint.Checkpoint{}, fmt.Errorf("%s is not a signed checkpoint", w.latestPath(origin))
	}
	return checkpoint.Parse(text)
}

// record keeps a cosigned checkpoint: appended to the day's file, then
// made the latest (written aside, synced, renamed), before the answer.
func (w *Witness) record(origin string, msg []byte) error {
	if err := checkpoint.AppendToDir(w.dir, origin, msg, w.now()); err != nil {
		return err
	}
	path := w.latestPath(origin)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(msg)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// refuse logs a validly signed checkpoint the witness will not cosign, and
// keeps it as evidence: the log signed a tree inconsistent with one it
// signed before.
func (w *Witness) refuse(s checkpoint.Signed, why string) {
	w.log.Warn("checkpoint refused: inconsistent with the last one cosigned", zap.String("log", s.Origin), zap.Int64("size", s.Size), zap.String("reason", why))
	path := filepath.Join(checkpoint.OriginDir(w.dir, s.Origin), w.now().UTC().Format("2006-01-02")+".refused")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(append([]byte(nil), s.Note...), '\n'))
}
