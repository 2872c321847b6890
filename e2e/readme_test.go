package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
)

// The README's "Try it, offline" section, run as a newcomer runs it: each
// block marked <!-- try: NAME --> is run by bash exactly as written, in a
// directory of its own, and what the README shows after a command
// (<!-- try: output of NAME -->) must be what the command printed, ids and
// times aside. As root (CI), everything runs in a network namespace of the
// test's own that has nothing but loopback: the section needs no Internet
// and no DNS, and a request the gateway tried to connect would fail
// instead of getting the 403 the README shows.

// watchLog copies a process's output to log line by line; ready is closed
// at the first line that holds want, ended when the output ends.
func watchLog(output io.Reader, log io.Writer, want string) (ready, ended <-chan struct{}) {
	readyCh, endedCh := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(endedCh)
		sc := bufio.NewScanner(output)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if !signalled && strings.Contains(sc.Text(), want) {
				close(readyCh)
				signalled = true
			}
		}
	}()
	return readyCh, endedCh
}

// markedBlocks returns the fenced blocks of a Markdown document that follow
// a comment <!-- prefix NAME -->, by NAME, in order.
func markedBlocks(t *testing.T, doc, prefix string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	marker := regexp.MustCompile(`(?m)^<!-- ` + regexp.QuoteMeta(prefix) + ` (.+?) -->\n` + "```" + `[a-z]*\n`)
	for _, m := range marker.FindAllStringSubmatchIndex(doc, -1) {
		name := doc[m[2]:m[3]]
		body, _, ok := strings.Cut(doc[m[1]:], "\n```\n")
		if !ok {
			t.Fatalf("the block marked %q does not end", name)
		}
		out[name] = append(out[name], body+"\n")
	}
	return out
}

var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}`)
)

// normalizeOutput replaces what changes from one run to the next (decision
// ids, times) and the column padding that follows from them.
func normalizeOutput(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = uuidPattern.ReplaceAllString(s, "ID")
	s = timePattern.ReplaceAllString(s, "TIME")
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return lines
}

// showsOutput reports whether the shown block is in the output: its lines
// in order, consecutive except where the block has a line "...", which
// stands for any number of lines.
func showsOutput(output []string, shown string) bool {
	want := normalizeOutput(shown)
	var match func(o, w int, gap bool) bool
	match = func(o, w int, gap bool) bool {
		if w == len(want) {
			return true
		}
		if want[w] == "..." {
			return match(o, w+1, true)
		}
		for ; o < len(output); o++ {
			if output[o] == want[w] && match(o+1, w+1, false) {
				return true
			}
			if !gap {
				return false
			}
		}
		return false
	}
	return match(0, 0, true)
}

// trialNetwork runs the README's commands: in a network namespace with
// loopback alone when the test runs as root, else on this machine.
type trialNetwork struct {
	netns string
}

func newTrialNetwork(t *testing.T, ports ...int) *trialNetwork {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the README test runs in a network namespace: CI runs it as root with iproute2")
		}
		// On a developer's machine: the README's fixed ports must be free.
		for _, port := range ports {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Skipf("no network namespace (it needs root and iproute2), and port %d, which the README uses, is taken: %v", port, err)
			}
			l.Close()
		}
		t.Log("no network namespace (it needs root and iproute2): running on this machine's network")
		return &trialNetwork{}
	}
	var b [4]byte
	rand.Read(b[:])
	ns := "sovgate-try-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	return &trialNetwork{netns: ns}
}

// command is bash running script in dir, in the trial's network.
func (n *trialNetwork) command(dir, script string) *exec.Cmd {
	args := []string{"bash", "-c", script}
	if n.netns != "" {
		args = append([]string{"ip", "netns", "exec", n.netns}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs a block and returns its combined output and exit status.
func (n *trialNetwork) run(t *testing.T, dir, script string) (string, int) {
	t.Helper()
	cmd := n.command(dir, script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

// TestReadmeTryIt runs the README's offline trial and reports how long a
// newcomer waits: the gateway's start, and the whole section (the build
// aside: the suite has built the binary already, with the same command).
func TestReadmeTryIt(t *testing.T) {
	requireTool(t, "curl", "apt-get install curl")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := markedBlocks(t, string(readme), "try:")
	one := func(name string) string {
		t.Helper()
		if len(blocks[name]) != 1 {
			t.Fatalf("the README has %d blocks marked <!-- try: %s -->, want one", len(blocks[name]), name)
		}
		return blocks[name][0]
	}
	if got := one("build"); got != "go build -o sovgate ./cmd/sovgate\n" {
		t.Fatalf("the README builds sovgate with %q: update this test, which provides ./sovgate from the suite's own build", got)
	}
	network := newTrialNetwork(t, 3128, 8080, 2019)
	dir := t.TempDir()
	if err := os.Symlink(sovgateBinary(t), filepath.Join(dir, "sovgate")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	if out, code := network.run(t, dir, one("hosts")); code != 0 {
		t.Fatalf("the hosts block: exit %d\n%s", code, out)
	}

	// The gateway's terminal: it runs until the end (Ctrl-C).
	logPath := filepath.Join(dir, "gateway-terminal.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	gateway := network.command(dir, one("gateway"))
	gateway.Stdout = logf
	stderr, err := gateway.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	gatewayStart := time.Now()
	if err := gateway.Start(); err != nil {
		t.Fatal(err)
	}
	ready, ended := watchLog(stderr, logf, "sovgate egress proxy running")
	exited := make(chan error, 1)
	go func() {
		<-ended
		exited <- gateway.Wait()
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		// Ctrl-C, then what `kill %1` does for the stand-in.
		syscall.Kill(-gateway.Process.Pid, syscall.SIGINT)
		time.AfterFunc(5*time.Second, func() { syscall.Kill(-gateway.Process.Pid, syscall.SIGTERM) })
		time.AfterFunc(15*time.Second, func() { syscall.Kill(-gateway.Process.Pid, syscall.SIGKILL) })
		<-exited
		logf.Close()
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("the gateway block ended (%v):\n%s", err, mustRead(logPath))
	case <-time.After(60 * time.Second):
		t.Fatalf("the gateway did not start in 60 s:\n%s", mustRead(logPath))
	}
	startTime := time.Since(gatewayStart)
	// The stand-in started beside it; a newcomer types slower than it
	// starts, the test waits for its port.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, code := network.run(t, dir, "exec 3<>/dev/tcp/127.0.0.1/8080"); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in does not listen on 127.0.0.1:8080:\n%s", mustRead(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The README says the gateway warns about its built-in data.
	if embedded, err := geo.EmbeddedProviderRanges(); err != nil {
		t.Fatal(err)
	} else if time.Since(embedded.Info().BuildTime) > geo.DefaultDataMaxAge &&
		!regexp.MustCompile(`"msg":"dataset older than data_max_age","dataset":"provider_ranges".*"refresh":"sovgate geo update`).MatchString(mustRead(logPath)) {
		t.Errorf("no start-up warning about the embedded provider ranges, built %s:\n%s", embedded.Info().BuildTime.Format(time.DateOnly), mustRead(logPath))
	}

	out, code := network.run(t, dir, one("requests"))
	if code != 0 {
		t.Fatalf("the requests block: exit %d\n%s\ngateway:\n%s", code, out, mustRead(logPath))
	}
	t.Logf("the requests printed:\n%s", out)
	output := normalizeOutput(out)
	for _, shown := range blocks["output of requests"] {
		if !showsOutput(output, shown) {
			t.Errorf("the README shows\n%s\nbut the requests printed\n%s", shown, out)
		}
	}
	if n := len(blocks["output of requests"]); n != 2 {
		t.Errorf("%d outputs shown for the requests, want 2 (allowed, denied)", n)
	}

	checkDecisionLine(t, one("decision line"), logPath)

	// The records reach the store within a second (audit_sync batched):
	// the README's command is run until it shows them, as a newcomer
	// would run it again.
	var auditOut string
	deadline = time.Now().Add(10 * time.Second)
	for {
		auditOut, code = network.run(t, dir, one("audit"))
		if code == 0 && showsOutput(normalizeOutput(auditOut), one("output of audit")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit block (exit %d) printed\n%s\nthe README shows\n%s", code, auditOut, one("output of audit"))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// What the README says of the internal address in the record.
	if out, code := network.run(t, dir, "./sovgate audit query --app etat-civil --host etat-civil.lyon.fr --format json"); code != 0 || !strings.Contains(out, `"internal":true`) {
		t.Errorf("the record of the internal call: exit %d, no \"internal\":true\n%s", code, out)
	}

	check := one("check")
	want := 0
	if m := exitComment.FindStringSubmatch(strings.TrimSpace(check)); m != nil {
		fmt.Sscan(m[1], &want)
	}
	if out, code := network.run(t, dir, check); code != want || !strings.Contains(out, "JURISDICTION_NON_EU") {
		t.Errorf("the check block: exit %d, want %d\n%s", code, want, out)
	}
	stop()
	t.Logf("README \"Try it, offline\": the gateway started in %v; the section ran in %v (build aside)",
		startTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// checkDecisionLine compares the README's decision line with the one the
// gateway logged for the refusal: the same fields, and the same facts.
func checkDecisionLine(t *testing.T, shown, logPath string) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(shown), &want); err != nil {
		t.Fatalf("the README's decision line is not JSON: %v", err)
	}
	var got map[string]any
	for line := range strings.Lines(mustRead(logPath)) {
		var d map[string]any
		if json.Unmarshal([]byte(line), &d) == nil && d["logger"] == "sovgate.decision" && d["msg"] == "decision" && d["verdict"] == "deny" {
			got = d
		}
	}
	if got == nil {
		t.Fatalf("no deny decision line in the gateway's log:\n%s", mustRead(logPath))
	}
	keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
	address := func(m map[string]any) map[string]any {
		as, _ := m["addresses"].([]any)
		if len(as) != 1 {
			return nil
		}
		a, _ := as[0].(map[string]any)
		return a
	}
	if !slices.Equal(keys(want), keys(got)) || !slices.Equal(keys(address(want)), keys(address(got))) {
		t.Errorf("the README's decision line has the fields\n%v %v\nthe gateway's\n%v %v", keys(want), keys(address(want)), keys(got), keys(address(got)))
	}
	for _, k := range []string{"app", "method", "scheme", "host", "port", "verdict", "action", "mode", "reasons"} {
		if fmt.Sprint(want[k]) != fmt.Sprint(got[k]) {
			t.Errorf("decision line: the README shows %s %v, the gateway logged %v", k, want[k], got[k])
		}
	}
	if fmt.Sprint(address(want)) != fmt.Sprint(address(got)) {
		t.Errorf("decision line: the README shows the address %v, the gateway logged %v", address(want), address(got))
	}
}

// TestReadmeOptions: the README's summary of the sovereignty options is a
// Caddyfile sovgate takes, and every option sovgate takes is in the admin
// guide's table.
func TestReadmeOptions(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := markedBlocks(t, string(readme), "test:")
	if len(blocks["options"]) != 1 {
		t.Fatalf("the README has %d blocks marked <!-- test: options -->, want one", len(blocks["options"]))
	}
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	writeFile(t, caddyfile, blocks["options"][0])
	if res := runSovgate(t, "adapt", "--config", caddyfile); res.exit != 0 || !strings.Contains(res.stdout, `"sovereignty"`) {
		t.Errorf("sovgate adapt on the README's options: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}

	writeFile(t, caddyfile, "{\n\tsovereignty {\n\t\tno_such_option\n\t}\n}\n")
	res := runSovgate(t, "adapt", "--config", caddyfile)
	m := regexp.MustCompile(`\(known: ([a-z_, ]+)\)`).FindStringSubmatch(res.stderr)
	if res.exit == 0 || m == nil {
		t.Fatalf("an unknown option: exit %d, no list of the known ones\n%s", res.exit, res.stderr)
	}
	guide := readAdminGuide(t)
	for _, option := range strings.Split(m[1], ", ") {
		if !regexp.MustCompile("(?m)^\\| `" + option + "[ `]").MatchString(guide) {
			t.Errorf("the option %s is not in the admin guide's table of the sovereignty block", option)
		}
	}
}
