package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sovgate/sovgate/geo/geotest"
)

// guardCases walk the exact boundaries of the refused ranges, through the
// proxy. In enforce mode an address that passes the guard is then denied by
// the policy (these addresses have no country in the test databases), so no
// connection is attempted either way; only the reason tells them apart.
var guardCases = []struct {
	host    string
	refused bool
}{
	{"100.63.255.255", false},
	{"100.64.0.0", true}, // CGNAT
	{"100.64.0.1", true},
	{"100.127.255.255", true},
	{"100.128.0.0", false},
	{"172.15.255.255", false},
	{"172.16.0.0", true},
	{"172.31.255.255", true},
	{"172.32.0.0", false},
	{"169.254.169.254", true}, // cloud metadata
	{"169.253.255.255", false},
	{"127.0.0.99", true}, // loopback outside allow_private
	{"10.255.255.255", true},
	{"11.0.0.0", false},
	{"192.168.1.1", true},
	{"224.0.0.1", true},       // multicast
	{"255.255.255.255", true}, // broadcast
	{"0.0.0.0", true},
	{"[::1]", true},
	{"[fe80::1]", true},
	{"[fc00::1]", true},
	{"[::ffff:127.0.0.99]", true},                    // IPv4-mapped loopback
	{"[64:ff9b::a00:1]", true},                       // NAT64 of 10.0.0.1
	{"[2002:a00:1::1]", true},                        // 6to4 of 10.0.0.1
	{"[2001:0:4136:e378:8000:63bf:f5ff:fffe]", true}, // Teredo, client 10.0.0.1
	{"[2001:db8::1]", false},
}

func TestGuardBoundariesThroughTheProxy(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})
	for _, tc := range guardCases {
		t.Run(tc.host+"/http", func(t *testing.T) {
			resp, body := g.rawRequest(t, fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: %s\r\n\r\n", tc.host, tc.host))
			checkGuard(t, tc.host, tc.refused, resp, body)
		})
		t.Run(tc.host+"/CONNECT HTTP/2", func(t *testing.T) {
			resp, _ := g.connectH2(t, tc.host+":443")
			checkGuard(t, tc.host, tc.refused, resp, "")
		})
	}
}

func checkGuard(t *testing.T, host string, refused bool, resp *http.Response, body string) {
	t.Helper()
	reasons := resp.Header.Get("Sovgate-Reasons")
	if refused {
		if resp.StatusCode != http.StatusForbidden || reasons != "DESTINATION_PRIVATE" {
			t.Fatalf("%s: status %d reasons %q, want 403 DESTINATION_PRIVATE %s", host, resp.StatusCode, reasons, body)
		}
		return
	}
	if reasons == "DESTINATION_PRIVATE" || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%s: status %d reasons %q, want it past the guard (and denied by the policy)", host, resp.StatusCode, reasons)
	}
}

func TestRequestToTheGatewayItselfIsRefused(t *testing.T) {
	w := newWorld(t)
	// allow_private covers 127.0.0.1, where the proxy listens: only the
	// self check stands between a request and a loop through the gateway.
	g := startGateway(t, w, gatewayOptions{mode: "monitor"})
	_, port, _ := net.SplitHostPort(g.proxyAddr)
	resp, body := g.rawRequest(t, fmt.Sprintf("CONNECT 127.0.0.1:%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n", port, port))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "DESTINATION_SELF" || !strings.Contains(body, "this gateway itself listens") {
		t.Fatalf("status %d reasons %q body %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
	}
	resp, body = g.rawRequest(t, fmt.Sprintf("GET http://127.0.0.1:%s/ HTTP/1.1\r\nHost: x\r\n\r\n", port))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("absolute-form to itself: status %d body %s", resp.StatusCode, body)
	}
}

// rebindingDNS answers the first A query for a name with one address and
// every later one with another, TTL 0: the classic rebinding attack.
type rebindingDNS struct {
	mu      sync.Mutex
	queries int
	first   string
	then    string
}

func (s *rebindingDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	if q.Qtype == dns.TypeA {
		s.mu.Lock()
		s.queries++
		ip := s.first
		if s.queries > 1 {
			ip = s.then
		}
		s.mu.Unlock()
		rr, _ := dns.NewRR(fmt.Sprintf("%s 0 IN A %s", q.Name, ip))
		m.Answer = append(m.Answer, rr)
	}
	w.WriteMsg(m)
}

func TestDNSRebindingCannotSwitchTheTarget(t *testing.T) {
	w := newWorld(t)
	rebind := &rebindingDNS{first: ipEU, then: ipUS}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: rebind, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"resolver": pc.LocalAddr().String()}})
	for _, proto := range []string{"http", "CONNECT"} {
		before := w.receivedCount()
		var err error
		var resp *http.Response
		if proto == "http" {
			resp, err = g.client("", nil).Get(g.httpURL("rebind.test", "/"))
		} else {
			resp, err = g.client("", nil).Get(g.httpsURL("rebind.test", "/"))
		}
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", proto, resp.StatusCode)
		}
		if w.receivedCount() != before+1 || w.lastReceived(t).LocalIP != ipEU {
			t.Fatalf("%s: the request reached %s, not the vetted %s", proto, w.lastReceived(t).LocalIP, ipEU)
		}
	}
	rebind.mu.Lock()
	defer rebind.mu.Unlock()
	if rebind.queries != 1 {
		t.Errorf("the gateway asked for the A record %d times within its cache lifetime; want once", rebind.queries)
	}
}

func TestDeadResolverGivesAFast502(t *testing.T) {
	w := newWorld(t)
	w.dns.SetFailure("blackhole.test", geotest.NoReply)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"resolver_timeout": "500ms"}})
	start := time.Now()
	resp, err := g.client("", nil).Get(g.httpURL("blackhole.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Sovgate-Reasons") != "DNS_FAILURE" {
		t.Fatalf("status %d reasons %q", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"))
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("a dead resolver took %s to answer; want about the 500ms timeout", took)
	}
}

func TestRateLimitPerApp(t *testing.T) {
	w := newWorld(t)
	// Apps with checked passwords: each has its own share (unchecked
	// names would share their source address's).
	creds := writeCredentials(t, map[string]string{"chatty": "secret", "quiet": "secret"})
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"rate_per_app": 1, "credentials": creds}})
	// The burst is twice the rate: two requests pass at once, the third is
	// refused with a Retry-After; another app is not affected.
	codes := []int{}
	var last *http.Response
	for range 3 {
		resp, err := g.client("chatty", nil).Get(g.httpURL("eu.test", "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		last = resp
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want 200 200 429", codes)
	}
	if last.Header.Get("Sovgate-Reasons") != "RATE_LIMITED" {
		t.Errorf("reasons %q", last.Header.Get("Sovgate-Reasons"))
	}
	if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", last.Header.Get("Retry-After"))
	}
	resp, err := g.client("quiet", nil).Get(g.httpURL("eu.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another app was limited too: %d", resp.StatusCode)
	}
}

func TestTunnelLimits(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", app: map[string]any{"max_tunnels": 1}})
	conn, br := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	resp, body := g.rawRequest(t, fmt.Sprintf("CONNECT eu.test:%d HTTP/1.1\r\nHost: eu.test\r\n\r\n", w.httpPort))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(resp.Header.Get("Sovgate-Reasons"), "TOO_MANY_TUNNELS") {
		t.Fatalf("second tunnel: status %d reasons %q body %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on TOO_MANY_TUNNELS")
	}
	// Closing the first tunnel frees the slot. Its "finished" line is
	// written once the tunnel has let go of everything, slot included.
	conn.Close()
	_ = br
	g.waitLog(t, "finished", func(l decisionLine) bool { return true })
	c2, _ := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	c2.Close()
}

func TestTunnelMaximumLifetime(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", handler: map[string]any{"tunnel_max_lifetime": "400ms"}})
	conn, br := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	// Busy all along: the lifetime closes it anyway.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := tunnelGet(t, conn, br, "eu.test"); err != nil {
			g.waitLog(t, "finished", func(l decisionLine) bool { return true })
			if !strings.Contains(mustRead(g.logPath), "maximum lifetime") {
				t.Errorf("the finished line does not give the lifetime as the reason:\n%s", mustRead(g.logPath))
			}
			return
		}
	}
	t.Fatal("a busy tunnel outlived its maximum lifetime")
}

func TestOversizedHeadersAndSlowClients(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", server: map[string]any{
		"max_header_bytes":    16 << 10,
		"read_header_timeout": "500ms",
	}})
	t.Run("431 for oversized headers", func(t *testing.T) {
		big := strings.Repeat("a", 32<<10)
		resp, _ := g.rawRequest(t, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: eu.test\r\nX-Big: %s\r\n\r\n", g.httpURL("eu.test", "/"), big))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("slowloris is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: eu.test\r\n", g.httpURL("eu.test", "/"))
		start := time.Now()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		// Never finish the headers: the server must hang up.
		_, err = bufio.NewReader(conn).ReadByte()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server still waited for headers after %s", time.Since(start))
		}
	})
	// The gateway still serves.
	resp, err := g.client("", nil).Get(g.httpURL("eu.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// tlsThroughTunnel opens a CONNECT tunnel (HTTP/1.1 or HTTP/2) to authority
// and starts TLS in it with serverName as SNI ("" for a client that sends
// none). It returns the handshake error, if any.
func tlsThroughTunnel(t *testing.T, g *gateway, h2 bool, authority, serverName string) error {
	t.Helper()
	var conn net.Conn
	if h2 {
		resp, c := g.connectH2(t, authority)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s over HTTP/2: %d", authority, resp.StatusCode)
		}
		conn = c
	} else {
		c, br := g.openTunnel(t, authority)
		conn = &bufferedConn{Conn: c, r: br}
	}
	cfg := &tls.Config{RootCAs: g.world.roots, ServerName: serverName}
	if serverName == "" || net.ParseIP(serverName) != nil {
		// Go sends no SNI for an IP address; verify nothing, the test is
		// about what the gateway does with a ClientHello without SNI.
		cfg.ServerName = "127.0.0.2"
		cfg.InsecureSkipVerify = true
	}
	tc := tls.Client(conn, cfg)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	err := tc.Handshake()
	if err == nil {
		fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", serverName)
		_, err = http.ReadResponse(bufio.NewReader(tc), nil)
	}
	tc.Close()
	return err
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func TestTunnelTLSChecks(t *testing.T) {
	w := newWorld(t)
	handler := map[string]any{"tls_ports": []int{w.tlsPort}}
	for _, mode := range []string{"enforce", "monitor"} {
		g := startGateway(t, w, gatewayOptions{mode: mode, handler: handler})
		target := fmt.Sprintf("eu.test:%d", w.tlsPort)
		ipTarget := fmt.Sprintf("%s:%d", ipEU, w.tlsPort)
		cases := []struct {
			name, authority, sni string
			reason               string // "" when the tunnel is clean
		}{
			{"matching SNI", target, "eu.test", ""},
			{"SNI of another host (domain fronting)", target, "us.test", "SNI_MISMATCH"},
			{"no SNI for a host name", target, "", "SNI_MISMATCH"},
			{"no SNI for an IP target", ipTarget, "", ""},
			{"a host-name SNI for an IP target", ipTarget, "eu.test", "SNI_MISMATCH"},
		}
		for _, tc := range cases {
			for _, h2 := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/h2=%v", mode, tc.name, h2)
				t.Run(name, func(t *testing.T) {
					before := len(g.readLog(t))
					err := tlsThroughTunnel(t, g, h2, tc.authority, tc.sni)
					line := g.waitLog(t, "decision", func(l decisionLine) bool { return l.Method == "CONNECT" && len(g.readLog(t)) > before })
					lines := g.readLog(t)
					line = lines[len(lines)-1]
					for i := len(lines) - 1; i >= before; i-- {
						if lines[i].Msg == "decision" {
							line = lines[i]
							break
						}
					}
					blocked := tc.reason != "" && mode == "enforce"
					if blocked {
						if err == nil || !strings.Contains(err.Error(), "access denied") {
							t.Fatalf("handshake error %v, want the gateway's access_denied alert", err)
						}
						if line.Action != "blocked" {
							t.Errorf("action %q, want blocked", line.Action)
						}
					} else if err != nil {
						t.Fatalf("TLS through the tunnel: %v", err)
					}
					if tc.reason != "" {
						if line.Verdict != "deny" || !slices.Contains(line.Reasons, tc.reason) {
							t.Errorf("decision %s %v, want deny with %s", line.Verdict, line.Reasons, tc.reason)
						}
					} else if line.Verdict != "allow" {
						t.Errorf("decision %s %v, want allow", line.Verdict, line.Reasons)
					}
				})
			}
		}
		t.Run(mode+"/not TLS on a TLS port", func(t *testing.T) {
			conn, br := g.openTunnel(t, target)
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: eu.test\r\n\r\n")
			line := g.waitLog(t, "decision", func(l decisionLine) bool { return slices.Contains(l.Reasons, "NOT_TLS") && l.Mode == mode })
			if mode == "enforce" {
				expectClosed(t, conn, br, 5*time.Second)
				if line.Action != "blocked" {
					t.Errorf("action %q", line.Action)
				}
			} else if line.Action != "forwarded" {
				t.Errorf("monitor: action %q, want forwarded", line.Action)
			}
		})
	}
}

func TestConnectPorts(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "monitor", handler: map[string]any{"connect_ports": []int{w.tlsPort}}})
	resp, body := g.rawRequest(t, fmt.Sprintf("CONNECT eu.test:%d HTTP/1.1\r\nHost: eu.test\r\n\r\n", w.httpPort))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "PORT_NOT_ALLOWED" {
		t.Fatalf("status %d reasons %q body %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), body)
	}
	conn, _ := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.tlsPort))
	conn.Close()
}
