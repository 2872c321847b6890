package geo

import (
	"compress/gzip"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phuslu/iploc"
)

// The embedded IPv6 table must answer exactly as iploc does for every
// address that is not IPv4-mapped. Both are step functions of the address,
// so they agree everywhere when they agree at every range start of either
// table and at the address just before it.
func TestCountryV6MatchesIPLoc(t *testing.T) {
	table, err := countryV6()
	if err != nil {
		t.Fatal(err)
	}
	var boundaries []netip.Addr
	for i := 0; i < len(table.codes)/2; i++ {
		boundaries = append(boundaries, netip.AddrFrom16([16]byte(table.starts[16*i:16*i+16])))
	}
	iplocStarts := iplocV6Starts(t)
	for i := 0; i < len(iplocStarts)/16; i++ {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], binary.LittleEndian.Uint64(iplocStarts[16*i:]))
		binary.BigEndian.PutUint64(a[8:], binary.LittleEndian.Uint64(iplocStarts[16*i+8:]))
		boundaries = append(boundaries, netip.AddrFrom16(a))
	}
	checked := 0
	for _, b := range boundaries {
		for _, ip := range []netip.Addr{b, b.Prev(), b.Next()} {
			if !ip.IsValid() || ip.Is4In6() {
				continue
			}
			if got, want := table.lookup(ip), iploc.IPCountry(ip); got != want {
				t.Fatalf("%s: embedded table says %q, iploc %s says %q", ip, got, iploc.Version, want)
			}
			checked++
		}
	}
	if checked < 1_000_000 {
		t.Fatalf("checked only %d addresses; the tables look truncated", checked)
	}
	t.Logf("%d IPv6 ranges, %d addresses checked against iploc %s", len(table.codes)/2, checked, iploc.Version)
}

// iplocV6Starts reads iploc's own IPv6 range starts (little-endian pairs of
// uint64) from the module the build uses.
func iplocV6Starts(t *testing.T) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/phuslu/iploc").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/phuslu/iploc: %v", err)
	}
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(out)), "ipv6le.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCountryV6Rejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":       nil,
		"wrong magic": []byte("XXXX\x00" + strings.Repeat("\x00", 11)),
		"torn range":  append([]byte("SGC6\x00"+strings.Repeat("\x00", 11)), make([]byte, 17)...),
		"old version": append([]byte("SGC6\x07v0.0.01"+strings.Repeat("\x00", 4)), make([]byte, 18)...),
	} {
		if _, err := parseCountryV6(b); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// A lookup reads the embedded bytes and allocates nothing.
func BenchmarkCountryV6Lookup(b *testing.B) {
	table, err := countryV6()
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("2a01:cb00:1234::1")
	b.ReportAllocs()
	for b.Loop() {
		if table.lookup(ip) == "" {
			b.Fatal("no country")
		}
	}
}
