package geo

import "net/netip"

// Guard categories. A category names why an address is not an ordinary
// public unicast address; Check refuses every categorised address unless an
// allow_private prefix covers it.
const (
	CategoryUnspecified    = "unspecified"     // 0.0.0.0, ::
	CategoryThisNetwork    = "this-network"    // 0.0.0.0/8
	CategoryLoopback       = "loopback"        // 127.0.0.0/8, ::1
	CategoryPrivate        = "private"         // RFC 1918
	CategoryCGNAT          = "cgnat"           // 100.64.0.0/10 (RFC 6598)
	CategoryLinkLocal      = "link-local"      // 169.254.0.0/16 (cloud metadata 169.254.169.254), fe80::/10
	CategoryIETFProtocol   = "ietf-protocol"   // 192.0.0.0/24 (RFC 6890)
	CategoryBenchmarking   = "benchmarking"    // 198.18.0.0/15 (RFC 2544)
	CategoryMulticast      = "multicast"       // 224.0.0.0/4, ff00::/8
	CategoryReserved       = "reserved"        // 240.0.0.0/4; IPv6 outside 2000::/3 not listed otherwise
	CategoryBroadcast      = "broadcast"       // 255.255.255.255
	CategoryULA            = "ula"             // fc00::/7
	CategorySiteLocal      = "site-local"      // fec0::/10 (deprecated)
	CategoryIPv4Mapped     = "ipv4-mapped"     // ::ffff:0:0/96
	CategoryIPv4Compatible = "ipv4-compatible" // ::/96 (deprecated)
	CategoryNAT64          = "nat64"           // 64:ff9b::/96, 64:ff9b:1::/48
	Category6to4           = "6to4"            // 2002::/16
	CategoryTeredo         = "teredo"          // 2001::/32
	CategoryDiscard        = "discard"         // 100::/64
	CategoryInvalid        = "invalid"         // the zero netip.Addr
)

// Guard refuses destinations inside the city's own network or the proxy's
// host: without it, an app (or an attacker who controls a DNS answer) could
// use the egress proxy to reach internal services or the cloud metadata
// endpoint. It is applied to every vetted address, after resolution and
// before anything is dialled.
//
// Documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
// 2001:db8::/32) are deliberately not refused: they are not routed, so
// dialling them is harmless, and tests and documentation use them as public
// examples.
//
// A Guard is immutable and safe for concurrent use.
type Guard struct {
	allow []netip.Prefix
}

// NewGuard returns a Guard that lets through the addresses (or the embedded
// IPv4 address of a NAT64, 6to4, Teredo or IPv4-mapped address) inside one of
// the allowPrivate prefixes. Prefixes are masked, so 10.20.1.0/16 means
// 10.20.0.0/16; IPv4-mapped prefixes are unmapped.
func NewGuard(allowPrivate []netip.Prefix) *Guard {
	g := &Guard{}
	for _, p := range allowPrivate {
		if !p.IsValid() {
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g
}

// AllowPrivate returns the allowed prefixes (masked), for the status page.
func (g *Guard) AllowPrivate() []netip.Prefix {
	return append([]netip.Prefix(nil), g.allow...)
}

// Check classifies ip. category is "" for an ordinary public address; for
// anything else it names the range (see the Category constants; an address
// embedding an IPv4 address gets the embedding's category, e.g. "nat64").
// refused is true when the address must not be dialled: it has a category
// and no allow_private prefix covers it (or its embedded IPv4 address).
// An embedding whose IPv4 address is public is reported with its category
// but not refused. Check does not allocate.
func (g *Guard) Check(ip netip.Addr) (category string, refused bool) {
	if !ip.IsValid() {
		return CategoryInvalid, true
	}
	ip = ip.WithZone("")
	if ip.Is4() {
		category = ipv4Category(ip)
		if category == "" {
			return "", false
		}
		return category, !g.allowed(ip)
	}
	category = ipv6Category(ip)
	if category == "" {
		return "", false
	}
	if g.allowed(ip) {
		return category, false
	}
	if v4, ok := EmbeddedIPv4(ip); ok {
		if ipv4Category(v4) == "" || g.allowed(v4) {
			return category, false
		}
		return category, true
	}
	return category, true
}

func (g *Guard) allowed(ip netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipv4Category returns the category of a (non-mapped) IPv4 address.
func ipv4Category(ip netip.Addr) string {
	b := ip.As4()
	switch {
	case b == [4]byte{}:
		return CategoryUnspecified
	case b[0] == 0:
		return CategoryThisNetwork
	case b[0] == 10:
		return CategoryPrivate
	case b[0] == 100 && b[1]&0xc0 == 64: // 100.64.0.0/10
		return CategoryCGNAT
	case b[0] == 127:
		return CategoryLoopback
	case b[0] == 169 && b[1] == 254:
		return CategoryLinkLocal
	case b[0] == 172 && b[1]&0xf0 == 16: // 172.16.0.0/12
		return CategoryPrivate
	case b[0] == 192 && b[1] == 0 && b[2] == 0:
		return CategoryIETFProtocol
	case b[0] == 192 && b[1] == 168:
		return CategoryPrivate
	case b[0] == 198 && b[1]&0xfe == 18: // 198.18.0.0/15
		return CategoryBenchmarking
	case b[0]&0xf0 == 224: // 224.0.0.0/4
		return CategoryMulticast
	case b == [4]byte{255, 255, 255, 255}:
		return CategoryBroadcast
	case b[0]&0xf0 == 240: // 240.0.0.0/4
		return CategoryReserved
	}
	return ""
}

// ipv6Category returns the category of a 16-byte address, "" for ordinary
// global unicast (2000::/3 outside the special ranges).
func ipv6Category(ip netip.Addr) string {
	b := ip.As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	switch {
	case ip.Is4In6(): // first: netip's IsLoopback looks through the mapping
		return CategoryIPv4Mapped
	case ip.IsUnspecified():
		return CategoryUnspecified
	case ip.IsLoopback():
		return CategoryLoopback
	case hi == 0 && b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0: // ::/96
		return CategoryIPv4Compatible
	case hi == 0x0064_ff9b_0000_0000 && b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0: // 64:ff9b::/96
		return CategoryNAT64
	case hi>>16 == 0x0064_ff9b_0001: // 64:ff9b:1::/48, local-use NAT64 (RFC 8215)
		return CategoryNAT64
	case hi == 0x0100_0000_0000_0000: // 100::/64
		return CategoryDiscard
	case hi>>32 == 0x2001_0000: // 2001::/32
		return CategoryTeredo
	case hi>>48 == 0x2002: // 2002::/16
		return Category6to4
	case b[0]&0xe0 == 0x20: // 2000::/3: global unicast (documentation included)
		return ""
	case b[0] == 0xff:
		return CategoryMulticast
	case b[0]&0xfe == 0xfc: // fc00::/7
		return CategoryULA
	case b[0] == 0xfe && b[1]&0xc0 == 0x80: // fe80::/10
		return CategoryLinkLocal
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0: // fec0::/10
		return CategorySiteLocal
	}
	return CategoryReserved
}

// EmbeddedIPv4 returns the IPv4 address that an IPv6 transition address
// carries, the one the packets really reach: IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), NAT64 well-known prefix (64:ff9b::/96, last 32
// bits), 6to4 (2002:AABB:CCDD::/48, bits 16-47) and Teredo (2001::/32, the
// client address is the bitwise NOT of the last 32 bits). ok is false for
// other addresses, and for the local-use NAT64 prefix, whose layout depends
// on the local translator.
func EmbeddedIPv4(ip netip.Addr) (v4 netip.Addr, ok bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch ipv6Category(ip) {
	case CategoryIPv4Mapped, CategoryIPv4Compatible, CategoryNAT64:
		if b[4] != 0 || b[5] != 0 { // 64:ff9b:1::/48 is not /96-embedded
			return netip.Addr{}, false
		}
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case Category6to4:
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	case CategoryTeredo:
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}
