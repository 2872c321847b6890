package decision

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// tcpListen is the state of a listening socket in /proc/net/tcp ("0A").
const tcpListen = "0A"

// parseProcNetTCP reads the socket table of /proc/net/tcp or tcp6 and
// returns the local addresses of the sockets in the listen state whose
// inode is in owned (nil: every listening socket). Lines it cannot read
// are skipped: the table is the kernel's, and a partial answer is better
// than none.
//
// A line reads "sl local_address rem_address st ... uid timeout inode":
// addresses are hexadecimal, the address as the kernel's 32-bit words in
// host byte order, the port in network order ("0100007F:0CEA" is
// 127.0.0.1:3306 on a little-endian host).
func parseProcNetTCP(table string, owned map[uint64]struct{}) []netip.AddrPort {
	var out []netip.AddrPort
	for line := range strings.SplitSeq(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		if owned != nil {
			inode, err := strconv.ParseUint(f[9], 10, 64)
			if err != nil {
				continue
			}
			if _, ok := owned[inode]; !ok {
				continue
			}
		}
		if ap, ok := parseProcAddr(f[1]); ok {
			out = append(out, ap)
		}
	}
	return out
}

// parseProcAddr reads "ADDR:PORT" of the socket table.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok || len(hexPort) != 4 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	// Each 32-bit word was printed as a host-order integer: put it back in
	// memory order, which is network order.
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:i+4]))
	}
	var ip netip.Addr
	if len(raw) == 4 {
		ip = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		ip = netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrPortFrom(ip, uint16(port)), true
}
