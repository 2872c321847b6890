// Package checkpoint signs the heads of the audit log's Merkle trees and
// sends them away from the gateway as they are made: to a directory (a
// mount of another machine), to HTTP witnesses that cosign them, and to
// the store for proofs. A checkpoint kept where the database
// administrators cannot reach is what makes a rewritten log show: a store
// that was cut, re-hashed or emptied no longer matches it.
//
// Formats are those of Certificate Transparency and the Go checksum
// database: the checkpoint text of C2SP tlog-checkpoint (origin, tree
// size, base64 root hash), signed as a note (golang.org/x/mod/sumdb/note,
// Ed25519), and the add-checkpoint request of C2SP tlog-witness.
package checkpoint

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrNoCheckpoint is returned when no signed checkpoint covers a record.
var ErrNoCheckpoint = errors.New("no signed checkpoint")

// Checkpoint is the head of one node's tree: its origin (the node name),
// its size (the number of entries of the chain) and its root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint's note text: three lines, each ending in a
// newline.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + c.Root.String() + "\n"
}

func (c Checkpoint) String() string {
	return fmt.Sprintf("%s at tree size %d (root %s)", c.Origin, c.Size, c.Root)
}

// Parse reads a checkpoint's note text. It is strict: exactly the three
// lines Text writes, the size in decimal without leading zeros.
func Parse(text string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.SplitAfter(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return c, errors.New("a checkpoint is three lines: origin, tree size, root hash")
	}
	origin, size, root := strings.TrimSuffix(lines[0], "\n"), strings.TrimSuffix(lines[1], "\n"), strings.TrimSuffix(lines[2], "\n")
	if !ValidOrigin(origin) {
		return c, fmt.Errorf("origin %q: empty, or has a space or a plus sign", origin)
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != size {
		return c, fmt.Errorf("tree size %q is not a decimal number", size)
	}
	h, err := tlog.ParseHash(root)
	if err != nil || h.String() != root {
		return c, fmt.Errorf("root hash %q is not 32 bytes in base64", root)
	}
	return Checkpoint{Origin: origin, Size: n, Root: h}, nil
}

// ValidOrigin tells whether a node name can be a checkpoint origin and a
// note key name: not empty, no white space, no plus sign.
func ValidOrigin(s string) bool {
	return s != "" && utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsSpace) < 0 && !strings.Contains(s, "+")
}

// Sign signs a checkpoint with key.
func Sign(c Checkpoint, key note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.Text()}, key)
}

// Signed is a signed checkpoint as read back: what it says, the note as
// written, and whose signatures on it verified.
type Signed struct {
	Checkpoint
	Note []byte
	// Signers are the names of the keys whose signatures verified: the
	// node's own key first when it signed, then witnesses.
	Signers []string
}

// Open reads a signed checkpoint and checks its signatures against the
// known keys. The checkpoint's origin must have signed it (a verified
// signature by a key named like the origin): a node's key cannot vouch
// for another node's log, and a witness's cosignature alone is not enough.
// Signatures by unknown keys are ignored.
func Open(msg []byte, known note.Verifiers) (Signed, error) {
	n, err := note.Open(msg, known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			if c, perr := Parse(unverified.Note.Text); perr == nil {
				return Signed{}, fmt.Errorf("checkpoint of %s at tree size %d: signed by no known key (give the verifier key of %s)", c.Origin, c.Size, c.Origin)
			}
		}
		return Signed{}, fmt.Errorf("signed checkpoint: %w", err)
	}
	c, err := Parse(n.Text)
	if err != nil {
		return Signed{}, fmt.Errorf("signed checkpoint: %w", err)
	}
	s := Signed{Checkpoint: c, Note: msg}
	byOrigin := false
	for _, sig := range n.Sigs {
		if sig.Name == c.Origin {
			byOrigin = true
			s.Signers = append([]string{sig.Name}, s.Signers...)
			continue
		}
		s.Signers = append(s.Signers, sig.Name)
	}
	if !byOrigin {
		return Signed{}, fmt.Errorf("checkpoint of %s at tree size %d: no valid signature by the key of %s (signed only by %s)", c.Origin, c.Size, c.Origin, strings.Join(s.Signers, ", "))
	}
	return s, nil
}

// OpenAll is Open for a document that must not change in any byte (a
// proof): every signature on the checkpoint must be by a known key and
// verify, and be written in canonical base64. A witness's cosignature the
// keys cannot check makes it fail, naming the witness, since a change to
// it could not be seen.
func OpenAll(msg []byte, known note.Verifiers) (Signed, error) {
	s, err := Open(msg, known)
	if err != nil {
		return s, err
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return Signed{}, err
	}
	var unknown []string
	for _, sig := range n.UnverifiedSigs {
		unknown = append(unknown, fmt.Sprintf("%s (key hash %08x)", sig.Name, sig.Hash))
	}
	if len(unknown) > 0 {
		return Signed{}, fmt.Errorf("the checkpoint is also signed by %s, which no key given can check: give its verifier key too (--key), so that no byte of it can change unseen", strings.Join(unknown, ", "))
	}
	for _, sig := range n.Sigs {
		raw, err := base64.StdEncoding.DecodeString(sig.Base64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != sig.Base64 {
			return Signed{}, fmt.Errorf("the signature of %s is not in canonical base64: it was edited", sig.Name)
		}
	}
	return s, nil
}

// AddSignatures returns the signed note msg with the signature lines of
// sigs appended (a witness's cosignatures), skipping lines it already has.
func AddSignatures(msg, sigs []byte) []byte {
	out := append([]byte(nil), msg...)
	for _, line := range bytes.SplitAfter(sigs, []byte("\n")) {
		if len(line) == 0 || bytes.Contains(out, line) {
			continue
		}
		out = append(out, line...)
	}
	return out
}
