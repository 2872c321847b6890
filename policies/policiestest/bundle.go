// Package policiestest gives tests copies of the embedded default policy
// bundle with data of their own (an app registry, exceptions), in memory or
// on disk, as a DPO's edited copy would be.
package policiestest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/sovgate/sovgate/policies"
)

// WithData returns the files of the embedded bundle, with edit applied to
// the decoded sovgate/data.json (a nil edit leaves it as it is).
func WithData(tb testing.TB, edit func(data map[string]any)) fstest.MapFS {
	tb.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(policies.FS(), p)
		if err != nil {
			return err
		}
		if p == "sovgate/data.json" && edit != nil {
			var data map[string]any
			if err := json.Unmarshal(raw, &data); err != nil {
				return err
			}
			edit(data)
			if raw, err = json.MarshalIndent(data, "", "  "); err != nil {
				return err
			}
		}
		files[p] = &fstest.MapFile{Data: raw}
		return nil
	})
	if err != nil {
		tb.Fatalf("copying the embedded policy bundle: %v", err)
	}
	return files
}

// WriteDir writes files to a new directory under tb.TempDir() and returns
// it: a policy directory for policy.LoadDir or the gateway's policies
// option.
func WriteDir(tb testing.TB, files fstest.MapFS) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
