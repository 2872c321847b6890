package sovereignty

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/decision"
)

// The gateway refuses its own listening addresses as destinations
// (DESTINATION_SELF): the pipeline reads the process's listening sockets
// from the operating system, and the app tells it where the configuration
// listens, so the refusal holds from the first request and where the
// system cannot be asked.

// AddListeners declares Caddy listen addresses ("host:port", ":port",
// port ranges) of this configuration as the gateway's own. Handlers call it
// for their server when they are provisioned.
func (a *App) AddListeners(listen []string) {
	a.parts.Pipeline.AddListeners(listenerAddrs(listen, a.logger))
}

// declareListeners declares every listener of the configuration once the
// apps are provisioned: every HTTP server's addresses (the proxy, metrics,
// anything else), and the admin endpoint's usual addresses; then it has
// the process's listening sockets read, which covers the admin endpoint
// wherever it is.
func (a *App) declareListeners() {
	var listen []string
	if httpApp, err := a.ctx.AppIfConfigured("http"); err == nil {
		for _, srv := range httpApp.(*caddyhttp.App).Servers {
			listen = append(listen, srv.Listen...)
		}
	}
	listen = append(listen, caddy.DefaultAdminListen)
	if env := os.Getenv("CADDY_ADMIN"); env != "" {
		listen = append(listen, env)
	}
	a.AddListeners(listen)
	a.parts.Pipeline.RefreshListeners()
}

// caddyListeners lists the process's listening sockets that Caddy opened:
// those whose address its listener pool holds, under any of the spellings
// a configuration may give it (":2019", "0.0.0.0:2019", "localhost:2019",
// ...). That is every listener of the gateway, the admin endpoint's
// included, and none of the sockets something else in the process opened.
func caddyListeners() ([]netip.AddrPort, error) {
	all, err := decision.ProcessListeners()
	if errors.Is(err, errors.ErrUnsupported) {
		return nil, nil
	}
	var out []netip.AddrPort
	for _, ap := range all {
		if caddyHolds(ap) {
			out = append(out, ap)
		}
	}
	return out, err
}

func caddyHolds(ap netip.AddrPort) bool {
	ip := ap.Addr()
	hosts := []string{ip.String()}
	switch {
	case ip.IsUnspecified():
		hosts = []string{"", "0.0.0.0", "::"}
	case ip.IsLoopback():
		hosts = append(hosts, "localhost")
	}
	port := strconv.Itoa(int(ap.Port()))
	for _, network := range []string{"tcp", "tcp4", "tcp6"} {
		for _, host := range hosts {
			if caddy.ListenerUsage(network, net.JoinHostPort(host, port)) > 0 {
				return true
			}
		}
	}
	return false
}

// listenerAddrs turns Caddy listen addresses into the addresses the
// pipeline refuses. A wildcard host (":2019", "0.0.0.0:2019") becomes the
// unspecified address: every address of the host on that port.
func listenerAddrs(listen []string, log *zap.Logger) []netip.AddrPort {
	repl := caddy.NewReplacer()
	var out []netip.AddrPort
	for _, l := range listen {
		na, err := caddy.ParseNetworkAddress(repl.ReplaceKnown(l, ""))
		if err != nil || na.IsUnixNetwork() || na.IsFdNetwork() {
			continue
		}
		var hosts []netip.Addr
		switch ip, err := netip.ParseAddr(na.Host); {
		case na.Host == "":
			hosts = []netip.Addr{netip.IPv6Unspecified()}
		case err == nil:
			hosts = []netip.Addr{ip.Unmap()}
		case na.Host == "localhost":
			hosts = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
		default:
			ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", na.Host)
			if err != nil {
				log.Warn("cannot resolve a listen address to refuse it as a destination", zap.String("listen", l), zap.Error(err))
				continue
			}
			hosts = ips
		}
		for port := na.StartPort; port <= na.EndPort && port <= 65535; port++ {
			for _, ip := range hosts {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
			}
		}
	}
	return out
}
