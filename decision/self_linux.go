package decision

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ProcessListeners lists the TCP sockets this process has in the listen
// state: the inodes of the sockets among its open descriptors
// (/proc/self/fd), matched with the listening sockets of its network
// namespace (/proc/self/net/tcp and tcp6). A wildcard listener is listed
// with the unspecified address.
func ProcessListeners() ([]netip.AddrPort, error) {
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
