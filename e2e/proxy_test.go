package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// destinationCases are the classification scenarios of the core issue:
// each host and what the default (sovereign) policy must say.
var destinationCases = []struct {
	name    string
	host    string
	allow   bool
	reasons []string
}{
	{"EU address allowed", "eu.test", true, nil},
	{"US address denied", "us.test", false, []string{"RESIDENCY_NON_EU"}},
	{"FR address in Amazon's ASN denied", "aws-paris.test", false, []string{"JURISDICTION_NON_EU"}},
	{"EU provider allowed", "ovh.test", true, nil},
	{"provider found by domain suffix", "bucket.s3.eu-west-3.amazonaws.com", false, []string{"JURISDICTION_NON_EU"}},
	{"provider found by CNAME suffix", "cdn.eu.test", false, []string{"JURISDICTION_NON_EU"}},
	{"one EU and one US address denied", "mixed.test", false, []string{"RESIDENCY_NON_EU"}},
	{"address with no country denied", "nowhere.test", false, []string{"RESIDENCY_UNKNOWN"}},
	{"mixed case and trailing dot normalised", "EU.Test.", true, nil},
}

func TestEnforceModeHTTPAndCONNECT(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})

	for _, tc := range destinationCases {
		t.Run(tc.name+"/http", func(t *testing.T) {
			resp, err := g.client("etat-civil", nil).Get(g.httpURL(tc.host, "/records?id=1"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("Sovgate-Decision-Id")
			if id == "" || id == "forged-by-up" {
				t.Fatalf("Sovgate-Decision-Id = %q, want the gateway's decision id", id)
			}
			line := g.waitLog(t, "decision", byID(id))
			if line.App != "etat-civil" || line.Mode != "enforce" || line.Node != "e2e-node" {
				t.Errorf("decision line app/mode/node = %q/%q/%q", line.App, line.Mode, line.Node)
			}
			if line.Host != strings.TrimSuffix(strings.ToLower(tc.host), ".") {
				t.Errorf("decision line host = %q, want the normalised %q", line.Host, tc.host)
			}
			if tc.allow {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
				}
				if line.Verdict != "allow" || line.Action != "forwarded" {
					t.Errorf("verdict/action = %s/%s, want allow/forwarded", line.Verdict, line.Action)
				}
				if !strings.HasPrefix(string(body), "hello from") {
					t.Errorf("body %q is not the upstream's", body)
				}
				return
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403; body %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Sovgate-Decision"); got != "deny" {
				t.Errorf("Sovgate-Decision = %q, want deny", got)
			}
			if got := resp.Header.Get("Sovgate-Reasons"); got != strings.Join(tc.reasons, ",") {
				t.Errorf("Sovgate-Reasons = %q, want %q", got, strings.Join(tc.reasons, ","))
			}
			if !strings.Contains(string(body), id) || !strings.Contains(string(body), tc.reasons[0]) {
				t.Errorf("body does not name the decision id and reason:\n%s", body)
			}
			if line.Verdict != "deny" || line.Action != "blocked" {
				t.Errorf("verdict/action = %s/%s, want deny/blocked", line.Verdict, line.Action)
			}
		})
	}

	for _, tc := range destinationCases {
		t.Run(tc.name+"/CONNECT HTTP/1.1", func(t *testing.T) {
			var connectHeaders http.Header
			resp, err := g.client("", &connectHeaders).Get(g.httpsURL(tc.host, "/"))
			if tc.allow {
				if err != nil {
					t.Fatalf("https through the tunnel: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "hello from") {
					t.Fatalf("status %d body %q", resp.StatusCode, body)
				}
				id := connectHeaders.Get("Sovgate-Decision-Id")
				if id == "" {
					t.Fatal("the CONNECT answer has no Sovgate-Decision-Id")
				}
				line := g.waitLog(t, "decision", byID(id))
				if line.Method != "CONNECT" || line.App != "unknown" || line.Verdict != "allow" {
					t.Errorf("decision line method/app/verdict = %s/%s/%s", line.Method, line.App, line.Verdict)
				}
				fin := g.waitLog(t, "finished", byID(id))
				if fin.BytesUp == 0 || fin.BytesDown == 0 {
					t.Errorf("tunnel close recorded %d bytes up, %d down; want both > 0", fin.BytesUp, fin.BytesDown)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("the tunnel was opened; want it refused")
			}
			if got := connectHeaders.Get("Sovgate-Reasons"); got != strings.Join(tc.reasons, ",") {
				t.Errorf("Sovgate-Reasons = %q, want %q (err %v)", got, strings.Join(tc.reasons, ","), err)
			}
		})
	}

	for _, tc := range destinationCases {
		t.Run(tc.name+"/CONNECT HTTP/2", func(t *testing.T) {
			authority := fmt.Sprintf("%s:%d", tc.host, w.tlsPort)
			resp, conn := g.connectH2(t, authority)
			if resp.ProtoMajor != 2 {
				t.Fatalf("proxy answered over HTTP/%d, want HTTP/2", resp.ProtoMajor)
			}
			if !tc.allow {
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403", resp.StatusCode)
				}
				if got := resp.Header.Get("Sovgate-Reasons"); got != strings.Join(tc.reasons, ",") {
					t.Errorf("Sovgate-Reasons = %q, want %q", got, strings.Join(tc.reasons, ","))
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			serverName := strings.TrimSuffix(strings.ToLower(tc.host), ".")
			got, body := g.getOverTLS(t, conn, serverName, "/h2")
			if got.StatusCode != http.StatusOK || !strings.HasPrefix(body, "hello from") {
				t.Fatalf("through the HTTP/2 tunnel: status %d body %q", got.StatusCode, body)
			}
		})
	}
}

func TestMonitorModeForwardsAndRecordsViolations(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "monitor"})

	resp, err := g.client("urbanisme", nil).Get(g.httpURL("us.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), ipUS) {
		t.Fatalf("monitor mode must forward a violation: status %d body %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Sovgate-Decision") != "" {
		t.Errorf("a forwarded response carries Sovgate-Decision %q", resp.Header.Get("Sovgate-Decision"))
	}
	line := g.waitLog(t, "decision", byID(resp.Header.Get("Sovgate-Decision-Id")))
	if line.Verdict != "deny" || line.Action != "forwarded" || line.Mode != "monitor" {
		t.Errorf("verdict/action/mode = %s/%s/%s, want deny/forwarded/monitor", line.Verdict, line.Action, line.Mode)
	}
	if len(line.Reasons) != 1 || line.Reasons[0] != "RESIDENCY_NON_EU" {
		t.Errorf("reasons = %v", line.Reasons)
	}
	if len(line.Addresses) != 1 || line.Addresses[0].Country != "US" || line.Addresses[0].IP != ipUS {
		t.Errorf("addresses = %+v", line.Addresses)
	}

	// A tunnel to a violating destination is opened too.
	var connectHeaders http.Header
	resp, err = g.client("urbanisme", &connectHeaders).Get(g.httpsURL("aws-paris.test", "/"))
	if err != nil {
		t.Fatalf("monitor mode must open the tunnel: %v", err)
	}
	resp.Body.Close()
	line = g.waitLog(t, "decision", byID(connectHeaders.Get("Sovgate-Decision-Id")))
	if line.Verdict != "deny" || line.Action != "forwarded" || line.Reasons[0] != "JURISDICTION_NON_EU" {
		t.Errorf("tunnel decision = %s/%s %v", line.Verdict, line.Action, line.Reasons)
	}
	if line.Addresses[0].Provider != "aws" || line.Addresses[0].ASN != 16509 {
		t.Errorf("tunnel address classification = %+v", line.Addresses[0])
	}

	// The guard blocks even in monitor mode.
	resp, err = g.client("", nil).Get(g.httpURL("metadata.test", "/latest/meta-data/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Sovgate-Reasons") != "DESTINATION_PRIVATE" {
		t.Errorf("metadata address in monitor mode: %d %q", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"))
	}
}

func TestRefusalsOutsideThePolicy(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})

	cases := []struct {
		name   string
		target string
		status int
		reason string
	}{
		{"private address", g.httpURL("private.test", "/"), 403, "DESTINATION_PRIVATE"},
		{"metadata address", g.httpURL("metadata.test", "/"), 403, "DESTINATION_PRIVATE"},
		{"loopback outside allow_private", g.httpURL("loop.test", "/"), 403, "DESTINATION_PRIVATE"},
		{"private IP literal", "http://10.0.0.1/", 403, "DESTINATION_PRIVATE"},
		{"metadata IP literal", "http://169.254.169.254/latest/", 403, "DESTINATION_PRIVATE"},
		{"no such name", g.httpURL("nxdomain.test", "/"), 502, "DNS_FAILURE"},
		{"server failure", g.httpURL("servfail.test", "/"), 502, "DNS_FAILURE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := g.client("", nil).Get(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Sovgate-Reasons") != tc.reason {
				t.Fatalf("status %d reasons %q, want %d %s; body %s", resp.StatusCode, resp.Header.Get("Sovgate-Reasons"), tc.status, tc.reason, body)
			}
			line := g.waitLog(t, "decision", byID(resp.Header.Get("Sovgate-Decision-Id")))
			if line.Verdict != "deny" || line.Action != "blocked" {
				t.Errorf("verdict/action = %s/%s", line.Verdict, line.Action)
			}
		})
	}
	if n := w.receivedCount(); n != 0 {
		t.Errorf("upstreams received %d requests; refused requests must reach nobody", n)
	}
}

func TestMalformedTargetsGet400(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "monitor"})

	cases := []struct{ name, request string }{
		{"CONNECT without port", "CONNECT eu.test HTTP/1.1\r\nHost: eu.test\r\n\r\n"},
		{"CONNECT port zero", "CONNECT eu.test:0 HTTP/1.1\r\nHost: eu.test:0\r\n\r\n"},
		{"CONNECT port too large", "CONNECT eu.test:65536 HTTP/1.1\r\nHost: eu.test:65536\r\n\r\n"},
		{"decimal IPv4", "CONNECT 2130706433:443 HTTP/1.1\r\nHost: 2130706433:443\r\n\r\n"},
		{"octal IPv4", "CONNECT 0177.0.0.1:443 HTTP/1.1\r\nHost: 0177.0.0.1:443\r\n\r\n"},
		{"hex IPv4", "CONNECT 0x7f.0.0.1:443 HTTP/1.1\r\nHost: 0x7f.0.0.1:443\r\n\r\n"},
		{"short IPv4", "GET http://127.1/ HTTP/1.1\r\nHost: 127.1\r\n\r\n"},
		{"underscore-free garbage host", "GET http://exa%20mple.test/ HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"https in absolute form", "GET https://eu.test/ HTTP/1.1\r\nHost: eu.test\r\n\r\n"},
		{"ftp scheme", "GET ftp://eu.test/ HTTP/1.1\r\nHost: eu.test\r\n\r\n"},
		{"malformed proxy credentials", "GET http://eu.test/ HTTP/1.1\r\nHost: eu.test\r\nProxy-Authorization: Basic !!!\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := g.rawRequest(t, tc.request)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", resp.StatusCode, body)
			}
			if reasons := resp.Header.Get("Sovgate-Reasons"); reasons != "" && reasons != "BAD_TARGET" {
				t.Errorf("Sovgate-Reasons = %q, want BAD_TARGET", reasons)
			}
		})
	}
	if n := w.receivedCount(); n != 0 {
		t.Errorf("upstreams received %d requests; malformed ones must reach nobody", n)
	}
	// The gateway still serves after all that.
	resp, err := g.client("", nil).Get(g.httpURL("eu.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after malformed requests: status %d", resp.StatusCode)
	}
}

func TestForwardingHygiene(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})

	t.Run("hop-by-hop and Sovgate headers", func(t *testing.T) {
		req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: wrong.example\r\nConnection: keep-alive, X-Client-Hop\r\nX-Client-Hop: secret\r\n"+
			"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic %s\r\nSovgate-Decision: allow\r\nX-Kept: yes\r\n\r\n",
			g.httpURL("EU.test", "/path?q=1"), "ZXRhdC1jaXZpbDpwYXNzd29yZA==") // etat-civil:password
		resp, body := g.rawRequest(t, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		got := w.lastReceived(t)
		for _, name := range []string{"X-Client-Hop", "Proxy-Connection", "Proxy-Authorization", "Sovgate-Decision"} {
			if v := got.Header.Get(name); v != "" {
				t.Errorf("upstream received %s: %q", name, v)
			}
		}
		if got.Header.Get("X-Kept") != "yes" {
			t.Error("an end-to-end header was dropped")
		}
		if want := fmt.Sprintf("eu.test:%d", w.httpPort); got.Host != want {
			t.Errorf("upstream Host = %q, want the URL's authority %q", got.Host, want)
		}
		if got.Path != "/path?q=1" || got.LocalIP != ipEU {
			t.Errorf("upstream got path %q on %s", got.Path, got.LocalIP)
		}
		if resp.Header.Get("X-Upstream-Hop") != "" {
			t.Error("a header named by the upstream's Connection header reached the client")
		}
		if v := resp.Header.Get("Sovgate-Decision"); v != "" {
			t.Errorf("upstream's forged Sovgate-Decision %q reached the client", v)
		}
		if id := resp.Header.Get("Sovgate-Decision-Id"); id == "forged-by-up" || id == "" {
			t.Errorf("Sovgate-Decision-Id = %q, want the gateway's", id)
		}
		line := g.waitLog(t, "decision", byID(resp.Header.Get("Sovgate-Decision-Id")))
		if line.App != "etat-civil" {
			t.Errorf("app = %q, want etat-civil from Proxy-Authorization", line.App)
		}
		if strings.Contains(mustRead(g.logPath), "password") || strings.Contains(mustRead(g.logPath), "ZXRhdC1jaXZpbDpwYXNzd29yZA") {
			t.Error("the proxy credentials reached the decision log")
		}
	})

	t.Run("bodies stream both ways", func(t *testing.T) {
		payload := make([]byte, 3<<20)
		rand.Read(payload)
		resp, err := g.client("", nil).Post(g.httpURL("eu.test", "/echo"), "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		echoed, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(echoed, payload) {
			t.Fatalf("echoed %d bytes, sent %d; content differs: %v", len(echoed), len(payload), !bytes.Equal(echoed, payload))
		}
		fin := g.waitLog(t, "finished", byID(resp.Header.Get("Sovgate-Decision-Id")))
		if fin.BytesUp != int64(len(payload)) || fin.BytesDown != int64(len(payload)) {
			t.Errorf("recorded %d up / %d down, want %d both", fin.BytesUp, fin.BytesDown, len(payload))
		}
	})

	t.Run("responses without length are flushed as they come", func(t *testing.T) {
		resp, err := g.client("", nil).Get(g.httpURL("eu.test", "/stream"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := r.ReadString('\n')
			if err != nil || line != fmt.Sprintf("chunk %d\n", i) {
				t.Fatalf("chunk %d: %q %v", i, line, err)
			}
			if i == 0 {
				w.streamGate <- struct{}{}
			}
		}
	})

	t.Run("non-proxy requests go to the next handler", func(t *testing.T) {
		resp, err := http.Get("http://" + g.proxyAddr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 421 || string(body) != "not a proxy request" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})

	t.Run("early bytes after CONNECT reach the upstream", func(t *testing.T) {
		conn, err := net.Dial("tcp", g.proxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// CONNECT and the tunnelled request in one write: the gateway reads
		// both into its buffer and must pass the second on.
		fmt.Fprintf(conn, "CONNECT eu.test:%d HTTP/1.1\r\nHost: eu.test\r\n\r\nGET /early HTTP/1.1\r\nHost: eu.test\r\nConnection: close\r\n\r\n", w.httpPort)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		inner, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(inner.Body)
		if !strings.Contains(string(body), "hello from") {
			t.Fatalf("tunnelled response %q", body)
		}
	})
}

func TestCurlThroughTheProxy(t *testing.T) {
	curl := requireTool(t, "curl", "apt-get install curl")
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})
	proxy := "http://" + g.proxyAddr

	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(curl, append([]string{"-sS", "--max-time", "15", "-D", "-", "-x", proxy}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, _ := cmd.Output()
		return string(out), stderr.String()
	}

	out, stderr := run(g.httpURL("eu.test", "/"))
	if !strings.Contains(out, "200 OK") || !strings.Contains(out, "hello from "+ipEU) {
		t.Errorf("curl http to an EU host:\n%s\n%s", out, stderr)
	}
	out, stderr = run("--cacert", w.caPEM, g.httpsURL("eu.test", "/"))
	if !strings.Contains(out, "hello from "+ipEU) {
		t.Errorf("curl https to an EU host:\n%s\n%s", out, stderr)
	}
	out, _ = run(g.httpURL("us.test", "/"))
	if !strings.Contains(out, "403") || !strings.Contains(strings.ToLower(out), "sovgate-reasons: residency_non_eu") {
		t.Errorf("curl http to a US host:\n%s", out)
	}
	out, stderr = run("--cacert", w.caPEM, g.httpsURL("us.test", "/"))
	if !strings.Contains(out, "403") || !strings.Contains(out, "RESIDENCY_NON_EU") {
		t.Errorf("curl https to a US host:\n%s\n%s", out, stderr)
	}
	out, _ = run("--proxy-user", "etat-civil:pw", g.httpURL("eu.test", "/"))
	id := headerValue(out, "Sovgate-Decision-Id")
	if line := g.waitLog(t, "decision", byID(id)); line.App != "etat-civil" {
		t.Errorf("curl --proxy-user: app = %q", line.App)
	}
}

func headerValue(dump, name string) string {
	for _, line := range strings.Split(dump, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestStatusEndpoint(t *testing.T) {
	w := newWorld(t)
	g := startGateway(t, w, gatewayOptions{mode: "enforce"})
	for _, host := range []string{"eu.test", "eu.test", "us.test"} {
		resp, err := g.client("", nil).Get(g.httpURL(host, "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + g.adminAddr + "/sovereignty/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Mode   string `json:"mode"`
		Policy struct {
			Revision string `json:"revision"`
		} `json:"policy"`
		Counters map[string]int64 `json:"counters"`
		Data     struct {
			Country struct {
				Path string `json:"path"`
			} `json:"country"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	if status.Mode != "enforce" || status.Policy.Revision == "" {
		t.Errorf("status = %+v", status)
	}
	if status.Counters["decisions"] != 3 || status.Counters["denied"] != 1 || status.Counters["cache_hits"] != 1 {
		t.Errorf("counters = %v, want 3 decisions, 1 denied, 1 cache hit", status.Counters)
	}
	if status.Data.Country.Path != w.countryDB {
		t.Errorf("status data.country.path = %q, want %q", status.Data.Country.Path, w.countryDB)
	}
}
