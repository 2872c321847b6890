package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/geo/geotest"
	"github.com/sovgate/sovgate/policy"
)

// The policy guides (docs/policy-guide.en.md and .fr.md) are tested as a
// DPO would follow them: every fenced block is preceded by a marker
//
//	<!-- test: KIND [ARG] -->
//
// and the blocks are applied in order to one policy directory:
//
//	sh          each line is run (sovgate, git, curl, openssl, cp, mkdir, cd);
//	            "# exit N" at the end of a line is its expected exit status
//	output      the previous command's output holds these lines (numbers and
//	            spacing aside)
//	data        a JSON object merged into sovgate/data.json
//	operator    a JSON object of catalogue entries, each added to
//	            sovgate/operators/data.json or replacing the entry of its id
//	file PATH   the block is written to PATH in the policy directory
//	input       a policy input (every field known to sovgate)
//	decision    the decision the policy directory gives that input
//	caddyfile   a Caddyfile that `sovgate adapt` accepts
//
// A fenced block without a marker fails the test: every example is checked.

// guideHosts are the destinations the guides' `sovgate check` commands ask
// about, placed in the test's DNS, GeoIP and registration data: where each
// address is, and where its network is registered.
var guideHosts = map[string]struct {
	ip, country string
	registered  geotest.Registration
}{
	"api.visio-saas.example":              {"127.0.0.21", "US", geotest.Registration{ASN: 64501, Org: "VISIO-SAAS", Country: "US"}},
	"api.meteo-ch.example":                {"127.0.0.22", "CH", geotest.Registration{ASN: 64510, Org: "METEO-CH-NET", Country: "CH"}},
	"archives-lyon.blob.core.windows.net": {"127.0.0.23", "FR", geotest.Registration{ASN: 8075, Org: "Microsoft Corporation", Country: "US"}},
}

type guideBlock struct {
	line       int
	kind, arg  string
	lang, body string
}

var markerRE = regexp.MustCompile(`^<!-- test: ([a-z]+)(?: (\S+))? -->$`)

func parseGuide(t *testing.T, path string) []guideBlock {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	var blocks []guideBlock
	var pending *guideBlock
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := markerRE.FindStringSubmatch(line); m != nil {
			pending = &guideBlock{line: i + 1, kind: m[1], arg: m[2]}
			continue
		}
		if !strings.HasPrefix(line, "```") {
			if strings.TrimSpace(line) != "" {
				pending = nil
			}
			continue
		}
		lang := strings.TrimPrefix(line, "```")
		var body strings.Builder
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body.WriteString(lines[i])
			body.WriteByte('\n')
		}
		if pending == nil {
			t.Errorf("%s:%d: a code block without a <!-- test: ... --> marker: every example must be checked", path, i)
			continue
		}
		pending.lang, pending.body = lang, body.String()
		blocks = append(blocks, *pending)
		pending = nil
	}
	return blocks
}

// guideRun is the state of one guide being followed.
type guideRun struct {
	t         *testing.T
	w         *world
	dir       string // /etc/sovgate/policies
	keys      string // /etc/sovgate/keys
	bundles   string // /srv/sovgate-bundles
	caddyfile string // /etc/caddy/Caddyfile
	cwd       string
	g         *gateway
	lastOut   string
	input     *policy.Input
}

func (r *guideRun) substitute(s string) string {
	s = strings.ReplaceAll(s, "/etc/sovgate/policies", r.dir)
	s = strings.ReplaceAll(s, "/etc/sovgate/keys", r.keys)
	s = strings.ReplaceAll(s, "/srv/sovgate-bundles", r.bundles)
	s = strings.ReplaceAll(s, "/etc/caddy/Caddyfile", r.caddyfile)
	if r.g != nil {
		s = strings.ReplaceAll(s, "localhost:2019", r.g.adminAddr)
	}
	return s
}

func TestDPOPolicyGuides(t *testing.T) {
	requireTool(t, "git", "apt-get install git")
	requireTool(t, "curl", "apt-get install curl")
	requireTool(t, "openssl", "apt-get install openssl")
	guides := map[string][]guideBlock{}
	for _, lang := range []string{"en", "fr"} {
		guides[lang] = parseGuide(t, "../docs/policy-guide."+lang+".md")
	}
	if t.Failed() {
		return
	}
	t.Run("both guides have the same examples", func(t *testing.T) {
		en, fr := guides["en"], guides["fr"]
		if len(en) != len(fr) {
			t.Fatalf("%d examples in English, %d in French", len(en), len(fr))
		}
		for i := range en {
			a, b := en[i], fr[i]
			if a.kind != b.kind || a.arg != b.arg {
				t.Errorf("example %d: %s %s (en line %d) vs %s %s (fr line %d)", i, a.kind, a.arg, a.line, b.kind, b.arg, b.line)
				continue
			}
			switch a.kind {
			case "data", "input", "decision":
				var x, y any
				json.Unmarshal([]byte(a.body), &x)
				json.Unmarshal([]byte(b.body), &y)
				if !reflect.DeepEqual(x, y) {
					t.Errorf("example %d (%s): the JSON differs between en line %d and fr line %d", i, a.kind, a.line, b.line)
				}
			case "sh", "caddyfile":
				if stripComments(a.body) != stripComments(b.body) {
					t.Errorf("example %d (%s): the commands differ between en line %d and fr line %d", i, a.kind, a.line, b.line)
				}
			}
		}
	})
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) { followGuide(t, "docs/policy-guide."+lang+".md", guides[lang]) })
	}
}

// stripComments drops shell comments (not "# exit N") and blank lines.
func stripComments(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || (strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "# exit")) {
			continue
		}
		out = append(out, trimmed)
	}
	return strings.Join(out, "\n")
}

func followGuide(t *testing.T, name string, blocks []guideBlock) {
	w := newWorld(t)
	for host, h := range guideHosts {
		w.dns.SetA(host, 300, h.ip)
	}
	countries := map[string]string{}
	registrations := map[string]geotest.Registration{}
	for _, h := range guideHosts {
		countries[h.ip] = h.country
		registrations[h.ip] = h.registered
	}
	countryDB := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(t, countryDB, countries)
	registrationDB := filepath.Join(t.TempDir(), "registration.mmdb")
	geotest.WriteRegistrationDB(t, registrationDB, registrations)

	root := t.TempDir()
	r := &guideRun{
		t: t, w: w,
		dir:       filepath.Join(root, "etc-sovgate-policies"),
		keys:      filepath.Join(root, "keys"),
		bundles:   filepath.Join(root, "bundles"),
		caddyfile: filepath.Join(root, "Caddyfile"),
		cwd:       root,
	}
	os.MkdirAll(r.keys, 0o700)
	caddyfile := fmt.Sprintf("{\n\tsovereignty {\n\t\tmode enforce\n\t\tpolicies %s\n\t\tgeoip_country %s\n\t\tgeoip_registration %s\n\t\tresolver %s\n\t\tallow_private 127.0.0.0/24\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n",
		r.dir, countryDB, registrationDB, w.dns.Addr())
	if err := os.WriteFile(r.caddyfile, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, b := range blocks {
		where := fmt.Sprintf("%s:%d (%s %s)", name, b.line, b.kind, b.arg)
		switch b.kind {
		case "sh":
			r.runShell(where, b.body)
		case "output":
			r.checkOutput(where, b.body)
		case "data":
			var patch map[string]any
			if err := json.Unmarshal([]byte(b.body), &patch); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			editData(t, r.dir, func(data map[string]any) { mergeData(data, patch) })
		case "operator":
			var entries map[string]any
			if err := json.Unmarshal([]byte(b.body), &entries); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			editOperators(t, r.dir, entries)
		case "file":
			path := filepath.Join(r.dir, filepath.FromSlash(b.arg))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			saveFile(t, path, b.body)
		case "input":
			dec := json.NewDecoder(strings.NewReader(b.body))
			dec.DisallowUnknownFields()
			r.input = &policy.Input{}
			if err := dec.Decode(r.input); err != nil {
				t.Fatalf("%s: not a policy input: %v", where, err)
			}
		case "decision":
			e, err := policy.LoadTested(t.Context(), policy.DirBundle(r.dir))
			if err != nil {
				t.Fatalf("%s: the policy directory at this point: %v", where, err)
			}
			got, err := e.Evaluate(t.Context(), r.input)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var want policy.Decision
			if err := json.Unmarshal([]byte(b.body), &want); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("%s: the policy decides\n%+v\nthe guide says\n%+v", where, *got, want)
			}
		case "caddyfile":
			file := filepath.Join(t.TempDir(), "Caddyfile")
			os.WriteFile(file, []byte(b.body), 0o644)
			if res := runSovgate(t, "adapt", "--config", file); res.exit != 0 {
				t.Errorf("%s: sovgate adapt: exit %d\n%s", where, res.exit, res.stderr)
			}
		default:
			t.Fatalf("%s: unknown marker kind %q", where, b.kind)
		}
	}

	// The guide leaves a policy that passes the gate, and the gateway that
	// follows the directory has it in service.
	if _, err := policy.LoadTested(t.Context(), policy.DirBundle(r.dir)); err != nil {
		t.Errorf("after the guide, the policy directory is refused: %v", err)
	}
	if r.g != nil {
		want := dirRevision(t, r.dir)
		r.g.waitPolicy(t, "the final revision", func(st sovereignty.PolicyStatus) bool { return st.Revision == want })
	}
	// The bundle the guide built verifies with the public key it made.
	raw, err := os.ReadFile(filepath.Join(r.bundles, "sovgate.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(r.keys, "policy-signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := policy.ReadSignedBundle(bytes.NewReader(raw), pub, "guide"); err != nil {
		t.Errorf("the guide's bundle: %v", err)
	}
}

var exitRE = regexp.MustCompile(`\s+# exit (\d+)$`)

func (r *guideRun) runShell(where, body string) {
	t := r.t
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		want := 0
		if m := exitRE.FindStringSubmatch(line); m != nil {
			want, _ = strconv.Atoi(m[1])
			line = strings.TrimSpace(line[:len(line)-len(m[0])])
		}
		if strings.HasPrefix(line, "curl ") && r.g == nil {
			// The first request to the admin endpoint: start the gateway
			// that follows the policy directory.
			r.g = startGateway(t, r.w, gatewayOptions{mode: "monitor", policies: r.dir})
		}
		args := guideWords(t, r.substitute(line))
		for _, a := range args {
			if strings.HasPrefix(a, "/") && !strings.HasPrefix(a, os.TempDir()) {
				t.Fatalf("%s: %q uses a path the test does not map: %s", where, line, a)
			}
		}
		var cmd *exec.Cmd
		switch args[0] {
		case "cd":
			r.cwd = args[1]
			continue
		case "sovgate":
			cmd = exec.Command(sovgateBinary(t), args[1:]...)
		case "git", "curl", "openssl", "cp", "mkdir":
			cmd = exec.Command(args[0], args[1:]...)
		default:
			t.Fatalf("%s: the guide runs %q, which the test does not know", where, args[0])
		}
		cmd.Dir = r.cwd
		cmd.Env = append(os.Environ(),
			"GIT_AUTHOR_NAME=DPO", "GIT_AUTHOR_EMAIL=dpo@lyon.example",
			"GIT_COMMITTER_NAME=DPO", "GIT_COMMITTER_EMAIL=dpo@lyon.example",
			"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		err := cmd.Run()
		exit := 0
		if ee, ok := err.(*exec.ExitError); ok {
			exit = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %s: %v", where, line, err)
		}
		r.lastOut = out.String()
		if exit != want {
			t.Fatalf("%s: %s\nexit %d, want %d\nstdout:\n%s\nstderr:\n%s", where, line, exit, want, out.String(), stderr.String())
		}
	}
}

// checkOutput: every line of the block is a line of the last output, with
// paths mapped, numbers free and spacing collapsed.
func (r *guideRun) checkOutput(where, body string) {
	normalize := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	var actual []string
	for line := range strings.SplitSeq(r.lastOut, "\n") {
		actual = append(actual, normalize(line))
	}
	for line := range strings.SplitSeq(body, "\n") {
		line = normalize(r.substitute(line))
		if line == "" {
			continue
		}
		pattern := regexp.MustCompile(`\d+`).ReplaceAllString(regexp.QuoteMeta(line), `\d+`)
		re := regexp.MustCompile("^" + pattern + "$")
		found := false
		for _, a := range actual {
			if re.MatchString(a) {
				found = true
				break
			}
		}
		if !found {
			r.t.Errorf("%s: the output has no line like\n  %s\noutput:\n%s", where, line, r.lastOut)
		}
	}
}

// guideWords splits a command line the way the policy guides write them: words,
// and quoted strings ("..." or '...') as one word.
func guideWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' || c == '\'':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '|' || c == '&' || c == ';' || c == '>' || c == '<' || c == '$' || c == '`':
			t.Fatalf("the guides keep to one plain command per line; %q has %q", line, c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// editOperators adds entries to the catalogue of a policy directory,
// replacing the entries of the same ids, as a DPO does in an editor.
func editOperators(t *testing.T, dir string, entries map[string]any) {
	t.Helper()
	path := filepath.Join(dir, "sovgate", "operators", "data.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var catalogue map[string]any
	if err := json.Unmarshal(raw, &catalogue); err != nil {
		t.Fatal(err)
	}
	for id, e := range entries {
		catalogue[id] = e
	}
	out, err := json.MarshalIndent(catalogue, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	saveFile(t, path, string(out)+"\n")
}

// mergeData merges patch into data: objects merge, other values replace.
func mergeData(data, patch map[string]any) {
	for k, v := range patch {
		if pv, ok := v.(map[string]any); ok {
			if dv, ok := data[k].(map[string]any); ok {
				mergeData(dv, pv)
				continue
			}
		}
		data[k] = v
	}
}
