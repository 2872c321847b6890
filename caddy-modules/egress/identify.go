package egress

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/sovgate/sovgate/audit"
	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/decision"
	"github.com/sovgate/sovgate/policy"
)

// claim says who a request comes from as far as is known without a slow
// check, for its share of the limits (see decision.Request): the app of a
// verified client certificate, of a password verified before, or of a
// registered source network is Verified; a user name whose password is
// yet to be checked, or taken unchecked, is not. identify completes it.
func (h *Handler) claim(r *http.Request) decision.Caller {
	ipText, ip := clientIP(r)
	c := decision.Caller{App: decision.UnknownApp, IP: ipText, IdentifiedBy: "none"}
	apps := h.pipeline.Policy().Apps()
	if cert := clientCert(r); cert != nil && apps.HasCertNames() {
		if app, err := certApp(apps, cert); err == nil && app != nil {
			return decision.Caller{App: app.ID, IP: ipText, IdentifiedBy: "mtls", Verified: true}
		}
	}
	if user, password, ok := basicCredentials(r.Header.Get("Proxy-Authorization")); ok && policy.ValidAppName(user) {
		id := h.app.Identity()
		return decision.Caller{App: user, IP: ipText, IdentifiedBy: "basic", Verified: id.Remembers(user, password)}
	}
	if app := apps.ByAddr(ip); app != nil {
		return decision.Caller{App: app.ID, IP: ipText, IdentifiedBy: "cidr", Verified: true}
	}
	return c
}

// identify finds the calling app, in this order:
//
//  1. a client certificate, on a TLS listener with client authentication:
//     a certificate that verified against the listener's trusted CAs and
//     whose subject CN or a SAN (DNS name, URI, e-mail) the app registry
//     lists (identified_by.mtls) names the app;
//  2. proxy Basic auth: with a credentials file, the user is the app if
//     the password matches its hash, and a wrong password is refused
//     (407; 429 while the source or the app has failed too often);
//     without one, the user name is taken as is, unless the registry
//     lists that app with other means of identification only (refused,
//     407);
//  3. the source address, in a CIDR of the app registry
//     (identified_by.cidr; the longest prefix wins);
//  4. otherwise the app is "unknown" (identified_by "none"), or, with
//     require_identity, the request is refused (407).
//
// Credentials that do not hold (a wrong password, a user the credentials
// file does not know, a client certificate and Basic credentials naming
// two apps) are refused with AUTH_FAILED (407, in every mode); a source or
// an app that failed to log in too often with AUTH_RATE_LIMITED (429 with
// Retry-After, the password is not checked); a client nothing identified,
// with require_identity, with IDENTITY_REQUIRED (407).
//
// The registry is the one of the policy revision in service. A malformed
// Proxy-Authorization header is a bad request (400 BAD_TARGET).
func (h *Handler) identify(ctx context.Context, r *http.Request) (decision.Caller, *decision.Refusal) {
	ipText, ip := clientIP(r)
	c := decision.Caller{App: decision.UnknownApp, IP: ipText, IdentifiedBy: "none"}
	apps := h.pipeline.Policy().Apps()
	id := h.app.Identity()

	if cert := clientCert(r); cert != nil && apps.HasCertNames() {
		app, refusal := certApp(apps, cert)
		if refusal != nil {
			return c, refusal
		}
		if app != nil {
			c.App, c.IdentifiedBy, c.Verified = app.ID, "mtls", true
		}
	}

	if auth := r.Header.Get("Proxy-Authorization"); auth != "" {
		user, password, ok := basicCredentials(auth)
		if !ok {
			return c, badRequest("malformed Proxy-Authorization header: use Basic with app:password")
		}
		if !policy.ValidAppName(user) {
			return c, badRequest("the app name must be 1-64 letters, digits, '.', '_' or '-'")
		}
		verified := id.Verified()
		if verified {
			err := id.CheckBasic(ctx, ipText, user, password)
			var throttled *sovereignty.ThrottledError
			switch {
			case errors.As(err, &throttled):
				detail := audit.LoginsThrottledFromSource(throttled.Source, throttled.RetryAfter)
				if throttled.App != "" {
					detail = audit.LoginsThrottledForApp(throttled.App, throttled.RetryAfter)
				}
				return c, &decision.Refusal{Status: http.StatusTooManyRequests, Code: audit.CodeAuthRateLimited,
					Detail: detail, RetryAfter: throttled.RetryAfter}
			case err != nil:
				return c, authFailed(audit.WrongPassword(user))
			}
		} else if app := apps.Get(user); app != nil && !app.Basic && (len(app.CertNames) > 0 || len(app.CIDRs) > 0) {
			// Without a credentials file nothing checks the user name, so
			// it must not take the place of a certificate or a network the
			// registry requires: an app that could be claimed by name
			// would lend its profile to any client.
			return c, authFailed(audit.NameNotEnough(user))
		}
		switch {
		case c.IdentifiedBy == "none":
			c.App, c.IdentifiedBy, c.Verified = user, "basic", verified
		case c.App != user:
			return c, authFailed(audit.CertificateAndPasswordDisagree(c.App, user))
		}
	}

	if c.IdentifiedBy == "none" {
		if app := apps.ByAddr(ip); app != nil {
			c.App, c.IdentifiedBy, c.Verified = app.ID, "cidr", true
		}
	}
	if c.IdentifiedBy == "none" && id != nil && id.Require {
		return c, &decision.Refusal{Status: http.StatusProxyAuthRequired, Code: audit.CodeIdentityRequired, Detail: audit.IdentityRequired()}
	}
	return c, nil
}

func authFailed(detail audit.Message) *decision.Refusal {
	return &decision.Refusal{Status: http.StatusProxyAuthRequired, Code: audit.CodeAuthFailed, Detail: detail}
}

func badRequest(reason string) *decision.Refusal {
	return &decision.Refusal{Status: http.StatusBadRequest, Code: audit.CodeBadTarget,
		Detail: audit.Malformed(&decision.TargetError{Input: "Proxy-Authorization", Reason: reason})}
}

// clientCert is the client's certificate, when it verified against the
// listener's trusted CAs.
func clientCert(r *http.Request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0]
	}
	return nil
}

// certApp maps a verified client certificate to an app: its SANs (DNS
// names, URIs, e-mail addresses), then its subject CN. A certificate whose
// names point at two apps identifies neither.
func certApp(apps *policy.Apps, cert *x509.Certificate) (*policy.App, *decision.Refusal) {
	var found *policy.App
	try := func(name string) *decision.Refusal {
		app := apps.ByCertName(name)
		if app == nil {
			return nil
		}
		if found != nil && found != app {
			return authFailed(audit.CertificateNamesTwoApps(found.ID, app.ID))
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
