// Package egress is the HTTP handler `sovereign_egress`: a forward proxy
// that asks the sovereignty app's pipeline about every request, then
// forwards it, tunnels it, or answers why not. It decides nothing itself:
// it parses the request, calls the pipeline, and dials only the addresses
// the pipeline vetted.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
	"github.com/sovgate/sovgate/decision"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `sovereign_egress` HTTP handler. Requests that are not
// proxy requests (neither CONNECT nor an absolute-form URL) go to the next
// handler, so one site can also serve, say, a PAC file.
type Handler struct {
	// DialTimeout bounds the connection to the destination. Default 10s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// TunnelIdleTimeout closes a CONNECT tunnel after this long without a
	// byte in either direction. Default 5m.
	TunnelIdleTimeout caddy.Duration `json:"tunnel_idle_timeout,omitempty"`

	// ResponseHeaderTimeout bounds the wait for the response headers of a
	// forwarded http request. Default 60s.
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`

	// TunnelMaxLifetime closes a CONNECT tunnel after this long, busy or
	// not, so no tunnel lives forever on one decision. Default 24h.
	TunnelMaxLifetime caddy.Duration `json:"tunnel_max_lifetime,omitempty"`

	// ConnectPorts restricts CONNECT to these destination ports (403
	// PORT_NOT_ALLOWED otherwise, in every mode). Default: any port.
	ConnectPorts []int `json:"connect_ports,omitempty"`

	// TLSPorts are the destination ports where a tunnel must start with a
	// TLS ClientHello (bytes that are not TLS are refused, see RequireTLS).
	// The gateway reads it without terminating TLS, before anything goes
	// upstream, and checks its server name (SNI) against the CONNECT
	// target. Default [443].
	TLSPorts []int `json:"tls_ports,omitempty"`

	// SNICheck refuses a tunnel whose ClientHello names another server than
	// the CONNECT target, or none for a host name (domain fronting): code
	// SNI_MISMATCH, blocked in enforce mode, recorded in monitor mode. It
	// applies on every port: on other ports than TLSPorts, a tunnel whose
	// first bytes are a ClientHello is checked the same way, and one that
	// starts otherwise passes (the server's bytes flow meanwhile, for
	// protocols where it speaks first). Default true.
	SNICheck *bool `json:"sni_check,omitempty"`

	// RequireTLS refuses a tunnel to a TLS port whose first bytes are not
	// TLS (code NOT_TLS). Default true.
	RequireTLS *bool `json:"require_tls,omitempty"`

	// ClientHelloTimeout bounds the wait for the ClientHello after the
	// tunnel is open. Default 10s.
	ClientHelloTimeout caddy.Duration `json:"client_hello_timeout,omitempty"`

	app       *sovereignty.App
	pipeline  *decision.Pipeline
	journal   *decision.Journal
	logger    *zap.Logger
	transport *http.Transport
	dialer    *net.Dialer
	server    *caddyhttp.Server
	checks    decision.TunnelChecks
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.sovereign_egress",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision connects the handler to the sovereignty app and prepares the
// upstream transport.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	appModule, err := ctx.AppIfConfigured("sovereignty")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return fmt.Errorf("sovereign_egress needs the sovereignty app: add a `sovereignty` global option (an empty one takes every default): %w", err)
	}
	if err != nil {
		// The app is configured, and its own error says what is wrong
		// with it (a policy, a database, the credentials file).
		return fmt.Errorf("sovereign_egress: %w", err)
	}
	h.app = appModule.(*sovereignty.App)
	h.pipeline = h.app.Pipeline()
	h.journal = h.app.Journal()

	if h.DialTimeout <= 0 {
		h.DialTimeout = caddy.Duration(10 * time.Second)
	}
	if h.TunnelIdleTimeout <= 0 {
		h.TunnelIdleTimeout = caddy.Duration(5 * time.Minute)
	}
	if h.ResponseHeaderTimeout <= 0 {
		h.ResponseHeaderTimeout = caddy.Duration(60 * time.Second)
	}
	if h.TunnelMaxLifetime <= 0 {
		h.TunnelMaxLifetime = caddy.Duration(24 * time.Hour)
	}
	if h.ClientHelloTimeout <= 0 {
		h.ClientHelloTimeout = caddy.Duration(10 * time.Second)
	}
	if h.TLSPorts == nil {
		h.TLSPorts = []int{443}
	}
	h.checks = decision.TunnelChecks{SNI: h.SNICheck == nil || *h.SNICheck, RequireTLS: h.RequireTLS == nil || *h.RequireTLS}
	for _, list := range []struct {
		name  string
		ports []int
		into  *[]uint16
	}{{"connect_ports", h.ConnectPorts, &h.checks.ConnectPorts}, {"tls_ports", h.TLSPorts, &h.checks.TLSPorts}} {
		for _, port := range list.ports {
			if port < 1 || port > 65535 {
				return fmt.Errorf("sovereign_egress: %s: %d is not a port (1-65535)", list.name, port)
			}
			*list.into = append(*list.into, uint16(port))
		}
	}
	h.dialer = &net.Dialer{Timeout: time.Duration(h.DialTimeout), KeepAlive: 30 * time.Second}
	h.transport = &http.Transport{
		// Never chain to a proxy from the environment: the gateway is the
		// last hop, and it dials only vetted addresses (the URL host is
		// always a vetted IP, see forward).
		Proxy:       nil,
		DialContext: h.dialer.DialContext,
		// Keep upstream connections alive per destination, sized for
		// concurrency: Go's default of 2 idle connections per host makes
		// most requests open a new connection under load.
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Duration(h.ResponseHeaderTimeout),
		ExpectContinueTimeout: time.Second,
		// Bodies pass through as the client and server encoded them.
		DisableCompression: true,
	}
	// The server this handler belongs to: its listen addresses are refused
	// as destinations from the first request on (the sovereignty app adds
	// every other listener when it starts), and its shutdown
	// (reload or exit) is when its tunnels are decided again or closed.
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil {
		if err := checkNoHostMatcher(srv.Routes); err != nil {
			return err
		}
		h.server = srv
		h.app.AddListeners(srv.Listen)
		srv.RegisterOnShutdown(h.serverShuttingDown)
	}
	return nil
}

// Cleanup closes the tunnels this configuration still owns (those the
// next configuration did not take over), and idle upstream connections.
func (h *Handler) Cleanup() error {
	if h.app != nil {
		openTunnels.settleOwnedBy(h.app, h.logger)
	}
	if h.transport != nil {
		h.transport.CloseIdleConnections()
	}
	return nil
}

// ServeHTTP handles proxy requests and passes everything else on. The
// pipeline decides (DecideRequest runs admission, target, identity, port
// and destination checks in their order); the handler answers, forwards
// or tunnels.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	isConnect := r.Method == http.MethodConnect
	if !isConnect && !(r.ProtoMajor == 1 && r.URL.IsAbs()) {
		return next.ServeHTTP(w, r)
	}
	req := decision.Request{
		Caller: h.claim(r),
		Identify: func(ctx context.Context) (decision.Caller, *decision.Refusal) {
			return h.identify(ctx, r)
		},
		Tunnel: isConnect,
		Checks: h.checks,
	}
	if isConnect {
		req.Target, req.TargetErr = connectTarget(r)
	} else {
		req.Target, req.TargetErr = decision.ParseURLTarget(r.Method, r.URL)
	}
	if req.TargetErr != nil {
		req.Target = rawTarget(r)
	}
	out := h.pipeline.DecideRequest(r.Context(), req)
	defer out.Release() // idempotent; a tunnel releases its slot as it closes
	if out.Blocked() {
		h.decided(out)
		writeBlocked(w, r, out)
		return nil
	}
	if isConnect {
		// The tunnel records the decision itself, once its own checks
		// (the TLS ClientHello) are done.
		return h.tunnel(w, r, out)
	}
	h.decided(out)
	if out.Blocked() { // the decision could not be recorded, and enforce mode fails closed
		writeBlocked(w, r, out)
		return nil
	}
	return h.forward(w, r, out)
}

// decided records the decision. When it cannot be recorded (neither the
// audit store nor its spool takes it), enforce mode fails closed: the
// request is answered 503 AUDIT_UNAVAILABLE instead of being forwarded;
// monitor mode forwards it and logs the loss.
func (h *Handler) decided(out *decision.Outcome) {
	err := h.journal.Decided(out)
	if err == nil {
		return
	}
	if out.Mode == decision.Enforce && !out.Blocked() {
		h.logger.Error("decision not recorded: refused (enforce mode fails closed)", zap.String("id", out.ID), zap.Error(err))
		h.pipeline.RefuseUnrecorded(out)
		return
	}
	h.logger.Error("DECISION NOT RECORDED in the audit log", zap.String("id", out.ID), zap.String("mode", string(out.Mode)),
		zap.String("action", string(out.Action)), zap.Error(err))
}

// connectTarget reads the authority of a CONNECT request. HTTP/2 and
// HTTP/3 CONNECT must not carry :scheme or :path (RFC 9113 section 8.5).
func connectTarget(r *http.Request) (decision.Target, error) {
	if r.ProtoMajor >= 2 && (r.URL.Scheme != "" || r.URL.Path != "") {
		return decision.Target{}, &decision.TargetError{Input: r.Host, Reason: "CONNECT must not carry :scheme or :path"}
	}
	return decision.ParseConnectTarget(r.Host)
}

// rawTarget describes an unparsable target for the record, bounded in size.
func rawTarget(r *http.Request) decision.Target {
	host := r.Host
	if len(host) > 255 {
		host = host[:255]
	}
	t := decision.Target{Method: r.Method, Host: host}
	if r.Method != http.MethodConnect {
		t.Scheme = r.URL.Scheme
	}
	return t
}

// writeUpstreamError answers when an allowed destination could not be
// reached; the decision stands, so its id is returned too.
func writeUpstreamError(w http.ResponseWriter, out *decision.Outcome, status int, err error) {
	hdr := w.Header()
	hdr.Set("Sovgate-Decision-Id", out.ID)
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "sovgate could not reach %s: %v\ndecision id: %s\n", out.Target.HostPort(), err, out.ID)
}

// dialVetted connects to the first vetted address that answers. Only
// addresses the pipeline vetted are dialled: the name is never resolved
// again, so DNS rebinding cannot switch the destination.
func (h *Handler) dialVetted(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var firstErr error
	for _, ip := range addrs {
		conn, err := h.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if firstErr == nil {
		firstErr = errors.New("no vetted address")
	}
	return nil, firstErr
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
)
