package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sovgateBinary builds cmd/sovgate once per test run: these tests drive the
// real binary, as an admin or a DPO would.
func sovgateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sovgate-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		// Tests run the binary as another user too.
		if err := os.Chmod(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sovgate")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/sovgate")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sovgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	// The binaries these tests start keep their state in a directory of
	// the test run, not in /var/lib/sovgate (CI runs as root) or the
	// developer's home.
	state, err := os.MkdirTemp("", "sovgate-e2e-state")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SOVGATE_DATA_DIR", filepath.Join(state, "data"))
	os.Setenv("SOVGATE_CONFIG_DIR", filepath.Join(state, "config"))
	code := m.Run()
	os.RemoveAll(state)
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type cmdResult struct {
	stdout, stderr string
	exit           int
}

func runSovgate(t *testing.T, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(sovgateBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cmdResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running sovgate %v: %v", args, err)
	}
	return res
}

// TestEgressQuickStart runs `sovgate egress` with no config file, as the
// README says, and sends curl through it.
func TestEgressQuickStart(t *testing.T) {
	curl := requireTool(t, "curl", "apt-get install curl")
	w := newWorld(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logFile := filepath.Join(t.TempDir(), "egress.log")

	start := func(t *testing.T, args ...string) {
		t.Helper()
		log, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sovgateBinary(t), append([]string{"egress", "--listen", listen, "--admin", "off"}, args...)...)
		cmd.Dir = t.TempDir()
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			signalled := false
			for sc.Scan() {
				fmt.Fprintln(log, sc.Text())
				if !signalled && strings.Contains(sc.Text(), "sovgate egress proxy running") {
					close(ready)
					signalled = true
				}
			}
			log.Close()
		}()
		stopAtCleanup(t, cmd)
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			t.Fatalf("sovgate egress did not start:\n%s", mustRead(logFile))
		}
	}

	curlVia := func(args ...string) string {
		out, _ := exec.Command(curl, append([]string{"-sS", "--max-time", "15", "-D", "-", "-x", "http://" + listen}, args...)...).CombinedOutput()
		return string(out)
	}

	t.Run("secure defaults refuse loopback", func(t *testing.T) {
		start(t)
		out := curlVia(fmt.Sprintf("http://%s:%d/", ipEU, w.httpPort))
		if !strings.Contains(out, "403") || !strings.Contains(out, "DESTINATION_PRIVATE") {
			t.Fatalf("default egress reached a loopback address:\n%s", out)
		}
	})

	t.Run("http and https in monitor mode", func(t *testing.T) {
		start(t, "--allow-private", "127.0.0.0/29")
		out := curlVia(fmt.Sprintf("http://%s:%d/", ipEU, w.httpPort))
		if !strings.Contains(out, "200 OK") || !strings.Contains(out, "hello from "+ipEU) {
			t.Fatalf("curl http through sovgate egress:\n%s\nlog:\n%s", out, mustRead(logFile))
		}
		out = curlVia("--cacert", w.caPEM, fmt.Sprintf("https://%s:%d/", ipEU, w.tlsPort))
		if !strings.Contains(out, "Connection Established") || !strings.Contains(out, "hello from "+ipEU) {
			t.Fatalf("curl https through sovgate egress:\n%s\nlog:\n%s", out, mustRead(logFile))
		}
		// Loopback has no country in the embedded data: a violation in
		// monitor mode is forwarded (above) and logged as one.
		waitFor(t, func() bool {
			return strings.Contains(mustRead(logFile), `"verdict":"deny","action":"forwarded"`)
		}, "a deny/forwarded decision line in the egress log:\n"+mustRead(logFile))
	})
}

// stopAtCleanup interrupts a started sovgate process when the test ends,
// and kills it if it has not stopped within 10 s.
func stopAtCleanup(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckCommandExitStatus(t *testing.T) {
	w := newWorld(t)
	common := []string{"--geoip-country", w.countryDB, "--geoip-asn", w.asnDB, "--geoip-registration", w.registrationDB, "--resolver", w.dns.Addr(), "--allow-private", "127.0.0.0/29"}
	cases := []struct {
		name    string
		target  string
		exit    int
		verdict string
		reason  string
	}{
		{"allowed", "https://eu.test/", 0, "allow", ""},
		{"denied by residency", "https://us.test/", 3, "deny", "RESIDENCY_NON_EU"},
		{"denied by jurisdiction", "aws-paris.test:443", 3, "deny", "JURISDICTION_NON_EU"},
		{"provider by domain", "http://bucket.s3.eu-west-3.amazonaws.com/key", 3, "deny", "JURISDICTION_NON_EU"},
		{"private", "metadata.test", 3, "deny", "DESTINATION_PRIVATE"},
		{"DNS failure is an error", "https://nxdomain.test/", 1, "deny", "DNS_FAILURE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runSovgate(t, append([]string{"check", "--format", "json"}, append(common, tc.target)...)...)
			if res.exit != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.exit, tc.exit, res.stdout, res.stderr)
			}
			var report struct {
				Verdict  string          `json:"verdict"`
				Reasons  []string        `json:"reasons"`
				Input    json.RawMessage `json:"input"`
				Decision json.RawMessage `json:"decision"`
			}
			dec := json.NewDecoder(strings.NewReader(res.stdout))
			if err := dec.Decode(&report); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, res.stdout)
			}
			if _, err := dec.Token(); err != io.EOF {
				t.Fatalf("stdout holds more than one JSON document:\n%s", res.stdout)
			}
			if report.Verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", report.Verdict, tc.verdict)
			}
			if tc.reason != "" && (len(report.Reasons) == 0 || report.Reasons[0] != tc.reason) {
				t.Errorf("reasons %v, want %s first", report.Reasons, tc.reason)
			}
			if tc.exit != 1 && tc.reason != "DESTINATION_PRIVATE" && (len(report.Input) < 10 || len(report.Decision) < 10) {
				t.Errorf("the report lacks the policy input or decision:\n%s", res.stdout)
			}
		})
	}
	t.Run("text output explains", func(t *testing.T) {
		res := runSovgate(t, append([]string{"check"}, append(common, "https://aws-paris.test/")...)...)
		for _, want := range []string{"127.0.0.4", "FR (EU)", "AS16509", "aws (Amazon Web Services)", "JURISDICTION_NON_EU"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("text output lacks %q:\n%s", want, res.stdout)
			}
		}
	})
	t.Run("bad target is an error", func(t *testing.T) {
		res := runSovgate(t, "check", "0x7f.0.0.1:443")
		if res.exit != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})
}

func TestPolicyCommands(t *testing.T) {
	t.Run("the embedded policies pass their tests", func(t *testing.T) {
		res := runSovgate(t, "policy", "test", "../policies")
		if res.exit != 0 || !strings.Contains(res.stdout, "PASS:") {
			t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})
	t.Run("the embedded policies check clean", func(t *testing.T) {
		res := runSovgate(t, "policy", "check", "../policies")
		if res.exit != 0 {
			t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sovgate", "decision.rego"), "package sovgate\n\ndecision := {\"allow\": true, \"profile\": \"open\", \"reasons\": []}\n")
	writeFile(t, filepath.Join(dir, "sovgate", "decision_test.rego"), "package sovgate_test\n\nimport data.sovgate\n\ntest_denies if {\n\tnot sovgate.decision.allow\n}\n")
	t.Run("a failing test exits 1", func(t *testing.T) {
		res := runSovgate(t, "policy", "test", dir)
		if res.exit != 1 || !strings.Contains(res.stdout, "FAIL") {
			t.Fatalf("exit %d\n%s%s", res.exit, res.stdout, res.stderr)
		}
	})

	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "sovgate", "decision.rego"), "package sovgate\n\ndecision := {\"allow\": true\n\nx := 1\n")
	t.Run("a broken file is reported as file:line:col", func(t *testing.T) {
		res := runSovgate(t, "policy", "check", broken)
		want := filepath.Join(broken, "sovgate", "decision.rego") + ":"
		if res.exit != 1 || !strings.Contains(res.stdout, want) {
			t.Fatalf("exit %d, want 1 and %q in:\n%s%s", res.exit, want, res.stdout, res.stderr)
		}
		line := res.stdout[strings.Index(res.stdout, want):]
		var row, col int
		if _, err := fmt.Sscanf(line[len(want):], "%d:%d:", &row, &col); err != nil || row == 0 || col == 0 {
			t.Fatalf("no line:col after the file name: %q", line)
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exampleDeployment is Caddyfile.example with its system paths moved into
// a temporary directory, as the tests run it.
type exampleDeployment struct {
	dir, caddyfile, text string
}

// deployExample writes Caddyfile.example with /etc/sovgate, /var/lib/sovgate
// and /var/log/sovgate moved to etc, lib and log in a temporary directory,
// and the
// credentials file it names (empty but for a comment, as the Debian package
// installs it). edit may change the text further.
func deployExample(t *testing.T, edit func(string) string) exampleDeployment {
	t.Helper()
	raw, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	text := string(raw)
	for system, local := range map[string]string{"/etc/sovgate/": "etc", "/var/lib/sovgate/": "lib", "/var/log/sovgate/": "log"} {
		if !strings.Contains(text, system) {
			t.Fatalf("Caddyfile.example no longer names %s; update this test", system)
		}
		text = strings.ReplaceAll(text, system, filepath.Join(dir, local)+"/")
	}
	if edit != nil {
		text = edit(text)
	}
	d := exampleDeployment{dir: dir, caddyfile: filepath.Join(dir, "etc", "Caddyfile"), text: text}
	writeFile(t, d.caddyfile, text)
	writeFile(t, filepath.Join(dir, "etc", "credentials"), "# app:bcrypt-hash, one line per app\n")
	return d
}

// TestCaddyfileExampleValidates runs `sovgate validate` on the shipped
// example, with its paths moved to a temporary directory, and checks that
// validation wrote nothing.
func TestCaddyfileExampleValidates(t *testing.T) {
	d := deployExample(t, nil)
	dir := d.dir
	before := listTree(t, dir)
	res := runSovgate(t, "validate", "--config", d.caddyfile)
	if res.exit != 0 {
		t.Fatalf("sovgate validate Caddyfile.example: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("validate wrote files:\nbefore %v\nafter  %v", before, after)
	}
	res = runSovgate(t, "fmt", d.caddyfile)
	if res.exit != 0 {
		t.Fatalf("sovgate fmt: exit %d\n%s", res.exit, res.stderr)
	}
	if strings.TrimSpace(res.stdout) != strings.TrimSpace(d.text) {
		t.Errorf("Caddyfile.example is not in 'sovgate fmt' form")
	}

	t.Run("a broken policy fails validation", func(t *testing.T) {
		broken := t.TempDir()
		writeFile(t, filepath.Join(broken, "sovgate", "decision.rego"), "package sovgate\n\ndecision := \n")
		cfg := filepath.Join(dir, "Caddyfile.broken")
		writeFile(t, cfg, fmt.Sprintf("{\n\tsovereignty {\n\t\tpolicies %s\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n", broken))
		res := runSovgate(t, "validate", "--config", cfg, "--adapter", "caddyfile")
		if res.exit == 0 || !strings.Contains(res.stderr, "decision.rego:") {
			t.Fatalf("validate accepted a broken policy or did not name the file: exit %d\n%s", res.exit, res.stderr)
		}
	})
	t.Run("a site matched by host name is refused", func(t *testing.T) {
		// CONNECT requests carry their destination as host: such a site
		// would never see them, and Caddy would answer an empty 200.
		cfg := filepath.Join(dir, "Caddyfile.hostsite")
		writeFile(t, cfg, "{\n\tsovereignty\n}\n\nhttp://127.0.0.1:3128 {\n\tsovereign_egress\n}\n")
		res := runSovgate(t, "validate", "--config", cfg, "--adapter", "caddyfile")
		if res.exit == 0 || !strings.Contains(res.stderr, "matched by host name") || !strings.Contains(res.stderr, "bind 127.0.0.1") {
			t.Fatalf("exit %d\n%s", res.exit, res.stderr)
		}
	})
	t.Run("a missing GeoIP database names the file", func(t *testing.T) {
		cfg := filepath.Join(dir, "Caddyfile.nodb")
		writeFile(t, cfg, "{\n\tsovereignty {\n\t\tgeoip_country /nonexistent/GeoLite2-Country.mmdb\n\t}\n}\n\nhttp://:3128 {\n\tsovereign_egress\n}\n")
		res := runSovgate(t, "validate", "--config", cfg, "--adapter", "caddyfile")
		if res.exit == 0 || !strings.Contains(res.stderr, "/nonexistent/GeoLite2-Country.mmdb") {
			t.Fatalf("exit %d\n%s", res.exit, res.stderr)
		}
	})
}

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}
