// Package deploy_test checks what deploy/ ships: the Debian package built
// by tools/package, the systemd units in it, and the container image's
// Dockerfile.
package deploy_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const testVersion = "1.2.3~test"

var (
	debOnce sync.Once
	debPath string
	debErr  error
	debDir  string
)

// buildDeb runs the packaging command once per test run, as a release
// does: go -C tools/package run . --out DIR --version 1.2.3~test.
func buildDeb(t *testing.T) string {
	t.Helper()
	debOnce.Do(func() {
		debDir, debErr = os.MkdirTemp("", "sovgate-deb-test")
		if debErr != nil {
			return
		}
		cmd := exec.Command("go", "-C", "../tools/package", "run", ".", "--out", debDir, "--version", testVersion)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			debErr = fmt.Errorf("go -C tools/package run .: %v\n%s", err, stderr.String())
			return
		}
		debPath = strings.TrimSpace(string(out))
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if debDir != "" {
		os.RemoveAll(debDir)
	}
	os.Exit(code)
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (CI installs it): %v", name, err)
	}
	return path
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebianPackage checks the .deb with dpkg-deb (fields, control files,
// contents), installs it into an empty directory and runs the binary from
// there, and verifies its systemd units.
func TestDebianPackage(t *testing.T) {
	dpkgDeb := requireTool(t, "dpkg-deb")
	deb := buildDeb(t)
	if st, err := os.Stat(deb); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("%s: %.1f MiB", filepath.Base(deb), float64(st.Size())/(1<<20))
	}

	fields := map[string]string{"Package": "sovgate", "Version": testVersion, "Architecture": "amd64", "Section": "net", "Depends": "adduser"}
	for field, want := range fields {
		if got := strings.TrimSpace(run(t, dpkgDeb, "-f", deb, field)); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	info := run(t, dpkgDeb, "-I", deb)
	for _, control := range []string{"conffiles", "control", "md5sums", "postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`(?m)^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+` + control + `\b`).MatchString(info) {
			t.Errorf("control archive lacks %s:\n%s", control, info)
		}
	}
	dir := t.TempDir()
	run(t, dpkgDeb, "-e", deb, filepath.Join(dir, "DEBIAN"))
	if got := readFile(t, filepath.Join(dir, "DEBIAN", "conffiles")); got != "/etc/sovgate/Caddyfile\n/etc/sovgate/credentials\n" {
		t.Errorf("conffiles:\n%s", got)
	}
	postinst := readFile(t, filepath.Join(dir, "DEBIAN", "postinst"))
	for _, want := range []string{"adduser --system", "install -d -o sovgate -g sovgate -m 0750 /var/lib/sovgate /var/log/sovgate", "chmod 0640 /etc/sovgate/credentials"} {
		if !strings.Contains(postinst, want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
	if strings.Contains(postinst, "enable --now") && !strings.Contains(postinst, "systemctl enable --now sovgate.service sovgate-geo-update.timer\n\nGuide") {
		t.Errorf("postinst enables the service itself: a gateway must not start before its Caddyfile is edited")
	}

	listing := run(t, dpkgDeb, "-c", deb)
	modes := map[string]string{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 {
			modes[strings.TrimPrefix(f[5], ".")] = f[0] + " " + f[1]
		}
	}
	for path, mode := range map[string]string{
		"/usr/bin/sovgate":                                  "-rwxr-xr-x root/root",
		"/etc/sovgate/Caddyfile":                            "-rw-r--r-- root/root",
		"/etc/sovgate/credentials":                          "-rw-r----- root/root",
		"/lib/systemd/system/sovgate.service":               "-rw-r--r-- root/root",
		"/lib/systemd/system/sovgate-geo-update.service":    "-rw-r--r-- root/root",
		"/lib/systemd/system/sovgate-geo-update.timer":      "-rw-r--r-- root/root",
		"/usr/share/man/man8/sovgate.8.gz":                  "-rw-r--r-- root/root",
		"/usr/share/man/man8/sovgate-check.8.gz":            "-rw-r--r-- root/root",
		"/usr/share/man/man8/sovgate-status.8.gz":           "-rw-r--r-- root/root",
		"/usr/share/bash-completion/completions/sovgate":    "-rw-r--r-- root/root",
		"/usr/share/zsh/vendor-completions/_sovgate":        "-rw-r--r-- root/root",
		"/usr/share/fish/vendor_completions.d/sovgate.fish": "-rw-r--r-- root/root",
		"/usr/share/doc/sovgate/copyright":                  "-rw-r--r-- root/root",
		"/usr/share/doc/sovgate/admin-guide.md":             "-rw-r--r-- root/root",
	} {
		if got, ok := modes[path]; !ok {
			t.Errorf("the package lacks %s", path)
		} else if got != mode {
			t.Errorf("%s: %s, want %s", path, got, mode)
		}
	}

	// Install into an empty directory and run it from there.
	root := filepath.Join(t.TempDir(), "root")
	run(t, "dpkg", "-x", deb, root)
	bin := filepath.Join(root, "usr", "bin", "sovgate")
	checkStatic(t, bin)
	version := run(t, bin, "version")
	if !strings.HasPrefix(version, "sovgate v"+testVersion+" (commit ") {
		t.Errorf("the installed binary says:\n%s", version)
	}
	if raw, err := os.ReadFile(filepath.Join(root, "etc", "sovgate", "Caddyfile")); err != nil || !bytes.Equal(raw, []byte(readFile(t, "../Caddyfile.example"))) {
		t.Errorf("/etc/sovgate/Caddyfile is not Caddyfile.example (%v)", err)
	}
	// The installed configuration validates once its system paths point
	// into the installed tree.
	cfg := strings.NewReplacer("/etc/sovgate/", filepath.Join(root, "etc", "sovgate")+"/",
		"/var/lib/sovgate/", filepath.Join(root, "var", "lib", "sovgate")+"/",
		"/var/log/sovgate/", filepath.Join(root, "var", "log", "sovgate")+"/").Replace(readFile(t, filepath.Join(root, "etc", "sovgate", "Caddyfile")))
	cfgPath := filepath.Join(root, "etc", "sovgate", "Caddyfile.test")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "SOVGATE_DATA_DIR="+t.TempDir(), "SOVGATE_CONFIG_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid configuration") {
		t.Errorf("the installed sovgate validate on the installed Caddyfile: %v\n%s", err, out)
	}
	man := gunzip(t, filepath.Join(root, "usr", "share", "man", "man8", "sovgate-check.8.gz"))
	if !strings.Contains(man, ".TH \"SOVGATE\" \"8\"") || !strings.Contains(man, "sovgate check") {
		t.Errorf("sovgate-check.8 is not a sovgate manual page:\n%.500s", man)
	}

	verifyUnits(t, root)
}

// verifyUnits runs systemd-analyze verify on the installed units, with the
// installed tree as root (so /usr/bin/sovgate is found), and checks that
// each manual page a unit cites is in the package.
func verifyUnits(t *testing.T, root string) {
	analyze := requireTool(t, "systemd-analyze")
	units := filepath.Join(root, "lib", "systemd", "system")
	// The units need the host's targets (network-online.target, ...) and
	// systemctl, which the package does not ship.
	for _, src := range []string{"/lib/systemd/system", "/bin/systemctl"} {
		dst := filepath.Join(root, strings.TrimPrefix(src, "/"))
		if src == "/lib/systemd/system" {
			run(t, "cp", "-rn", src+"/.", dst+"/")
		} else {
			os.MkdirAll(filepath.Dir(dst), 0o755)
			run(t, "cp", src, dst)
		}
	}
	ours := []string{"sovgate.service", "sovgate-geo-update.service", "sovgate-geo-update.timer"}
	args := []string{"--man=no", "--root=" + root, "verify"}
	for _, u := range ours {
		args = append(args, filepath.Join(units, u))
	}
	if out, err := exec.Command(analyze, args...).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	manRef := regexp.MustCompile(`man:([a-z-]+)\((\d)\)`)
	for _, u := range ours {
		text := readFile(t, filepath.Join(units, u))
		for _, m := range manRef.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(filepath.Join(root, "usr", "share", "man", "man"+m[2], m[1]+"."+m[2]+".gz")); err != nil {
				t.Errorf("%s cites %s, which the package does not ship", u, m[0])
			}
		}
	}
	service := readFile(t, filepath.Join(units, "sovgate.service"))
	for _, want := range []string{"User=sovgate", "ProtectSystem=strict", "NoNewPrivileges=true", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"StateDirectory=sovgate", "LogsDirectory=sovgate", "ExecStart=/usr/bin/sovgate run --config /etc/sovgate/Caddyfile"} {
		if !strings.Contains(service, want+"\n") {
			t.Errorf("sovgate.service lacks %s", want)
		}
	}
}

// TestUnitVerifyCatchesMistakes makes sure the verification above can
// fail: a misspelt directive value is reported.
func TestUnitVerifyCatchesMistakes(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	unit := strings.Replace(readFile(t, "systemd/sovgate-geo-update.timer"), "OnCalendar=daily", "OnCalendar=every tuesday-ish", 1)
	path := filepath.Join(dir, "sovgate-geo-update.timer")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "--man=no", "verify", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "calendar specification") {
		t.Errorf("systemd-analyze verify accepted a broken timer:\n%s", out)
	}
}

// checkStatic fails unless bin is a statically linked ELF executable (no
// program interpreter, no shared library): it runs on an empty image.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
}

// TestDockerfile checks the image's Dockerfile for what the deployment
// needs (multi-stage, static binary built with the release flags, empty
// base, non-root user, the state volume, a health check), then estimates
// the image's size from the files its final stage holds: there is no
// container engine here to build it.
func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t, "Dockerfile")
	var froms []string
	for _, in := range df {
		if in.cmd == "FROM" {
			froms = append(froms, in.args)
		}
	}
	if len(froms) < 2 || !strings.HasSuffix(froms[0], " AS build") || froms[len(froms)-1] != "scratch" {
		t.Errorf("want a build stage and a final stage FROM scratch, got %q", froms)
	}
	final := df[lastIndex(df, "FROM"):]
	get := func(cmd string) string {
		for _, in := range final {
			if in.cmd == cmd {
				return in.args
			}
		}
		t.Errorf("the final stage has no %s", cmd)
		return ""
	}
	if user := get("USER"); user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q: the gateway must not run as root", user)
	}
	if v := get("VOLUME"); !strings.Contains(v, `"/var/lib/sovgate"`) {
		t.Errorf("VOLUME %s lacks /var/lib/sovgate", v)
	}
	if hc := get("HEALTHCHECK"); !strings.Contains(hc, `CMD ["/usr/bin/sovgate", "status", "--quiet"]`) {
		t.Errorf("HEALTHCHECK %q", hc)
	}
	if ep := get("ENTRYPOINT"); ep != `["/usr/bin/sovgate"]` {
		t.Errorf("ENTRYPOINT %s", ep)
	}
	var build string
	for _, in := range df {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	// The flags of tools/package's BuildFlags, which built the binary
	// checked static in TestDebianPackage.
	tool := readFile(t, "../tools/package/main.go")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-s -w -X github.com/sovgate/sovgate/internal/buildinfo.Version=`, "-X github.com/sovgate/sovgate/internal/buildinfo.Commit="} {
		if !strings.Contains(build, want) {
			t.Errorf("the Dockerfile's go build lacks %q: %s", want, build)
		}
	}
	if !strings.Contains(tool, `"-trimpath", "-ldflags", "-s -w -X " + stampVersion + "=%s -X " + stampCommit + "=%s"`) || !strings.Contains(tool, `"CGO_ENABLED=0"`) {
		t.Errorf("tools/package no longer builds with the Dockerfile's flags")
	}

	// The final stage's files: the binary as the release flags build it,
	// CA certificates, passwd and group, the configuration.
	deb := buildDeb(t)
	root := filepath.Join(t.TempDir(), "root")
	run(t, "dpkg", "-x", deb, root)
	layer := map[string]string{
		"usr/bin/sovgate":                   filepath.Join(root, "usr", "bin", "sovgate"),
		"etc/sovgate/Caddyfile":             "../Caddyfile.example",
		"etc/sovgate/credentials":           "credentials",
		"etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
	}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for name, src := range layer {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data))})
		tw.Write(data)
	}
	for _, small := range []string{"etc/passwd", "etc/group"} {
		tw.WriteHeader(&tar.Header{Name: small, Mode: 0o644, Size: 64})
		tw.Write(make([]byte, 64))
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	t.Logf("image estimate: %.1f MiB uncompressed (docker images), %.1f MiB compressed (pulled)", float64(raw.Len())/(1<<20), float64(gz.Len())/(1<<20))
}

type instruction struct{ cmd, args string }

// parseDockerfile reads instructions, joining continued lines and
// skipping comments.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	var out []instruction
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	var cur strings.Builder
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

func lastIndex(df []instruction, cmd string) int {
	for i := len(df) - 1; i >= 0; i-- {
		if df[i].cmd == cmd {
			return i
		}
	}
	return 0
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
