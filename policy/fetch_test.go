package policy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sovgate/sovgate/policy"
)

func testKeys(t *testing.T) (priv, pub []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}

// etagServer serves one body with an ETag, answers 304 to If-None-Match,
// and can be taken down.
type etagServer struct {
	mu          sync.Mutex
	body        []byte
	down        bool
	notModified int
}

func (s *etagServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	sum := sha256.Sum256(s.body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		s.notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(s.body)
}

func (s *etagServer) set(body []byte, down bool) {
	s.mu.Lock()
	s.body, s.down = body, down
	s.mu.Unlock()
}

func TestRemoteSource(t *testing.T) {
	priv, pub := testKeys(t)
	otherPriv, _ := testKeys(t)
	var signed, wrong bytes.Buffer
	rev, err := policy.WriteBundle(&signed, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.WriteBundle(&wrong, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: otherPriv}); err != nil {
		t.Fatal(err)
	}
	srv := &etagServer{body: signed.Bytes()}
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
	if f, err := src.Fetch(t.Context()); err != nil || !f.NotModified || srv.notModified != 1 {
		t.Errorf("second fetch: %+v %v (304s: %d)", f, err, srv.notModified)
	}
	if err := src.Activated(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src.CacheFile()); err != nil || filepath.Dir(src.CacheFile()) != cache {
		t.Errorf("activated bundle not kept: %v (%s)", err, src.CacheFile())
	}

	// Signed with another key: rejected, with a digest; asked again, the
	// server has nothing new (304) for the refused bundle.
	srv.set(wrong.Bytes(), false)
	_, err = src.Fetch(t.Context())
	digest, rejected := policy.IsRejected(err)
	if !rejected || !strings.HasPrefix(digest, "unverified:") || !strings.Contains(err.Error(), "signature") {
		t.Errorf("wrongly signed: %v", err)
	}
	if f, err := src.Fetch(t.Context()); err != nil || !f.NotModified {
		t.Errorf("the refused bundle again: %+v %v", f, err)
	}

	// The server down: an error, not a rejection.
	srv.set(signed.Bytes(), true)
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
	_, pub := testKeys(t)
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
