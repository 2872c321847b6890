package geo

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// HostsFile is a static table of names and addresses in /etc/hosts
// format, answered before DNS. It is for trials and labs with no resolver
// to configure (a city's lab without Internet access): a name it lists
// resolves to its addresses, which then go through the guard and the
// classification like any DNS answer.
type HostsFile struct {
	path  string
	names map[string][]netip.Addr
}

// LoadHostsFile reads a hosts file: lines "ADDRESS NAME [NAME...]", with
// comments after '#'. A malformed line is an error naming the file and the
// line.
func LoadHostsFile(path string) (*HostsFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	return ParseHostsFile(path, raw)
}

// ParseHostsFile parses the content of a hosts file; path only names it in
// errors. Names are canonicalised as the resolver does (lower case, no
// trailing dot, punycode); a name listed on several lines gets the
// addresses of all of them, in order.
func ParseHostsFile(path string, raw []byte) (*HostsFile, error) {
	h := &HostsFile{path: path, names: map[string][]netip.Addr{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want ADDRESS NAME [NAME...]", path, line)
		}
		addr, err := netip.ParseAddr(fields[0])
		if err != nil || addr.Zone() != "" {
			return nil, fmt.Errorf("%s:%d: %q is not an IP address", path, line, fields[0])
		}
		addr = addr.Unmap()
		for _, raw := range fields[1:] {
			name, ip, err := CanonicalHost(raw)
			if err != nil || ip.IsValid() {
				return nil, fmt.Errorf("%s:%d: %q is not a host name", path, line, raw)
			}
			h.names[name] = append(h.names[name], addr)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return h, nil
}

// Lookup returns the addresses listed for a canonical name.
func (h *HostsFile) Lookup(name string) ([]netip.Addr, bool) {
	if h == nil {
		return nil, false
	}
	addrs, ok := h.names[name]
	return addrs, ok
}

// Path is the file the table was read from.
func (h *HostsFile) Path() string { return h.path }

// Len is the number of names listed.
func (h *HostsFile) Len() int { return len(h.names) }
