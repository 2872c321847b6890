package e2e

// Attacks from an app's seat, as an attacker inside the city's network
// would make them (the second hardening pass). Each test reproduces the
// attack as it worked before its defence, and fails if it works again.

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// adminMode reads the gateway's mode from its admin endpoint. On a
// loopback address, the endpoint answers to Host localhost only.
func (g *gateway) adminMode(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+g.adminAddr+"/sovereignty/status", nil)
	_, port, _ := net.SplitHostPort(g.adminAddr)
	req.Host = "localhost:" + port
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status endpoint: %s %s", resp.Status, body)
	}
	var st struct {
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mode
}

// patchModeThroughTunnel is the attack: CONNECT to where the admin endpoint
// listens, then, inside the tunnel, the admin API call that switches the
// gateway to monitor mode. It returns the proxy's answer to CONNECT; if
// the tunnel opened, the attack went on and the test fails, saying what
// the admin endpoint answered.
func patchModeThroughTunnel(t *testing.T, g *gateway, authority, adminHost string) *http.Response {
	t.Helper()
	resp, conn, br := connectAs(t, g, "", "", authority)
	if resp.StatusCode == http.StatusOK {
		body := `"monitor"`
		fmt.Fprintf(conn, "PATCH /config/apps/sovereignty/mode HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			adminHost, len(body), body)
		answer, err := http.ReadResponse(br, nil)
		status := "no answer"
		if err == nil {
			status = answer.Status
		}
		t.Fatalf("CONNECT %s opened a tunnel to the admin endpoint; PATCH .../sovereignty/mode through it: %s", authority, status)
	}
	return resp
}

func expectSelf(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "DESTINATION_SELF" {
		t.Errorf("%s: %s, reasons %q; want 403 DESTINATION_SELF", what, resp.Status, resp.Header.Get("Sovgate-Reasons"))
	}
}

// TestAdminEndpointIsNeverADestination: with allow_private covering the
// LAN address where the admin endpoint listens (to scrape metrics), an app
// opened CONNECT to it and switched the gateway to monitor mode with the
// admin API, through the proxy. Every address the process listens on is
// now refused (403 DESTINATION_SELF), in every mode: the admin endpoint
// (on an address, or on every address), every server's listener (the
// metrics one), and listeners added later by a reload.
func TestAdminEndpointIsNeverADestination(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("gateway.test", 300, ipEU)
	// The "LAN address" is 127.0.0.2: inside allow_private, French, and
	// allowed by the policy, so only the self check stands in the way.
	adminAddr := fmt.Sprintf("%s:%d", ipEU, freePort(t))
	g := startGateway(t, w, gatewayOptions{mode: "enforce", adminAddr: adminAddr})

	// The admin endpoint on a loopback address answers to Host localhost.
	_, port, _ := net.SplitHostPort(adminAddr)
	adminHost := "localhost:" + port
	for _, target := range []string{adminAddr, "gateway.test:" + port} {
		expectSelf(t, "CONNECT "+target, patchModeThroughTunnel(t, g, target, adminHost))
	}
	// Absolute form: the admin API call itself, forwarded.
	for _, method := range []string{"PATCH", "DELETE"} {
		path := "/config/apps/sovereignty/mode"
		if method == "DELETE" {
			path = "/config/apps/sovereignty/audit"
		}
		resp, body := g.rawRequest(t, fmt.Sprintf("%s http://%s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n\"monitor\"",
			method, adminAddr, path, adminHost))
		expectSelf(t, method+" "+path, resp)
		if !strings.Contains(body, "this gateway itself listens") {
			t.Errorf("%s: body %q does not say why", method, body)
		}
	}
	if mode := g.adminMode(t); mode != "enforce" {
		t.Fatalf("the gateway is now in %q mode", mode)
	}

	// A reload adds a metrics server on another port of the LAN address,
	// and moves the admin endpoint to every address (":port").
	wildcardAdmin := fmt.Sprintf(":%d", freePort(t))
	metricsAddr := fmt.Sprintf("%s:%d", ipEU, freePort(t))
	// allow_private also covers every interface address of this host, so
	// the guard lets them through and only the self check refuses them.
	allow := []string{"127.0.0.0/29"}
	var local []netip.Addr
	ifaces, _ := net.InterfaceAddrs()
	for _, a := range ifaces {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			local = append(local, p.Addr())
			allow = append(allow, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()).String())
		}
	}
	g = startGateway(t, w, gatewayOptions{mode: "monitor", proxyAddr: g.proxyAddr, adminAddr: wildcardAdmin,
		app: map[string]any{"allow_private": allow},
		servers: map[string]any{"metrics": map[string]any{
			"listen": []string{metricsAddr},
			"routes": []any{map[string]any{"handle": []any{map[string]any{"handler": "metrics"}}}},
		}}})
	_, adminPort, _ := net.SplitHostPort(wildcardAdmin)
	targets := []string{net.JoinHostPort(ipEU, adminPort), net.JoinHostPort("127.0.0.1", adminPort), metricsAddr}
	for _, ip := range local {
		targets = append(targets, net.JoinHostPort(ip.String(), adminPort))
	}
	for _, target := range targets {
		expectSelf(t, "monitor mode, CONNECT "+target, patchModeThroughTunnel(t, g, target, "localhost:"+adminPort))
	}
	resp, _ := g.rawRequest(t, fmt.Sprintf("GET http://%s/metrics HTTP/1.1\r\nHost: %s\r\n\r\n", metricsAddr, metricsAddr))
	expectSelf(t, "GET the metrics through the proxy", resp)
	if mode := g.adminMode(t); mode != "monitor" {
		t.Fatalf("mode %q after the attacks, want monitor (unchanged)", mode)
	}
	// The gateway still forwards what it should.
	if resp, _ := g.rawRequest(t, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: eu.test\r\n\r\n", g.httpURL("eu.test", "/"))); resp.StatusCode != http.StatusOK {
		t.Errorf("an ordinary request: %s", resp.Status)
	}
}

// rawUpstream serves every connection on ip with respond, which reads the
// request and writes whatever bytes it likes.
func rawUpstream(t *testing.T, ip string, respond func(conn net.Conn, br *bufio.Reader)) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(15 * time.Second))
				respond(conn, bufio.NewReader(conn))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestUpstreamCannotForgeDecisionsInTrailersOr1xx: an upstream that
// declared "Trailer: Sovgate-Decision" could send "Sovgate-Decision: allow"
// after the body, and the client received it. Trailers are now cleaned
// like headers (Sovgate-*, hop-by-hop and Connection-named fields go), and
// so are informational (1xx) responses, which are forwarded.
func TestUpstreamCannotForgeDecisionsInTrailersOr1xx(t *testing.T) {
	w := newWorld(t)
	port := rawUpstream(t, ipEU, func(conn net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 103 Early Hints\r\n"+
			"Link: </style.css>; rel=preload\r\n"+
			"Sovgate-Decision: allow\r\n"+
			"Sovgate-Reasons: EXCEPTION_APPLIED\r\n"+
			"Keep-Alive: timeout=5\r\n\r\n")
		io.WriteString(conn, "HTTP/1.1 200 OK\r\n"+
			"Content-Type: text/plain\r\n"+
			"Transfer-Encoding: chunked\r\n"+
			"Connection: X-Hop\r\n"+
			"Trailer: Sovgate-Decision, Sovgate-Decision-Id, Sovgate-Reasons, X-Checksum, Keep-Alive, X-Hop, Proxy-Authenticate\r\n\r\n"+
			"5\r\nhello\r\n0\r\n"+
			"Sovgate-Decision: allow\r\n"+
			"Sovgate-Decision-Id: forged-by-upstream\r\n"+
			"Sovgate-Reasons: EXCEPTION_APPLIED\r\n"+
			"X-Checksum: 5d41402a\r\n"+
			"Keep-Alive: timeout=5\r\n"+
			"X-Hop: hop\r\n"+
			"Proxy-Authenticate: Basic realm=x\r\n\r\n")
	})
	g := startGateway(t, w, gatewayOptions{mode: "monitor"})

	var informational []http.Header
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://eu.test:%d/page", port), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
			informational = append(informational, http.Header(header).Clone())
			return nil
		},
	}))
	resp, err := g.client("", nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hello" {
		t.Fatalf("%s %q", resp.Status, body)
	}
	// Trailers: announced and sent, only the upstream's own end-to-end
	// fields arrive.
	if got := resp.Trailer.Get("X-Checksum"); got != "5d41402a" {
		t.Errorf("X-Checksum trailer %q: an end-to-end trailer must pass", got)
	}
	for name := range resp.Trailer {
		if name != "X-Checksum" {
			t.Errorf("trailer %s: %q reached the client", name, resp.Trailer.Values(name))
		}
	}
	if id := resp.Header.Get("Sovgate-Decision-Id"); id == "" || id == "forged-by-upstream" {
		t.Errorf("Sovgate-Decision-Id %q", id)
	}
	// 1xx: forwarded, cleaned.
	if len(informational) != 1 {
		t.Fatalf("%d informational responses reached the client, want the 103", len(informational))
	}
	hints := informational[0]
	if hints.Get("Link") != "</style.css>; rel=preload" {
		t.Errorf("103 without its Link: %v", hints)
	}
	for name := range hints {
		if strings.HasPrefix(strings.ToLower(name), "sovgate-") || name == "Keep-Alive" {
			t.Errorf("103 carries %s: %v", name, hints[name])
		}
	}
	if resp.Header.Get("Link") != "" {
		t.Errorf("the 103's fields leaked into the final response: %v", resp.Header)
	}
}

// TestRefusalFloodIsRateLimitedAndSummarised: with rate_per_app 5, 3,000
// malformed requests from one app all got 400, none 429, and wrote 3,000
// audit records in 3 s. Admission now comes before the target is read:
// past its share the app gets 429 whatever it sends. And identical
// refusals of one source are one record per code and minute, with a
// count: every refusal is accounted for, the chain still verifies, and
// query and report show the count.
func TestRefusalFloodIsRateLimitedAndSummarised(t *testing.T) {
	w := newWorld(t)
	storeLoc := filepath.Join(t.TempDir(), "audit.db")
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"rate_per_app": 5, "audit": storeLoc}})

	const total, conns = 3000, 4
	start := time.Now()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", g.proxyAddr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(2 * time.Minute))
			br := bufio.NewReader(conn)
			for i := c; i < total; i += conns {
				// A decimal IP: refused as non-canonical (400 BAD_TARGET).
				fmt.Fprintf(conn, "GET http://2130706433:%d/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic Y2hhdHR5Og==\r\n\r\n", w.httpPort)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The burst (twice the rate), and what the rate refilled meanwhile.
	allowed := 10 + int(math.Ceil(5*elapsed.Seconds()))
	t.Logf("answers to %d malformed requests in %s: %v", total, elapsed.Round(time.Millisecond), codes)
	if codes[http.StatusBadRequest] > allowed || codes[http.StatusBadRequest]+codes[http.StatusTooManyRequests] != total {
		t.Fatalf("answers %v: want at most %d as 400 (the burst of 10, and 5/s), the rest 429", codes, allowed)
	}

	// Stopping completes the summaries still open.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	res := runSovgate(t, "audit", "query", "--audit", storeLoc, "--format", "json", "--limit", "100")
	if res.exit != 0 {
		t.Fatalf("audit query: %d %s", res.exit, res.stderr)
	}
	var recs []struct {
		Reasons []string `json:"reasons"`
		// How many identical refusals the record stands for (absent: one).
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &recs); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	var sum int64
	for _, r := range recs {
		sum += max(1, r.Count)
	}
	// One record per code (400, 429) and minute: the flood may straddle a
	// minute.
	if len(recs) > 4 || sum != total {
		t.Errorf("%d records standing for %d refusals; want at most 4 for all %d", len(recs), sum, total)
	}
	if res := runSovgate(t, "audit", "query", "--audit", storeLoc, "--reason", "RATE_LIMITED"); !strings.Contains(res.stdout, "RATE_LIMITED ×") {
		t.Errorf("audit query does not show the count:\n%s", res.stdout)
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if res := runSovgate(t, "audit", "report", "--audit", storeLoc, "--since", since, "--until", until, "--format", "csv"); res.exit != 0 {
		t.Errorf("audit report: %s", res.stderr)
	}
	res = runSovgate(t, "audit", "report", "--audit", storeLoc, "--since", since, "--until", until)
	if !strings.Contains(res.stdout, fmt.Sprintf("| all decisions | %d |", total)) {
		t.Errorf("the report does not count every refusal:\n%s", res.stdout)
	}
	if res := runSovgate(t, "audit", "verify", "--audit", storeLoc); res.exit != 0 || !strings.Contains(res.stdout, "intact") {
		t.Errorf("audit verify: %d %s %s", res.exit, res.stdout, res.stderr)
	}
	// The decision log has the same summary.
	var summarised bool
	for _, line := range strings.Split(mustRead(g.logPath), "\n") {
		if strings.Contains(line, `"msg":"summary"`) && strings.Contains(line, `"count":`) {
			summarised = true
		}
	}
	if !summarised {
		t.Error("no summary line in the decision log")
	}
}

// floodConn sends requests with the Proxy-Authorization of next(i) over one
// keep-alive connection from the address from, until stop is closed or n
// requests are sent (n < 0: no limit), and counts the answers.
func floodConn(t *testing.T, g *gateway, from string, n int, next func(i int) string, stop <-chan struct{}, count func(*http.Response)) {
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := dialer.Dial("tcp", g.proxyAddr)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	target := g.httpURL("eu.test", "/")
	for i := 0; n < 0 || i < n; i++ {
		select {
		case <-stop:
			return
		default:
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: eu.test\r\nProxy-Authorization: Basic %s\r\n\r\n", target, next(i))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return // the gateway may close a connection it refused
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		count(resp)
		if resp.Close {
			return
		}
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// TestPasswordFloodDoesNotStarveApps: a password check is slow by design
// (bcrypt, one comparison slot per two cores). 4,200 unknown user names
// emptied the cache of checked credentials, then 40 connections sending
// wrong passwords for a real app made that app's correct login wait 39.8 s.
// Now a verified password is remembered apart from failures, which can
// never evict it, and failed attempts are limited per source and per app
// before any check (429 with Retry-After). The correct login's latency is
// measured during the flood. The argon2id hashes Caddy's hash-password
// recommends are accepted too.
func TestPasswordFloodDoesNotStarveApps(t *testing.T) {
	w := newWorld(t)
	const password = "correct horse battery staple"
	// Cost 10: each wrong guess is a real comparison of tens of
	// milliseconds, hundreds under the race detector.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 10)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "credentials")
	saveFile(t, creds, fmt.Sprintf("etat-civil:%s\nvisio:%s\n", hash, argon2idHash(t, "visio-pass")))
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"credentials": creds}})

	// The app logs in (its password is checked once) over keep-alive
	// connections from its own address.
	proxyURL := &url.URL{Scheme: "http", Host: g.proxyAddr, User: url.UserPassword("etat-civil", password)}
	app := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		Proxy:       http.ProxyURL(proxyURL),
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext,
	}}
	login := func() (time.Duration, int) {
		start := time.Now()
		resp, err := app.Get(g.httpURL("eu.test", "/"))
		if err != nil {
			return time.Since(start), 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode
	}
	if _, status := login(); status != http.StatusOK {
		t.Fatalf("first login: %d", status)
	}
	if resp := g.proxyGet(t, "visio", "visio-pass", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("argon2id login: %s", resp.Status)
	}

	// 40 connections guess the app's password, then 4,200 unknown user
	// names (which used to empty the cache of checked credentials), while
	// the app works.
	var mu sync.Mutex
	answers := map[string]int{}
	count := func(kind string) func(*http.Response) {
		return func(resp *http.Response) {
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			mu.Lock()
			answers[fmt.Sprintf("%s %d", kind, resp.StatusCode)]++
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var guessers, names sync.WaitGroup
	for c := range 40 {
		guessers.Go(func() {
			floodConn(t, g, "127.0.0.10", -1, func(i int) string { return basicAuth("etat-civil", fmt.Sprintf("guess-%d-%d", c, i)) }, stop, count("guess"))
		})
	}
	for c := range 8 {
		names.Go(func() {
			floodConn(t, g, "127.0.0.9", 525, func(i int) string { return basicAuth(fmt.Sprintf("nobody-%d-%d", c, i), "x") }, nil, count("unknown user"))
		})
	}
	names.Wait()
	var latencies []time.Duration
	deadline := time.Now().Add(20 * time.Second)
	for len(latencies) < 200 && time.Now().Before(deadline) {
		took, status := login()
		if status != http.StatusOK {
			t.Errorf("the app's login during the flood: status %d after %s", status, took)
		}
		latencies = append(latencies, took)
	}
	close(stop)
	guessers.Wait()
	slices.Sort(latencies)
	p50, p99, worst := latencies[len(latencies)/2], latencies[(len(latencies)*99)/100], latencies[len(latencies)-1]
	t.Logf("correct login during the flood (race detector %v): %d requests, p50 %s, p99 %s, max %s; the flood was answered %v",
		raceDetector, len(latencies), p50, p99, worst, answers)
	if answers["unknown user 429"] < 4000 || answers["guess 200"] > 0 {
		t.Errorf("answers %v: want 429 once a source has spent its failed attempts, and no guess logged in", answers)
	}
	// The target on a quiet 2-core machine is 50 ms at p99. The bound
	// leaves room for a shared machine and the race detector (the
	// attackers run in this process, and take CPU from the gateway), and
	// is far below a login that waits behind the guesses: seconds per
	// login, 40 comparisons deep.
	bound := 250 * time.Millisecond
	if raceDetector {
		bound = 5 * time.Second
	}
	if worst > bound {
		t.Errorf("slowest login %s (p99 %s): the app waits behind the guesses", worst, p99)
	}
}

// argon2idHash makes the hash `sovgate hash-password --algorithm argon2id`
// makes (Caddy's defaults: 46 MiB, one pass, one thread).
func argon2idHash(t *testing.T, password string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, 46*1024, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=1,p=1$%s$%s", argon2.Version, 46*1024,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// TestCredentialsTakeWhatHashPasswordMakes: the argon2id hash the bundled
// `sovgate hash-password` recommends was refused, and the error blamed a
// missing sovereignty app. Both of its formats are accepted now, and a
// hash that is neither is refused with the file, the line and the app.
func TestCredentialsTakeWhatHashPasswordMakes(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for _, algorithm := range []string{"argon2id", "bcrypt"} {
		res := runSovgate(t, "hash-password", "--plaintext", "s3cret", "--algorithm", algorithm)
		if res.exit != 0 {
			t.Fatalf("hash-password --algorithm %s: %s", algorithm, res.stderr)
		}
		lines = append(lines, "app-"+algorithm+":"+strings.TrimSpace(res.stdout))
	}
	caddyfile := func(creds string) string {
		path := filepath.Join(dir, "Caddyfile")
		saveFile(t, path, fmt.Sprintf("{\n\tadmin off\n\tsovereignty {\n\t\tcredentials %s\n\t}\n}\n\nhttp://:3128 {\n\tbind 127.0.0.1\n\tsovereign_egress\n}\n", creds))
		return path
	}
	good := filepath.Join(dir, "credentials")
	saveFile(t, good, strings.Join(lines, "\n")+"\n")
	if res := runSovgate(t, "validate", "--config", caddyfile(good), "--adapter", "caddyfile"); res.exit != 0 {
		t.Fatalf("credentials from hash-password refused: %s%s", res.stdout, res.stderr)
	}
	bad := filepath.Join(dir, "bad-credentials")
	saveFile(t, bad, lines[0]+"\nvisio:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
	res := runSovgate(t, "validate", "--config", caddyfile(bad), "--adapter", "caddyfile")
	if res.exit == 0 || !strings.Contains(res.stderr, bad+`:2: the hash of "visio" is neither bcrypt`) {
		t.Errorf("a bad hash: exit %d\n%s", res.exit, res.stderr)
	}
	if strings.Contains(res.stderr, "needs the sovereignty app") || strings.Contains(res.stderr, "W6ph5Mm5") {
		t.Errorf("the error blames a missing app, or shows the hash:\n%s", res.stderr)
	}
}

// TestSNICheckedOnEveryPort: the ClientHello was read on tls_ports (443)
// only, so "CONNECT eu.test:8443" followed by a ClientHello for us.test
// went through. A tunnel whose first bytes are a ClientHello is now checked
// on every port; tls_ports keeps its meaning (the ports where bytes that
// are not TLS are refused), and elsewhere other protocols, including those
// where the server speaks first, pass as before. The test world's TLS port
// is not 443.
func TestSNICheckedOnEveryPort(t *testing.T) {
	w := newWorld(t)
	banner := rawUpstream(t, ipEU, func(conn net.Conn, br *bufio.Reader) {
		io.WriteString(conn, "220 smtp.eu.test ESMTP ready\r\n")
		if line, err := br.ReadString('\n'); err == nil {
			io.WriteString(conn, "221 bye, you said "+line)
		}
	})
	for _, mode := range []string{"enforce", "monitor"} {
		g := startGateway(t, w, gatewayOptions{mode: mode})
		target := fmt.Sprintf("eu.test:%d", w.tlsPort)
		for _, h2 := range []bool{false, true} {
			name := fmt.Sprintf("%s/h2=%v", mode, h2)
			before := len(g.readLog(t))
			err := tlsThroughTunnel(t, g, h2, target, "us.test")
			var violation *decisionLine
			for _, l := range g.readLog(t)[before:] {
				if l.Msg == "decision" && slices.Contains(l.Reasons, "SNI_MISMATCH") {
					violation = &l
				}
			}
			if violation == nil {
				t.Errorf("%s: a ClientHello for us.test in a tunnel to %s was not recorded as SNI_MISMATCH (handshake error %v)", name, target, err)
				continue
			}
			if mode == "enforce" {
				if err == nil || !strings.Contains(err.Error(), "access denied") || violation.Action != "blocked" {
					t.Errorf("%s: handshake error %v, action %s; want the gateway's access_denied, blocked", name, err, violation.Action)
				}
			} else if err != nil || violation.Action != "forwarded" {
				t.Errorf("%s: monitor mode: handshake error %v, action %s; want forwarded and recorded", name, err, violation.Action)
			}
		}
		// The name it asked for: no violation.
		before := len(g.readLog(t))
		if err := tlsThroughTunnel(t, g, false, target, "eu.test"); err != nil {
			t.Errorf("%s: matching SNI: %v", mode, err)
		}
		for _, l := range g.readLog(t)[before:] {
			if l.Verdict == "deny" {
				t.Errorf("%s: matching SNI recorded %v", mode, l.Reasons)
			}
		}
		// Plain HTTP through a tunnel to a port outside tls_ports.
		conn, br := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
		if err := tunnelGet(t, conn, br, "eu.test"); err != nil {
			t.Errorf("%s: plain HTTP in a tunnel: %v", mode, err)
		}
		conn.Close()
		// A protocol where the server speaks first: its banner arrives
		// while the client has sent nothing.
		conn, br = g.openTunnel(t, fmt.Sprintf("eu.test:%d", banner))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "220 ") {
			t.Errorf("%s: server-first banner: %q %v", mode, line, err)
		}
		fmt.Fprintf(conn, "QUIT\r\n")
		if line, err := br.ReadString('\n'); err != nil || line != "221 bye, you said QUIT\r\n" {
			t.Errorf("%s: after the banner: %q %v", mode, line, err)
		}
		conn.Close()
	}
}

// connectAs opens a CONNECT tunnel by hand from the local address from
// ("" for any), with the unchecked proxy user name user ("" for none). It
// returns the proxy's answer, and the connection (closed with the test)
// with its reader, positioned after the answer.
func connectAs(t *testing.T, g *gateway, from, user, authority string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := dialer.Dial("tcp", g.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	auth := ""
	if user != "" {
		auth = "Proxy-Authorization: Basic " + basicAuth(user, "x") + "\r\n"
	}
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority, auth)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", authority, err)
	}
	resp.Body.Close()
	return resp, conn, br
}

// TestOneClientCannotFillTheTunnelPool: without credentials, proxy user
// names are unchecked, and one client filled the whole tunnel pool by
// rotating them. max_tunnels_per_app now defaults to a quarter of
// max_tunnels, and requests not identified by a certificate, a checked
// password or a registered network count per source address.
func TestOneClientCannotFillTheTunnelPool(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"max_tunnels": 8}})
	target := fmt.Sprintf("eu.test:%d", w.httpPort)
	opened := 0
	for i := range 8 {
		resp, _, _ := connectAs(t, g, "127.0.0.9", fmt.Sprintf("rotating-%d", i), target)
		if resp.StatusCode == http.StatusOK {
			opened++
			continue
		}
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(resp.Header.Get("Sovgate-Reasons"), "TOO_MANY_TUNNELS") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("tunnel %d: %s %s", i, resp.Status, resp.Header.Get("Sovgate-Reasons"))
		}
	}
	if opened != 2 {
		t.Errorf("one source opened %d of 8 tunnels with rotating names; want 2 (25%%)", opened)
	}
	// Without a name at all, the same source's share.
	if resp, _, _ := connectAs(t, g, "127.0.0.9", "", target); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("an unnamed tunnel from the same source: %s", resp.Status)
	}
	// Other clients still get tunnels.
	for _, from := range []string{"127.0.0.1", "127.0.0.11"} {
		if resp, _, _ := connectAs(t, g, from, "", target); resp.StatusCode != http.StatusOK {
			t.Errorf("a tunnel from %s: %s %s", from, resp.Status, resp.Header.Get("Sovgate-Reasons"))
		}
	}
}
