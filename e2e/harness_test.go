// Package e2e drives sovgate end to end: our Caddy modules on loopback, a
// real DNS server, real upstream HTTP and TLS servers on 127.0.0.x, MMDB
// files written with mmdbwriter, and real clients (Go's HTTP/1.1 and HTTP/2
// clients, curl) going through the proxy.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/sovgate/sovgate/caddy-modules/egress"
	_ "github.com/sovgate/sovgate/caddy-modules/handoff"
	_ "github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/geo/geotest"
)

// The test world places loopback addresses in countries and networks.
// allow_private admits 127.0.0.0/29 so these addresses are classified like
// public ones; 127.0.0.99 stays refused.
const (
	ipEU      = "127.0.0.2" // FR, a French network
	ipUS      = "127.0.0.3" // US
	ipAWSFR   = "127.0.0.4" // FR, in Amazon's AS16509
	ipOVH     = "127.0.0.5" // FR, in OVH's AS16276
	ipNowhere = "127.0.0.6" // no country
	ipDE      = "127.0.0.7" // DE, an unnamed network
)

var upstreamIPs = []string{ipEU, ipUS, ipAWSFR, ipOVH, ipNowhere, ipDE}

// world is everything outside the gateway: DNS, databases, upstreams.
type world struct {
	dir            string
	dns            *geotest.DNSServer
	countryDB      string
	asnDB          string
	registrationDB string
	caPEM          string
	roots          *x509.CertPool
	httpPort       int // every upstream IP serves plain HTTP on this port
	tlsPort        int // and TLS on this one

	// streamGate holds the /stream handler after its first chunk until the
	// client has read that chunk: a proxy that buffered the response would
	// never deliver it, and the test would fail at its deadline.
	streamGate chan struct{}

	mu       sync.Mutex
	received []receivedRequest
}

// receivedRequest is what an upstream saw.
type receivedRequest struct {
	LocalIP string
	Host    string
	Method  string
	Path    string
	Header  http.Header
	Body    []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), streamGate: make(chan struct{}, 1)}

	w.countryDB = filepath.Join(w.dir, "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(t, w.countryDB, map[string]string{
		ipEU: "FR", ipUS: "US", ipAWSFR: "FR", ipOVH: "FR", ipNowhere: "", ipDE: "DE",
	})
	w.asnDB = filepath.Join(w.dir, "GeoLite2-ASN.mmdb")
	geotest.WriteASNDB(t, w.asnDB, map[string]geotest.ASNEntry{
		ipEU:    {Number: 64500, Org: "METROPOLE-DE-LYON"},
		ipUS:    {Number: 64501, Org: "EXAMPLE-US-NET"},
		ipAWSFR: {Number: 16509, Org: "AMAZON-02"},
		ipOVH:   {Number: 16276, Org: "OVH SAS"},
		ipDE:    {Number: 64502, Org: "EXAMPLE-DE-NET"},
	})
	// Every test network is registered in France (the US one is a French
	// operator's point of presence abroad): only the location and the
	// catalogue decide, unless a test writes its own registration data.
	w.registrationDB = filepath.Join(w.dir, "registration.mmdb")
	geotest.WriteRegistrationDB(t, w.registrationDB, map[string]geotest.Registration{"127.0.0.0/29": {Country: "FR"}})

	w.dns = geotest.StartDNSServer(t)
	w.dns.SetA("eu.test", 300, ipEU)
	w.dns.SetA("us.test", 300, ipUS)
	w.dns.SetA("aws-paris.test", 300, ipAWSFR)
	w.dns.SetA("ovh.test", 300, ipOVH)
	w.dns.SetA("nowhere.test", 300, ipNowhere)
	w.dns.SetA("mixed.test", 300, ipEU, ipUS)
	w.dns.SetA("bucket.s3.eu-west-3.amazonaws.com", 300, ipDE)
	w.dns.SetA("d111.cloudfront.net", 300, ipDE)
	w.dns.SetCNAME("cdn.eu.test", "d111.cloudfront.net", 300)
	w.dns.SetA("private.test", 300, "10.1.2.3")
	w.dns.SetA("metadata.test", 300, "169.254.169.254")
	w.dns.SetA("loop.test", 300, "127.0.0.99")
	w.dns.SetFailure("nxdomain.test", geotest.NXDomain)
	w.dns.SetFailure("servfail.test", geotest.ServFail)

	w.makeCA(t)
	w.startUpstreams(t)
	return w
}

// makeCA writes a test CA and a server certificate for every test name.
func (w *world) makeCA(t *testing.T) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sovgate e2e test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	w.roots = x509.NewCertPool()
	w.roots.AddCert(caCert)
	w.caPEM = filepath.Join(w.dir, "ca.pem")
	if err := os.WriteFile(w.caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "eu.test"},
		DNSNames: []string{"eu.test", "us.test", "aws-paris.test", "ovh.test", "nowhere.test", "mixed.test",
			"cdn.eu.test", "bucket.s3.eu-west-3.amazonaws.com", "*.test"},
		IPAddresses: []net.IP{net.ParseIP(ipEU), net.ParseIP(ipUS), net.ParseIP(ipNowhere)},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	serverCert = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}

var serverCert tls.Certificate

// startUpstreams starts an HTTP and a TLS server on every upstream IP, on
// one port shared by all IPs, so a name with several addresses works
// whichever address the gateway dials.
func (w *world) startUpstreams(t *testing.T) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		httpLns, errHTTP := listenAllSamePort(upstreamIPs)
		tlsLns, errTLS := listenAllSamePort(upstreamIPs)
		if errHTTP == nil && errTLS == nil {
			w.httpPort = httpLns[0].Addr().(*net.TCPAddr).Port
			w.tlsPort = tlsLns[0].Addr().(*net.TCPAddr).Port
			for _, ln := range httpLns {
				w.serve(t, ln, false)
			}
			for _, ln := range tlsLns {
				w.serve(t, ln, true)
			}
			return
		}
		closeAll(httpLns)
		closeAll(tlsLns)
		if attempt > 20 {
			t.Fatalf("cannot find a port free on every upstream IP: %v %v", errHTTP, errTLS)
		}
	}
}

func listenAllSamePort(ips []string) ([]net.Listener, error) {
	first, err := net.Listen("tcp", ips[0]+":0")
	if err != nil {
		return nil, err
	}
	lns := []net.Listener{first}
	port := first.Addr().(*net.TCPAddr).Port
	for _, ip := range ips[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			closeAll(lns)
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func (w *world) serve(t *testing.T, ln net.Listener, useTLS bool) {
	srv := &http.Server{Handler: http.HandlerFunc(w.handle), ReadHeaderTimeout: 10 * time.Second}
	if useTLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{serverCert}, NextProtos: []string{"http/1.1"}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// handle is the upstream: it records the request and answers with where it
// is, plus headers the gateway must strip.
func (w *world) handle(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	local := r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
	localIP, _, _ := net.SplitHostPort(local)
	w.mu.Lock()
	w.received = append(w.received, receivedRequest{
		LocalIP: localIP, Host: r.Host, Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body,
	})
	w.mu.Unlock()

	h := rw.Header()
	h.Set("Sovgate-Decision", "allow")           // forged: must be stripped
	h.Set("Sovgate-Decision-Id", "forged-by-up") // replaced by the gateway's
	h.Set("Connection", "X-Upstream-Hop")
	h.Set("X-Upstream-Hop", "must not pass")
	h.Set("X-Served-By", localIP)
	switch r.URL.Path {
	case "/echo":
		rw.Header().Set("Content-Type", "application/octet-stream")
		rw.Write(body)
	case "/stream":
		// Three chunks with no declared length: the client must get the
		// first before the last is written.
		flusher := rw.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(rw, "chunk %d\n", i)
			flusher.Flush()
			if i == 0 {
				select {
				case <-w.streamGate:
				case <-time.After(10 * time.Second):
					return
				}
			}
		}
	default:
		fmt.Fprintf(rw, "hello from %s via %s\n", localIP, r.Host)
	}
}

func (w *world) lastReceived(t *testing.T) receivedRequest {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.received) == 0 {
		t.Fatal("the upstream received no request")
	}
	return w.received[len(w.received)-1]
}

func (w *world) receivedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.received)
}

// gateway is a running sovgate (our Caddy modules, in this process).
type gateway struct {
	proxyAddr string
	adminAddr string
	logPath   string
	world     *world
}

type gatewayOptions struct {
	mode     string
	policies string
	noASN    bool
	handler  map[string]any // extra sovereign_egress settings
	app      map[string]any // extra sovereignty app settings (provider_ranges, ...)
	server   map[string]any // extra Caddy server settings (timeouts, header size)
	servers  map[string]any // extra Caddy HTTP servers, by name
	apps     map[string]any // extra Caddy apps (tls, ...)
	// proxyAddr and adminAddr reuse the addresses of a running gateway: a
	// reload, as `sovgate reload` does it.
	proxyAddr, adminAddr string
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGateway loads a config into this process's Caddy and stops it at the
// end of the test. Tests using it must not run in parallel (Caddy runs one
// config per process).
func startGateway(t *testing.T, w *world, opts gatewayOptions) *gateway {
	t.Helper()
	g := &gateway{
		proxyAddr: opts.proxyAddr,
		adminAddr: opts.adminAddr,
		logPath:   filepath.Join(t.TempDir(), "decisions.log"),
		world:     w,
	}
	if g.proxyAddr == "" {
		g.proxyAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	if g.adminAddr == "" {
		g.adminAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	}
	app := map[string]any{
		"mode":               opts.mode,
		"geoip_country":      w.countryDB,
		"geoip_registration": w.registrationDB,
		"resolver":           w.dns.Addr(),
		"allow_private":      []string{"127.0.0.0/29"},
		"node":               "e2e-node",
	}
	if !opts.noASN {
		app["geoip_asn"] = w.asnDB
	}
	if opts.policies != "" {
		app["policies"] = opts.policies
	}
	for k, v := range opts.app {
		app[k] = v
	}
	handler := map[string]any{"handler": "sovereign_egress"}
	for k, v := range opts.handler {
		handler[k] = v
	}
	cfg := map[string]any{
		"admin": map[string]any{"listen": g.adminAddr, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{
			"default": map[string]any{"level": "WARN", "exclude": []string{"sovgate.decision"}},
			"decisions": map[string]any{
				"writer":  map[string]any{"output": "file", "filename": g.logPath},
				"encoder": map[string]any{"format": "json"},
				"include": []string{"sovgate.decision"},
			},
		}},
		"apps": map[string]any{
			"sovereignty": app,
			"http": map[string]any{"servers": map[string]any{"egress": map[string]any{
				"listen":            []string{g.proxyAddr},
				"listener_wrappers": []any{map[string]any{"wrapper": "sovgate_handoff"}},
				"protocols":         []string{"h1", "h2", "h2c"},
				"automatic_https":   map[string]any{"disable": true},
				"routes": []any{map[string]any{"handle": []any{
					handler,
					map[string]any{"handler": "static_response", "status_code": 421, "body": "not a proxy request"},
				}}},
			}}},
		},
	}
	for name, v := range opts.apps {
		cfg["apps"].(map[string]any)[name] = v
	}
	servers := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	srv := servers["egress"].(map[string]any)
	for k, v := range opts.server {
		srv[k] = v
	}
	for name, v := range opts.servers {
		servers[name] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatalf("loading the gateway config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	return g
}

// client is Go's HTTP client through the proxy; app names the calling app
// with proxy Basic auth. connectHeaders receives the headers of the
// proxy's answer to CONNECT.
func (g *gateway) client(app string, connectHeaders *http.Header) *http.Client {
	proxyURL := &url.URL{Scheme: "http", Host: g.proxyAddr}
	if app != "" {
		proxyURL.User = url.UserPassword(app, "secret")
	}
	tr := &http.Transport{
		Proxy:             http.ProxyURL(proxyURL),
		TLSClientConfig:   &tls.Config{RootCAs: g.world.roots},
		DisableKeepAlives: true,
	}
	if connectHeaders != nil {
		tr.OnProxyConnectResponse = func(_ context.Context, _ *url.URL, _ *http.Request, resp *http.Response) error {
			*connectHeaders = resp.Header.Clone()
			return nil
		}
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func (g *gateway) httpURL(host, path string) string {
	return fmt.Sprintf("http://%s:%d%s", host, g.world.httpPort, path)
}

func (g *gateway) httpsURL(host, path string) string {
	return fmt.Sprintf("https://%s:%d%s", host, g.world.tlsPort, path)
}

// rawRequest writes text to the proxy as is and reads one response: for
// requests no well-behaved client would send.
func (g *gateway) rawRequest(t *testing.T, text string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, text); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the proxy's response to %q: %v", firstLine(text), err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// connectH2 opens a CONNECT tunnel over HTTP/2 (h2c, prior knowledge) and
// returns the proxy's response and, on 200, a net.Conn over the stream.
func (g *gateway) connectH2(t *testing.T, authority string) (*http.Response, net.Conn) {
	t.Helper()
	// HTTP/2 with prior knowledge (h2c) over one new connection, as an
	// HTTP/2-capable proxy client speaks to the proxy.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := tr.NewClientConn(ctx, "http", g.proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, "http://"+authority, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = authority
	resp, err := cc.RoundTrip(req)
	if err != nil {
		cc.Close()
		t.Fatalf("HTTP/2 CONNECT %s: %v", authority, err)
	}
	t.Cleanup(func() { pw.Close(); resp.Body.Close(); cc.Close() })
	if resp.ProtoMajor != 2 {
		t.Fatalf("the proxy answered CONNECT over HTTP/%d, want HTTP/2", resp.ProtoMajor)
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	proxyAddr, _ := net.ResolveTCPAddr("tcp", g.proxyAddr)
	return resp, &streamConn{r: resp.Body, w: pw, local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, remote: proxyAddr}
}

// streamConn makes an HTTP/2 CONNECT stream usable as a net.Conn.
type streamConn struct {
	r      io.ReadCloser
	w      *io.PipeWriter
	local  net.Addr
	remote net.Addr
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *streamConn) Close() error                     { c.w.Close(); return c.r.Close() }
func (c *streamConn) LocalAddr() net.Addr              { return c.local }
func (c *streamConn) RemoteAddr() net.Addr             { return c.remote }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// getOverTLS speaks TLS and HTTP/1.1 over an established tunnel.
func (g *gateway) getOverTLS(t *testing.T, conn net.Conn, serverName, path string) (*http.Response, string) {
	t.Helper()
	tlsConn := tls.Client(conn, &tls.Config{ServerName: serverName, RootCAs: g.world.roots})
	if err := tlsConn.Handshake(); err != nil {
		t.Fatalf("TLS handshake through the tunnel: %v", err)
	}
	fmt.Fprintf(tlsConn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, serverName)
	resp, err := http.ReadResponse(bufio.NewReader(tlsConn), nil)
	if err != nil {
		t.Fatalf("reading the response through the tunnel: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// decisionLine is a line of the sovgate.decision log.
type decisionLine struct {
	Logger         string   `json:"logger"`
	Msg            string   `json:"msg"`
	ID             string   `json:"id"`
	Node           string   `json:"node"`
	App            string   `json:"app"`
	SourceIP       string   `json:"source_ip"`
	Method         string   `json:"method"`
	Scheme         string   `json:"scheme"`
	Host           string   `json:"host"`
	Port           int      `json:"port"`
	Verdict        string   `json:"verdict"`
	Action         string   `json:"action"`
	Mode           string   `json:"mode"`
	Reasons        []string `json:"reasons"`
	PolicyRevision string   `json:"policy_revision"`
	BytesUp        int64    `json:"bytes_up"`
	BytesDown      int64    `json:"bytes_down"`
	Addresses      []struct {
		IP       string `json:"ip"`
		Country  string `json:"country"`
		ASN      uint32 `json:"asn"`
		Provider string `json:"provider"`
	} `json:"addresses"`
}

func (g *gateway) readLog(t *testing.T) []decisionLine {
	t.Helper()
	data, err := os.ReadFile(g.logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var lines []decisionLine
	for _, raw := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var l decisionLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("decision log line is not JSON: %v\n%s", err, raw)
		}
		lines = append(lines, l)
	}
	return lines
}

// waitLog waits for a log line matching msg and match, and returns it. The
// decision line is written before the request is answered; the "finished"
// line right after the exchange, so the wait is short and bounded.
func (g *gateway) waitLog(t *testing.T, msg string, match func(decisionLine) bool) decisionLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range g.readLog(t) {
			if l.Msg == msg && match(l) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line matched in the decision log:\n%s", msg, mustRead(g.logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func byID(id string) func(decisionLine) bool {
	return func(l decisionLine) bool { return l.ID == id }
}

func mustRead(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// requireTool finds a command-line tool. Without it the test is skipped on
// a developer machine (with a hint) but fails in CI, where .ci/run installs
// every tool the tests use.
func requireTool(t *testing.T, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI: %s", name, hint)
	}
	t.Skipf("%s is not installed (%s); skipping", name, hint)
	return ""
}
