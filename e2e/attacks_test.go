package e2e

// Attacks from an app's seat, as an attacker inside the city's network
// would make them (the second hardening pass). Each test reproduces the
// attack as it worked before its defence, and fails if it works again.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
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
	conn, err := net.DialTimeout("tcp", g.proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", authority, err)
	}
	resp.Body.Close()
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
