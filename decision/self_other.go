//go:build !linux

package decision

import (
	"errors"
	"net/netip"
)

// ProcessListeners is not available where the operating system offers no
// portable way to list a process's listening sockets: the listeners the
// host declares (AddListeners) are then the only ones refused.
func ProcessListeners() ([]netip.AddrPort, error) {
	return nil, errors.ErrUnsupported
}
