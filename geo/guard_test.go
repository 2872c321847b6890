package geo_test

import (
	"net/netip"
	"testing"

	"github.com/sovgate/sovgate/geo"
)

func TestGuardBoundaries(t *testing.T) {
	g := geo.NewGuard(nil)
	tests := []struct {
		ip       string
		category string // "" = public
		refused  bool
	}{
		// 0.0.0.0/8
		{"0.0.0.0", geo.CategoryUnspecified, true},
		{"0.255.255.255", geo.CategoryThisNetwork, true},
		{"1.0.0.0", "", false},
		// 10.0.0.0/8
		{"9.255.255.255", "", false},
		{"10.0.0.0", geo.CategoryPrivate, true},
		{"10.255.255.255", geo.CategoryPrivate, true},
		{"11.0.0.0", "", false},
		// 100.64.0.0/10
		{"100.63.255.255", "", false},
		{"100.64.0.0", geo.CategoryCGNAT, true},
		{"100.127.255.255", geo.CategoryCGNAT, true},
		{"100.128.0.0", "", false},
		// 127.0.0.0/8
		{"126.255.255.255", "", false},
		{"127.0.0.1", geo.CategoryLoopback, true},
		{"127.255.255.255", geo.CategoryLoopback, true},
		{"128.0.0.0", "", false},
		// 169.254.0.0/16, cloud metadata
		{"169.253.255.255", "", false},
		{"169.254.0.0", geo.CategoryLinkLocal, true},
		{"169.254.169.254", geo.CategoryLinkLocal, true},
		{"169.254.255.255", geo.CategoryLinkLocal, true},
		{"169.255.0.0", "", false},
		// 172.16.0.0/12
		{"172.15.255.255", "", false},
		{"172.16.0.0", geo.CategoryPrivate, true},
		{"172.31.255.255", geo.CategoryPrivate, true},
		{"172.32.0.0", "", false},
		// 192.0.0.0/24, documentation 192.0.2.0/24
		{"191.255.255.255", "", false},
		{"192.0.0.0", geo.CategoryIETFProtocol, true},
		{"192.0.0.255", geo.CategoryIETFProtocol, true},
		{"192.0.1.0", "", false},
		{"192.0.2.1", "", false},
		// 192.168.0.0/16
		{"192.167.255.255", "", false},
		{"192.168.0.0", geo.CategoryPrivate, true},
		{"192.168.255.255", geo.CategoryPrivate, true},
		{"192.169.0.0", "", false},
		// 198.18.0.0/15, documentation 198.51.100.0/24 and 203.0.113.0/24
		{"198.17.255.255", "", false},
		{"198.18.0.0", geo.CategoryBenchmarking, true},
		{"198.19.255.255", geo.CategoryBenchmarking, true},
		{"198.20.0.0", "", false},
		{"198.51.100.7", "", false},
		{"203.0.113.7", "", false},
		// 224.0.0.0/4, 240.0.0.0/4, broadcast
		{"223.255.255.255", "", false},
		{"224.0.0.0", geo.CategoryMulticast, true},
		{"239.255.255.255", geo.CategoryMulticast, true},
		{"240.0.0.0", geo.CategoryReserved, true},
		{"255.255.255.254", geo.CategoryReserved, true},
		{"255.255.255.255", geo.CategoryBroadcast, true},
		// Public examples
		{"8.8.8.8", "", false},
		{"2606:4700::1111", "", false},
		{"2001:db8::1", "", false}, // documentation
		// IPv6 special ranges
		{"::", geo.CategoryUnspecified, true},
		{"::1", geo.CategoryLoopback, true},
		{"::2", geo.CategoryIPv4Compatible, true}, // embeds 0.0.0.2
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryReserved, true},
		{"fc00::", geo.CategoryULA, true},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryULA, true},
		{"fe00::", geo.CategoryReserved, true},
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryReserved, true},
		{"fe80::", geo.CategoryLinkLocal, true},
		{"fe80::1%eth0", geo.CategoryLinkLocal, true},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryLinkLocal, true},
		{"fec0::", geo.CategorySiteLocal, true},
		{"ff00::", geo.CategoryMulticast, true},
		{"ff02::1", geo.CategoryMulticast, true},
		{"100::", geo.CategoryDiscard, true},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryReserved, true},
		{"2000::", "", false},
		{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", false},
		{"4000::", geo.CategoryReserved, true},
		// IPv4-mapped: the embedded address decides
		{"::ffff:127.0.0.1", geo.CategoryIPv4Mapped, true},
		{"::ffff:10.1.2.3", geo.CategoryIPv4Mapped, true},
		{"::ffff:169.254.169.254", geo.CategoryIPv4Mapped, true},
		{"::ffff:8.8.8.8", geo.CategoryIPv4Mapped, false},
		// NAT64 64:ff9b::/96 (last 32 bits)
		{"64:ff9b::7f00:1", geo.CategoryNAT64, true},    // 127.0.0.1
		{"64:ff9b::a9fe:a9fe", geo.CategoryNAT64, true}, // 169.254.169.254
		{"64:ff9b::c0a8:101", geo.CategoryNAT64, true},  // 192.168.1.1
		{"64:ff9b::808:808", geo.CategoryNAT64, false},  // 8.8.8.8
		{"64:ff9b:1::808:808", geo.CategoryNAT64, true}, // local-use prefix: refused whole
		{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", geo.CategoryReserved, true},
		// 6to4 2002::/16 (bits 16-47)
		{"2002:7f00:1::1", geo.Category6to4, true},   // 127.0.0.1
		{"2002:a00:1::", geo.Category6to4, true},     // 10.0.0.1
		{"2002:6440:1::", geo.Category6to4, true},    // 100.64.0.1
		{"2002:808:808::1", geo.Category6to4, false}, // 8.8.8.8
		{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", false},
		{"2003::", "", false},
		// Teredo 2001::/32: client = NOT last 32 bits
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", geo.CategoryTeredo, true},  // client 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", geo.CategoryTeredo, true},  // client 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", geo.CategoryTeredo, false}, // client 8.8.8.8
		{"2001:1::1", "", false},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		cat, refused := g.Check(ip)
		if cat != tt.category || refused != tt.refused {
			t.Errorf("Check(%s) = %q, %v; want %q, %v", tt.ip, cat, refused, tt.category, tt.refused)
		}
	}
	if cat, refused := g.Check(netip.Addr{}); cat != geo.CategoryInvalid || !refused {
		t.Errorf("Check(zero Addr) = %q, %v", cat, refused)
	}
}

func TestGuardAllowPrivate(t *testing.T) {
	g := geo.NewGuard([]netip.Prefix{
		netip.MustParsePrefix("10.20.1.0/16"), // masked to 10.20.0.0/16
		netip.MustParsePrefix("fd00:1::/32"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120"), // unmapped to 192.168.7.0/24
	})
	tests := []struct {
		ip       string
		category string
		refused  bool
	}{
		{"10.20.0.0", geo.CategoryPrivate, false},
		{"10.20.255.255", geo.CategoryPrivate, false},
		{"10.19.255.255", geo.CategoryPrivate, true},
		{"10.21.0.0", geo.CategoryPrivate, true},
		{"fd00:1::5", geo.CategoryULA, false},
		{"fd00:2::5", geo.CategoryULA, true},
		{"192.168.7.9", geo.CategoryPrivate, false},
		{"192.168.8.9", geo.CategoryPrivate, true},
		// Embedded addresses inside an allowed prefix pass too.
		{"::ffff:10.20.3.4", geo.CategoryIPv4Mapped, false},
		{"64:ff9b::a14:304", geo.CategoryNAT64, false}, // 10.20.3.4
		{"2002:a14:304::", geo.Category6to4, false},    // 10.20.3.4
		{"64:ff9b::a15:304", geo.CategoryNAT64, true},  // 10.21.3.4
		{"127.0.0.1", geo.CategoryLoopback, true},
	}
	for _, tt := range tests {
		cat, refused := g.Check(netip.MustParseAddr(tt.ip))
		if cat != tt.category || refused != tt.refused {
			t.Errorf("Check(%s) = %q, %v; want %q, %v", tt.ip, cat, refused, tt.category, tt.refused)
		}
	}
	if got := len(g.AllowPrivate()); got != 3 {
		t.Errorf("AllowPrivate() has %d prefixes", got)
	}
}

func TestEmbeddedIPv4(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"::ffff:1.2.3.4", "1.2.3.4"},
		{"64:ff9b::102:304", "1.2.3.4"},
		{"2002:102:304::1", "1.2.3.4"},
		{"2001:0:4136:e378:8000:63bf:fefd:fcfb", "1.2.3.4"},
		{"2001:db8::1", ""},
		{"64:ff9b:1::102:304", ""},
		{"1.2.3.4", ""},
	}
	for _, tt := range tests {
		got, ok := geo.EmbeddedIPv4(netip.MustParseAddr(tt.ip))
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("EmbeddedIPv4(%s) = %v, %v; want %q", tt.ip, got, ok, tt.want)
		}
	}
}

func TestGuardCheckAllocationFree(t *testing.T) {
	g := geo.NewGuard([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	ips := addrs("8.8.8.8", "10.1.1.1", "2002:7f00:1::1", "fe80::1")
	allocs := testing.AllocsPerRun(100, func() {
		for _, ip := range ips {
			g.Check(ip)
		}
	})
	if allocs != 0 {
		t.Errorf("Check allocates %v times", allocs)
	}
}

func BenchmarkGuardCheck(b *testing.B) {
	g := geo.NewGuard(nil)
	ips := addrs("203.0.113.7", "2001:db8::7", "64:ff9b::808:808")
	b.ReportAllocs()
	for b.Loop() {
		for _, ip := range ips {
			g.Check(ip)
		}
	}
}
