package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// openTunnel opens an HTTP/1.1 CONNECT tunnel by hand and returns the raw
// connection, positioned after the proxy's 200.
func (g *gateway) openTunnel(t *testing.T, authority string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", authority, authority)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT %s: %s", authority, resp.Status)
	}
	return conn, br
}

// expectClosed waits (bounded) for the gateway to close the tunnel: a read
// returns EOF or a reset, not a timeout.
func expectClosed(t *testing.T, conn net.Conn, br *bufio.Reader, within time.Duration) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	_, err := br.ReadByte()
	if err == nil {
		t.Fatal("read a byte from a tunnel that should be closed")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the tunnel was still open after %s", within)
	}
}

func TestTunnelIdleTimeout(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce", handler: map[string]any{"tunnel_idle_timeout": "300ms"}})

	conn, br := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	start := time.Now()
	// Keep the tunnel busy for longer than the idle timeout: activity
	// must keep it open.
	for range 4 {
		fmt.Fprintf(conn, "GET /keep HTTP/1.1\r\nHost: eu.test\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("an active tunnel was closed after %s: %v", time.Since(start), err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(150 * time.Millisecond) // less than the idle timeout
	}
	// Now go quiet: the gateway must close it.
	expectClosed(t, conn, br, 5*time.Second)
	line := g.waitLog(t, "finished", func(l decisionLine) bool { return l.Method == "" && l.BytesUp > 0 })
	if line.BytesDown == 0 {
		t.Errorf("finished line has no bytes down: %+v", line)
	}
	if !strings.Contains(mustRead(g.logPath), "tunnel idle timeout") {
		t.Errorf("the finished line does not say the idle timeout closed the tunnel:\n%s", mustRead(g.logPath))
	}
}

// tunnelGet sends one HTTP/1.1 request through an open tunnel.
func tunnelGet(t *testing.T, conn net.Conn, br *bufio.Reader, host string) error {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	defer conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(conn, "GET /through-tunnel HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// TestReloadDecidesOpenTunnelsAgain: a reload must not fail the tunnels
// the new policy still allows, and must close those it does not.
func TestReloadDecidesOpenTunnelsAgain(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "monitor"})
	euConn, euBR := g.openTunnel(t, fmt.Sprintf("eu.test:%d", w.httpPort))
	usConn, usBR := g.openTunnel(t, fmt.Sprintf("us.test:%d", w.httpPort)) // a violation, forwarded in monitor mode
	if err := tunnelGet(t, usConn, usBR, "us.test"); err != nil {
		t.Fatalf("monitor mode tunnel to us.test: %v", err)
	}

	// The new configuration enforces: the EU tunnel is still allowed, the
	// US one is not.
	g2 := startGateway(t, w, gatewayOptions{mode: "enforce"})
	expectClosed(t, usConn, usBR, 5*time.Second)
	if err := tunnelGet(t, euConn, euBR, "eu.test"); err != nil {
		t.Fatalf("an allowed tunnel failed across the reload: %v", err)
	}
	// The new decisions about both tunnels are in the new configuration's log.
	g2.waitLog(t, "decision", func(l decisionLine) bool { return l.Host == "us.test" && l.Action == "blocked" })
	g2.waitLog(t, "decision", func(l decisionLine) bool { return l.Host == "eu.test" && l.Verdict == "allow" })

	// Stopping the gateway closes the tunnels it still has.
	if err := caddy.Stop(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, euConn, euBR, 5*time.Second)
}

func TestPolicyErrorFailsClosedInEnforceMode(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	// A decision that is an error at evaluation time: two values for one
	// complete rule.
	writeFile(t, filepath.Join(dir, "sovgate", "decision.rego"), `package sovgate

decision := {"allow": true, "profile": "open", "reasons": []} if input.request.port > 0

decision := {"allow": false, "profile": "open", "reasons": []} if input.request.port > 1
`)
	for _, mode := range []string{"enforce", "monitor"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t, w, gatewayOptions{mode: mode, policies: dir})
			resp, err := g.client("", nil).Get(g.httpURL("eu.test", "/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("Sovgate-Decision-Id")
			line := g.waitLog(t, "decision", byID(id))
			if len(line.Reasons) != 1 || line.Reasons[0] != "POLICY_ERROR" || line.Verdict != "deny" {
				t.Fatalf("decision line %+v, want deny POLICY_ERROR", line)
			}
			if mode == "enforce" {
				if resp.StatusCode != http.StatusServiceUnavailable || line.Action != "blocked" {
					t.Fatalf("enforce: status %d action %s, want 503 blocked; body %s", resp.StatusCode, line.Action, body)
				}
			} else if resp.StatusCode != http.StatusOK || line.Action != "forwarded" {
				t.Fatalf("monitor: status %d action %s, want 200 forwarded", resp.StatusCode, line.Action)
			}
		})
	}
}
