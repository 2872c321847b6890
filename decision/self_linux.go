package decision

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ProcessListeners lists the TCP sockets this process has in the listen
// state. The kernel lists the listening sockets of the network namespace
// (sock_diag, see sockDiagListeners: it walks the listening table only,
// however many connections the host has); those among the process's open
// descriptors (/proc/self/fd) are this process's. Where sock_diag is not
// available (a sandbox that forbids netlink), the namespace's socket
// tables /proc/self/net/tcp and tcp6 are read instead. A wildcard listener
// is listed with the unspecified address.
func ProcessListeners() ([]netip.AddrPort, error) {
	sockets, err := sockDiagListeners()
	if err != nil {
		return procListeners()
	}
	return processOwners.own(sockets, func() (map[uint64]struct{}, error) { return socketInodes("/proc/self/fd") })
}

// processOwners remembers which listening sockets are this process's, so
// that the descriptors are walked again only when a listening socket
// appears that the last walk did not see: with thousands of tunnels open,
// a walk reads thousands of links.
var processOwners listenerOwners

type listenerOwners struct {
	mu sync.Mutex
	// owned tells, for each socket listening at the last call (by inode),
	// whether it is one of the process's descriptors. Only listening
	// sockets are kept, and an inode is unique among live sockets, so a
	// closed socket's number reused by a new one is never taken for the
	// old.
	owned map[uint64]bool
}

// own returns the addresses of the sockets that are the process's; walk
// lists the inodes of its socket descriptors.
func (o *listenerOwners) own(sockets []listeningSocket, walk func() (map[uint64]struct{}, error)) ([]netip.AddrPort, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	owned := make(map[uint64]bool, len(sockets))
	known := true
	for _, s := range sockets {
		mine, ok := o.owned[s.inode]
		if !ok {
			known = false
			break
		}
		owned[s.inode] = mine
	}
	if !known {
		inodes, err := walk()
		if err != nil {
			o.owned = nil
			return nil, err
		}
		for _, s := range sockets {
			_, mine := inodes[s.inode]
			owned[s.inode] = mine
		}
	}
	o.owned = owned
	var out []netip.AddrPort
	for _, s := range sockets {
		if owned[s.inode] {
			out = append(out, s.addr)
		}
	}
	return out, nil
}

// procListeners reads the listening sockets of the process from the
// namespace's socket tables: the fallback of ProcessListeners.
func procListeners() ([]netip.AddrPort, error) {
	inodes, err := socketInodes("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	var firstErr error
	for _, table := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		raw, err := os.ReadFile(table)
		if err != nil {
			if firstErr == nil && !os.IsNotExist(err) {
				firstErr = fmt.Errorf("reading %s: %w", table, err)
			}
			continue
		}
		out = append(out, parseProcNetTCP(string(raw), inodes)...)
	}
	return out, firstErr
}

// socketInodes returns the inodes of the sockets among the descriptors in
// dir (each a symbolic link to "socket:[INODE]").
func socketInodes(dir string) (map[uint64]struct{}, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	inodes := make(map[uint64]struct{})
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed since the listing
		}
		if rest, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				inodes[n] = struct{}{}
			}
		}
	}
	return inodes, nil
}
