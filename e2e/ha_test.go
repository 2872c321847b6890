package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sovgate/sovgate/audit/audittest"
	"github.com/sovgate/sovgate/policy/bundletest"
)

// The group of gateways of the admin guide's "Several gateways" section,
// run end to end: three sovgate processes built from the tree, each with a
// state directory of its own as its own host would have, started from the
// guide's Caddyfile, on one PostgreSQL database, with their policy from one
// signed bundle. Everything is checked from outside, as an admin and an
// auditor would: answers seen by the clients, the admin endpoint, the logs,
// and the sovgate audit commands.

// haBatchedBound is the loss the admin guide allows audit_sync batched
// when a gateway dies: the records of the requests it answered in its last
// second (a record is on disk within one second).
const haBatchedBound = time.Second

func TestSeveralGatewaysNoSinglePointOfFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts ten gateway processes")
	}
	replica := adminGuideBlock(t, readAdminGuide(t), "replica")
	w := newWorld(t)
	bundle := publishBundle(t)
	for _, mode := range []string{"strict", "batched"} {
		t.Run(mode, func(t *testing.T) {
			runGatewayGroup(t, w, bundle, replica, audittest.PostgresURL(t), mode)
		})
	}
}

// adminGuideBlock returns the fenced block that follows <!-- test: name -->.
func adminGuideBlock(t *testing.T, guide, name string) string {
	t.Helper()
	marker := "<!-- test: " + name + " -->\n"
	_, after, ok := strings.Cut(guide, marker)
	if !ok {
		t.Fatalf("the admin guide has no block marked %q", marker)
	}
	fence, rest, _ := strings.Cut(after, "\n")
	if !strings.HasPrefix(fence, "```") {
		t.Fatalf("%q is not followed by a fenced block", marker)
	}
	body, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatalf("the block after %q does not end", marker)
	}
	return body + "\n"
}

// setOption replaces the value of a Caddyfile option line ("\tname value")
// and fails when the text has no such line: the guide changed.
func setOption(t *testing.T, text, option, value string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\t+` + regexp.QuoteMeta(option) + ` \S.*$`)
	if n := len(re.FindAllString(text, -1)); n != 1 {
		t.Fatalf("the guide's Caddyfile has %d %q lines, want one; update this test:\n%s", n, option, text)
	}
	return re.ReplaceAllStringFunc(text, func(line string) string {
		return line[:len(line)-len(strings.TrimLeft(line, "\t"))] + option + " " + value
	})
}

// policyBundle is the signed bundle every gateway of the group fetches.
type policyBundle struct {
	url, publicKey, revision string
	server                   *bundletest.Server
}

// publishBundle signs the default policy with `sovgate policy bundle`, as
// the DPO team does, and serves it from one static server.
func publishBundle(t *testing.T) policyBundle {
	t.Helper()
	dir := t.TempDir()
	priv, pub := signingKey(t)
	keyFile, pubFile := filepath.Join(dir, "policy-signing.pem"), filepath.Join(dir, "policy-signing.pub")
	writeFile(t, keyFile, string(priv))
	writeFile(t, pubFile, string(pub))
	out := filepath.Join(dir, "sovgate.tar.gz")
	res := runSovgate(t, "policy", "bundle", "../policies", "--signing-key", keyFile, "--output", out)
	m := regexp.MustCompile(`revision (\S+),`).FindStringSubmatch(res.stdout)
	if res.exit != 0 || m == nil {
		t.Fatalf("sovgate policy bundle: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	srv := &bundletest.Server{}
	srv.Set(body)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return policyBundle{url: hs.URL + "/sovgate.tar.gz", publicKey: pubFile, revision: m[1], server: srv}
}

func (b policyBundle) setDown(down bool) {
	b.server.Down(down)
}

// dbLink is the network path from one gateway to PostgreSQL: a TCP relay
// the test can cut, as a broken switch or firewall rule would, for that
// gateway alone. Cut, it resets the connections it carries and every new
// one.
type dbLink struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func newDBLink(t *testing.T, target string) *dbLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &dbLink{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go l.serve()
	t.Cleanup(func() {
		ln.Close()
		l.setCut(true)
	})
	return l
}

func (l *dbLink) addr() string { return l.ln.Addr().String() }

func (l *dbLink) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.relay(c)
	}
}

func (l *dbLink) relay(c net.Conn) {
	up, err := net.DialTimeout("tcp", l.target, 5*time.Second)
	l.mu.Lock()
	if err != nil || l.cut {
		l.mu.Unlock()
		resetConn(c)
		if up != nil {
			up.Close()
		}
		return
	}
	l.conns[c], l.conns[up] = struct{}{}, struct{}{}
	l.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
	l.mu.Lock()
	delete(l.conns, c)
	delete(l.conns, up)
	l.mu.Unlock()
}

// setCut cuts the link (resetting what it carries) or mends it.
func (l *dbLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			resetConn(c)
		}
	}
}

// resetConn closes c with a TCP reset, as a broken path ends a connection.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// haNode is one gateway of the group: the sovgate binary running its
// Caddyfile, with a state directory of its own (spool, policy cache).
type haNode struct {
	name      string
	dir       string
	caddyfile string
	proxyAddr string
	adminAddr string
	link      *dbLink

	cmd    *exec.Cmd
	log    *os.File
	ready  chan struct{}
	exited chan error
	// replaying receives the number of records the spool held at start,
	// from the gateway's log line.
	replaying chan int64
}

// start runs the gateway and waits until it is ready; it returns an error
// with the log when the gateway exits first.
func (n *haNode) start(t *testing.T) error {
	t.Helper()
	n.launch(t)
	return n.waitReady(t)
}

// launch starts the gateway process. Its log lines go to gateway.log in its
// directory; ready is closed at its ready line ("serving initial
// configuration").
func (n *haNode) launch(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(n.dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sovgateBinary(t), "run", "--config", n.caddyfile)
	cmd.Dir = n.dir
	cmd.Env = append(os.Environ(), "SOVGATE_DATA_DIR="+filepath.Join(n.dir, "data"), "SOVGATE_CONFIG_DIR="+filepath.Join(n.dir, "config"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.log, n.exited, n.replaying, n.ready = cmd, logf, make(chan error, 1), make(chan int64, 1), make(chan struct{})
	ready, replaying, exited := n.ready, n.replaying, n.exited
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if strings.Contains(line, "replaying them") {
				var l struct {
					Records int64 `json:"records"`
				}
				json.Unmarshal([]byte(line), &l)
				select {
				case replaying <- l.Records:
				default:
				}
			}
			if !signalled && strings.Contains(line, "serving initial configuration") {
				close(ready)
				signalled = true
			}
		}
		err := cmd.Wait()
		logf.Close()
		exited <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // no-op once it exited
	})
}

func (n *haNode) waitReady(t *testing.T) error {
	t.Helper()
	select {
	case <-n.ready:
		return nil
	case err := <-n.exited:
		n.exited <- err
		return fmt.Errorf("%s exited at start (%v):\n%s", n.name, err, mustRead(n.log.Name()))
	case <-time.After(90 * time.Second):
		t.Fatalf("%s did not start in 90 s:\n%s", n.name, mustRead(n.log.Name()))
	}
	return nil
}

// kill9 kills the gateway with SIGKILL and waits for the process to end.
func (n *haNode) kill9(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-n.exited
}

// stop stops the gateway as systemd does (SIGTERM) and waits for it.
func (n *haNode) stop(t *testing.T) {
	t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop in 60 s:\n%s", n.name, mustRead(n.log.Name()))
	}
}

// haStatus is the part of GET /sovereignty/status the test reads.
type haStatus struct {
	Node   string `json:"node"`
	Policy struct {
		Revision string `json:"revision"`
		Source   string `json:"source"`
	} `json:"policy"`
	Counters map[string]int64 `json:"counters"`
}

func (n *haNode) status(t *testing.T) haStatus {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + n.adminAddr + "/sovereignty/status")
	if err != nil {
		t.Fatalf("%s status: %v", n.name, err)
	}
	defer resp.Body.Close()
	var st haStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s status: %d %v", n.name, resp.StatusCode, err)
	}
	return st
}

// haAnswer is a response a client received, with its decision id.
type haAnswer struct {
	id   string
	node int // the gateway that answered
	at   time.Time
}

// haLoad is the apps: clients that spread their requests over the
// gateways (each starts with the next gateway in turn) and, when one fails
// to answer, send the request to the next, as a PAC file's list or a
// virtual IP moving makes them do.
type haLoad struct {
	nodes    []*haNode
	target   string
	stop     chan struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64 // requests written to a gateway
	failed   atomic.Int64 // of which got no answer
	answered []atomic.Int64

	mu      sync.Mutex
	answers []haAnswer
}

func startHALoad(nodes []*haNode, target string, workers int) *haLoad {
	l := &haLoad{nodes: nodes, target: target, stop: make(chan struct{}), answered: make([]atomic.Int64, len(nodes))}
	for i := range workers {
		l.wg.Add(1)
		go l.worker(i)
	}
	return l
}

func (l *haLoad) worker(w int) {
	defer l.wg.Done()
	clients := make([]*http.Client, len(l.nodes))
	for i, n := range l.nodes {
		proxy := &url.URL{Scheme: "http", Host: n.proxyAddr}
		tr := &http.Transport{Proxy: http.ProxyURL(proxy), MaxIdleConnsPerHost: 2}
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	for seq := 0; ; seq++ {
		for try := range len(l.nodes) {
			select {
			case <-l.stop:
				return
			default:
			}
			node := (w + seq + try) % len(l.nodes)
			l.sent.Add(1)
			resp, err := clients[node].Get(fmt.Sprintf("%s/ha/%d/%d", l.target, w, seq))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			id := ""
			if err == nil {
				id = resp.Header.Get("Sovgate-Decision-Id")
			}
			if id == "" {
				l.failed.Add(1)
				continue // the next gateway
			}
			l.mu.Lock()
			l.answers = append(l.answers, haAnswer{id: id, node: node, at: time.Now()})
			l.mu.Unlock()
			l.answered[node].Add(1)
			break
		}
	}
}

// waitAnswers waits until every gateway in nodes has answered n more
// requests than in from.
func (l *haLoad) waitAnswers(t *testing.T, what string, n int64, from []int64, nodes ...int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		done := true
		for _, i := range nodes {
			if l.answered[i].Load() < from[i]+n {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the gateways did not answer %d requests each in 90 s (answered %v, from %v; %d sent, %d failed)",
				what, n, l.counts(), from, l.sent.Load(), l.failed.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastAnswer is when gateway i last answered.
func (l *haLoad) lastAnswer(i int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for j := len(l.answers) - 1; j >= 0; j-- {
		if l.answers[j].node == i {
			return l.answers[j].at
		}
	}
	return time.Time{}
}

func (l *haLoad) counts() []int64 {
	out := make([]int64, len(l.answered))
	for i := range l.answered {
		out[i] = l.answered[i].Load()
	}
	return out
}

func (l *haLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// waitStatus polls a gateway's admin endpoint until ok holds.
func waitStatus(t *testing.T, n *haNode, what string, ok func(haStatus) bool) haStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := n.status(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not reached in 90 s; status %+v\n%s", n.name, what, st, mustRead(n.log.Name()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runGatewayGroup is one round of the test, with audit_sync syncMode on a
// fresh database: three gateways under load; the third cut from the
// database (its records go to its spool) and killed with SIGKILL mid-load;
// restarted while the bundle server is down; then the auditor's checks.
func runGatewayGroup(t *testing.T, w *world, bundle policyBundle, replica, database, syncMode string) {
	db, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	// The URL lists two PostgreSQL hosts, as the guide does for a primary
	// and its standby: the first is down (nothing listens there), the
	// second is the database, reached through each gateway's own link.
	down := freePort(t)
	nodes := make([]*haNode, 3)
	for i := range nodes {
		n := &haNode{name: fmt.Sprintf("gw-lyon-%d", i+1), dir: t.TempDir(), link: newDBLink(t, db.Host)}
		n.proxyAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		n.adminAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		audit := fmt.Sprintf("postgres://%s@127.0.0.1:%d,%s%s?%s&target_session_attrs=read-write", db.User.Username(), down, n.link.addr(), db.Path, db.RawQuery)
		text := replica
		text = setOption(t, text, "admin", n.adminAddr)
		text = setOption(t, text, "node", n.name)
		text = setOption(t, text, "audit", audit)
		text = setOption(t, text, "audit_sync", syncMode)
		text = setOption(t, text, "policies", bundle.url)
		text = setOption(t, text, "policy_public_key", bundle.publicKey)
		// The test's world (DNS, GeoIP data, upstreams on loopback), the
		// proxy on a port of its own, and no line per decision on stderr.
		edits := []struct{ old, new string }{
			{"\tsovereignty {\n", fmt.Sprintf("\tlog default {\n\t\texclude sovgate.decision\n\t}\n\tsovereignty {\n\t\tgeoip_country %s\n\t\tgeoip_asn %s\n\t\tgeoip_registration %s\n\t\tresolver %s\n\t\tallow_private 127.0.0.0/29\n",
				w.countryDB, w.asnDB, w.registrationDB, w.dns.Addr())},
			{"http://:3128 {\n", fmt.Sprintf("http://%s {\n\tbind 127.0.0.1\n", strings.TrimPrefix(n.proxyAddr, "127.0.0.1"))},
		}
		for _, e := range edits {
			if !strings.Contains(text, e.old) {
				t.Fatalf("the guide's Caddyfile has no %q; update this test:\n%s", e.old, text)
			}
			text = strings.Replace(text, e.old, e.new, 1)
		}
		n.caddyfile = filepath.Join(n.dir, "Caddyfile")
		writeFile(t, n.caddyfile, text)
		nodes[i] = n
	}

	// All three start at once, as after a power cut.
	started := time.Now()
	for _, n := range nodes {
		n.launch(t)
	}
	for _, n := range nodes {
		if err := n.waitReady(t); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("three gateways ready in %v", time.Since(started).Round(time.Millisecond))
	for _, n := range nodes {
		if st := n.status(t); st.Node != n.name || st.Policy.Revision != bundle.revision {
			t.Fatalf("%s: node %q, policy %+v; want its name and the bundle's revision %s", n.name, st.Node, st.Policy, bundle.revision)
		}
	}

	load := startHALoad(nodes, fmt.Sprintf("http://eu.test:%d", w.httpPort), 6)
	var finishOnce sync.Once
	finish := func() { finishOnce.Do(load.finish) }
	t.Cleanup(finish)
	load.waitAnswers(t, "warm-up", 100, []int64{0, 0, 0}, 0, 1, 2)

	victim := nodes[2]
	tunnelID, tunnel := openHATunnel(t, w, victim)
	defer tunnel.Close()

	// The victim loses its database: it goes on answering, its records go
	// to its spool. It answers for more than twice the batched bound so
	// cut, so that losing its spool would lose records older than the
	// bound, which the checks below would see.
	cutAt := time.Now()
	victim.link.setCut(true)
	spooled := waitStatus(t, victim, "records in the spool, two seconds of answers while cut", func(st haStatus) bool {
		return st.Counters["audit_spooled"] >= 50 && load.lastAnswer(2).Sub(cutAt) > 2*haBatchedBound
	}).Counters["audit_spooled"]

	before := load.counts()
	killedAt := time.Now()
	victim.kill9(t)
	// Its tunnel breaks at once; the apps' requests go to the others.
	tunnel.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := tunnel.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a tunnel through the killed gateway did not break: %v", err)
	}
	load.waitAnswers(t, "with one gateway dead", 100, before, 0, 1)

	// It does not start while its database is unreachable...
	if err := victim.start(t); err == nil {
		t.Fatalf("%s started with its audit database unreachable", victim.name)
	} else if !strings.Contains(err.Error(), "audit store") {
		t.Errorf("the refusal to start does not name the audit store:\n%v", err)
	}
	// ...and starts once it is back, even with the bundle server down: on
	// its cached policy, replaying its spool.
	bundle.setDown(true)
	// A failed check must not leave the server down for the next mode.
	t.Cleanup(func() { bundle.setDown(false) })
	victim.link.setCut(false)
	restarted := time.Now()
	if err := victim.start(t); err != nil {
		t.Fatal(err)
	}
	restartTime := time.Since(restarted)
	var replayed int64
	select {
	case replayed = <-victim.replaying:
	default:
		t.Fatalf("%s did not say it replays its spool:\n%s", victim.name, mustRead(victim.log.Name()))
	}
	if replayed < spooled {
		t.Errorf("the spool held %d records at restart; %d were spooled before the kill", replayed, spooled)
	}
	// Pending reaches zero once every spooled record is in the store. The
	// replayed counter may stay below what the spool held: a batch the
	// database committed while its answer was cut off was spooled too,
	// and the replay skips it rather than writing it twice. The final
	// count of records below proves none was lost.
	st := waitStatus(t, victim, "the spool replayed", func(st haStatus) bool {
		return st.Counters["audit_spool_pending"] == 0
	})
	if st.Policy.Revision != bundle.revision {
		t.Errorf("restarted without the bundle server: revision %q, want the cached %s", st.Policy.Revision, bundle.revision)
	}
	bundle.setDown(false)
	before = load.counts()
	load.waitAnswers(t, "after the restart", 100, before, 2)
	finish()
	for _, n := range nodes {
		n.stop(t)
	}

	checkGroupAudit(t, nodes, database, syncMode, load, killedAt, tunnelID)
	t.Logf("the killed gateway had spooled %d records (%d in the spool at restart, all replayed); it restarted in %v",
		spooled, replayed, restartTime.Round(time.Millisecond))
}

// openHATunnel opens a CONNECT tunnel through n and a TLS session in it,
// and sends one request over it; the tunnel stays open.
func openHATunnel(t *testing.T, w *world, n *haNode) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.proxyAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	authority := fmt.Sprintf("eu.test:%d", w.tlsPort)
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT through %s: %v %v", n.name, resp, err)
	}
	tc := tls.Client(&bufferedConn{Conn: c, r: br}, &tls.Config{RootCAs: w.roots, ServerName: "eu.test"})
	fmt.Fprintf(tc, "GET /tunnel HTTP/1.1\r\nHost: eu.test\r\n\r\n")
	tr := bufio.NewReader(tc)
	got, err := http.ReadResponse(tr, nil)
	if err != nil || got.StatusCode != http.StatusOK {
		t.Fatalf("a request through the tunnel: %v %v", got, err)
	}
	io.Copy(io.Discard, got.Body)
	got.Body.Close()
	c.SetDeadline(time.Time{})
	return resp.Header.Get("Sovgate-Decision-Id"), tc
}

// haRecord is the part of a record `sovgate audit query --format json`
// prints that the test reads.
type haRecord struct {
	ID        string `json:"id"`
	Node      string `json:"node"`
	Completed bool   `json:"completed"`
}

// checkGroupAudit checks the audit log as an auditor would, with the
// sovgate audit commands: every chain verifies, the records of the three
// gateways are there, and no answered request lacks its record, except,
// with audit_sync batched, those the killed gateway answered in its last
// second.
func checkGroupAudit(t *testing.T, nodes []*haNode, database, syncMode string, load *haLoad, killedAt time.Time, tunnelID string) {
	t.Helper()
	res := runSovgate(t, "audit", "verify", "--audit", database)
	if res.exit != 0 {
		t.Errorf("sovgate audit verify: exit %d\n%s%s", res.exit, res.stdout, res.stderr)
	}
	for _, n := range nodes {
		if !strings.Contains(res.stdout, "node "+n.name) {
			t.Errorf("sovgate audit verify does not show the chain of %s:\n%s", n.name, res.stdout)
		}
	}
	res = runSovgate(t, "audit", "query", "--audit", database, "--limit", "0", "--format", "json")
	var records []haRecord
	if err := json.Unmarshal([]byte(res.stdout), &records); res.exit != 0 || err != nil {
		t.Fatalf("sovgate audit query: exit %d, %v\n%s", res.exit, err, res.stderr)
	}
	stored := make(map[string]haRecord, len(records))
	perNode := map[string]int{}
	for _, r := range records {
		if _, dup := stored[r.ID]; dup {
			t.Errorf("record %s is stored twice", r.ID)
		}
		stored[r.ID] = r
		perNode[r.Node]++
	}
	for _, n := range nodes {
		if perNode[n.name] == 0 {
			t.Errorf("sovgate audit query shows no record of %s (%v)", n.name, perNode)
		}
	}
	if r, ok := stored[tunnelID]; !ok || r.Completed {
		t.Errorf("the tunnel through the killed gateway: stored %v, completed %v; want its decision, with no completion", ok, r.Completed)
	}

	victim := nodes[len(nodes)-1]
	bound := haBatchedBound // strict: no loss at all
	load.mu.Lock()
	answers := load.answers
	load.mu.Unlock()
	lost, beyond := 0, 0
	var oldestLost time.Duration // before the kill
	for _, a := range answers {
		r, ok := stored[a.id]
		if ok {
			if r.Node != nodes[a.node].name {
				t.Errorf("decision %s answered by %s is recorded as %s's", a.id, nodes[a.node].name, r.Node)
			}
			continue
		}
		lost++
		oldestLost = max(oldestLost, killedAt.Sub(a.at))
		if syncMode == "strict" || nodes[a.node] != victim || a.at.Before(killedAt.Add(-bound)) {
			beyond++
			if beyond <= 5 {
				t.Errorf("no record of decision %s, answered by %s %v before the kill", a.id, nodes[a.node].name, killedAt.Sub(a.at).Round(time.Millisecond))
			}
		}
	}
	switch {
	case beyond > 0 && syncMode == "strict":
		t.Errorf("audit_sync strict: %d answered requests have no record; none may be lost", beyond)
	case beyond > 0:
		t.Errorf("audit_sync %s: %d answered requests have no record beyond the documented loss (those the killed gateway answered in its last %v)", syncMode, beyond, bound)
	}
	t.Logf("audit_sync %s: requests sent %d (%d failed and went to the next gateway), answers received %d, records stored %d (%v), records lost %d (the oldest answered %v before the kill)",
		syncMode, load.sent.Load(), load.failed.Load(), len(answers), len(records), perNode, lost, oldestLost.Round(time.Millisecond))
}
