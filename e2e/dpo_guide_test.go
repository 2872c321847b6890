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
//
// Both guides have the same examples, in the same order, and the French one
// writes every example in French: the JSON is the same but for the words
// written for people (a reason, an approver, an assessment, a source), which
// must be translated; the commands are the same but for --lang fr and their
// quoted text (a commit message, in French); a Rego file's comments are
// French.

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
	"api.registres-fr.example":            {"127.0.0.24", "FR", geotest.Registration{ASN: 64520, Org: "REGISTRES-FR", Country: "FR"}},
	"api.registres-de.example":            {"127.0.0.25", "DE", geotest.Registration{ASN: 64521, Org: "REGISTRES-DE", Country: "DE"}},
	"api.transcription-saas.example":      {"127.0.0.26", "US", geotest.Registration{ASN: 64502, Org: "TRANSCRIPTION-SAAS", Country: "US"}},
	// A SaaS on AWS: in Paris, and its backups in the United States.
	"paie.saas-rh.example":       {"127.0.0.27", "FR", geotest.Registration{ASN: 16509, Org: "AMAZON-02", Country: "US"}},
	"sauvegarde.saas-rh.example": {"127.0.0.28", "US", geotest.Registration{ASN: 16509, Org: "AMAZON-02", Country: "US"}},
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
			case "data", "input", "decision", "operator":
				var x, y any
				if err := json.Unmarshal([]byte(a.body), &x); err != nil {
					t.Errorf("example %d (%s), en line %d: %v", i, a.kind, a.line, err)
					continue
				}
				if err := json.Unmarshal([]byte(b.body), &y); err != nil {
					t.Errorf("example %d (%s), fr line %d: %v", i, a.kind, b.line, err)
					continue
				}
				if diff := sameJSONBesidesProse(x, y, ""); diff != "" {
					t.Errorf("example %d (%s): the JSON differs between en line %d and fr line %d: %s", i, a.kind, a.line, b.line, diff)
				}
				for _, path := range untranslated(x, y, "") {
					t.Errorf("example %d (%s), fr line %d: %s is in English: the French guide writes it in French", i, a.kind, b.line, path)
				}
			case "sh", "caddyfile":
				if sameCommands(a.body) != sameCommands(b.body) {
					t.Errorf("example %d (%s): the commands differ between en line %d and fr line %d", i, a.kind, a.line, b.line)
				}
				if m := commitMessages(a.body); len(m) > 0 && reflect.DeepEqual(m, commitMessages(b.body)) {
					t.Errorf("example %d (%s), fr line %d: the commit message is in English: the French guide writes it in French", i, a.kind, b.line)
				}
			case "file":
				if a.body == b.body {
					t.Errorf("example %d (file %s), fr line %d: the same file as in English: the French guide writes its comments in French", i, a.arg, b.line)
				}
			}
		}
	})
	for _, lang := range []string{"en", "fr"} {
		t.Run(lang, func(t *testing.T) { followGuide(t, "docs/policy-guide."+lang+".md", guides[lang]) })
	}
}

// proseKeys are the JSON fields whose values are written for people: the
// French guide writes them in French (a reason, an approver, a
// description...), so they may differ between the guides. Every other value
// (ids, hosts, dates, codes, legal bases, categories) is the same in both.
var proseKeys = map[string]bool{
	"name": true, "owner": true, "description": true, "reason": true, "approved_by": true,
	"assessment": true, "source": true, "sources": true, "note": true,
}

// sameJSONBesidesProse says where x and y differ, other than in the values
// of proseKeys; "" when they do not.
func sameJSONBesidesProse(x, y any, path string) string {
	switch xv := x.(type) {
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: an object in English, %T in French", path, y)
		}
		for k := range yv {
			if _, ok := xv[k]; !ok {
				return fmt.Sprintf("%s.%s: only in French", path, k)
			}
		}
		for k, v := range xv {
			w, ok := yv[k]
			if !ok {
				return fmt.Sprintf("%s.%s: only in English", path, k)
			}
			if proseKeys[k] {
				continue
			}
			if diff := sameJSONBesidesProse(v, w, path+"."+k); diff != "" {
				return diff
			}
		}
		return ""
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return fmt.Sprintf("%s: lists of different lengths", path)
		}
		for i := range xv {
			if diff := sameJSONBesidesProse(xv[i], yv[i], fmt.Sprintf("%s[%d]", path, i)); diff != "" {
				return diff
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(x, y) {
			return fmt.Sprintf("%s: %v in English, %v in French", path, x, y)
		}
		return ""
	}
}

// translatedKeys are the proseKeys the French guide must write in French:
// the others, a name or an owner, may be a proper noun in both.
var translatedKeys = map[string]bool{
	"description": true, "reason": true, "approved_by": true, "assessment": true,
	"source": true, "sources": true, "note": true,
}

// untranslated lists the values of translatedKeys that are the same in the
// English x and the French y, web addresses aside: the French guide left
// them in English.
func untranslated(x, y any, path string) []string {
	var found []string
	switch xv := x.(type) {
	case map[string]any:
		yv, _ := y.(map[string]any)
		for k, v := range xv {
			w, ok := yv[k]
			if !ok {
				continue
			}
			if translatedKeys[k] {
				found = append(found, sameText(v, w, path+"."+k)...)
				continue
			}
			found = append(found, untranslated(v, w, path+"."+k)...)
		}
	case []any:
		yv, _ := y.([]any)
		for i := range min(len(xv), len(yv)) {
			found = append(found, untranslated(xv[i], yv[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return found
}

// sameText lists where the strings of x and y (a string, or a list of
// them) are equal, web addresses aside.
func sameText(x, y any, path string) []string {
	switch xv := x.(type) {
	case string:
		if yv, ok := y.(string); ok && xv == yv && !strings.HasPrefix(xv, "http") {
			return []string{path}
		}
	case []any:
		yv, _ := y.([]any)
		var found []string
		for i := range min(len(xv), len(yv)) {
			found = append(found, sameText(xv[i], yv[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return found
	}
	return nil
}

// commitMessages are the quoted messages of a block's git commits.
func commitMessages(s string) []string {
	var messages []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "git commit") {
			messages = append(messages, quotedRE.FindAllString(line, -1)...)
		}
	}
	return messages
}

var (
	quotedRE = regexp.MustCompile(`"[^"]*"`)
	langRE   = regexp.MustCompile(` --lang (en|fr)\b`)
)

// sameCommands is a block of commands as both guides must write it: without
// shell comments (but with "# exit N") and blank lines, without --lang (the
// French guide asks for French output), and with quoted text, such as a
// commit message, left out (each guide writes it in its language).
func sameCommands(s string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || (strings.HasPrefix(trimmed, "#") && !strings.HasPrefix(trimmed, "# exit")) {
			continue
		}
		trimmed = langRE.ReplaceAllString(trimmed, "")
		trimmed = quotedRE.ReplaceAllString(trimmed, `"..."`)
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
