package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policies"
	"github.com/sovgate/sovgate/policy"
)

func usInput() *policy.Input {
	return &policy.Input{
		Request: policy.Request{Method: "CONNECT", Scheme: "https", Host: "api.example.com", Port: 443},
		Source:  policy.Caller{App: "etat-civil", IP: "10.1.2.3", IdentifiedBy: "basic"},
		Destination: geo.Destination{
			Host: "api.example.com",
			// An operator known by the registration of its network only,
			// in no foreign jurisdiction: the location decides.
			Addresses: []geo.Address{{IP: netip.MustParseAddr("203.0.113.7"), Country: "US", ASN: 64500, Provider: "as64500", MatchedBy: geo.MatchedByRegistration}},
		},
		Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
}

// bundleFS builds a bundle from file contents, for error tests.
func bundleFS(files map[string]string) policy.Bundle {
	mfs := fstest.MapFS{}
	for name, content := range files {
		mfs[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return policy.Bundle{FS: mfs, Dir: "/etc/sovgate/policies"}
}

const goodPolicy = `package sovgate

decision := {"allow": true, "profile": "test", "reasons": []}
`

func TestLoadEmbedded(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if e.Source() != "embedded" {
		t.Errorf("Source() = %q, want embedded", e.Source())
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(e.Revision()) {
		t.Errorf("Revision() = %q, want 12 hex digits", e.Revision())
	}
	d, err := e.Evaluate(t.Context(), usInput())
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || d.Profile != "sovereign" || len(d.Reasons) != 1 || d.Reasons[0].Code != "RESIDENCY_NON_EU" {
		t.Errorf("decision = %+v", d)
	}
}

// The embedded bundle and the directory it is built from are the same
// policy, with the same revision: a DPO who copies policies/ starts exactly
// where the binary is.
func TestEmbeddedAndDirSameRevision(t *testing.T) {
	emb, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dir, err := policy.LoadDir(t.Context(), "../policies")
	if err != nil {
		t.Fatal(err)
	}
	if emb.Revision() != dir.Revision() {
		t.Errorf("revisions differ: embedded %s, dir %s", emb.Revision(), dir.Revision())
	}
	if dir.Source() != "../policies" {
		t.Errorf("Source() = %q", dir.Source())
	}
}

func TestRevision(t *testing.T) {
	load := func(files map[string]string) string {
		t.Helper()
		e, err := policy.Load(t.Context(), bundleFS(files))
		if err != nil {
			t.Fatal(err)
		}
		return e.Revision()
	}
	base := map[string]string{"sovgate/p.rego": goodPolicy, "sovgate/data.json": `{"a": 1}`}
	r1 := load(base)
	if r2 := load(base); r1 != r2 {
		t.Errorf("revision not stable: %s, %s", r1, r2)
	}
	withTest := maps.Clone(base)
	withTest["sovgate/p_test.rego"] = "package sovgate_test\n\ntest_x if true\n"
	if r := load(withTest); r != r1 {
		t.Errorf("a test file changed the revision: %s -> %s", r1, r)
	}
	withData := maps.Clone(base)
	withData["sovgate/data.json"] = `{"a": 2}`
	if r := load(withData); r == r1 {
		t.Error("changing data did not change the revision")
	}
	withRule := maps.Clone(base)
	withRule["sovgate/p.rego"] = goodPolicy + "\nx := 1\n"
	if r := load(withRule); r == r1 {
		t.Error("changing a module did not change the revision")
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			in := usInput()
			if i%2 == 0 {
				in.Destination.Addresses[0].Country = "FR"
			}
			for range 50 {
				d, err := e.Evaluate(t.Context(), in)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allow != (i%2 == 0) {
					t.Errorf("worker %d: allow = %v", i, d.Allow)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEvaluateNilInput(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Evaluate(t.Context(), nil); err == nil {
		t.Fatal("no error for a nil input")
	}
}

func TestEvaluateCanceledContext(t *testing.T) {
	e, err := policy.LoadEmbedded(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Evaluate(ctx, usInput()); err == nil {
		t.Fatal("no error with a canceled context")
	}
}

// A decision of the wrong shape is an error, never a guess.
func TestEvaluateMalformedDecision(t *testing.T) {
	for name, rule := range map[string]string{
		"not an object":     `decision := true`,
		"allow missing":     `decision := {"profile": "p", "reasons": []}`,
		"allow not a bool":  `decision := {"allow": "yes", "profile": "p", "reasons": []}`,
		"profile number":    `decision := {"allow": true, "profile": 1, "reasons": []}`,
		"reasons missing":   `decision := {"allow": true, "profile": "p"}`,
		"reasons a set":     `decision := {"allow": true, "profile": "p", "reasons": set()}`,
		"reason not object": `decision := {"allow": false, "profile": "p", "reasons": ["no"]}`,
		"code missing":      `decision := {"allow": false, "profile": "p", "reasons": [{"message": "m"}]}`,
		"code empty":        `decision := {"allow": false, "profile": "p", "reasons": [{"code": "", "message": "m"}]}`,
		"message missing":   `decision := {"allow": false, "profile": "p", "reasons": [{"code": "C"}]}`,
		"ip not a string":   `decision := {"allow": false, "profile": "p", "reasons": [{"code": "C", "message": "m", "ip": 1}]}`,
		"messages a string": `decision := {"allow": false, "profile": "p", "reasons": [{"code": "C", "message": "m", "messages": "m"}]}`,
		"message a number":  `decision := {"allow": false, "profile": "p", "reasons": [{"code": "C", "message": "m", "messages": {"fr": 1}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			e, err := policy.Load(t.Context(), bundleFS(map[string]string{"sovgate/p.rego": "package sovgate\n\n" + rule + "\n"}))
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Evaluate(t.Context(), usInput())
			if !errors.Is(err, policy.ErrMalformedDecision) {
				t.Fatalf("Evaluate = %+v, %v; want ErrMalformedDecision", d, err)
			}
			if !strings.Contains(err.Error(), e.Revision()) {
				t.Errorf("error does not name the revision: %v", err)
			}
		})
	}
}

// A reason's messages in other languages are read beside its message.
func TestEvaluateReasonMessages(t *testing.T) {
	rule := `decision := {"allow": false, "profile": "p", "reasons": [
		{"code": "C", "message": "in English", "messages": {"fr": "en français", "en": "in English"}},
		{"code": "D", "message": "only this"},
	]}`
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{"sovgate/p.rego": "package sovgate\n\n" + rule + "\n"}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(t.Context(), usInput())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Reasons) != 2 || d.Reasons[0].Messages["fr"] != "en français" || d.Reasons[0].Messages["en"] != "in English" ||
		d.Reasons[1].Messages != nil || d.Reasons[1].Message != "only this" {
		t.Errorf("reasons %+v", d.Reasons)
	}
}

func TestEvaluateUndefinedDecision(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego": "package sovgate\n\ndecision := {\"allow\": true, \"profile\": \"p\", \"reasons\": []} if input.source.app == \"x\"\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Evaluate(t.Context(), usInput()); !errors.Is(err, policy.ErrUndefinedDecision) {
		t.Fatalf("err = %v, want ErrUndefinedDecision", err)
	}
}

func TestEvaluateKeepsExtraFieldsOut(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego": `package sovgate

decision := {"allow": false, "profile": "p", "debug": 1, "reasons": [
	{"code": "A", "message": "m", "ip": "192.0.2.1", "extra": true},
	{"code": "EXCEPTION_APPLIED", "message": "n", "exception": "e1"},
]}
`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(t.Context(), usInput())
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Decision{Profile: "p", Reasons: []policy.Reason{
		{Code: "A", Message: "m", IP: "192.0.2.1"},
		{Code: "EXCEPTION_APPLIED", Message: "n", Exception: "e1"},
	}}
	if !sameDecision(d, &want) {
		t.Fatalf("decision = %+v", d)
	}
}

// A broken Rego file is reported as file:line:col with the path the user
// knows.
func TestLoadParseErrorPosition(t *testing.T) {
	_, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/good.rego":   goodPolicy,
		"sovgate/broken.rego": "package sovgate\n\nx := 1\ny = = 2\n",
	}))
	var diags policy.Diagnostics
	if !errors.As(err, &diags) || len(diags) == 0 {
		t.Fatalf("err = %v, want Diagnostics", err)
	}
	d := diags[0]
	if d.File != "/etc/sovgate/policies/sovgate/broken.rego" || d.Row != 4 || d.Col != 5 || d.Code != "rego_parse_error" {
		t.Errorf("diagnostic = %+v", d)
	}
	if !strings.HasPrefix(d.String(), "/etc/sovgate/policies/sovgate/broken.rego:4:5: rego_parse_error: ") {
		t.Errorf("String() = %q", d.String())
	}
	if !strings.Contains(err.Error(), "/etc/sovgate/policies") {
		t.Errorf("error does not name the source: %v", err)
	}
}

func TestParseErrorAtEndOfFileHasColumn(t *testing.T) {
	diags, err := policy.Check(t.Context(), bundleFS(map[string]string{"sovgate/p.rego": "package sovgate\n\nx := {\n"}))
	if err != nil || len(diags) == 0 || diags[0].Row != 4 || diags[0].Col != 1 {
		t.Fatalf("Check = %v, %v", diags, err)
	}
}

func TestLoadErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string // in the first diagnostic's String()
	}{
		"compile error": {
			files: map[string]string{"sovgate/p.rego": goodPolicy + "\ny := z\n"},
			want:  "/etc/sovgate/policies/sovgate/p.rego:5:6: rego_unsafe_var_error: var z is unsafe",
		},
		"no modules": {
			files: map[string]string{"sovgate/data.json": `{}`},
			want:  "no policy files (*.rego) found",
		},
		"no decision": {
			files: map[string]string{"sovgate/p.rego": "package sovgat\n\ndecision := 1\n"},
			want:  "no rule defines data.sovgate.decision",
		},
		"bad JSON": {
			files: map[string]string{"sovgate/p.rego": goodPolicy, "sovgate/data.json": "{\n  \"apps\": {,\n}"},
			want:  "/etc/sovgate/policies/sovgate/data.json:2:12: sovgate_load_error: invalid JSON",
		},
		"top-level data not an object": {
			files: map[string]string{"sovgate/p.rego": goodPolicy, "data.json": "[1]"},
			want:  "data.json: sovgate_load_error: the data file at the top of the bundle must hold an object",
		},
		"rule hides data": {
			files: map[string]string{"sovgate/p.rego": goodPolicy + "\napps := {}\n", "sovgate/data.json": `{"apps": {"a": 1}}`},
			want:  "conflicting rule for data path sovgate/apps",
		},
		"unsafe builtin": {
			files: map[string]string{"sovgate/p.rego": goodPolicy + "\nr := http.send({\"method\": \"GET\", \"url\": \"http://x\"})\n"},
			want:  "undefined function http.send (sovgate policies may not use network or runtime built-ins)",
		},
		"empty file": {
			files: map[string]string{"sovgate/p.rego": goodPolicy, "sovgate/empty.rego": "# nothing\n"},
			want:  "empty.rego",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Load(t.Context(), bundleFS(tc.files))
			var diags policy.Diagnostics
			if !errors.As(err, &diags) || len(diags) == 0 {
				t.Fatalf("err = %v, want Diagnostics", err)
			}
			if !strings.Contains(diags.Error(), tc.want) {
				t.Errorf("diagnostics:\n%s\nwant them to contain %q", diags.Error(), tc.want)
			}
		})
	}
}

func TestLoadMissingDir(t *testing.T) {
	_, err := policy.LoadDir(t.Context(), t.TempDir()+"/nope")
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}
}

// Only .rego and data files count; hidden files and directories are skipped;
// links to files are followed (Kubernetes ConfigMap mounts).
func TestLoadIgnoresOtherFiles(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego":           goodPolicy,
		"README.md":                "# not a policy",
		"sovgate/notes.json":       "not json at all",
		".git/broken.rego":         "package {",
		"sovgate/.hidden.rego":     "package {",
		"sovgate/broken_test.rego": "package {", // tests are not read by Load
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Evaluate(t.Context(), usInput()); err != nil {
		t.Fatal(err)
	}
}

// Nested data directories follow OPA bundle semantics.
func TestLoadDataPaths(t *testing.T) {
	e, err := policy.Load(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego": `package sovgate

decision := {"allow": data.sovgate.flag, "profile": data.sovgate.apps.visio.profile, "reasons": []}
`,
		"sovgate/data.json":      `{"flag": true}`,
		"sovgate/apps/data.yaml": "visio:\n  profile: open\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(t.Context(), usInput())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Profile != "open" {
		t.Fatalf("decision = %+v", d)
	}
}

func TestCheck(t *testing.T) {
	diags, err := policy.Check(t.Context(), policy.EmbeddedBundle())
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) > 0 {
		t.Fatalf("the embedded bundle has problems:\n%s", policy.Diagnostics(diags).Error())
	}

	// Strict mode: an unused local variable is an error for `policy check`,
	// though Load accepts it.
	strict := map[string]string{"sovgate/p.rego": goodPolicy + "\nf(x) := 1 if {\n\ty := 2\n}\n"}
	if _, err := policy.Load(t.Context(), bundleFS(strict)); err != nil {
		t.Fatalf("Load: %v", err)
	}
	diags, err = policy.Check(t.Context(), bundleFS(strict))
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) == 0 || diags[0].File != "/etc/sovgate/policies/sovgate/p.rego" || diags[0].Row == 0 {
		t.Fatalf("diagnostics = %v", diags)
	}

	// Check reads test files too.
	diags, err = policy.Check(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego":      goodPolicy,
		"sovgate/p_test.rego": "package sovgate_test\n\ntest_x if {\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].File, "p_test.rego") {
		t.Fatalf("diagnostics = %v", diags)
	}
}

// Check reports data.sovgate.data_problems of the default policy.
func TestCheckDataProblems(t *testing.T) {
	files := map[string]string{}
	err := fs.WalkDir(policies.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := fs.ReadFile(policies.FS(), p)
		files[p] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(files["sovgate/data.json"]), &data); err != nil {
		t.Fatal(err)
	}
	data["exceptions"] = map[string]any{"e1": map[string]any{"app": "visio", "host": "x.example", "reason": "r", "approved_by": "DPO", "expires": "31/12/2026"}}
	raw, _ := json.Marshal(data)
	files["sovgate/data.json"] = string(raw)
	diags, err := policy.Check(t.Context(), bundleFS(files))
	if err != nil {
		t.Fatal(err)
	}
	// The unreadable date is an error at its line; the exception, of the
	// earlier format, gets a warning naming the fields it lacks.
	var errs, warnings []policy.Diagnostic
	for _, d := range diags {
		if d.IsWarning() {
			warnings = append(warnings, d)
		} else {
			errs = append(errs, d)
		}
	}
	if len(errs) != 1 || errs[0].Code != policy.CodeDataProblem || errs[0].Row == 0 ||
		errs[0].File != "/etc/sovgate/policies/sovgate/data.json" || !strings.Contains(errs[0].Message, `"31/12/2026"`) {
		t.Fatalf("diagnostics = %v", diags)
	}
	if len(warnings) != 1 || warnings[0].Code != policy.CodeDataWarning ||
		!strings.Contains(warnings[0].Message, "without covers, legal_basis, assessment, starts") {
		t.Fatalf("warnings = %v", warnings)
	}
}

func TestRunTestsReport(t *testing.T) {
	b := bundleFS(map[string]string{
		"sovgate/p.rego": goodPolicy,
		"sovgate/p_test.rego": `package sovgate_test

import data.sovgate

test_allows if sovgate.decision.allow

test_profile if sovgate.decision.profile == "other"

test_prints if {
	print("hello from test")
	true
}
`,
	})
	var out bytes.Buffer
	sum, err := policy.RunTests(t.Context(), b, policy.TestOptions{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (policy.TestSummary{Passed: 2, Failed: 1}) || sum.OK() {
		t.Errorf("summary = %+v", sum)
	}
	report := out.String()
	for _, want := range []string{
		"/etc/sovgate/policies/sovgate/p_test.rego:7:",
		"data.sovgate_test.test_profile: FAIL",
		"PASS: 2/3",
		"FAIL: 1/3",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "test_allows") {
		t.Errorf("passing tests listed without Verbose:\n%s", report)
	}

	out.Reset()
	sum, err = policy.RunTests(t.Context(), b, policy.TestOptions{Verbose: true, Run: "allows|prints"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (policy.TestSummary{Passed: 2}) || !sum.OK() {
		t.Errorf("summary = %+v", sum)
	}
	report = out.String()
	for _, want := range []string{"test_allows: PASS", "test_prints: PASS", "hello from test", "PASS: 2/2"} {
		if !strings.Contains(report, want) {
			t.Errorf("verbose report lacks %q:\n%s", want, report)
		}
	}
	// Sorted by line: the report is the same on every run.
	if strings.Index(report, "test_allows") > strings.Index(report, "test_prints") {
		t.Errorf("results out of order:\n%s", report)
	}
}

func TestRunTestsErrors(t *testing.T) {
	var out bytes.Buffer
	_, err := policy.RunTests(t.Context(), bundleFS(map[string]string{
		"sovgate/p.rego":      goodPolicy,
		"sovgate/p_test.rego": "package sovgate_test\n\ntest_x if undefined_thing\n",
	}), policy.TestOptions{}, &out)
	var diags policy.Diagnostics
	if !errors.As(err, &diags) || !strings.Contains(diags[0].String(), "p_test.rego:3:") {
		t.Fatalf("err = %v", err)
	}

	_, err = policy.RunTests(t.Context(), bundleFS(map[string]string{"sovgate/p.rego": goodPolicy}),
		policy.TestOptions{Run: "("}, &out)
	if err == nil {
		t.Fatal("no error for a bad --run expression")
	}

	out.Reset()
	sum, err := policy.RunTests(t.Context(), bundleFS(map[string]string{"sovgate/p.rego": goodPolicy}), policy.TestOptions{}, &out)
	if err != nil || sum.Total() != 0 || !strings.Contains(out.String(), "no tests found") {
		t.Fatalf("sum = %+v, err = %v, out = %q", sum, err, out.String())
	}
}

func TestDiagnosticString(t *testing.T) {
	for _, tc := range []struct {
		d    policy.Diagnostic
		want string
	}{
		{policy.Diagnostic{File: "a.rego", Row: 3, Col: 5, Code: "rego_parse_error", Message: "m"}, "a.rego:3:5: rego_parse_error: m"},
		{policy.Diagnostic{File: "a.rego", Row: 3, Message: "m"}, "a.rego:3: m"},
		{policy.Diagnostic{File: "data.json", Message: "m"}, "data.json: m"},
		{policy.Diagnostic{Message: "m"}, "m"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// A Kubernetes ConfigMap mount: the files are links into a hidden,
// timestamped directory that is swapped atomically on update.
func TestLoadDirFollowsFileLinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "sovgate", "..2026_11_28_10_00_00.1")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(real, "p.rego"), []byte(goodPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_11_28_10_00_00.1", filepath.Join(dir, "sovgate", "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/p.rego", filepath.Join(dir, "sovgate", "p.rego")); err != nil {
		t.Fatal(err)
	}
	e, err := policy.LoadDir(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Evaluate(t.Context(), usInput())
	if err != nil || !d.Allow || d.Profile != "test" {
		t.Fatalf("Evaluate = %+v, %v", d, err)
	}
}

func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "sovgate"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sovgate", "p.rego"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(goodPolicy)
	snap, err := policy.DirBundle(dir).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	write("package broken {")
	e, err := policy.Load(t.Context(), snap)
	if err != nil {
		t.Fatalf("Load(snapshot) read the changed file: %v", err)
	}
	if e.Source() != dir {
		t.Errorf("Source() = %q, want %q", e.Source(), dir)
	}
	if _, err := policy.LoadDir(t.Context(), dir); err == nil {
		t.Error("the broken file loaded")
	}
	// Diagnostics name the files as on disk.
	snap, err = policy.DirBundle(dir).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	diags, err := policy.Check(t.Context(), snap)
	if err != nil || len(diags) == 0 || diags[0].File != filepath.Join(dir, "sovgate", "p.rego") {
		t.Fatalf("Check = %v, %v", diags, err)
	}
}
