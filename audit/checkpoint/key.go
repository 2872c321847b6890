package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// A key file holds one note signer key, "PRIVATE+KEY+<name>+<hash>+<key>"
// (golang.org/x/mod/sumdb/note, Ed25519), and a newline. It is readable by
// its owner only. The key never appears in a log or an error message; the
// verifier key, which is public, is what auditors are given.

// Key is a signing key and its public verifier key.
type Key struct {
	Signer note.Signer
	// Verifier is the verifier key, "<name>+<hash>+<key>": give it to
	// auditors and witnesses.
	Verifier string
}

// LoadOrCreateKey reads the signer key at path or, when there is none,
// generates one named name and writes it there (mode 0600, the directory
// made 0700 if needed). created tells which.
func LoadOrCreateKey(path, name string) (key Key, created bool, err error) {
	key, err = ReadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if !ValidOrigin(name) {
		return Key{}, false, fmt.Errorf("signing key %s: cannot name a key %q (no space or plus sign)", path, name)
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return Key{}, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	// O_EXCL: two gateways starting at once do not overwrite each other's
	// key; the second reads the first's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err = ReadKey(path)
		return key, false, err
	}
	if err != nil {
		return Key{}, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Key{}, false, fmt.Errorf("signing key %s: %w", path, err)
	}
	key, err = ReadKey(path)
	return key, err == nil, err
}

// ReadKey reads the signer key at path. A key file that others than its
// owner may read is refused: whoever reads it can sign checkpoints.
func ReadKey(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Key{}, fmt.Errorf("signing key %s: mode %04o lets others read it; make it readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	raw, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && raw == "" {
		return Key{}, fmt.Errorf("signing key %s: empty file", path)
	}
	return ParseSignerKey(strings.TrimSpace(raw), path)
}

// ParseSignerKey reads a note signer key; where names its origin in
// errors, which never show the key.
func ParseSignerKey(skey, where string) (Key, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: not a note signer key (PRIVATE+KEY+name+hash+key): %v", where, err)
	}
	// The verifier key is derived from the private key's seed:
	// PRIVATE+KEY+<name>+<hash>+base64(algorithm byte, seed).
	// (The key itself may hold '+': split at the first four.)
	parts := strings.SplitN(skey, "+", 5)
	raw, _ := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if len(raw) != 1+ed25519.SeedSize {
		return Key{}, fmt.Errorf("signing key %s: not an Ed25519 key", where)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return Key{}, fmt.Errorf("signing key %s: %w", where, err)
	}
	return Key{Signer: signer, Verifier: vkey}, nil
}

// ParseVerifiers reads verifier keys ("<name>+<hash>+<key>"): each
// argument is a key, or a file of keys, one a line ('#' starts a comment).
func ParseVerifiers(args []string) ([]note.Verifier, error) {
	var out []note.Verifier
	for _, arg := range args {
		keys := []string{arg}
		where := "verifier key " + arg
		if data, err := os.ReadFile(arg); err == nil {
			keys, where = nil, arg
			for line := range bytes.SplitSeq(data, []byte("\n")) {
				if k := strings.TrimSpace(string(line)); k != "" && !strings.HasPrefix(k, "#") {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				return nil, fmt.Errorf("%s: no verifier key in the file", arg)
			}
		} else if !strings.Contains(arg, "+") {
			return nil, fmt.Errorf("%s: no such file, and not a verifier key (name+hash+key)", arg)
		}
		for _, k := range keys {
			if strings.HasPrefix(k, "PRIVATE+KEY") {
				return nil, fmt.Errorf("%s: this is a private signing key; give the verifier key (sovgate audit key prints it)", where)
			}
			v, err := note.NewVerifier(k)
			if err != nil {
				return nil, fmt.Errorf("%s: not a verifier key (name+hash+key): %v", where, err)
			}
			out = append(out, v)
		}
	}
	return out, nil
}
