package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/policy"
	"github.com/sovgate/sovgate/policy/bundletest"
)

func signingKey(t *testing.T) (private, public []byte) { return bundletest.SigningKeys(t) }

// buildBundle signs the policy directory dir (the embedded bundle when "")
// with key; an empty key gives an unsigned bundle.
func buildBundle(t *testing.T, dir string, key []byte) (body []byte, revision string) {
	t.Helper()
	src := policy.EmbeddedBundle()
	if dir != "" {
		src = policy.DirBundle(dir)
	}
	if key == nil {
		signed, rev := buildBundle(t, dir, mustKey(t))
		files := bundletest.ReadTarGz(t, signed)
		delete(files, "/.signatures.json")
		return bundletest.WriteTarGz(t, files), rev
	}
	var buf bytes.Buffer
	rev, err := policy.WriteBundle(&buf, src, policy.SignOptions{PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), rev
}

// signedBundle is the default policy, signed, served by a test web server
// as the DPO team's bundle server would.
type signedBundle struct {
	server        *bundletest.Server // Set publishes another revision
	privateKey    []byte             // signs the next revisions
	publicKeyFile string             // for policy_public_key
	revision      string             // of the bundle served first
	url           string
}

func serveSignedBundle(t *testing.T, path string) signedBundle {
	t.Helper()
	priv, pub := signingKey(t)
	pubFile := filepath.Join(t.TempDir(), "policy-signing.pub")
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := &bundletest.Server{}
	body, rev := buildBundle(t, "", priv)
	srv.Set(body)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return signedBundle{server: srv, privateKey: priv, publicKeyFile: pubFile, revision: rev, url: hs.URL + path}
}

func mustKey(t *testing.T) []byte {
	priv, _ := signingKey(t)
	return priv
}

func TestDPOSignedBundleDistribution(t *testing.T) {
	w := newWorld(t)
	b := serveSignedBundle(t, "/bundles/sovgate.tar.gz")
	srv, priv, pubFile, rev1, url := b.server, b.privateKey, b.publicKeyFile, b.revision, b.url
	cache := t.TempDir()
	opts := gatewayOptions{mode: "enforce", policies: url, app: map[string]any{
		"policy_public_key":    pubFile,
		"policy_poll_interval": "100ms",
		"policy_cache":         cache,
	}}
	g := startGateway(t, w, opts)
	if st := g.policyStatus(t); st.Revision != rev1 || st.Source != url {
		t.Fatalf("status %+v, want revision %s from the bundle server", st, rev1)
	}
	usDenied := func(want int, when string) {
		t.Helper()
		if status, err := g.getStatus("", "us.test"); err != nil || status != want {
			t.Fatalf("%s: us.test got %d %v, want %d", when, status, err, want)
		}
	}
	usDenied(http.StatusForbidden, "v1")

	// v2, signed: an exception lets every app reach us.test.
	dir := copyDefaultPolicies(t)
	editData(t, dir, func(data map[string]any) {
		data["exceptions"] = map[string]any{"2026-042-us": map[string]any{
			"app": "*", "host": "us.test", "reason": "supplier migration", "approved_by": "DPO", "expires": "2099-12-31",
		}}
	})
	v2, rev2 := buildBundle(t, dir, priv)
	srv.Set(v2)
	g.waitPolicy(t, "the signed bundle v2", func(st sovereignty.PolicyStatus) bool { return st.Revision == rev2 })
	usDenied(http.StatusOK, "v2")

	// v3 unsigned and v4 signed with another key: refused, v2 serves on.
	editData(t, dir, func(data map[string]any) { data["exceptions"] = map[string]any{} })
	v3, _ := buildBundle(t, dir, nil)
	srv.Set(v3)
	st := g.waitPolicy(t, "the unsigned bundle refused", func(st sovereignty.PolicyStatus) bool {
		return st.Refused != nil && strings.Contains(st.Refused.Error, "not signed")
	})
	if st.Revision != rev2 {
		t.Errorf("revision %s after an unsigned bundle, want %s", st.Revision, rev2)
	}
	usDenied(http.StatusOK, "after the unsigned bundle")
	v4, _ := buildBundle(t, dir, mustKey(t))
	srv.Set(v4)
	st = g.waitPolicy(t, "the wrongly signed bundle refused", func(st sovereignty.PolicyStatus) bool {
		return st.Refused != nil && strings.Contains(st.Refused.Error, "signature")
	})
	if st.Revision != rev2 {
		t.Errorf("revision %s after a wrongly signed bundle, want %s", st.Revision, rev2)
	}
	usDenied(http.StatusOK, "after the wrongly signed bundle")
	if v := g.metric(t, "sovgate_policy_reload_failing"); v != "1" {
		t.Errorf("sovgate_policy_reload_failing = %q", v)
	}

	// Back to v2: unchanged, and the server answers 304 from then on.
	srv.Set(v2)
	g.waitPolicy(t, "the refusal to clear", func(st sovereignty.PolicyStatus) bool { return st.Refused == nil })
	before := srv.NotModified()
	if status, rep := g.reloadPolicy(t); status != http.StatusOK || rep.Result != sovereignty.ReloadUnchanged {
		t.Errorf("POST reload of an unchanged bundle: %d %+v", status, rep)
	}
	after := srv.NotModified()
	if after <= before {
		t.Errorf("the gateway did not send If-None-Match (304 answers: %d then %d)", before, after)
	}

	// The bundle server is down when the gateway restarts: it starts on
	// the bundle it activated last, kept in policy_cache.
	srv.Down(true)
	opts.proxyAddr, opts.adminAddr = g.proxyAddr, g.adminAddr
	g = startGateway(t, w, opts)
	if st := g.policyStatus(t); st.Revision != rev2 {
		t.Errorf("restart during an outage: revision %s, want the cached %s", st.Revision, rev2)
	}
	usDenied(http.StatusOK, "restart on the cached bundle")
}
