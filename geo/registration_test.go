package geo_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

// TestEmbeddedData checks the snapshots compiled into the binary: sound
// files, dated, and the facts the default verdicts depend on.
func TestEmbeddedData(t *testing.T) {
	reg, err := geo.EmbeddedRegistration()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	info := reg.Info()
	if info.Source != geo.SourceEmbedded || info.DatabaseType != geo.RegistrationType || info.BuildTime.IsZero() || len(reg.Manifest().Sources) == 0 {
		t.Errorf("registration info %+v, manifest %+v", info, reg.Manifest())
	}
	for _, src := range reg.Manifest().Sources {
		if src.License == "" || src.SHA256 == "" {
			t.Errorf("source without licence or checksum: %+v", src)
		}
	}
	tests := []struct {
		ip      string
		asn     uint32
		country string
	}{
		{"35.180.0.10", 16509, "US"}, // AWS Paris: registered in the US
		{"51.158.0.2", 12876, "FR"},  // Scaleway
		{"37.187.0.1", 16276, "FR"},  // OVH
		{"5.57.96.2", 0, "RE"},       // Réunion
		{"2a01:4f8::1", 24940, "DE"}, // Hetzner
		{"13.107.6.152", 8068, "US"}, // Microsoft 365
		{"192.0.2.1", 0, ""},         // documentation: nobody
	}
	for _, tt := range tests {
		asn, org, country := reg.Lookup(netip.MustParseAddr(tt.ip))
		if (tt.asn != 0 && asn != tt.asn) || country != tt.country || (asn != 0 && org == "") {
			t.Errorf("%s: AS%d %q %q, want AS%d %q", tt.ip, asn, org, country, tt.asn, tt.country)
		}
	}

	ranges, err := geo.EmbeddedProviderRanges()
	if err != nil {
		t.Fatal(err)
	}
	ri := ranges.Info()
	if ri.Source != geo.SourceEmbedded || ri.BuildTime.IsZero() || ri.Networks < 10000 || len(ri.Feeds) < 10 {
		t.Errorf("provider ranges info %+v", ri)
	}
	if r, ok := ranges.Lookup(netip.MustParseAddr("35.180.0.10")); !ok || r.Provider != "aws" || r.Region != "eu-west-3" || r.RegionCountry != "FR" {
		t.Errorf("35.180.0.10 in the embedded ranges: %+v", r)
	}
}

// TestEmbeddedRegistrationVerifies walks the whole embedded file, as
// `geo update` does with a new one: a broken build must not ship.
func TestEmbeddedRegistrationVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole dataset")
	}
	raw, err := os.ReadFile(filepath.Join("embedded", geo.RegistrationFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := geo.ParseRegistration(raw); err != nil {
		t.Fatal(err)
	}
}

func TestRegistrationFiles(t *testing.T) {
	dir := t.TempDir()
	// A file sovgate writes, dated with its data.
	ours := filepath.Join(dir, "registration.mmdb")
	built := time.Date(2026, 6, 17, 0, 0, 0, 0, time.UTC)
	geotest.WriteRegistrationDB(t, ours, map[string]geotest.Registration{
		"198.51.100.0/24": {ASN: 3215, Org: "Orange S.A.", Country: "FR"},
		"198.51.100.0/25": {ASN: 16276, Org: "OVH SAS", Country: "FR"},
	}, built)
	db, err := geo.OpenRegistrationDB(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info := db.Info(); info.Source != geo.SourceMMDB || info.Path != ours || !info.BuildTime.Equal(built) || info.Format != geo.FormatRegistration {
		t.Errorf("info %+v", info)
	}
	if asn, org, cc := db.Lookup(netip.MustParseAddr("198.51.100.200")); asn != 3215 || org != "Orange S.A." || cc != "FR" {
		t.Errorf("wider network: AS%d %q %q", asn, org, cc)
	}
	if asn, _, _ := db.Lookup(netip.MustParseAddr("::ffff:198.51.100.7")); asn != 16276 {
		t.Errorf("narrower network, IPv4-mapped: AS%d", asn)
	}

	// The plain country files of ip-location-db give the country alone.
	plain := filepath.Join(dir, "iptoasn-country.mmdb")
	geotest.WriteCountryCodeDB(t, plain, map[string]string{"198.51.100.0/24": "US", "2001:db8::/32": "ZZ"})
	db2, err := geo.OpenRegistrationDB(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if asn, _, cc := db2.Lookup(netip.MustParseAddr("198.51.100.1")); asn != 0 || cc != "US" {
		t.Errorf("plain country file: AS%d %q", asn, cc)
	}
	if _, _, cc := db2.Lookup(netip.MustParseAddr("2001:db8::1")); cc != "" {
		t.Errorf("ZZ is not a country: %q", cc)
	}

	// A GeoIP country database is not registration data: refused, naming
	// the file.
	geoip := filepath.Join(dir, "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(t, geoip, map[string]string{"198.51.100.0/24": "FR"})
	if _, err := geo.OpenRegistrationDB(geoip); err == nil || !strings.Contains(err.Error(), geoip) || !strings.Contains(err.Error(), "no registration data") {
		t.Errorf("GeoLite2-Country accepted as registration data: %v", err)
	}
	if _, err := geo.OpenRegistrationDB(filepath.Join(dir, "missing.mmdb")); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := geo.ParseRegistration([]byte("not a database")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestWriteRegistrationRejects(t *testing.T) {
	m := geo.RegistrationManifest{Built: time.Now()}
	var buf bytes.Buffer
	for name, tc := range map[string]struct {
		entries []geo.RegistrationEntry
		m       geo.RegistrationManifest
		want    string
	}{
		"no date":     {[]geo.RegistrationEntry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "FR"}}, geo.RegistrationManifest{}, "no date"},
		"empty":       {nil, m, "no networks"},
		"bad country": {[]geo.RegistrationEntry{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Country: "France"}}, m, "not an ISO"},
		"mapped":      {[]geo.RegistrationEntry{{Prefix: netip.MustParsePrefix("::ffff:192.0.2.0/120"), Country: "FR"}}, m, "invalid prefix"},
		"zero prefix": {[]geo.RegistrationEntry{{Country: "FR"}}, m, "invalid prefix"},
	} {
		if err := geo.WriteRegistration(&buf, tc.entries, tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestClassifierFindsRegistrationBesideProviderRanges: `geo update` writes
// registration.mmdb next to providers.mmdb, and a classifier pointed at
// that directory uses it without further configuration.
func TestClassifierFindsRegistrationBesideProviderRanges(t *testing.T) {
	cfg := rangesFixture(t)
	cfg.RegistrationDB = ""
	geotest.WriteRegistrationDB(t, filepath.Join(cfg.ProviderRanges, geo.RegistrationFile), map[string]geotest.Registration{
		"203.0.113.0/24": {ASN: 64999, Org: "BESIDE", Country: "CN"},
	})
	c := newClassifier(t, cfg)
	if info := c.Info(); info.Registration.Path != filepath.Join(cfg.ProviderRanges, geo.RegistrationFile) {
		t.Errorf("registration %+v", info.Registration)
	}
	d := c.Classify(testKnowledge(t), "x.example", nil, addrs("203.0.113.1"))
	if a := d.Addresses[0]; a.Provider != "as64999" || a.MatchedBy != "registration" {
		t.Errorf("%+v", a)
	}
}

func TestRangePrefixes(t *testing.T) {
	for _, tt := range []struct{ start, end, want string }{
		{"192.0.2.0", "192.0.2.255", "192.0.2.0/24"},
		{"192.0.2.1", "192.0.2.1", "192.0.2.1/32"},
		{"192.0.2.1", "192.0.2.6", "192.0.2.1/32 192.0.2.2/31 192.0.2.4/31 192.0.2.6/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"255.255.255.254", "255.255.255.255", "255.255.255.254/31"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"2001:db8::", "2001:db8::1:0", "2001:db8::/112 2001:db8::1:0/128"},
		{"::ffff:192.0.2.0", "::ffff:192.0.2.3", "192.0.2.0/30"},
		{"::ffff:192.0.2.0", "192.0.2.3", ""},
		{"192.0.2.9", "192.0.2.1", ""},
		{"192.0.2.1", "::1", ""},
	} {
		var got []string
		for _, p := range geo.RangePrefixes(netip.MustParseAddr(tt.start), netip.MustParseAddr(tt.end)) {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s-%s: %v, want %s", tt.start, tt.end, got, tt.want)
		}
	}
}

// FuzzRangePrefixes checks the split against its definition: contiguous
// prefixes, in order, from start to end exactly.
func FuzzRangePrefixes(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, []byte{192, 0, 2, 200})
	f.Add([]byte{0, 0, 0, 0}, []byte{255, 255, 255, 255})
	f.Add(make([]byte, 16), bytes.Repeat([]byte{0xff}, 16))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		start, ok1 := netip.AddrFromSlice(a)
		end, ok2 := netip.AddrFromSlice(b)
		if !ok1 || !ok2 || start.Is4() != end.Is4() || start.Is4In6() || end.Is4In6() || start.Compare(end) > 0 {
			if geo.RangePrefixes(start, end) != nil && start.Is4In6() != end.Is4In6() {
				t.Fatalf("%v-%v: prefixes across families", start, end)
			}
			return
		}
		ps := geo.RangePrefixes(start, end)
		next := start
		for i, p := range ps {
			if p.Addr() != next || p.Masked() != p {
				t.Fatalf("prefix %d %v does not start at %v", i, p, next)
			}
			last := p.Addr()
			for j := p.Bits(); j < last.BitLen(); j++ {
				s := last.AsSlice()
				s[j/8] |= 0x80 >> (j % 8)
				last, _ = netip.AddrFromSlice(s)
			}
			if i == len(ps)-1 {
				if last != end {
					t.Fatalf("ends at %v, want %v", last, end)
				}
				return
			}
			next = last.Next()
		}
		t.Fatalf("no prefix for %v-%v", start, end)
	})
}
