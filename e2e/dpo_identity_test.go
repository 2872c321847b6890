package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// probePolicy writes a policy whose decision reports what the gateway put in
// input.source, as the reason code "app|identified_by|categories" (the
// decision log shows reason codes), with apps as the app registry.
func probePolicy(t *testing.T, apps map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sovgate"), 0o755); err != nil {
		t.Fatal(err)
	}
	rego := `package sovgate

decision := {"allow": true, "profile": "probe", "reasons": [{"code": code, "message": "what the gateway identified"}]}

code := sprintf("%s|%s|%s", [input.source.app, input.source.identified_by, concat(",", input.source.categories)])
`
	if err := os.WriteFile(filepath.Join(dir, "sovgate", "decision.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	writeApps(t, dir, apps)
	return dir
}

func writeApps(t *testing.T, dir string, apps map[string]any) {
	t.Helper()
	raw, err := json.MarshalIndent(map[string]any{"apps": apps}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	saveFile(t, filepath.Join(dir, "sovgate", "data.json"), string(raw))
}

// identified returns what the probe policy saw for the decision with this id.
func (g *gateway) identified(t *testing.T, id string) string {
	t.Helper()
	line := g.waitLog(t, "decision", byID(id))
	if len(line.Reasons) != 1 {
		t.Fatalf("decision %s: reasons %v", id, line.Reasons)
	}
	return line.Reasons[0]
}

// proxyGet sends GET http://eu.test/ through the proxy with the given
// proxy credentials (user "" for none) from the local address from ("" for
// any), and returns the response.
func (g *gateway) proxyGet(t *testing.T, user, password, from string) *http.Response {
	t.Helper()
	proxyURL := &url.URL{Scheme: "http", Host: g.proxyAddr}
	if user != "" {
		proxyURL.User = url.UserPassword(user, password)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), DialContext: dialer.DialContext, DisableKeepAlives: true,
	}}
	resp, err := client.Get(g.httpURL("eu.test", "/"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func writeCredentials(t *testing.T, users map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# app:bcrypt-hash, as htpasswd -nB writes them\n")
	for user, password := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", user, hash)
	}
	path := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDPOIdentifyBasicAuth(t *testing.T) {
	w := newWorld(t)
	dir := probePolicy(t, map[string]any{
		"etat-civil": map[string]any{"name": "État civil", "owner": "Population", "categories": []any{"personal"}, "identified_by": map[string]any{"basic": true}},
		"meteo":      map[string]any{"categories": []any{"public"}, "identified_by": map[string]any{"basic": true}},
	})
	const password = "correct horse battery staple"
	creds := writeCredentials(t, map[string]string{"etat-civil": password, "meteo": "m3t30-pass"})
	g := startGateway(t, w, gatewayOptions{mode: "enforce", policies: dir, app: map[string]any{"credentials": creds}})

	resp := g.proxyGet(t, "etat-civil", password, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("right password: %s", resp.Status)
	}
	if got := g.identified(t, resp.Header.Get("Sovgate-Decision-Id")); got != "etat-civil|basic|personal" {
		// The forwarded response carries the decision id too.
		t.Errorf("identified as %q", got)
	}
	// The same credentials again: answered from the cache of checked
	// credentials.
	if resp := g.proxyGet(t, "etat-civil", password, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("right password, again: %s", resp.Status)
	}

	received := w.receivedCount()
	for _, tc := range []struct{ user, password string }{
		{"etat-civil", "wrong password"},
		{"meteo", password}, // another app's password
		{"nobody", password},
	} {
		resp := g.proxyGet(t, tc.user, tc.password, "")
		if resp.StatusCode != http.StatusProxyAuthRequired {
			t.Errorf("%s with a wrong password: %s, want 407", tc.user, resp.Status)
			continue
		}
		if got := resp.Header.Get("Proxy-Authenticate"); !strings.HasPrefix(got, "Basic realm=") {
			t.Errorf("Proxy-Authenticate = %q", got)
		}
		if got := resp.Header.Get("Sovgate-Reasons"); got != "AUTH_FAILED" {
			t.Errorf("Sovgate-Reasons = %q", got)
		}
		line := g.waitLog(t, "decision", byID(resp.Header.Get("Sovgate-Decision-Id")))
		if line.App != "unknown" || line.Action != "blocked" || line.Host != "eu.test" {
			t.Errorf("decision line of a wrong password: %+v", line)
		}
	}
	if n := w.receivedCount(); n != received {
		t.Errorf("requests with wrong passwords reached the upstream (%d)", n-received)
	}
	// No credentials: the app is unknown.
	resp = g.proxyGet(t, "", "", "")
	if got := g.identified(t, resp.Header.Get("Sovgate-Decision-Id")); got != "unknown|none|" {
		t.Errorf("no credentials: identified as %q", got)
	}
	// Passwords never reach the log.
	if log := mustRead(g.logPath); strings.Contains(log, password) || strings.Contains(log, "wrong password") {
		t.Error("a password is in the decision log")
	}

	// require_identity: unidentified traffic is refused.
	g = startGateway(t, w, gatewayOptions{mode: "monitor", policies: dir, proxyAddr: g.proxyAddr, adminAddr: g.adminAddr,
		app: map[string]any{"credentials": creds, "require_identity": true}})
	resp = g.proxyGet(t, "", "", "")
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Sovgate-Reasons") != "IDENTITY_REQUIRED" {
		t.Errorf("require_identity without credentials: %s %s", resp.Status, resp.Header.Get("Sovgate-Reasons"))
	}
	if resp := g.proxyGet(t, "meteo", "m3t30-pass", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("require_identity with credentials: %s", resp.Status)
	}
}

func TestDPOIdentifyBySourceNetwork(t *testing.T) {
	w := newWorld(t)
	apps := map[string]any{
		"batch":    map[string]any{"categories": []any{"health", "personal"}, "identified_by": map[string]any{"cidr": []any{"127.0.0.9"}}},
		"loopback": map[string]any{"categories": []any{"public"}, "identified_by": map[string]any{"cidr": []any{"127.0.0.0/24"}}},
	}
	dir := probePolicy(t, apps)
	g := startGateway(t, w, gatewayOptions{mode: "monitor", policies: dir, app: map[string]any{"policy_poll_interval": "1h"}})

	check := func(from, user, want string) {
		t.Helper()
		resp := g.proxyGet(t, user, "secret", from)
		if got := g.identified(t, resp.Header.Get("Sovgate-Decision-Id")); got != want {
			t.Errorf("from %s (user %q): identified as %q, want %q", from, user, got, want)
		}
	}
	check("127.0.0.9", "", "batch|cidr|health,personal") // the longest prefix wins
	check("127.0.0.1", "", "loopback|cidr|public")
	check("127.0.0.9", "meteo", "meteo|basic|") // credentials come first (no credentials file: the name is trusted)

	// ...but an unchecked user name cannot claim an app the registry
	// identifies by its network: that would lend its profile to anyone.
	resp := g.proxyGet(t, "batch", "secret", "127.0.0.1")
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Sovgate-Reasons") != "AUTH_FAILED" {
		t.Errorf("claiming the cidr app %q by user name: %s %s, want 407 AUTH_FAILED", "batch", resp.Status, resp.Header.Get("Sovgate-Reasons"))
	}
	if line := g.waitLog(t, "decision", byID(resp.Header.Get("Sovgate-Decision-Id"))); line.App != "unknown" || line.Action != "blocked" {
		t.Errorf("decision line of the refused claim: %+v", line)
	}

	// The registry belongs to the policy revision: change it, reload, and
	// the same client is another app.
	apps["batch"] = map[string]any{"categories": []any{"personal"}, "identified_by": map[string]any{"cidr": []any{"127.0.0.8/31"}}}
	delete(apps, "loopback")
	writeApps(t, dir, apps)
	if status, rep := g.reloadPolicy(t); status != http.StatusOK {
		t.Fatalf("reload: %d %+v", status, rep)
	}
	check("127.0.0.9", "", "batch|cidr|personal")
	check("127.0.0.1", "", "unknown|none|")

	// A registry that cannot identify unambiguously is refused.
	apps["other"] = map[string]any{"identified_by": map[string]any{"cidr": []any{"127.0.0.8/31"}}}
	writeApps(t, dir, apps)
	status, rep := g.reloadPolicy(t)
	if status != http.StatusUnprocessableEntity || len(rep.Diagnostics) == 0 || !strings.Contains(rep.Diagnostics[0].Message, `already identifies app "batch"`) {
		t.Errorf("an ambiguous registry: %d %+v", status, rep)
	}
	check("127.0.0.9", "", "batch|cidr|personal")
}

// testPKI is a CA and the certificates the mTLS test needs.
type testPKI struct {
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caDER  []byte
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testPKI{caCert: cert, caKey: key, caDER: der}
}

var serial int64 = 100

func (p *testPKI) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func certPEM(t *testing.T, c tls.Certificate) (certPEM, keyPEM string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// tlsProxyGet connects to the proxy's TLS listener with a client
// certificate (nil for none), optionally sends proxy credentials, and sends
// GET http://eu.test/ in absolute form.
func (g *gateway) tlsProxyGet(t *testing.T, roots *x509.CertPool, cert *tls.Certificate, basicUser string) (*http.Response, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}
	if cert != nil {
		// Always send it, even when its issuer is not among the CAs the
		// server asks for (Go's client would then send none).
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "tcp", g.proxyAddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	auth := ""
	if basicUser != "" {
		auth = "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(basicUser+":secret")) + "\r\n"
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: eu.test\r\n%sConnection: close\r\n\r\n", g.httpURL("eu.test", "/"), auth)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func TestDPOIdentifyByClientCertificate(t *testing.T) {
	w := newWorld(t)
	dir := probePolicy(t, map[string]any{
		"etat-civil": map[string]any{"categories": []any{"personal"}, "identified_by": map[string]any{"mtls": []any{"etat-civil.apps.lyon.test"}}},
		"visio":      map[string]any{"categories": []any{"public"}, "identified_by": map[string]any{"mtls": []any{"spiffe://lyon.test/visio"}}},
	})
	pki := newTestPKI(t, "apps CA")
	gwCert := pki.issue(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "gateway"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	byCN := pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etat-civil.apps.lyon.test"}, ExtKeyUsage: clientAuth})
	spiffeURI, _ := url.Parse("spiffe://lyon.test/visio")
	bySAN := pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "visio-client"}, URIs: []*url.URL{spiffeURI}, ExtKeyUsage: clientAuth})
	stranger := pki.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "stranger.apps.lyon.test"}, ExtKeyUsage: clientAuth})
	rogueCA := newTestPKI(t, "rogue CA")
	forged := rogueCA.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "etat-civil.apps.lyon.test"}, ExtKeyUsage: clientAuth})

	certPEMText, keyPEMText := certPEM(t, gwCert)
	g := startGateway(t, w, gatewayOptions{mode: "monitor", policies: dir,
		apps: map[string]any{"tls": map[string]any{"certificates": map[string]any{"load_pem": []any{
			map[string]any{"certificate": certPEMText, "key": keyPEMText, "tags": []any{"gateway"}},
		}}}},
		server: map[string]any{
			// sovgate_handoff is for plain-HTTP listeners.
			"listener_wrappers": []any{},
			// A proxy request's Host is its destination, never the
			// gateway's TLS server name: Caddy's check that they match
			// (on by default with client authentication) must be off.
			"strict_sni_host": false,
			"protocols":       []string{"h1", "h2"},
			"tls_connection_policies": []any{map[string]any{
				"certificate_selection": map[string]any{"any_tag": []any{"gateway"}},
				"client_authentication": map[string]any{
					"ca":   map[string]any{"provider": "inline", "trusted_ca_certs": []any{base64.StdEncoding.EncodeToString(pki.caDER)}},
					"mode": "verify_if_given",
				},
			}},
		}})
	roots := x509.NewCertPool()
	roots.AddCert(pki.caCert)

	for _, tc := range []struct {
		name string
		cert *tls.Certificate
		want string
	}{
		{"subject CN", &byCN, "etat-civil|mtls|personal"},
		{"URI SAN", &bySAN, "visio|mtls|public"},
		{"a certificate the registry does not list", &stranger, "unknown|none|"},
		{"no certificate", nil, "unknown|none|"},
	} {
		resp, err := g.tlsProxyGet(t, roots, tc.cert, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", tc.name, resp.Status)
		}
		if got := g.identified(t, resp.Header.Get("Sovgate-Decision-Id")); got != tc.want {
			t.Errorf("%s: identified as %q, want %q", tc.name, got, tc.want)
		}
	}
	// A certificate from another CA never gets through the handshake.
	if resp, err := g.tlsProxyGet(t, roots, &forged, ""); err == nil {
		t.Errorf("a certificate from an untrusted CA was accepted: %s", resp.Status)
	}
	// A certificate and proxy credentials naming two apps: refused.
	resp, err := g.tlsProxyGet(t, roots, &byCN, "visio")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Sovgate-Reasons") != "AUTH_FAILED" {
		t.Errorf("certificate and credentials for two apps: %s %s", resp.Status, resp.Header.Get("Sovgate-Reasons"))
	}
}
