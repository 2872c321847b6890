package egress

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/policy"
)

// Reason codes of requests refused because the app is not identified
// (407 Proxy Authentication Required, in every mode).
const (
	// CodeAuthFailed: the client presented credentials that do not hold
	// (a wrong password, a user the credentials file does not know, or a
	// client certificate and Basic credentials naming two apps).
	CodeAuthFailed = "AUTH_FAILED"
	// CodeIdentityRequired: require_identity is on and nothing identified
	// the client.
	CodeIdentityRequired = "IDENTITY_REQUIRED"
)

// identityError refuses a request with 407.
type identityError struct {
	code, detail string
}

func (e *identityError) Error() string { return e.code + ": " + e.detail }

// identify finds the calling app, in this order:
//
//  1. a client certificate, on a TLS listener with client authentication:
//     a certificate that verified against the listener's trusted CAs and
//     whose subject CN or a SAN (DNS name, URI, e-mail) the app registry
//     lists (identified_by.mtls) names the app;
//  2. proxy Basic auth: with a credentials file, the user is the app if
//     the password matches its bcrypt hash, and a wrong password is
//     refused (407); without one, the user name is taken as is, unless
//     the registry lists that app with other means of identification
//     only (refused, 407);
//  3. the source address, in a CIDR of the app registry
//     (identified_by.cidr; the longest prefix wins);
//  4. otherwise the app is "unknown" (identified_by "none"), or, with
//     require_identity, the request is refused (407).
//
// The registry is the one of the policy revision in service. A malformed
// Proxy-Authorization header is a bad request (400), as before.
func (h *Handler) identify(r *http.Request) (decision.Caller, error) {
	ipText, ip := clientIP(r)
	c := decision.Caller{App: decision.UnknownApp, IP: ipText, IdentifiedBy: "none"}
	apps := h.pipeline.Policy().Apps()
	id := h.app.Identity()

	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 && apps.HasCertNames() {
		app, err := certApp(apps, r.TLS.VerifiedChains[0][0])
		if err != nil {
			return c, err
		}
		if app != nil {
			c.App, c.IdentifiedBy = app.ID, "mtls"
		}
	}

	if auth := r.Header.Get("Proxy-Authorization"); auth != "" {
		user, password, ok := basicCredentials(auth)
		if !ok {
			return c, &decision.TargetError{Input: "Proxy-Authorization", Reason: "malformed Proxy-Authorization header: use Basic with app:password"}
		}
		if !policy.ValidAppName(user) {
			return c, &decision.TargetError{Input: "Proxy-Authorization", Reason: "the app name must be 1-64 letters, digits, '.', '_' or '-'"}
		}
		if id.Verified() {
			if err := id.CheckBasic(r.Context(), user, password); err != nil {
				return c, &identityError{CodeAuthFailed, fmt.Sprintf("wrong proxy credentials for app %q", user)}
			}
		} else if app := apps.Get(user); app != nil && !app.Basic && (len(app.CertNames) > 0 || len(app.CIDRs) > 0) {
			// Without a credentials file nothing checks the user name, so
			// it must not take the place of a certificate or a network the
			// registry requires: an app that could be claimed by name
			// would lend its profile to any client.
			return c, &identityError{CodeAuthFailed, fmt.Sprintf(
				"app %q is identified by its client certificate or source network (identified_by), not by an unchecked proxy user name", user)}
		}
		switch {
		case c.IdentifiedBy == "none":
			c.App, c.IdentifiedBy = user, "basic"
		case c.App != user:
			return c, &identityError{CodeAuthFailed, fmt.Sprintf("the client certificate identifies app %q and the proxy credentials app %q", c.App, user)}
		}
	}

	if c.IdentifiedBy == "none" {
		if app := apps.ByAddr(ip); app != nil {
			c.App, c.IdentifiedBy = app.ID, "cidr"
		}
	}
	if c.IdentifiedBy == "none" && id != nil && id.Require {
		return c, &identityError{CodeIdentityRequired, "this gateway requires every app to identify itself (client certificate, proxy credentials or registered source network)"}
	}
	return c, nil
}

// certApp maps a verified client certificate to an app: its SANs (DNS
// names, URIs, e-mail addresses), then its subject CN. A certificate whose
// names point at two apps identifies neither.
func certApp(apps *policy.Apps, cert *x509.Certificate) (*policy.App, error) {
	var found *policy.App
	try := func(name string) error {
		app := apps.ByCertName(name)
		if app == nil {
			return nil
		}
		if found != nil && found != app {
			return &identityError{CodeAuthFailed, fmt.Sprintf("the client certificate names two apps, %q and %q", found.ID, app.ID)}
		}
		found = app
		return nil
	}
	for _, n := range cert.DNSNames {
		if err := try(n); err != nil {
			return nil, err
		}
	}
	for _, u := range cert.URIs {
		if err := try(u.String()); err != nil {
			return nil, err
		}
	}
	for _, e := range cert.EmailAddresses {
		if err := try(e); err != nil {
			return nil, err
		}
	}
	if err := try(cert.Subject.CommonName); err != nil {
		return nil, err
	}
	return found, nil
}

// refuseIdentity answers 407 with a Proxy-Authenticate challenge, and
// records the refusal like any other decision (the app is "unknown": what
// the client claimed is in the detail, never the password).
func (h *Handler) refuseIdentity(w http.ResponseWriter, r *http.Request, caller decision.Caller, ie *identityError) {
	target := rawTarget(r)
	if r.Method == http.MethodConnect {
		if t, err := connectTarget(r); err == nil {
			target = t
		}
	} else if t, err := decision.ParseURLTarget(r.Method, r.URL); err == nil {
		target = t
	}
	caller.App, caller.IdentifiedBy = decision.UnknownApp, "none"
	out := h.pipeline.Refuse(target, caller, ie)
	out.Status, out.Reasons, out.Detail = http.StatusProxyAuthRequired, []string{ie.code}, ie.detail
	w.Header().Set("Proxy-Authenticate", `Basic realm="sovgate", charset="UTF-8"`)
	h.decided(out)
	h.writeBlocked(w, out)
}

// basicCredentials reads a Basic Proxy-Authorization header.
func basicCredentials(header string) (user, password string, ok bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// clientIP is the address of the client, as Caddy determined it (it honours
// trusted_proxies when the gateway sits behind a load balancer), as text and
// parsed (invalid when it does not parse).
func clientIP(r *http.Request) (string, netip.Addr) {
	s, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if !ok || s == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s, netip.Addr{}
	}
	return s, ip.Unmap()
}
