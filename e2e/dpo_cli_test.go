package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/policy"
)

func TestDPOPolicyTestCoverageAndRun(t *testing.T) {
	res := runSovgate(t, "policy", "test", "--coverage", "../policies")
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	for _, want := range []string{"PASS: ", "COVERAGE", "policies/sovgate/decision.rego", "TOTAL: "} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}
	if m := regexp.MustCompile(`TOTAL: (\d+)\.\d%`).FindStringSubmatch(res.stdout); m == nil || len(m[1]) < 2 {
		t.Errorf("the default bundle's tests cover under 10%% of it:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "_test.rego  ") {
		t.Errorf("test files are in the coverage table:\n%s", res.stdout)
	}

	res = runSovgate(t, "policy", "test", "--run", "exception", "--format", "json", "--coverage", "../policies")
	var sum policy.TestSummary
	if err := json.Unmarshal([]byte(res.stdout), &sum); err != nil || res.exit != 0 {
		t.Fatalf("exit %d, JSON %v\n%s%s", res.exit, err, res.stdout, res.stderr)
	}
	all := runSovgate(t, "policy", "test", "--format", "json", "../policies")
	var allSum policy.TestSummary
	json.Unmarshal([]byte(all.stdout), &allSum)
	if sum.Passed == 0 || sum.Passed >= allSum.Passed || sum.Coverage == nil || len(sum.Coverage.Files) == 0 {
		t.Errorf("--run exception ran %d of %d tests; coverage %+v", sum.Passed, allSum.Passed, sum.Coverage)
	}
}

func TestDPOPolicyCheckWarnsAboutExpiry(t *testing.T) {
	dir := copyDefaultPolicies(t)
	editData(t, dir, func(data map[string]any) {
		record := func(app, host, starts, expires string) map[string]any {
			return map[string]any{"app": app, "host": host, "covers": []any{"JURISDICTION_NON_EU"}, "legal_basis": "art46",
				"assessment": "AITD-2026-04", "reason": "migration", "approved_by": "DPO", "starts": starts, "expires": expires}
		}
		data["exceptions"] = map[string]any{
			"2026-003-expired": record("visio", "api.example.net", "2026-01-01", "2026-10-31"),
			"2026-017-soon":    record("*", "*.example.net", "2026-01-15", "2026-12-15"),
			"2026-020-later":   record("visio", "cdn.example.net", "2026-07-01", "2027-06-30"),
		}
	})
	res := runSovgate(t, "policy", "check", "--now", "2026-11-28", dir)
	if res.exit != 0 {
		t.Fatalf("warnings must not fail the check: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	data := filepath.Join(dir, "sovgate", "data.json")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(data) + `:\d+:\d+: warning: exception "2026-003-expired" expired on 2026-10-31 \(28 days ago\)`),
		regexp.MustCompile(regexp.QuoteMeta(data) + `:\d+:\d+: warning: exception "2026-017-soon" expires on 2026-12-15 \(in 17 days\)`),
		regexp.MustCompile(`ok, 2 warning\(s\)`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("output does not match %s:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "2026-020-later") {
		t.Errorf("an exception 7 months away is announced:\n%s", res.stdout)
	}
	if res := runSovgate(t, "policy", "check", "--now", "2026-11-28", "--fail-on-warning", dir); res.exit != 1 {
		t.Errorf("--fail-on-warning: exit %d", res.exit)
	}
	// A data mistake is an error, with its position.
	editData(t, dir, func(data map[string]any) {
		data["apps"] = map[string]any{"visio": map[string]any{"identified_by": map[string]any{"cidr": []any{"10.1.2.3/16"}}}}
	})
	res = runSovgate(t, "policy", "check", "--now", "2026-11-28", dir)
	if res.exit != 1 || !regexp.MustCompile(regexp.QuoteMeta(data)+`:\d+:\d+: sovgate_data_error: apps\["visio"\]\.identified_by\.cidr: "10.1.2.3/16" has host bits set; did you mean 10.1.0.0/16\?`).MatchString(res.stdout) {
		t.Errorf("exit %d\n%s", res.exit, res.stdout)
	}
}

func TestDPOPolicyFmt(t *testing.T) {
	dir := t.TempDir()
	messy := filepath.Join(dir, "sovgate", "local.rego")
	writeFile(t, messy, "package sovgate\nblocked_provider:=\"acme\"\n")
	clean := filepath.Join(dir, "sovgate", "clean.rego")
	writeFile(t, clean, "package sovgate\n\nx := 1\n")

	res := runSovgate(t, "policy", "fmt", "-l", dir)
	if res.exit != 0 || strings.TrimSpace(res.stdout) != messy {
		t.Errorf("-l: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	res = runSovgate(t, "policy", "fmt", "-d", "--fail", dir)
	if res.exit != 1 || !strings.Contains(res.stdout, "-blocked_provider:=\"acme\"\n+\n+blocked_provider := \"acme\"\n") {
		t.Errorf("-d --fail: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	res = runSovgate(t, "policy", "fmt", messy)
	if res.exit != 0 || res.stdout != "package sovgate\n\nblocked_provider := \"acme\"\n" {
		t.Errorf("no flag prints the formatted file: exit %d\n%q", res.exit, res.stdout)
	}
	if res := runSovgate(t, "policy", "fmt", "-w", dir); res.exit != 0 {
		t.Fatalf("-w: exit %d %s", res.exit, res.stderr)
	}
	if res := runSovgate(t, "policy", "fmt", "-l", "--fail", dir); res.exit != 0 || res.stdout != "" {
		t.Errorf("after -w: exit %d %q", res.exit, res.stdout)
	}
	// The default bundle is in canonical style.
	if res := runSovgate(t, "policy", "fmt", "-l", "--fail", "../policies"); res.exit != 0 {
		t.Errorf("the default bundle is not formatted:\n%s", res.stdout)
	}
	writeFile(t, messy, "package sovgate\n\nx := {\n")
	res = runSovgate(t, "policy", "fmt", "-l", dir)
	if res.exit != 1 || !strings.Contains(res.stdout, messy+":4:") {
		t.Errorf("a file that does not parse: exit %d\n%s", res.exit, res.stdout)
	}
}

func TestDPOPolicyBundleCommand(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	out := filepath.Join(dir, "srv", "sovgate.tar.gz")

	res := runSovgate(t, "policy", "bundle", "../policies", "--signing-key", keyFile, "--output", out)
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	b, info, err := policy.ReadSignedBundle(bytes.NewReader(raw), pub, "bundle")
	if err != nil {
		t.Fatal(err)
	}
	embedded, _ := policy.LoadEmbedded(t.Context())
	if info.Revision != embedded.Revision() || !strings.Contains(res.stdout, "revision "+embedded.Revision()) {
		t.Errorf("revision %s in the manifest, %s embedded; output:\n%s", info.Revision, embedded.Revision(), res.stdout)
	}
	if _, err := policy.LoadTested(t.Context(), b); err != nil {
		t.Error(err)
	}

	// No key, no bundle; failing tests, no bundle.
	if res := runSovgate(t, "policy", "bundle", "../policies", "--output", out); res.exit != 1 {
		t.Errorf("without --signing-key: exit %d", res.exit)
	}
	failing := copyDefaultPolicies(t)
	editData(t, failing, func(data map[string]any) { data["default_profile"] = "open" })
	other := filepath.Join(dir, "failing.tar.gz")
	res = runSovgate(t, "policy", "bundle", failing, "--signing-key", keyFile, "--output", other)
	if res.exit != 1 || !strings.Contains(res.stdout, "test_shipped_defaults") {
		t.Errorf("failing tests: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a bundle was written for a policy whose tests fail")
	}
}

func TestDPOCheckExplain(t *testing.T) {
	w := newWorld(t)
	common := []string{"--geoip-country", w.countryDB, "--geoip-asn", w.asnDB, "--geoip-registration", w.registrationDB, "--resolver", w.dns.Addr(), "--allow-private", "127.0.0.0/29"}
	res := runSovgate(t, append([]string{"check", "--explain"}, append(common, "https://us.test/")...)...)
	if res.exit != 3 {
		t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	for _, want := range []*regexp.Regexp{
		// The branch of the decision that denied, and the rule that
		// found the violation, each with file:line.
		regexp.MustCompile(`embedded:sovgate/decision\.rego:\d+\s+else := \{"allow": false, "profile": profile, "reasons": violations\} if \{\s+<- decided`),
		regexp.MustCompile(`embedded:sovgate/residency\.rego:\d+\s+residency_violations contains residency_reason\(address\.ip, country\) if \{`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("--explain output does not match %s:\n%s", want, res.stdout)
		}
	}

	res = runSovgate(t, append([]string{"check", "--explain", "--format", "json"}, append(common, "aws-paris.test:443")...)...)
	var report struct {
		Explanation policy.Explanation `json:"explanation"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	var rules []string
	for _, h := range report.Explanation.Rules {
		rules = append(rules, h.Rule)
	}
	if !strings.Contains(strings.Join(rules, " "), "data.sovgate.jurisdiction_violations") {
		t.Errorf("the jurisdiction rule is not named: %v", rules)
	}
}
