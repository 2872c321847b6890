package egress

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("sovereign_egress", parseCaddyfile)
	// The egress handler must run before any handler that could answer a
	// proxy request itself (redir, respond, file_server, reverse_proxy, ...):
	// otherwise that handler would serve, or wave through, a request that
	// was never checked, which is a fail-open bug. "map" is the first
	// standard directive after tracing, so this places sovereign_egress
	// ahead of every handler that responds. An adapt test pins it.
	httpcaddyfile.RegisterDirectiveOrder("sovereign_egress", httpcaddyfile.Before, "map")
}

// parseCaddyfile reads:
//
//	sovereign_egress {
//		dial_timeout 10s
//		tunnel_idle_timeout 5m
//		tunnel_max_lifetime 24h
//		response_header_timeout 60s
//		connect_ports 443
//		tls_ports 443
//		sni_check on
//		require_tls on
//		client_hello_timeout 10s
//	}
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := new(Handler)
	if err := handler.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return handler, nil
}

// UnmarshalCaddyfile reads the directive; errors carry file and line.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("sovereign_egress takes no arguments (got %q); settings go in a block", d.Val())
	}
	for d.NextBlock(0) {
		option := d.Val()
		var target *caddy.Duration
		switch option {
		case "connect_ports", "tls_ports":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("%s: missing port numbers (e.g. 443)", option)
			}
			ports := make([]int, 0, len(args))
			for _, a := range args {
				p, err := strconv.Atoi(a)
				if err != nil || p < 1 || p > 65535 {
					return d.Errf("%s: %q is not a port (1-65535)", option, a)
				}
				ports = append(ports, p)
			}
			if option == "connect_ports" {
				h.ConnectPorts = append(h.ConnectPorts, ports...)
			} else {
				h.TLSPorts = append(h.TLSPorts, ports...)
			}
			continue
		case "sni_check", "require_tls":
			if !d.NextArg() {
				return d.Errf("%s: missing on or off", option)
			}
			var on bool
			switch d.Val() {
			case "on":
				on = true
			case "off":
			default:
				return d.Errf("%s: %q: use on or off", option, d.Val())
			}
			if option == "sni_check" {
				h.SNICheck = &on
			} else {
				h.RequireTLS = &on
			}
			if d.NextArg() {
				return d.Errf("%s: takes one value, got also %q", option, d.Val())
			}
			continue
		case "client_hello_timeout":
			target = &h.ClientHelloTimeout
		case "dial_timeout":
			target = &h.DialTimeout
		case "tunnel_idle_timeout":
			target = &h.TunnelIdleTimeout
		case "response_header_timeout":
			target = &h.ResponseHeaderTimeout
		case "tunnel_max_lifetime":
			target = &h.TunnelMaxLifetime
		default:
			return d.Errf("unknown sovereign_egress option %q (known: dial_timeout, tunnel_idle_timeout, tunnel_max_lifetime, response_header_timeout, connect_ports, tls_ports, sni_check, require_tls, client_hello_timeout)", option)
		}
		if !d.NextArg() {
			return d.Errf("%s: missing duration (e.g. 30s)", option)
		}
		dur, err := caddy.ParseDuration(d.Val())
		if err != nil {
			return d.Errf("%s: %v", option, err)
		}
		if dur <= 0 {
			return d.Errf("%s: must be positive", option)
		}
		*target = caddy.Duration(dur)
		if d.NextArg() {
			return d.Errf("%s: takes one duration, got also %q", option, d.Val())
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Handler)(nil)
