// Package geotest builds real test fixtures for code that uses package geo:
// MaxMind DB files written with mmdbwriter (the same format and database
// type names as the GeoLite2 files admins download) and a real DNS server on
// loopback. Tests that use them exercise the production readers and the
// production resolver, and need no network and no downloaded data.
//
// Typical use:
//
//	dir := t.TempDir()
//	country := filepath.Join(dir, "country.mmdb")
//	geotest.WriteCountryDB(t, country, map[string]string{
//		"127.0.0.0/24":   "FR", // upstream test servers on 127.0.0.x
//		"203.0.113.0/24": "US",
//	})
//	asn := filepath.Join(dir, "asn.mmdb")
//	geotest.WriteASNDB(t, asn, map[string]geotest.ASNEntry{
//		"203.0.113.0/24": {Number: 16509, Org: "AMAZON-02"},
//	})
//	dnsSrv := geotest.StartDNSServer(t)
//	dnsSrv.SetA("api.example.com", 60, "127.0.0.2")
//	res, _ := geo.NewResolver(geo.ResolverConfig{Server: dnsSrv.Addr()})
package geotest

import (
	"cmp"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/sovgate/sovgate/geo"
)

// ASNEntry is the ASN record of a network.
type ASNEntry struct {
	Number uint32
	Org    string
}

// Option changes how a database is written.
type Option func(*writeOptions)

type writeOptions struct{ mmdb mmdbwriter.Options }

// BuildTime sets the database build time (metadata build_epoch), which the
// classifier's Revision includes. Default: now.
func BuildTime(t time.Time) Option {
	return func(o *writeOptions) { o.mmdb.BuildEpoch = t.Unix() }
}

// DatabaseType overrides the metadata database_type, e.g. "GeoLite2-City"
// or "DBIP-Country-Lite" to test other database kinds.
func DatabaseType(name string) Option {
	return func(o *writeOptions) { o.mmdb.DatabaseType = name }
}

// WriteCountryDB writes a GeoLite2-Country database mapping each network
// (CIDR, or a single address) to an ISO country code. Records carry
// country.iso_code, registered_country.iso_code, continent.code (from geo's
// table), as GeoLite2 does. An empty country code
// writes a record with no country (like GeoLite2's anycast networks).
// Reserved networks (127.0.0.0/8, 10.0.0.0/8, ...) may be used. More specific
// networks override less specific ones.
func WriteCountryDB(t testing.TB, path string, entries map[string]string, opts ...Option) {
	t.Helper()
	writeDB(t, path, "GeoLite2-Country", entries, func(cc string) mmdbtype.DataType {
		if cc == "" {
			return mmdbtype.Map{"traits": mmdbtype.Map{"is_anycast": mmdbtype.Bool(true)}}
		}
		country := mmdbtype.Map{"iso_code": mmdbtype.String(cc)}
		rec := mmdbtype.Map{"country": country, "registered_country": country}
		if c := geo.CountryContinent(cc); c != "" {
			rec["continent"] = mmdbtype.Map{"code": mmdbtype.String(c)}
		}
		return rec
	}, opts)
}

// WriteCountryCodeDB writes a database in the layout of the free sapics
// ip-location-db country files: database type "country ipvAll" and records
// with a single top-level country_code field.
func WriteCountryCodeDB(t testing.TB, path string, entries map[string]string, opts ...Option) {
	t.Helper()
	writeDB(t, path, "country ipvAll", entries, func(cc string) mmdbtype.DataType {
		return mmdbtype.Map{"country_code": mmdbtype.String(cc)}
	}, opts)
}

// WriteASNDB writes a GeoLite2-ASN database mapping each network to its
// autonomous system.
func WriteASNDB(t testing.TB, path string, entries map[string]ASNEntry, opts ...Option) {
	t.Helper()
	writeDB(t, path, "GeoLite2-ASN", entries, func(e ASNEntry) mmdbtype.DataType {
		return mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(e.Number),
			"autonomous_system_organization": mmdbtype.String(e.Org),
		}
	}, opts)
}

func writeDB[V any](t testing.TB, path, dbType string, entries map[string]V, record func(V) mmdbtype.DataType, opts []Option) {
	t.Helper()
	o := writeOptions{mmdb: mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "sovgate test fixture"},
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              28,
	}}
	for _, opt := range opts {
		opt(&o)
	}
	tree, err := mmdbwriter.New(o.mmdb)
	if err != nil {
		t.Fatalf("geotest: new %s tree: %v", dbType, err)
	}
	type network struct {
		prefix netip.Prefix
		value  V
	}
	nets := make([]network, 0, len(entries))
	for k, v := range entries {
		p, err := parseNetwork(k)
		if err != nil {
			t.Fatalf("geotest: %s: network %q: %v", path, k, err)
		}
		nets = append(nets, network{p, v})
	}
	// Wider networks first, so narrower ones override them.
	slices.SortFunc(nets, func(a, b network) int {
		return cmp.Or(cmp.Compare(a.prefix.Bits(), b.prefix.Bits()), a.prefix.Addr().Compare(b.prefix.Addr()))
	})
	for _, n := range nets {
		if err := tree.Insert(ipNet(n.prefix), record(n.value)); err != nil {
			t.Fatalf("geotest: %s: inserting %s: %v", path, n.prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("geotest: %v", err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		t.Fatalf("geotest: writing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("geotest: closing %s: %v", path, err)
	}
}

func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Registration is the registration record of a network: its autonomous
// system and the country that system is registered in.
type Registration struct {
	ASN     uint32
	Org     string
	Country string
}

// WriteRegistrationDB writes a network registration dataset in the layout
// `sovgate geo update` writes (sovgate-Network-Registration), mapping each
// network (CIDR or single address) to its registration. It is dated
// built, or now.
func WriteRegistrationDB(t testing.TB, path string, entries map[string]Registration, built ...time.Time) {
	t.Helper()
	list := make([]geo.RegistrationEntry, 0, len(entries))
	for k, v := range entries {
		p, err := parseNetwork(k)
		if err != nil {
			t.Fatalf("geotest: %s: network %q: %v", path, k, err)
		}
		list = append(list, geo.RegistrationEntry{Prefix: p, ASN: v.ASN, Org: v.Org, Country: v.Country})
	}
	// Wider networks first, so narrower ones override them.
	slices.SortFunc(list, func(a, b geo.RegistrationEntry) int {
		return cmp.Or(cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), a.Prefix.Addr().Compare(b.Prefix.Addr()))
	})
	m := geo.RegistrationManifest{Built: time.Now(), Sources: []geo.RegistrationSource{{Name: "sovgate test fixture"}}}
	if len(built) > 0 {
		m.Built = built[0]
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("geotest: %v", err)
	}
	if err := geo.WriteRegistration(f, list, m); err != nil {
		f.Close()
		t.Fatalf("geotest: writing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("geotest: closing %s: %v", path, err)
	}
}

// PerSlash24 samples a prefix the way sovgate's measurements on real feeds
// do: one address per /24 of an IPv4 prefix (the .1 of each, at most
// 65,536), and the address after the network's own of an IPv6 prefix or a
// narrower IPv4 one.
func PerSlash24(p netip.Prefix) []netip.Addr {
	a := p.Addr()
	if a.Is6() || p.Bits() >= 24 {
		if n := a.Next(); p.Contains(n) {
			return []netip.Addr{n}
		}
		return []netip.Addr{a}
	}
	count := 1 << (24 - p.Bits())
	out := make([]netip.Addr, 0, min(count, 65536))
	b := a.As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	for i := 0; i < count && i < 65536; i++ {
		v := base + uint32(i)<<8 + 1
		out = append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}
