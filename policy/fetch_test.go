package policy_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/policy"
	"github.com/sovgate/sovgate/policy/bundletest"
)

func TestRemoteSource(t *testing.T) {
	priv, pub := bundletest.SigningKeys(t)
	otherPriv, _ := bundletest.SigningKeys(t)
	var signed, wrong bytes.Buffer
	rev, err := policy.WriteBundle(&signed, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.WriteBundle(&wrong, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: otherPriv}); err != nil {
		t.Fatal(err)
	}
	srv := &bundletest.Server{}
	srv.Set(signed.Bytes())
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	withCreds := strings.Replace(hs.URL, "http://", "http://user:s3cret@", 1) + "/b.tar.gz"
	cache := t.TempDir()
	src, err := policy.NewRemoteSource(policy.RemoteOptions{URL: withCreds, PublicKey: pub, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(src.Name(), "s3cret") {
		t.Errorf("Name %q shows the password", src.Name())
	}

	// First fetch: the bundle, verified.
	f, err := src.Fetch(t.Context())
	if err != nil || f.NotModified {
		t.Fatalf("first fetch: %+v %v", f, err)
	}
	e, err := policy.Load(t.Context(), f.Bundle)
	if err != nil || e.Revision() != rev {
		t.Fatalf("loaded %v, revision %q want %q", err, e.Revision(), rev)
	}
	// Unchanged: 304.
	if f, err := src.Fetch(t.Context()); err != nil || !f.NotModified || srv.NotModified() != 1 {
		t.Errorf("second fetch: %+v %v (304s: %d)", f, err, srv.NotModified())
	}
	if err := src.Activated(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src.CacheFile()); err != nil || filepath.Dir(src.CacheFile()) != cache {
		t.Errorf("activated bundle not kept: %v (%s)", err, src.CacheFile())
	}

	// Signed with another key: rejected, with a digest; asked again, the
	// server has nothing new (304) for the refused bundle.
	srv.Set(wrong.Bytes())
	_, err = src.Fetch(t.Context())
	digest, rejected := policy.IsRejected(err)
	if !rejected || !strings.HasPrefix(digest, "unverified:") || !strings.Contains(err.Error(), "signature") {
		t.Errorf("wrongly signed: %v", err)
	}
	if f, err := src.Fetch(t.Context()); err != nil || !f.NotModified {
		t.Errorf("the refused bundle again: %+v %v", f, err)
	}

	// The server down: an error, not a rejection.
	srv.Set(signed.Bytes())
	srv.Down(true)
	if _, err := src.Fetch(t.Context()); err == nil || func() bool { _, r := policy.IsRejected(err); return r }() || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("server down: %v", err)
	}

	// A new gateway starting while the server is down starts on the
	// bundle kept at the last activation.
	restarted, _ := policy.NewRemoteSource(policy.RemoteOptions{URL: withCreds, PublicKey: pub, CacheDir: cache})
	f, err = restarted.Fetch(t.Context())
	if err != nil || f.Note == "" || !strings.Contains(f.Note, "unreachable at start-up") {
		t.Fatalf("start-up during an outage: %+v %v", f, err)
	}
	if e, err := policy.Load(t.Context(), f.Bundle); err != nil || e.Revision() != rev {
		t.Errorf("cached bundle: %v", err)
	}
	// Without a cached bundle, the start-up fails and says why.
	fresh, _ := policy.NewRemoteSource(policy.RemoteOptions{URL: withCreds, PublicKey: pub, CacheDir: t.TempDir()})
	if _, err := fresh.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "no bundle activated earlier") {
		t.Errorf("no cache: %v", err)
	}
}

func TestNewRemoteSourceRejects(t *testing.T) {
	_, pub := bundletest.SigningKeys(t)
	for _, tc := range []struct {
		opts policy.RemoteOptions
		want string
	}{
		{policy.RemoteOptions{URL: "https://bundles.example/b.tar.gz"}, "must be signed"},
		{policy.RemoteOptions{URL: "ftp://bundles.example/b", PublicKey: pub}, "not a bundle URL"},
		{policy.RemoteOptions{URL: "https:///b", PublicKey: pub}, "not a bundle URL"},
	} {
		if _, err := policy.NewRemoteSource(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.opts.URL, err)
		}
	}
	if !policy.IsBundleURL("https://x/b") || policy.IsBundleURL("/etc/sovgate/policies") {
		t.Error("IsBundleURL")
	}
}

func TestDirAndEmbeddedSources(t *testing.T) {
	emb := &policy.EmbeddedSource{}
	if f, err := emb.Fetch(t.Context()); err != nil || f.NotModified || f.Bundle.FS == nil || emb.Name() != "embedded" {
		t.Errorf("embedded first fetch: %+v %v", f, err)
	}
	if f, _ := emb.Fetch(t.Context()); !f.NotModified {
		t.Error("the embedded bundle changed")
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sovgate"), 0o755)
	os.WriteFile(filepath.Join(dir, "sovgate", "p.rego"), []byte(goodPolicy), 0o644)
	src := policy.NewDirSource(dir)
	f, err := src.Fetch(t.Context())
	if err != nil || src.Name() != dir || src.Dir() != dir {
		t.Fatalf("dir: %+v %v", f, err)
	}
	// The snapshot does not change when the directory does.
	os.WriteFile(filepath.Join(dir, "sovgate", "p.rego"), []byte("package sovgate\n"), 0o644)
	if _, err := policy.Load(t.Context(), f.Bundle); err != nil {
		t.Errorf("the snapshot saw a later edit: %v", err)
	}
	// A directory that cannot be read is rejected, not unreachable.
	gone := policy.NewDirSource(filepath.Join(dir, "missing"))
	if _, err := gone.Fetch(t.Context()); func() bool { _, r := policy.IsRejected(err); return !r }() {
		t.Errorf("missing directory: %v", err)
	}
}
