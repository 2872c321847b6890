package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The front ends of the admin guide's "Several gateways" section: its
// keepalived.conf, checked by keepalived and run for real in two network
// namespaces, and its PAC file, served by a gateway's own Caddy and run by
// a JavaScript engine.

func readAdminGuide(t *testing.T) string {
	t.Helper()
	guide, err := os.ReadFile("../docs/admin-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(guide)
}

// replaceAll replaces old with new in s and fails when s has no old: the
// guide changed and the test must follow.
func replaceAll(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("the guide's block has no %q; update this test:\n%s", old, s)
	}
	return strings.ReplaceAll(s, old, new)
}

// keepalivedConf is the guide's keepalived.conf for gateway 1 or 2 (the
// changes the guide's comment lists for the second), running the check
// script as the current user with the sovgate binary under test.
func keepalivedConf(t *testing.T, guide string, gateway int) string {
	t.Helper()
	conf := adminGuideBlock(t, guide, "keepalived")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf = replaceAll(t, conf, "/usr/bin/sovgate", sovgateBinary(t))
	conf = replaceAll(t, conf, "script_user sovgate", "script_user "+me.Username)
	if gateway == 2 {
		conf = replaceAll(t, conf, "router_id gw-lyon-1", "router_id gw-lyon-2")
		conf = replaceAll(t, conf, "priority 150", "priority 100")
		conf = replaceAll(t, conf, "\t\t10.20.0.12\n", "\t\t10.20.0.11\n") // the peer
		conf = replaceAll(t, conf, "unicast_src_ip 10.20.0.11", "unicast_src_ip 10.20.0.12")
	}
	return conf
}

func TestAdminGuideKeepalivedConfig(t *testing.T) {
	keepalived := requireTool(t, "keepalived", "apt-get install keepalived")
	guide := readAdminGuide(t)
	dir := t.TempDir()
	check := func(name, conf string) (int, string) {
		t.Helper()
		p := filepath.Join(dir, name)
		writeFile(t, p, conf)
		var out bytes.Buffer
		cmd := exec.Command(keepalived, "--config-test", "-f", p)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	for gw := 1; gw <= 2; gw++ {
		if code, out := check(fmt.Sprintf("gw%d.conf", gw), keepalivedConf(t, guide, gw)); code != 0 {
			t.Errorf("keepalived --config-test on the guide's configuration for gateway %d: exit %d\n%s", gw, code, out)
		}
	}
	// The check checks: a script user that does not exist is an error.
	broken := strings.Replace(keepalivedConf(t, guide, 1), "script_user ", "script_user no-such-user-", 1)
	if code, out := check("broken.conf", broken); code == 0 {
		t.Errorf("keepalived --config-test accepted a configuration with an unknown script user:\n%s", out)
	}
}

// netns is a network namespace of the test's own.
type netns string

func (ns netns) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", string(ns)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %v: %v\n%s", ns, args, err, out)
	}
	return string(out)
}

func (ns netns) hasAddress(t *testing.T, addr string) bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", string(ns), "-br", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s addr: %v\n%s", ns, err, out)
	}
	return strings.Contains(string(out), " "+addr+"/")
}

// startIn starts a command in the namespace, in a process group of its
// own, and stops that group when the test ends.
func (ns netns) startIn(t *testing.T, logPath string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", string(ns)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	return cmd
}

// TestAdminGuideKeepalivedFailover runs the guide's keepalived.conf on two
// gateways, each in a network namespace of its own, joined by a virtual
// link: the virtual IP is on the first; `kill -9` of its sovgate moves it
// to the second, which then answers on it.
func TestAdminGuideKeepalivedFailover(t *testing.T) {
	keepalived := requireTool(t, "keepalived", "apt-get install keepalived")
	requireTool(t, "ip", "apt-get install iproute2")
	curl := requireTool(t, "curl", "apt-get install curl")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test makes network namespaces: CI runs it as root")
		}
		t.Skip("not root: cannot make network namespaces")
	}
	guide := readAdminGuide(t)
	var b [4]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	nss := []netns{netns("sovgate-vrrp-" + tag + "-1"), netns("sovgate-vrrp-" + tag + "-2")}
	for _, ns := range nss {
		if out, err := exec.Command("ip", "netns", "add", string(ns)).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", string(ns)).Run() })
	}
	// One link between the two, eth0 on each side, the guide's addresses.
	if out, err := exec.Command("ip", "link", "add", "vrrp"+tag, "netns", string(nss[0]), "type", "veth",
		"peer", "name", "vrrp"+tag+"p", "netns", string(nss[1])).CombinedOutput(); err != nil {
		t.Fatalf("ip link add veth: %v\n%s", err, out)
	}
	for i, ns := range nss {
		dev := "vrrp" + tag
		if i == 1 {
			dev += "p"
		}
		exec.Command("ip", "-n", string(ns), "link", "set", "lo", "up").Run()
		for _, args := range [][]string{
			{"link", "set", dev, "name", "eth0"},
			{"addr", "add", fmt.Sprintf("10.20.0.1%d/24", i+1), "dev", "eth0"},
			{"link", "set", "eth0", "up"},
		} {
			if out, err := exec.Command("ip", append([]string{"-n", string(ns)}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("ip -n %s %v: %v\n%s", ns, args, err, out)
			}
		}
	}

	dir := t.TempDir()
	gateways := make([]*exec.Cmd, 2)
	for i, ns := range nss {
		gw := fmt.Sprintf("gw-lyon-%d", i+1)
		gwDir := filepath.Join(dir, gw)
		caddyfile := filepath.Join(gwDir, "Caddyfile")
		// The gateway answers a request that is not a proxy request with
		// its name; its admin endpoint is where `sovgate status` looks.
		writeFile(t, caddyfile, fmt.Sprintf("{\n\tadmin localhost:2019\n\tsovereignty\n}\n\nhttp://:3128 {\n\tsovereign_egress\n\trespond %q 421\n}\n", gw))
		gateways[i] = ns.startIn(t, filepath.Join(gwDir, "sovgate.log"),
			[]string{"SOVGATE_DATA_DIR=" + filepath.Join(gwDir, "data"), "SOVGATE_CONFIG_DIR=" + filepath.Join(gwDir, "config")},
			sovgateBinary(t), "run", "--config", caddyfile)
		conf := filepath.Join(gwDir, "keepalived.conf")
		writeFile(t, conf, keepalivedConf(t, guide, i+1))
		ns.startIn(t, filepath.Join(gwDir, "keepalived.log"), nil, keepalived, "--dont-fork", "--log-console", "--vrrp",
			"-f", conf, "-p", filepath.Join(gwDir, "keepalived.pid"), "-r", filepath.Join(gwDir, "vrrp.pid"))
	}
	logs := func() string {
		var b strings.Builder
		for i := range nss {
			gwDir := filepath.Join(dir, fmt.Sprintf("gw-lyon-%d", i+1))
			fmt.Fprintf(&b, "--- gw-lyon-%d keepalived:\n%s--- gw-lyon-%d sovgate:\n%s", i+1, mustRead(filepath.Join(gwDir, "keepalived.log")), i+1, mustRead(filepath.Join(gwDir, "sovgate.log")))
		}
		return b.String()
	}
	waitVIP := func(holder netns, what string) time.Duration {
		t.Helper()
		start := time.Now()
		for !holder.hasAddress(t, "10.20.0.10") {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("%s: the virtual IP is not on %s after 60 s\n%s", what, holder, logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	askVIP := func(from netns) string {
		t.Helper()
		return from.run(t, curl, "-s", "--max-time", "5", "http://10.20.0.10:3128/")
	}

	waitVIP(nss[0], "at start")
	if got := askVIP(nss[1]); got != "gw-lyon-1" {
		t.Fatalf("the virtual IP answers %q, want gw-lyon-1\n%s", got, logs())
	}
	if nss[1].hasAddress(t, "10.20.0.10") {
		t.Fatalf("both gateways hold the virtual IP\n%s", logs())
	}
	// kill -9 the sovgate of the first (the child of `ip netns exec`).
	syscall.Kill(-gateways[0].Process.Pid, syscall.SIGKILL)
	moved := waitVIP(nss[1], "after kill -9 of gw-lyon-1's sovgate")
	if nss[0].hasAddress(t, "10.20.0.10") {
		t.Errorf("gw-lyon-1 kept the virtual IP\n%s", logs())
	}
	if got := askVIP(nss[0]); got != "gw-lyon-2" {
		t.Errorf("after the failover the virtual IP answers %q, want gw-lyon-2\n%s", got, logs())
	}
	t.Logf("the virtual IP moved to gw-lyon-2 %v after kill -9", moved.Round(10*time.Millisecond))
}

// TestAdminGuidePAC serves the guide's PAC file with the guide's site
// block, added to a gateway's Caddyfile, and runs it in node: it lists
// every gateway for every destination, and spreads the destinations.
func TestAdminGuidePAC(t *testing.T) {
	nodeJS := requireTool(t, "node", "apt-get install nodejs")
	guide := readAdminGuide(t)
	w := newWorld(t)
	dir := t.TempDir()
	pacDir := filepath.Join(dir, "pac")
	pac := adminGuideBlock(t, guide, "pac")
	writeFile(t, filepath.Join(pacDir, "proxy.pac"), pac)
	pacPort, proxyPort := freePort(t), freePort(t)
	site := adminGuideBlock(t, guide, "pacsite")
	site = replaceAll(t, site, "/etc/sovgate/pac", pacDir)
	site = replaceAll(t, site, "http://:8080 {\n", fmt.Sprintf("http://:%d {\n\tbind 127.0.0.1\n", pacPort))
	adminAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	caddyfile := filepath.Join(dir, "Caddyfile")
	writeFile(t, caddyfile, fmt.Sprintf(`{
	admin %s
	sovereignty {
		mode enforce
		geoip_country %s
		resolver %s
		allow_private 127.0.0.0/29
	}
}

http://:%d {
	bind 127.0.0.1
	sovereign_egress
	respond "This is the sovgate egress proxy." 421
}

%s`, adminAddr, w.countryDB, w.dns.Addr(), proxyPort, site))
	startBinaryGateway(t, dir, caddyfile, fmt.Sprintf("127.0.0.1:%d", proxyPort), adminAddr)

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/proxy.pac", pacPort))
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ns-proxy-autoconfig" || string(served) != pac {
		t.Fatalf("GET /proxy.pac: %d, Content-Type %q, %d bytes (want the file's %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(served), len(pac))
	}
	// The PAC site is no proxy: a proxy request sent to it goes nowhere.
	before := w.receivedCount()
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", pacPort)})}}
	if resp, err := proxied.Get(fmt.Sprintf("http://eu.test:%d/", w.httpPort)); err == nil {
		resp.Body.Close()
	}
	if w.receivedCount() != before {
		t.Errorf("the PAC site forwarded a proxy request")
	}

	// Run it as a browser does.
	hosts := []string{"api.example.com", "eu.test", "meteo.example.ch", "a.b.c.example.org", "x", "archives-lyon.blob.core.windows.net"}
	for i := range 300 {
		hosts = append(hosts, fmt.Sprintf("service-%d.city.example", i))
	}
	script := filepath.Join(dir, "run-pac.js")
	writeFile(t, script, `const fs = require("fs");
eval(fs.readFileSync(process.argv[2], "utf8"));
for (const host of process.argv.slice(3)) {
	console.log(host + " " + FindProxyForURL("https://" + host + "/", host));
}
`)
	servedPath := filepath.Join(dir, "served.pac")
	writeFile(t, servedPath, string(served))
	out, err := exec.Command(nodeJS, append([]string{script, servedPath}, hosts...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	entry := regexp.MustCompile(`^PROXY (gw-lyon-[123]\.city\.example:3128)$`)
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	lines := 0
	for sc.Scan() {
		lines++
		host, list, _ := strings.Cut(sc.Text(), " ")
		seen := map[string]bool{}
		for i, e := range strings.Split(list, "; ") {
			m := entry.FindStringSubmatch(e)
			if m == nil {
				t.Errorf("%s: %q is not a PROXY entry of a gateway", host, e)
				continue
			}
			seen[m[1]] = true
			if i == 0 {
				first[m[1]]++
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s: %q does not list the three gateways once each", host, list)
		}
	}
	if lines != len(hosts) {
		t.Fatalf("node printed %d lines for %d hosts:\n%s", lines, len(hosts), out)
	}
	for gw, n := range first {
		if len(first) != 3 || n < len(hosts)/5 {
			t.Errorf("the PAC file does not spread destinations over the gateways (%s first for %d of %d): %v", gw, n, len(hosts), first)
			break
		}
	}
	t.Logf("first gateway per destination, over %d destinations: %v", len(hosts), first)
}
