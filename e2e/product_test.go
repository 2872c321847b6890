package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The command line is sovgate's: its version, its help, its errors, its
// directories.

func TestVersionNamesSovgateCaddyOPAAndData(t *testing.T) {
	res := runSovgate(t, "version")
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s", res.exit, res.stderr)
	}
	lines := strings.Split(res.stdout, "\n")
	if !strings.HasPrefix(lines[0], "sovgate ") {
		t.Errorf("first line %q does not name sovgate", lines[0])
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+Caddy\s+v2\.\d+\.\d+`),
		regexp.MustCompile(`(?m)^\s+Open Policy Agent\s+v1\.\d+\.\d+`),
		regexp.MustCompile(`(?m)^\s+country\s+20\d\d-\d\d-\d\d\s+IP2Location LITE`),
		regexp.MustCompile(`(?m)^\s+operator catalogue\s+sha256:[0-9a-f]{12}`),
	} {
		if !want.MatchString(res.stdout) {
			t.Errorf("version output lacks %s:\n%s", want, res.stdout)
		}
	}
	res = runSovgate(t, "version", "--format", "json")
	var doc struct {
		Sovgate struct {
			Version string `json:"version"`
		} `json:"sovgate"`
		Caddy, OPA string
		Embedded   []struct {
			Name string `json:"name"`
		} `json:"embedded_data"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc.Sovgate.Version == "" || doc.Caddy == "" || doc.OPA == "" || len(doc.Embedded) < 2 {
		t.Errorf("version --format json: %v %+v\n%s", err, doc, res.stdout)
	}
	if res := runSovgate(t, "--version"); !strings.HasPrefix(res.stdout, "sovgate ") {
		t.Errorf("--version: %q", res.stdout)
	}
}

// TestCaddyCommandsThatReplaceTheBinaryAreGone: upgrade, add-package and
// remove-package would download a stock Caddy in place of the gateway.
func TestCaddyCommandsThatReplaceTheBinaryAreGone(t *testing.T) {
	help := runSovgate(t, "--help").stdout
	for _, name := range []string{"upgrade", "add-package", "remove-package"} {
		res := runSovgate(t, name)
		if res.exit != 2 || !strings.Contains(res.stderr, `unknown command "`+name+`"`) {
			t.Errorf("sovgate %s: exit %d\n%s", name, res.exit, res.stderr)
		}
		if regexp.MustCompile(`(?m)^\s+` + name + `\s`).MatchString(help) {
			t.Errorf("--help still lists %s", name)
		}
	}
}

// TestCLIErrorsArePlainLines: an error is one line on stderr (plus a hint
// for usage errors), never a JSON log line, with the usual exit status.
func TestCLIErrorsArePlainLines(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "Caddyfile")
	writeFile(t, broken, "{\n\tsovereignty {\n\t\tmode sometimes\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n")
	cases := []struct {
		args  []string
		exit  int
		lines int
		want  string
	}{
		{[]string{"no-such-command"}, 2, 2, `unknown command "no-such-command"`},
		{[]string{"check", "--no-such-flag", "x"}, 2, 2, "unknown flag: --no-such-flag"},
		{[]string{"check", "0x7f.0.0.1:443"}, 1, 1, "0x7f.0.0.1"},
		{[]string{"validate", "--config", filepath.Join(dir, "missing")}, 1, 1, "no such file"},
		{[]string{"validate", "--config", broken}, 1, 1, "sometimes"},
		{[]string{"adapt", "--config", filepath.Join(dir, "missing")}, 1, 1, "no such file"},
		{[]string{"status", "--address", fmt.Sprintf("127.0.0.1:%d", freePort(t))}, 1, 1, "no gateway answers"},
		{[]string{"version", "--format", "yaml"}, 2, 2, "--format"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runSovgate(t, tc.args...)
			lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
			if res.exit != tc.exit || len(lines) != tc.lines || !strings.HasPrefix(lines[0], "sovgate: ") || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("exit %d (want %d), %d stderr lines (want %d) starting \"sovgate: \" with %q:\n%s", res.exit, tc.exit, len(lines), tc.lines, tc.want, res.stderr)
			}
			if strings.Contains(res.stderr, `{"level"`) {
				t.Errorf("a JSON log line on stderr:\n%s", res.stderr)
			}
		})
	}
}

// TestCheckHostsFileAndQuietDenial: --hosts answers a lab name with no DNS
// server, and a denial (exit 3) is an answer: nothing on stderr.
func TestCheckHostsFileAndQuietDenial(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, "# a lab\n127.0.0.2 upstream.lab\n")
	res := runSovgate(t, "check", "--hosts", hosts, "--resolver", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--allow-private", "127.0.0.0/29", "http://upstream.lab/")
	if res.exit != 3 || res.stderr != "" || !strings.Contains(res.stdout, "127.0.0.2") {
		t.Errorf("exit %d (want 3), stderr %q, stdout:\n%s", res.exit, res.stderr, res.stdout)
	}
	writeFile(t, hosts, "127.0.0.2\n")
	res = runSovgate(t, "check", "--hosts", hosts, "http://upstream.lab/")
	if res.exit != 1 || !strings.Contains(res.stderr, hosts+":1:") {
		t.Errorf("a broken hosts file: exit %d\n%s", res.exit, res.stderr)
	}
}

// TestHelpAndManualPagesSpeakOfSovgate: the help, the manual pages and the
// completion scripts are generated from the command tree, and name sovgate,
// not Caddy's website or commands.
func TestHelpAndManualPagesSpeakOfSovgate(t *testing.T) {
	dir := t.TempDir()
	res := runSovgate(t, "manpage", "--directory", dir)
	if res.exit != 0 {
		t.Fatalf("manpage: exit %d\n%s", res.exit, res.stderr)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.8"))
	want := []string{"sovgate.8", "sovgate-run.8", "sovgate-check.8", "sovgate-status.8", "sovgate-audit.8", "sovgate-completion.8"}
	for _, w := range want {
		if _, err := os.Stat(filepath.Join(dir, w)); err != nil {
			t.Errorf("no manual page %s (have %d pages)", w, len(pages))
		}
	}
	forbidden := regexp.MustCompile(`caddyserver\.com|\bcaddy (run|start|stop|reload|adapt|storage)\b|\bCaddy (process|instance|binary)\b|add-package|upgrade`)
	check := func(what, text string) {
		if m := forbidden.FindString(text); m != "" {
			t.Errorf("%s mentions %q", what, m)
		}
	}
	for _, p := range pages {
		check(filepath.Base(p), mustRead(p))
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"start", "--help"}, {"storage", "--help"}, {"reload", "--help"}} {
		check("sovgate "+strings.Join(args, " "), runSovgate(t, args...).stdout)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		res := runSovgate(t, "completion", shell)
		if res.exit != 0 || !strings.Contains(res.stdout, "sovgate") || strings.Contains(res.stdout, "caddy") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, res.exit, len(res.stdout))
		}
	}
}

// TestOwnDirectories runs a gateway as an ordinary user with only HOME set:
// its autosave and Caddy's storage land in ~/.config/sovgate and
// ~/.local/share/sovgate, and nothing in Caddy's ~/.config/caddy or
// ~/.local/share/caddy. Under systemd (STATE_DIRECTORY), both are in the
// state directory.
func TestOwnDirectories(t *testing.T) {
	cases := []struct {
		name              string
		env               func(home string) []string
		autosave, storage string // relative to home
	}{
		{"user", func(home string) []string { return nil }, ".config/sovgate/autosave.json", ".local/share/sovgate/caddy/instance.uuid"},
		{"systemd", func(home string) []string { return []string{"STATE_DIRECTORY=" + filepath.Join(home, "state")} },
			"state/autosave.json", "state/caddy/instance.uuid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not t.TempDir(): its parent is private to root, and the
			// gateway runs as nobody when the tests run as root.
			home, err := os.MkdirTemp("", "sovgate-home")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(home) })
			adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			port := freePort(t)
			cfg := filepath.Join(home, "Caddyfile")
			writeFile(t, cfg, fmt.Sprintf("{\n\tadmin %s\n\tsovereignty\n}\n\nhttp://:%d {\n\tbind 127.0.0.1\n\tsovereign_egress\n}\n", adminAddr, port))
			cmd := exec.Command(sovgateBinary(t), "run", "--config", cfg)
			cmd.Dir = home
			cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, tc.env(home)...)
			if os.Geteuid() == 0 {
				// As root the state would go to /var/lib/sovgate: run as
				// nobody, as a user would.
				if err := os.Chmod(home, 0o777); err != nil {
					t.Fatal(err)
				}
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			out, err := os.Create(filepath.Join(t.TempDir(), "log"))
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			// The autosave is written when the configuration is loaded;
			// Caddy's storage when the TLS app cleans it, at start.
			waitFor(t, func() bool {
				_, e1 := os.Stat(filepath.Join(home, tc.autosave))
				_, e2 := os.Stat(filepath.Join(home, tc.storage))
				return e1 == nil && e2 == nil
			}, tc.autosave+" and "+tc.storage+":\n"+mustRead(out.Name()))
			for _, caddys := range []string{".config/caddy", ".local/share/caddy"} {
				if _, err := os.Stat(filepath.Join(home, caddys)); err == nil {
					t.Errorf("sovgate wrote into Caddy's %s", caddys)
				}
			}
		})
	}
}

// TestStatusCommand prints a running gateway's status for a person.
func TestStatusCommand(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	port := freePort(t)
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", port)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	caddyfile := filepath.Join(dir, "Caddyfile")
	writeFile(t, caddyfile, fmt.Sprintf(`{
	admin %s
	sovereignty {
		geoip_country %s
		geoip_registration %s
		resolver %s
		allow_private 127.0.0.0/29
		audit %s
		node status-test
	}
}

http://:%d {
	bind 127.0.0.1
	sovereign_egress
}
`, adminAddr, w.countryDB, w.registrationDB, w.dns.Addr(), filepath.Join(dir, "audit.db"), port))
	startBinaryGateway(t, dir, caddyfile, proxyAddr, adminAddr)
	proxy, _ := url.Parse("http://" + proxyAddr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 10 * time.Second}
	for _, host := range []string{"eu.test", "us.test"} {
		resp, err := client.Get(fmt.Sprintf("http://%s:%d/", host, w.httpPort))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	res := runSovgate(t, "status", "--config", caddyfile)
	if res.exit != 0 {
		t.Fatalf("status: exit %d\n%s", res.exit, res.stderr)
	}
	for _, want := range []string{"sovgate status-test at " + adminAddr + ": monitor mode", "policy", "revision", "decisions  2 (allowed 1, denied 1, blocked 0): 1 sovereignty violations, 0 operational refusals;", "audit", "sqlite:", "(up)"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, res.stdout)
		}
	}
	res = runSovgate(t, "status", "--address", adminAddr, "--format", "json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil || doc["node"] != "status-test" {
		t.Errorf("status --format json: %v\n%s", err, res.stdout)
	}
	if res := runSovgate(t, "status", "--address", adminAddr, "--quiet"); res.exit != 0 || res.stdout != "" {
		t.Errorf("status --quiet: exit %d, %q", res.exit, res.stdout)
	}
}

// TestCaddyfileExampleServes starts the shipped Caddyfile.example, with its
// paths moved to a temporary directory and its ports to free ones, and
// sends requests through it: each decision is in the audit store, in the
// decision log and in the metrics.
func TestCaddyfileExampleServes(t *testing.T) {
	w := newWorld(t)
	proxyPort, metricsPort := freePort(t), freePort(t)
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := deployExample(t, func(s string) string {
		for old, repl := range map[string]string{
			"admin localhost:2019":         "admin " + adminAddr,
			"http://:3128 {":               fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1", proxyPort),
			"http://:9180 {":               fmt.Sprintf("http://:%d {", metricsPort),
			"# allow_private 10.20.0.0/16": "allow_private 127.0.0.0/29",
			"# resolver 192.0.2.53:53":     "resolver " + w.dns.Addr(),
			"# node gw-lyon-1":             "node gw-example",
			"connect_ports 443":            fmt.Sprintf("connect_ports %d", w.tlsPort),
			"tls_ports 443":                fmt.Sprintf("tls_ports %d", w.tlsPort),
		} {
			if !strings.Contains(s, old) {
				t.Fatalf("Caddyfile.example no longer contains %q; update this test", old)
			}
			s = strings.ReplaceAll(s, old, repl)
		}
		return strings.Replace(s, "\t\tmode monitor\n", fmt.Sprintf("\t\tmode monitor\n\t\tgeoip_country %s\n\t\tgeoip_asn %s\n\t\tgeoip_registration %s\n", w.countryDB, w.asnDB, w.registrationDB), 1)
	})
	proxyAddr := fmt.Sprintf("127.0.0.1:%d", proxyPort)
	startBinaryGateway(t, d.dir, d.caddyfile, proxyAddr, adminAddr)

	proxy, _ := url.Parse("http://" + proxyAddr)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: w.roots}}, Timeout: 10 * time.Second}
	ids := map[string]string{}
	for _, u := range []string{
		fmt.Sprintf("http://eu.test:%d/", w.httpPort), // allowed
		fmt.Sprintf("https://us.test:%d/", w.tlsPort), // denied, forwarded in monitor mode
	} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s through Caddyfile.example: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from") {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
		}
		ids[u] = resp.Header.Get("Sovgate-Decision-Id")
	}
	// A Basic-auth user the credentials file does not list is refused.
	authProxy, _ := url.Parse("http://etat-civil:guess@" + proxyAddr)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(authProxy)}}).Get(fmt.Sprintf("http://eu.test:%d/", w.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("a wrong proxy password got %d, want 407", resp.StatusCode)
	}

	// The audit store (batched: on disk within a second).
	var records []struct {
		Host    string `json:"host"`
		Verdict string `json:"verdict"`
		Node    string `json:"node"`
	}
	waitFor(t, func() bool {
		res := runSovgate(t, "audit", "query", "--config", d.caddyfile, "--format", "json")
		records = nil
		json.Unmarshal([]byte(res.stdout), &records)
		return len(records) >= 3
	}, "three decisions in the audit store")
	verdicts := map[string]string{}
	for _, r := range records {
		verdicts[r.Host] = r.Verdict
		if r.Node != "gw-example" {
			t.Errorf("record of node %q", r.Node)
		}
	}
	if verdicts["eu.test"] != "allow" || verdicts["us.test"] != "deny" {
		t.Errorf("audit verdicts %v", verdicts)
	}
	// The decision log.
	logFile := filepath.Join(d.dir, "log", "decisions.log")
	waitFor(t, func() bool { return strings.Count(mustRead(logFile), `"logger":"sovgate.decision"`) >= 3 }, "decisions in "+logFile)
	// The metrics endpoint.
	mresp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(metrics), "sovgate_") {
		t.Errorf("the metrics endpoint shows no sovgate_ metric:\n%.2000s", metrics)
	}
}
