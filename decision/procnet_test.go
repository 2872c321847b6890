package decision

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// procLine writes a line of /proc/net/tcp{,6} as the kernel does: each
// 32-bit word of the address in host byte order, the port in network order.
func procLine(addr netip.AddrPort, state string, inode int) string {
	b := addr.Addr().AsSlice()
	var hexAddr string
	for i := 0; i < len(b); i += 4 {
		var word [4]byte
		binary.BigEndian.PutUint32(word[:], binary.NativeEndian.Uint32(b[i:i+4]))
		hexAddr += strings.ToUpper(hex.EncodeToString(word[:]))
	}
	return fmt.Sprintf("   0: %s:%04X 00000000:0000 %s 00000000:00000000 00:00000000 00000000   106        0 %d 1 000000002b285ebb 100 0 0 10 0",
		hexAddr, addr.Port(), state, inode)
}

func TestParseProcNetTCP(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
	lines := []string{
		header,
		procLine(netip.MustParseAddrPort("127.0.0.1:2019"), "0A", 11),
		procLine(netip.MustParseAddrPort("0.0.0.0:3128"), "0A", 12),
		procLine(netip.MustParseAddrPort("10.20.0.5:9180"), "0A", 13),
		procLine(netip.MustParseAddrPort("10.20.0.5:5432"), "0A", 99),  // another process's
		procLine(netip.MustParseAddrPort("10.20.0.5:40000"), "01", 14), // established, not listening
		procLine(netip.MustParseAddrPort("[2001:db8::1]:443"), "0A", 15),
		procLine(netip.MustParseAddrPort("[::ffff:10.20.0.6]:8443"), "0A", 16),
		"garbage", "   1: ZZ:0000 00000000:0000 0A x x x x x 17",
	}
	owned := map[uint64]struct{}{11: {}, 12: {}, 13: {}, 14: {}, 15: {}, 16: {}, 17: {}}
	got := parseProcNetTCP(strings.Join(lines, "\n"), owned)
	want := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:2019"),
		netip.MustParseAddrPort("0.0.0.0:3128"),
		netip.MustParseAddrPort("10.20.0.5:9180"),
		netip.MustParseAddrPort("[2001:db8::1]:443"),
		netip.MustParseAddrPort("10.20.0.6:8443"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if all := parseProcNetTCP(strings.Join(lines, "\n"), nil); len(all) != 6 {
		t.Errorf("without an inode filter: %v", all)
	}
}

// TestProcessListeners: a listener this process opens is found, on the
// real system.
func TestProcessListeners(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the listening sockets are read from /proc")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addrs, err := ProcessListeners()
	if err != nil {
		t.Fatal(err)
	}
	mine := netip.MustParseAddrPort(ln.Addr().String())
	if !slices.Contains(addrs, mine) {
		t.Fatalf("%v not among %v", mine, addrs)
	}
}

// FuzzParseProcNetTCP: whatever the table holds, the parser returns
// addresses of listening lines only, without panicking.
func FuzzParseProcNetTCP(f *testing.F) {
	f.Add("   0: 0100007F:07E3 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 11 1 0 100 0 0 10 0")
	f.Add("   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 0 0 0 0 0 12")
	f.Add("   0: 0100007F:07E3 00000000:0000 01 0 0 0 0 0 13\n x")
	f.Add("0: :: 0A 1 2 3 4 5 6")
	f.Fuzz(func(t *testing.T, table string) {
		for _, ap := range parseProcNetTCP(table, nil) {
			if !ap.Addr().IsValid() || ap.Addr().Is4In6() {
				t.Fatalf("returned %v", ap)
			}
		}
	})
}
