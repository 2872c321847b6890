package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func testKey(t testing.TB, name string) Key {
	t.Helper()
	k, _, err := LoadOrCreateKey(filepath.Join(t.TempDir(), name+".key"), name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verifiers(t testing.TB, keys ...Key) note.Verifiers {
	t.Helper()
	var vs []note.Verifier
	for _, k := range keys {
		v, err := note.NewVerifier(k.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...)
}

func TestSignOpenRoundTrip(t *testing.T) {
	k := testKey(t, "gw-lyon-1")
	c := Checkpoint{Origin: "gw-lyon-1", Size: 1234, Root: tlog.RecordHash([]byte("x"))}
	msg, err := Sign(c, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "gw-lyon-1\n1234\n"+c.Root.String()+"\n\n— gw-lyon-1 ") {
		t.Fatalf("note:\n%s", msg)
	}
	s, err := Open(msg, verifiers(t, k))
	if err != nil || s.Checkpoint != c || s.Signers[0] != "gw-lyon-1" {
		t.Fatalf("Open: %+v %v", s, err)
	}
	// Another node's key cannot vouch for this origin.
	other := testKey(t, "gw-lyon-2")
	forged, _ := Sign(Checkpoint{Origin: "gw-lyon-3", Size: 1, Root: c.Root}, other.Signer)
	if _, err := Open(forged, verifiers(t, k, other)); err == nil || !strings.Contains(err.Error(), "no valid signature by the key of gw-lyon-3") {
		t.Fatalf("a checkpoint signed by another node's key: %v", err)
	}
	if _, err := Open(msg, verifiers(t, other)); err == nil || !strings.Contains(err.Error(), "signed by no known key") {
		t.Fatalf("unknown key: %v", err)
	}
	// One altered byte anywhere breaks it, for OpenAll (Open may take
	// the same signature in another base64 spelling: the last character
	// of a signature has bits base64 decoders ignore).
	for i := range msg {
		for _, x := range []byte{0x01, 0x02, 0x20} {
			bad := bytes.Clone(msg)
			bad[i] ^= x
			if _, err := OpenAll(bad, verifiers(t, k)); err == nil {
				t.Fatalf("altered byte %d (%q xor %#x) accepted", i, msg[i], x)
			}
		}
	}
}

func TestParseIsStrict(t *testing.T) {
	root := tlog.RecordHash(nil).String()
	for _, text := range []string{
		"gw\n12\n" + root,               // no final newline
		"gw\n012\n" + root + "\n",       // leading zero
		"gw\n-1\n" + root + "\n",        // negative
		"gw\n12\n" + root + "\nextra\n", // extension line
		"g w\n12\n" + root + "\n",       // space in origin
		"gw+x\n12\n" + root + "\n",      // plus in origin
		"gw\n12\nAAAA\n",                // short hash
		"\n12\n" + root + "\n",          // no origin
		"gw\n99999999999999999999\nx\n", // overflow
	} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%q accepted", text)
		}
	}
	c, err := Parse("gw-1\n0\n" + root + "\n")
	if err != nil || c.Size != 0 || c.Text() != "gw-1\n0\n"+root+"\n" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "signing.key")
	k, created, err := LoadOrCreateKey(path, "gw-1")
	if err != nil || !created {
		t.Fatalf("created %v: %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateKey(path, "gw-1")
	if err != nil || created || again.Verifier != k.Verifier {
		t.Fatalf("second load: created %v, %v; %s vs %s", created, err, again.Verifier, k.Verifier)
	}
	if !strings.HasPrefix(k.Verifier, "gw-1+") || strings.Contains(k.Verifier, "PRIVATE") {
		t.Fatalf("verifier key %q", k.Verifier)
	}
	// The verifier key derived from the file checks what the key signs.
	msg, _ := Sign(Checkpoint{Origin: "gw-1", Size: 3}, k.Signer)
	if _, err := Open(msg, verifiers(t, k)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	secret, _ := os.ReadFile(path)
	_, err = ReadKey(path)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a key others can read was accepted: %v", err)
	}
	if strings.Contains(err.Error(), strings.TrimSpace(string(secret))) {
		t.Fatal("the error shows the key")
	}
	os.WriteFile(path, []byte("PRIVATE+KEY+gw-1+00000000+AAAA\n"), 0o600)
	if _, err := ReadKey(path); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("a broken key: %v", err)
	}
	if _, _, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "k"), "bad name"); err == nil {
		t.Error("a key named with a space was made")
	}
}

func TestParseVerifiers(t *testing.T) {
	k1, k2 := testKey(t, "gw-1"), testKey(t, "gw-2")
	file := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(file, []byte("# gateways\n"+k1.Verifier+"\n\n"+k2.Verifier+"\n"), 0o644)
	vs, err := ParseVerifiers([]string{file})
	if err != nil || len(vs) != 2 || vs[1].Name() != "gw-2" {
		t.Fatalf("%v %v", vs, err)
	}
	if vs, err := ParseVerifiers([]string{k1.Verifier}); err != nil || len(vs) != 1 {
		t.Fatalf("%v %v", vs, err)
	}
	for _, bad := range []string{"no-such-file", "gw+zz+zz", "PRIVATE+KEY+gw-1+00000000+AAAA"} {
		if _, err := ParseVerifiers([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDirAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	k := testKey(t, "gw-1")
	day := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var want []Checkpoint
	for i := range 5 {
		c := Checkpoint{Origin: "gw-1", Size: int64(10 * (i + 1)), Root: tlog.RecordHash([]byte{byte(i)})}
		msg, _ := Sign(c, k.Signer)
		if err := AppendToDir(dir, "gw-1", msg, day.Add(time.Duration(i)*12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "gw-1", "*.checkpoints"))
	if len(files) != 3 {
		t.Fatalf("files %v, want one a day", files)
	}
	// A write cut short at the end of the last file.
	f, _ := os.OpenFile(files[2], os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("gw-1\n60\n")
	f.Close()
	raws, problems, err := ReadDir(dir)
	if err != nil || len(raws) != 5 || len(problems) != 1 {
		t.Fatalf("%d checkpoints, problems %v, %v", len(raws), problems, err)
	}
	for i, r := range raws {
		s, err := Open(r.Note, verifiers(t, k))
		if err != nil || s.Checkpoint != want[i] {
			t.Fatalf("%s: %+v %v", r, s.Checkpoint, err)
		}
	}
	if _, _, err := ReadDir(t.TempDir()); err == nil {
		t.Error("an empty directory gave no error")
	}
}

func FuzzSplitNotes(f *testing.F) {
	k := testKey(f, "gw-1")
	msg, _ := Sign(Checkpoint{Origin: "gw-1", Size: 7}, k.Signer)
	f.Add(append(append(bytes.Clone(msg), '\n'), msg...))
	f.Add([]byte("gw-1\n7\n\n\n— x\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		notes, _ := SplitNotes(data)
		for _, n := range notes {
			if !bytes.Contains(data, n.Note) || !bytes.Contains(n.Note, []byte("\n\n— ")) {
				t.Fatalf("note %q not a signed note of the input", n.Note)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("gw-1\n12\n" + tlog.RecordHash(nil).String() + "\n")
	f.Add("a\n0\nAAAA\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err != nil {
			return
		}
		if c.Text() != text {
			t.Fatalf("%q parses to %+v, which writes %q", text, c, c.Text())
		}
	})
}

// TestVerifierKeyOfAKnownSignerKey derives the verifier key of the
// example signer key of golang.org/x/mod/sumdb/note, whose base64 holds a
// '+'.
func TestVerifierKeyOfAKnownSignerKey(t *testing.T) {
	k, err := ParseSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "example")
	if err != nil || k.Verifier != "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW" {
		t.Fatalf("%q %v", k.Verifier, err)
	}
}

func TestOriginDirStaysInside(t *testing.T) {
	for _, origin := range []string{"..", ".", "a/../..", "gw-1", "x%2F"} {
		got := OriginDir("/srv/cp", origin)
		if filepath.Dir(got) != "/srv/cp" || filepath.Base(got) == ".." || filepath.Base(got) == "." {
			t.Errorf("origin %q: directory %q", origin, got)
		}
	}
}
