package decision

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSockDiagListeners: the kernel's dump lists this process's listeners,
// IPv4 and IPv6, with their inodes, and no established connection; it
// agrees with the socket tables of /proc.
func TestSockDiagListeners(t *testing.T) {
	ln4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	want := map[netip.AddrPort]uint64{netip.MustParseAddrPort(ln4.Addr().String()): tcpInode(t, ln4.(*net.TCPListener))}
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		defer ln6.Close()
		want[netip.MustParseAddrPort(ln6.Addr().String())] = tcpInode(t, ln6.(*net.TCPListener))
	}
	// An established connection to the IPv4 listener: not listed.
	client, err := net.Dial("tcp", ln4.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	clientAddr := netip.MustParseAddrPort(client.LocalAddr().String())

	sockets, err := sockDiagListeners()
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.AddrPort]uint64{}
	for _, s := range sockets {
		if s.addr == clientAddr {
			t.Errorf("the established connection %v is listed", clientAddr)
		}
		if _, ok := want[s.addr]; ok {
			got[s.addr] = s.inode
		}
	}
	for addr, inode := range want {
		if got[addr] != inode {
			t.Errorf("%v: inode %d, want %d (listed: %v)", addr, got[addr], inode, sockets)
		}
	}

	// The same listeners as the /proc tables say.
	viaProc, err := procListeners()
	if err != nil {
		t.Fatal(err)
	}
	viaDiag, err := ProcessListeners()
	if err != nil {
		t.Fatal(err)
	}
	sortAddrs := func(a []netip.AddrPort) { slices.SortFunc(a, func(x, y netip.AddrPort) int { return x.Compare(y) }) }
	sortAddrs(viaProc)
	sortAddrs(viaDiag)
	if !slices.Equal(viaProc, viaDiag) {
		t.Errorf("sock_diag says %v, /proc says %v", viaDiag, viaProc)
	}
}

func tcpInode(t testing.TB, ln *net.TCPListener) uint64 {
	t.Helper()
	raw, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var statErr error
	if err := raw.Control(func(fd uintptr) { statErr = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if statErr != nil {
		t.Fatal(statErr)
	}
	return st.Ino
}

// TestListenerOwnersWalksOnlyForNewSockets: the process's descriptors are
// walked again only when a listening socket appears that the last walk did
// not classify; a socket that stops listening is forgotten.
func TestListenerOwnersWalksOnlyForNewSockets(t *testing.T) {
	var o listenerOwners
	walks := 0
	fds := map[uint64]struct{}{1: {}, 3: {}}
	walk := func() (map[uint64]struct{}, error) { walks++; return fds, nil }
	a := netip.MustParseAddrPort("127.0.0.1:2019")
	b := netip.MustParseAddrPort("0.0.0.0:3128")
	c := netip.MustParseAddrPort("10.0.0.1:5432")
	d := netip.MustParseAddrPort("[::]:9180")
	sockets := []listeningSocket{{a, 1}, {b, 3}, {c, 2}}

	check := func(step string, sockets []listeningSocket, want []netip.AddrPort, wantWalks int) {
		t.Helper()
		got, err := o.own(sockets, walk)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || walks != wantWalks {
			t.Errorf("%s: %v after %d walks, want %v after %d", step, got, walks, want, wantWalks)
		}
	}
	check("first", sockets, []netip.AddrPort{a, b}, 1)
	check("nothing new", sockets, []netip.AddrPort{a, b}, 1)
	// A new listener of the process appears.
	fds[4] = struct{}{}
	check("new own listener", append(sockets, listeningSocket{d, 4}), []netip.AddrPort{a, b, d}, 2)
	// Another process's listener closes: no walk, and it is forgotten.
	check("one closed", []listeningSocket{{a, 1}, {b, 3}, {d, 4}}, []netip.AddrPort{a, b, d}, 2)
	// Its inode comes back as one of this process's sockets: walked again.
	fds[2] = struct{}{}
	check("inode reused", []listeningSocket{{a, 1}, {c, 2}}, []netip.AddrPort{a, c}, 3)

	// A failed walk forgets everything: the next call walks again.
	failing := func() (map[uint64]struct{}, error) { walks++; return nil, errors.New("no /proc") }
	if _, err := o.own([]listeningSocket{{a, 9}}, failing); err == nil {
		t.Fatal("a failed walk returned no error")
	}
	check("after a failed walk", []listeningSocket{{a, 1}}, []netip.AddrPort{a}, 5)
}

// TestParseInetDiagMsg: the fields of struct inet_diag_msg are read where
// the kernel puts them; other states, families and short messages are
// skipped.
func TestParseInetDiagMsg(t *testing.T) {
	msg := func(family, state uint8, port uint16, ip netip.Addr, inode uint32) []byte {
		b := make([]byte, sizeofInetDiagMsg)
		b[0], b[1] = family, state
		binary.BigEndian.PutUint16(b[4:6], port)
		copy(b[8:24], ip.AsSlice())
		binary.NativeEndian.PutUint32(b[68:72], inode)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want listeningSocket
		ok   bool
	}{
		{"IPv4", msg(unix.AF_INET, tcpListenState, 3128, netip.MustParseAddr("10.20.0.5"), 77),
			listeningSocket{netip.MustParseAddrPort("10.20.0.5:3128"), 77}, true},
		{"IPv6", msg(unix.AF_INET6, tcpListenState, 443, netip.MustParseAddr("2001:db8::1"), 78),
			listeningSocket{netip.MustParseAddrPort("[2001:db8::1]:443"), 78}, true},
		{"IPv4-mapped", msg(unix.AF_INET6, tcpListenState, 8443, netip.MustParseAddr("::ffff:10.20.0.6"), 79),
			listeningSocket{netip.MustParseAddrPort("10.20.0.6:8443"), 79}, true},
		{"wildcard", msg(unix.AF_INET6, tcpListenState, 2019, netip.IPv6Unspecified(), 80),
			listeningSocket{netip.MustParseAddrPort("[::]:2019"), 80}, true},
		{"established", msg(unix.AF_INET, 1, 40000, netip.MustParseAddr("10.20.0.5"), 81), listeningSocket{}, false},
		{"unknown family", msg(99, tcpListenState, 1, netip.MustParseAddr("10.20.0.5"), 82), listeningSocket{}, false},
		{"short", msg(unix.AF_INET, tcpListenState, 1, netip.MustParseAddr("10.20.0.5"), 83)[:40], listeningSocket{}, false},
	} {
		got, ok := parseInetDiagMsg(tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// BenchmarkProcessListeners: what a rescan of the listening sockets costs
// with 2,000 loopback connections open in the process (4,000 sockets in
// the namespace's tables, 4,000 descriptors): through sock_diag, which
// walks the descriptors only when a listener appears, and through the
// /proc tables, which print every socket and need every descriptor read.
func BenchmarkProcessListeners(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 2000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2000 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			b.Skipf("opening connections: %v (raise the descriptor limit)", err)
		}
		conns = append(conns, c, <-accepted)
	}
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if _, err := ProcessListeners(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if _, err := procListeners(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
