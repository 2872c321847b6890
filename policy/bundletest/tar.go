// Package bundletest reads and writes policy bundle archives (.tar.gz) in
// tests, so a test can take a signed bundle apart, change one file and put
// it back together, as an attacker or a broken build server would.
package bundletest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"sort"
	"testing"
)

// ReadTarGz returns the files of a bundle archive by name.
func ReadTarGz(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("bundle archive: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("bundle archive: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("bundle archive %s: %v", hdr.Name, err)
		}
		files[hdr.Name] = data
	}
}

// WriteTarGz builds a bundle archive of files, in name order so that equal
// files give equal archives.
func WriteTarGz(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, name := range names {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatalf("bundle archive %s: %v", name, err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatalf("bundle archive %s: %v", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("bundle archive: %v", err)
	}
	if err := gz.Close(); err != nil {
		t.Fatalf("bundle archive: %v", err)
	}
	return buf.Bytes()
}
