package egress

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/caddy-modules/sovereignty"
)

// openTunnels are the tunnels of the whole process. It outlives handler
// instances because a tunnel allowed under one configuration may be taken
// over by the next one after a new decision (see serverShuttingDown).
var openTunnels = &tunnelRegistry{open: make(map[*tunnel]struct{})}

type tunnelRegistry struct {
	mu   sync.Mutex
	open map[*tunnel]struct{}
}

func (r *tunnelRegistry) add(t *tunnel) {
	r.mu.Lock()
	r.open[t] = struct{}{}
	r.mu.Unlock()
}

func (r *tunnelRegistry) remove(t *tunnel) {
	r.mu.Lock()
	delete(r.open, t)
	r.mu.Unlock()
}

// snapshot returns the open tunnels matching keep.
func (r *tunnelRegistry) snapshot(keep func(*tunnel) bool) []*tunnel {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tunnel
	for t := range r.open {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

// closeOwnedBy closes the tunnels still owned by app's configuration.
func (r *tunnelRegistry) closeOwnedBy(app *sovereignty.App) int {
	ts := r.snapshot(func(t *tunnel) bool { return t.ownerApp() == app })
	for _, t := range ts {
		t.close()
	}
	return len(ts)
}

// serverShuttingDown runs when this handler's server begins to shut down:
// on a reload (a new configuration is already in service) or on exit.
//
// On exit, every tunnel closes. On a reload, each HTTP/1.1 tunnel this
// configuration owns is decided again by the configuration in service: if
// the new policy still forwards it, the tunnel goes on under the new
// configuration (no failed request for a reload); otherwise it closes.
// HTTP/2 tunnels are streams of this server's connections, which are shutting
// down: they close, and their clients reconnect through the new server.
func (h *Handler) serverShuttingDown() {
	// Caddy runs shutdown hooks in their own goroutines and may call
	// Cleanup before they are done: whichever comes first does the work,
	// the other waits for it.
	h.handOver.Do(h.handOverTunnels)
}

func (h *Handler) handOverTunnels() {
	next := sovereignty.Current()
	reload := next != nil && next != h.app && !caddy.Exiting()
	for _, t := range openTunnels.snapshot(func(t *tunnel) bool { return t.ownerApp() == h.app }) {
		if !reload || t.stream {
			if !reload || t.server == h.server {
				t.close()
			}
			continue
		}
		h.redecide(t, next)
	}
}

// redecide asks the configuration in service about an open tunnel.
func (h *Handler) redecide(t *tunnel, next *sovereignty.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := next.Pipeline().Decide(ctx, t.outcome.Target, t.outcome.Caller)
	if err := next.Journal().Decided(out); err != nil {
		h.logger.Error("recording the decision about an open tunnel", zap.Error(err))
	}
	if out.Blocked() || !sameAddrs(out.Addrs, t.outcome.Addrs) {
		// Blocked now, or the name resolves elsewhere: the tunnel's
		// upstream is no longer a vetted address.
		h.logger.Info("closing a tunnel the new configuration does not allow",
			zap.String("id", t.outcome.ID), zap.String("new_decision", out.ID), zap.Strings("reasons", out.Reasons))
		t.close()
		return
	}
	t.setOwner(next)
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// listenerAddrs expands a server's listen addresses into the addresses a
// client could reach it on. A wildcard host listens on every local
// address, so every interface address counts.
func listenerAddrs(listen []string, log *zap.Logger) []netip.AddrPort {
	var local []netip.Addr
	localLoaded := false
	var out []netip.AddrPort
	for _, l := range listen {
		na, err := caddy.ParseNetworkAddress(l)
		if err != nil || na.IsUnixNetwork() {
			continue
		}
		var hosts []netip.Addr
		switch ip, err := netip.ParseAddr(na.Host); {
		case na.Host == "" || (err == nil && ip.IsUnspecified()):
			if !localLoaded {
				local = interfaceAddrs(log)
				localLoaded = true
			}
			hosts = local
		case err == nil:
			hosts = []netip.Addr{ip}
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
		for port := na.StartPort; port <= na.EndPort; port++ {
			for _, ip := range hosts {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
			}
		}
	}
	return out
}

func interfaceAddrs(log *zap.Logger) []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		log.Warn("listing local addresses", zap.Error(err))
	}
	out := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
