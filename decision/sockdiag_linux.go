package decision

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listeningSocket is a TCP socket in the listen state of the network
// namespace, as the kernel reports it.
type listeningSocket struct {
	addr  netip.AddrPort
	inode uint64
}

// The kernel's socket diagnostics (sock_diag, linux/inet_diag.h): a dump
// request asks for the TCP sockets of one family in the given states, and
// the kernel walks only the listening table when only the listen state is
// asked for. Reading /proc/net/tcp instead prints every socket of the
// namespace, established and TIME_WAIT ones included: on a busy gateway,
// hundreds of thousands of lines each time.
const (
	tcpListenState = 10 // TCP_LISTEN, include/net/tcp_states.h
	// sizeofInetDiagReqV2 is struct inet_diag_req_v2: family, protocol,
	// ext, pad (4 bytes), states (4), then struct inet_diag_sockid (48).
	sizeofInetDiagReqV2 = 56
	// sizeofInetDiagMsg is struct inet_diag_msg: family, state, timer,
	// retrans (4 bytes), inet_diag_sockid (48), expires, rqueue, wqueue,
	// uid, inode (4 each).
	sizeofInetDiagMsg = 72
)

// diagBufferSize holds one read of the dump: the kernel fills it with as
// many messages as fit (a variable, so the buffer is not on the stack).
var diagBufferSize = 32 << 10

// sockDiagListeners lists the listening TCP sockets of the network
// namespace, IPv4 then IPv6, through a NETLINK_SOCK_DIAG dump.
func sockDiagListeners() ([]listeningSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("opening a sock_diag netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("binding a sock_diag netlink socket: %w", err)
	}
	var out []listeningSocket
	// On the heap: a buffer this size on the stack would grow the stack
	// of the request that happens to rescan.
	buf := make([]byte, diagBufferSize)
	for seq, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := sendDiagRequest(fd, uint32(seq+1), family); err != nil {
			return nil, err
		}
		out, err = readDiagDump(fd, uint32(seq+1), buf, out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sendDiagRequest asks for a dump of family's TCP sockets in the listen
// state.
func sendDiagRequest(fd int, seq uint32, family uint8) error {
	var msg [unix.SizeofNlMsghdr + sizeofInetDiagReqV2]byte
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&msg[0]))
	hdr.Len = uint32(len(msg))
	hdr.Type = unix.SOCK_DIAG_BY_FAMILY
	hdr.Flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	hdr.Seq = seq
	req := msg[unix.SizeofNlMsghdr:]
	req[0] = family
	req[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[4:8], 1<<tcpListenState)
	if err := unix.Sendto(fd, msg[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending a sock_diag request: %w", err)
	}
	return nil
}

// readDiagDump reads the answer to request seq until NLMSG_DONE,
// appending its sockets to out.
func readDiagDump(fd int, seq uint32, buf []byte, out []listeningSocket) ([]listeningSocket, error) {
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading a sock_diag answer: %w", err)
		}
		data := buf[:n]
		for len(data) >= unix.SizeofNlMsghdr {
			hdr := (*unix.NlMsghdr)(unsafe.Pointer(&data[0]))
			size := int(hdr.Len)
			if size < unix.SizeofNlMsghdr || size > len(data) {
				return nil, errors.New("reading a sock_diag answer: truncated message")
			}
			body := data[unix.SizeofNlMsghdr:size]
			data = data[nlmAlign(size):]
			if hdr.Seq != seq {
				continue
			}
			switch hdr.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(body) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(body[:4])); errno != 0 {
						return nil, fmt.Errorf("sock_diag: %w", unix.Errno(-errno))
					}
				}
				return out, nil
			case unix.SOCK_DIAG_BY_FAMILY:
				if s, ok := parseInetDiagMsg(body); ok {
					out = append(out, s)
				}
			}
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// parseInetDiagMsg reads a struct inet_diag_msg: the socket's family,
// state, local port (network order) and address, and inode.
func parseInetDiagMsg(b []byte) (listeningSocket, bool) {
	if len(b) < sizeofInetDiagMsg || b[1] != tcpListenState {
		return listeningSocket{}, false
	}
	port := binary.BigEndian.Uint16(b[4:6])
	var ip netip.Addr
	switch b[0] {
	case unix.AF_INET:
		ip = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.AF_INET6:
		ip = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	default:
		return listeningSocket{}, false
	}
	inode := binary.NativeEndian.Uint32(b[68:72])
	return listeningSocket{addr: netip.AddrPortFrom(ip, port), inode: uint64(inode)}, true
}
