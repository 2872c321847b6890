package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// WitnessClient submits checkpoints to one witness with the add-checkpoint
// call of C2SP tlog-witness: the size the witness last cosigned, a
// consistency proof from it, then the signed checkpoint. The witness
// answers with its cosignature lines.
type WitnessClient struct {
	// URL is the witness's submission prefix; requests go to
	// URL/add-checkpoint.
	URL string
	// key, when set, must have signed the cosignature.
	key  note.Verifier
	http *http.Client

	mu sync.Mutex
	// cosigned is the tree size the witness last cosigned for each
	// origin, as far as this client knows (0: unknown or none).
	cosigned map[string]int64
}

// NewWitnessClient makes a client for the witness at url. key is the
// witness's verifier key, or "" to take any well-formed cosignature.
func NewWitnessClient(url, key string) (*WitnessClient, error) {
	url = strings.TrimRight(strings.TrimSpace(url), "/")
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("witness %q: give an http:// or https:// URL", url)
	}
	w := &WitnessClient{URL: url, http: &http.Client{Timeout: 5 * time.Second}, cosigned: map[string]int64{}}
	if key != "" {
		v, err := note.NewVerifier(key)
		if err != nil {
			return nil, fmt.Errorf("witness %s: key %q is not a note verifier key (name+hash+key): %v", url, key, err)
		}
		w.key = v
	}
	return w, nil
}

// ErrWitnessAhead is returned when a witness has cosigned a larger tree
// than the one submitted: the log it saw was longer than the log now.
var ErrWitnessAhead = errors.New("the witness has cosigned a larger tree of this log")

// Submit sends a signed checkpoint to the witness and returns its
// cosignature lines. own verifies the log's own signature (to check the
// answer parses as a note). prove returns the consistency proof from an
// older tree size to the checkpoint's.
func (w *WitnessClient) Submit(ctx context.Context, s Signed, own note.Verifier, prove func(old int64) (tlog.TreeProof, error)) ([]byte, error) {
	w.mu.Lock()
	old := w.cosigned[s.Origin]
	w.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > s.Size {
			return nil, fmt.Errorf("%w: it cosigned tree size %d, this checkpoint has %d entries", ErrWitnessAhead, old, s.Size)
		}
		var proof tlog.TreeProof
		if old > 0 && old < s.Size {
			var err error
			if proof, err = prove(old); err != nil {
				return nil, fmt.Errorf("consistency proof from tree size %d: %w", old, err)
			}
		}
		status, body, err := w.post(ctx, addCheckpointBody(old, proof, s.Note))
		if err != nil {
			return nil, err
		}
		switch {
		case status == http.StatusOK:
			if err := w.checkCosignature(s, own, body); err != nil {
				return nil, err
			}
			w.mu.Lock()
			w.cosigned[s.Origin] = s.Size
			w.mu.Unlock()
			return body, nil
		case status == http.StatusConflict && attempt == 0:
			// The witness has another size on record: start from it.
			n, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("witness answered 409 Conflict: %s", snippet(body))
			}
			if n == old {
				return nil, fmt.Errorf("witness refused the checkpoint (409 Conflict): it cosigned another tree of size %d", n)
			}
			old = n
		default:
			return nil, fmt.Errorf("witness answered %d %s: %s", status, http.StatusText(status), snippet(body))
		}
	}
}

func addCheckpointBody(old int64, proof tlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(h.String())
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}

func (w *WitnessClient) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := w.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, answer, err
}

// checkCosignature checks that the answer is signature lines that make,
// with the checkpoint, a well-formed note, and that the witness's key
// signed it when it is known.
func (w *WitnessClient) checkCosignature(s Signed, own note.Verifier, lines []byte) error {
	if len(lines) == 0 || !bytes.HasPrefix(lines, []byte("— ")) || !bytes.HasSuffix(lines, []byte("\n")) {
		return fmt.Errorf("witness answered 200 without cosignature lines: %s", snippet(lines))
	}
	known := []note.Verifier{own}
	if w.key != nil {
		known = append(known, w.key)
	}
	n, err := note.Open(AddSignatures(s.Note, lines), note.VerifierList(known...))
	if err != nil {
		return fmt.Errorf("witness cosignature: %w", err)
	}
	if w.key == nil {
		return nil
	}
	for _, sig := range n.Sigs {
		if sig.Name == w.key.Name() && sig.Hash == w.key.KeyHash() {
			return nil
		}
	}
	return fmt.Errorf("the witness's answer has no signature by its key %s", w.key.Name())
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
