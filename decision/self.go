package decision

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The gateway must never be its own destination (DESTINATION_SELF: 403,
// in every mode, whatever allow_private says). Through it, an app could
// reach the admin endpoint (and switch the gateway to monitor mode, or
// remove its audit store), its metrics, or loop through the proxy. An
// allow_private range that covers the host's own LAN address makes this
// reachable, since the guard then lets the address through; so every
// address the process listens on is refused before the guard is asked.
//
// Two sources say where the process listens:
//   - the configuration: the listen addresses of every server, given by the
//     host (AddListeners) before the first request;
//   - the operating system: the TCP sockets the process has in the listen
//     state (Config.Listeners; on Linux, ProcessListeners reads them from
//     /proc), which covers listeners the configuration does not describe to
//     us, such as Caddy's admin endpoint. They are read when the gateway
//     starts (RefreshListeners) and again whenever a destination on this
//     host is not a known listener, at most once a second, so a listener
//     added later is found before it can be reached.
//
// A listener on a wildcard address (0.0.0.0, ::, or no host) listens on
// every address of the host: every interface address, and loopback.

// selfAddrs holds the listeners of the process. Readers load an immutable
// snapshot; writers replace it under mu.
type selfAddrs struct {
	mu    sync.Mutex
	state atomic.Pointer[selfState]
	// configured are the listeners the host declared; they stay in every
	// snapshot.
	configured []netip.AddrPort
	// scan lists the process's listening sockets; nil where the operating
	// system offers no way (the configured listeners then stand alone).
	scan func() ([]netip.AddrPort, error)
	// interfaces lists the host's addresses.
	interfaces func() ([]netip.Addr, error)
	now        func() time.Time
}

// selfState is one snapshot of where the process listens.
type selfState struct {
	exact map[netip.AddrPort]struct{}
	// wildcard are the ports of listeners on a wildcard address.
	wildcard map[uint16]struct{}
	// local are the host's interface addresses.
	local     map[netip.Addr]struct{}
	scannedAt time.Time
}

// rescanInterval bounds how often an unknown local destination makes the
// process's sockets be read again: each read costs a walk over its open
// descriptors, which an app must not be able to trigger at will.
const rescanInterval = time.Second

func newSelfAddrs(scan func() ([]netip.AddrPort, error), now func() time.Time) *selfAddrs {
	s := &selfAddrs{scan: scan, interfaces: interfaceAddrs, now: now}
	s.state.Store(&selfState{})
	return s
}

// AddListeners declares addresses the gateway listens on; a destination
// among them is refused (DESTINATION_SELF). An unspecified address
// (0.0.0.0 or ::) stands for a wildcard listener: every address of the
// host on that port.
func (p *Pipeline) AddListeners(addrs []netip.AddrPort) {
	s := p.self
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		s.configured = append(s.configured, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	}
	cur := s.state.Load()
	s.state.Store(s.build(nil, cur.local, cur.scannedAt))
}

// RefreshListeners reads the process's listening sockets and the host's
// addresses again. The host calls it once its listeners are open; the
// pipeline calls it itself when a destination on this host is not a known
// listener (see isSelf).
func (p *Pipeline) RefreshListeners() {
	s := p.self
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
}

// refresh rebuilds the snapshot from a new scan; s.mu is held.
func (s *selfAddrs) refresh() {
	var scanned []netip.AddrPort
	if s.scan != nil {
		// An error (no /proc, a descriptor closed during the walk) leaves
		// what could be read: the configured listeners stay in any case.
		scanned, _ = s.scan()
	}
	local, _ := s.interfaces()
	set := make(map[netip.Addr]struct{}, len(local))
	for _, a := range local {
		set[a.Unmap()] = struct{}{}
	}
	s.state.Store(s.build(scanned, set, s.now()))
}

// build makes a snapshot of the configured listeners plus scanned ones;
// s.mu is held.
func (s *selfAddrs) build(scanned []netip.AddrPort, local map[netip.Addr]struct{}, at time.Time) *selfState {
	st := &selfState{
		exact:     make(map[netip.AddrPort]struct{}, len(s.configured)+len(scanned)),
		wildcard:  make(map[uint16]struct{}),
		local:     local,
		scannedAt: at,
	}
	for _, list := range [][]netip.AddrPort{s.configured, scanned} {
		for _, a := range list {
			ip := a.Addr().Unmap()
			if ip.IsUnspecified() {
				st.wildcard[a.Port()] = struct{}{}
				continue
			}
			st.exact[netip.AddrPortFrom(ip, a.Port())] = struct{}{}
		}
	}
	return st
}

// isLocal reports whether ip is an address of this host.
func (st *selfState) isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	_, ok := st.local[ip]
	return ok
}

func (st *selfState) listensOn(ip netip.Addr, port uint16) bool {
	if _, ok := st.exact[netip.AddrPortFrom(ip, port)]; ok {
		return true
	}
	if _, ok := st.wildcard[port]; ok && st.isLocal(ip) {
		return true
	}
	// Connecting to 0.0.0.0 or :: reaches this host's listeners on that
	// port, whichever address they are bound to.
	if ip.IsUnspecified() {
		for a := range st.exact {
			if a.Port() == port {
				return true
			}
		}
	}
	return false
}

// isSelf reports whether the gateway listens on ip:port. An address of
// this host that is not a known listener makes the sockets be read again
// (at most once per rescanInterval): a listener may have been opened since.
func (s *selfAddrs) isSelf(ip netip.Addr, port uint16) bool {
	ip = ip.Unmap()
	st := s.state.Load()
	if st.listensOn(ip, port) {
		return true
	}
	if !st.scannedAt.IsZero() && (s.scan == nil || !st.isLocal(ip)) {
		return false
	}
	// Read less than rescanInterval ago: the snapshot stands, and the
	// requests to local destinations do not queue on the lock for it.
	if !st.scannedAt.IsZero() && s.now().Sub(st.scannedAt) < rescanInterval {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another request may have read the sockets while this one waited.
	if st = s.state.Load(); st.scannedAt.IsZero() || (s.scan != nil && s.now().Sub(st.scannedAt) >= rescanInterval) {
		s.refresh()
		st = s.state.Load()
	}
	return st.listensOn(ip, port)
}

// interfaceAddrs lists the host's interface addresses.
func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range addrs {
		if p, perr := netip.ParsePrefix(a.String()); perr == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, err
}
