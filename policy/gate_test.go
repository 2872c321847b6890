package policy_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/policy"
	"github.com/sovgate/sovgate/policy/bundletest"
)

// withTest is a bundle whose own test passes or fails.
func withTest(pass bool) policy.Bundle {
	want := "true"
	if !pass {
		want = "false"
	}
	return bundleFS(map[string]string{
		"sovgate/decision.rego": goodPolicy,
		"sovgate/decision_test.rego": `package sovgate_test

import data.sovgate

test_allows if {
	sovgate.decision.allow == ` + want + `
}
`,
	})
}

func TestLoadTested(t *testing.T) {
	e, err := policy.LoadTested(t.Context(), withTest(true))
	if err != nil {
		t.Fatal(err)
	}
	if e.Tests().Passed != 1 || e.Digest() == "" {
		t.Errorf("tests %+v, digest %q", e.Tests(), e.Digest())
	}
	plain, err := policy.Load(t.Context(), withTest(true))
	if err != nil {
		t.Fatal(err)
	}
	if plain.Revision() != e.Revision() || plain.Digest() != "" {
		t.Errorf("gated revision %s, plain %s (digest %q)", e.Revision(), plain.Revision(), plain.Digest())
	}

	_, err = policy.LoadTested(t.Context(), withTest(false))
	tf, ok := errors.AsType[*policy.TestFailure](err)
	if !ok {
		t.Fatalf("a failing test gave %v, want a *TestFailure", err)
	}
	if tf.Summary.Failed != 1 || !strings.Contains(tf.Report, "decision_test.rego:6") {
		t.Errorf("failure %+v\n%s", tf.Summary, tf.Report)
	}

	_, err = policy.LoadTested(t.Context(), bundleFS(map[string]string{"sovgate/decision.rego": "package sovgate\n\ndecision := {"}))
	if _, ok := errors.AsType[policy.Diagnostics](err); !ok {
		t.Fatalf("a parse error gave %v, want diagnostics", err)
	}

	// A revision without tests is accepted; the caller sees it has none.
	e, err = policy.LoadTested(t.Context(), bundleFS(map[string]string{"sovgate/decision.rego": goodPolicy}))
	if err != nil || e.Tests().Total() != 0 {
		t.Fatalf("no tests: %v %+v", err, e)
	}
}

func TestDigestCoversTests(t *testing.T) {
	a, _ := withTest(true).Digest()
	b, _ := withTest(false).Digest()
	if a == "" || a == b {
		t.Fatalf("digests %q and %q: a change in a test must change the digest", a, b)
	}
}

func TestCheckExpiryWarnings(t *testing.T) {
	data := `{
  "exceptions": {
    "old": {"app": "a", "host": "x.example", "reason": "r", "approved_by": "p", "expires": "2026-10-31"},
    "soon": {"app": "a", "host": "x.example", "reason": "r", "approved_by": "p", "expires": "2026-12-10"},
    "today": {"app": "a", "host": "x.example", "reason": "r", "approved_by": "p", "expires": "2026-11-28"},
    "later": {"app": "a", "host": "x.example", "reason": "r", "approved_by": "p", "expires": "2027-06-30"},
    "unreadable": {"app": "a", "host": "x.example", "reason": "r", "approved_by": "p", "expires": "soon"}
  }
}`
	src := bundleFS(map[string]string{"sovgate/decision.rego": goodPolicy, "sovgate/data.json": data})
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	diags, err := policy.CheckWithOptions(t.Context(), src, policy.CheckOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range diags {
		if !d.IsWarning() || d.Code != policy.CodeExceptionExpiry {
			t.Errorf("not an expiry warning: %v", d)
		}
		lines = append(lines, d.String())
	}
	want := []string{
		`/etc/sovgate/policies/sovgate/data.json:3:5: warning: exception "old" expired on 2026-10-31 (28 days ago); it no longer applies: renew it or remove it`,
		`/etc/sovgate/policies/sovgate/data.json:4:5: warning: exception "soon" expires on 2026-12-10 (in 12 days); renew it or finish the migration`,
		`/etc/sovgate/policies/sovgate/data.json:5:5: warning: exception "today" expires on 2026-11-28 (today is its last day); renew it or finish the migration`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	diags, _ = policy.CheckWithOptions(t.Context(), src, policy.CheckOptions{Now: now, ExpiryWarning: -1})
	if len(diags) != 0 {
		t.Errorf("warnings turned off, got %v", diags)
	}
}

func TestExplain(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.Explain(t.Context(), usInput())
	if err != nil {
		t.Fatal(err)
	}
	if ex.Decision == nil || ex.Decision.Allow {
		t.Fatalf("decision %+v", ex.Decision)
	}
	var decided, residency *policy.RuleHit
	for i, h := range ex.Rules {
		switch h.Rule {
		case policy.Query:
			decided = &ex.Rules[i]
		case "data.sovgate.residency_violations":
			residency = &ex.Rules[i]
		}
	}
	if decided == nil || !decided.Decided || decided.File != "embedded:sovgate/decision.rego" || !strings.HasPrefix(decided.Text, "else :=") {
		t.Errorf("the deciding branch: %+v", decided)
	}
	if residency == nil || residency.File != "embedded:sovgate/residency.rego" || residency.Row == 0 {
		t.Errorf("the residency rule: %+v\nall: %+v", residency, ex.Rules)
	}
	// Explain gives the decision Evaluate gives.
	d, _ := e.Evaluate(t.Context(), usInput())
	if d.Allow != ex.Decision.Allow || len(d.Reasons) != len(ex.Decision.Reasons) {
		t.Errorf("Explain %+v, Evaluate %+v", ex.Decision, d)
	}
}

func TestFormat(t *testing.T) {
	out, err := policy.Format("x.rego", []byte("package sovgate\ndecision := {\"allow\":true}"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "package sovgate\n\ndecision := {\"allow\": true}\n" {
		t.Errorf("formatted:\n%s", out)
	}
	_, err = policy.Format("bad.rego", []byte("package sovgate\n\ndecision := {"))
	if !strings.Contains(err.Error(), "bad.rego:3:") {
		t.Errorf("error %v, want a position", err)
	}
}

func pemKey(t *testing.T, key any) (private, public []byte) { return pemKeyF(t, key) }

func pemKeyF(t testing.TB, key any) (private, public []byte) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.(crypto.Signer).Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
}

func TestSignedBundle(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]any{"rsa": rsaKey, "ecdsa": ecKey} {
		t.Run(name, func(t *testing.T) {
			priv, pub := pemKey(t, key)
			var buf bytes.Buffer
			rev, err := policy.WriteBundle(&buf, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: priv})
			if err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if _, err := policy.WriteBundle(&again, policy.EmbeddedBundle(), policy.SignOptions{PrivateKey: priv}); err != nil {
				t.Fatal(err)
			}
			if name == "rsa" && !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Error("two builds of the same files differ") // (ECDSA signatures are randomised)
			}
			b, info, err := policy.ReadSignedBundle(bytes.NewReader(buf.Bytes()), pub, "https://bundles.example/sovgate.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			embedded, _ := policy.LoadEmbedded(t.Context())
			if info.Revision != rev || rev != embedded.Revision() {
				t.Errorf("manifest revision %s, written %s, embedded %s", info.Revision, rev, embedded.Revision())
			}
			e, err := policy.LoadTested(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			if e.Revision() != embedded.Revision() || e.Tests().Passed == 0 {
				t.Errorf("revision from the bundle %s, embedded %s; tests %+v", e.Revision(), embedded.Revision(), e.Tests())
			}
			if _, err := fs.Stat(b.FS, "sovgate/data.json"); err != nil {
				t.Errorf("the layout is not kept: %v", err)
			}
		})
	}
}

func TestSignedBundleRefused(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	priv, pub := pemKey(t, key)
	_, otherPub := pemKey(t, other)
	var signed bytes.Buffer
	if _, err := policy.WriteBundle(&signed, withTest(true), policy.SignOptions{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(signed.Bytes()), otherPub, "x"); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("wrong key: %v", err)
	}
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(signed.Bytes()), priv, "x"); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("a private key as the verification key: %v", err)
	}
	files := bundletest.ReadTarGz(t, signed.Bytes())

	unsigned := map[string][]byte{}
	for p, raw := range files {
		if p != "/.signatures.json" {
			unsigned[p] = raw
		}
	}
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(bundletest.WriteTarGz(t, unsigned)), pub, "x"); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("unsigned: %v", err)
	}

	tampered := clone(files)
	tampered["/sovgate/decision.rego"] = []byte(strings.Replace(string(files["/sovgate/decision.rego"]), "true", "false", 1))
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(bundletest.WriteTarGz(t, tampered)), pub, "x"); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("tampered: %v", err)
	}

	added := clone(files)
	added["/sovgate/extra.rego"] = []byte("package sovgate\n")
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(bundletest.WriteTarGz(t, added)), pub, "x"); err == nil || !strings.Contains(err.Error(), "not included in bundle signature") {
		t.Errorf("added file: %v", err)
	}

	removed := clone(files)
	delete(removed, "/sovgate/decision_test.rego")
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(bundletest.WriteTarGz(t, removed)), pub, "x"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("removed file: %v", err)
	}
	if _, _, err := policy.ReadSignedBundle(strings.NewReader("not a bundle"), pub, "x"); err == nil {
		t.Error("garbage accepted")
	}
}

func clone(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestRunTestsCoverage(t *testing.T) {
	var out bytes.Buffer
	sum, err := policy.RunTests(t.Context(), policy.EmbeddedBundle(), policy.TestOptions{Coverage: true}, &out)
	if err != nil || !sum.OK() {
		t.Fatalf("%v %+v\n%s", err, sum, out.String())
	}
	c := sum.Coverage
	if c == nil || c.Percent < 90 || len(c.Files) == 0 {
		t.Fatalf("coverage of the default bundle: %+v", c)
	}
	for _, f := range c.Files {
		if strings.HasSuffix(f.File, "_test.rego") {
			t.Errorf("a test file in the coverage: %s", f.File)
		}
	}
}
