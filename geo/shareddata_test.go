package geo_test

// Opt-in checks against real data files, for measuring, never for CI:
//
//	SOVGATE_SHARED_DATA=/path/to/shared/data go test ./geo -run SharedData -v
//	SOVGATE_SHARED_DATA=/path/to/shared/data go test ./geo -run '^$' -bench SharedData
//
// The directory holds mmdb/ (MaxMind's own test databases) and ipdb/ (the
// sapics ip-location-db country MMDB and ASN CSV files); see its SOURCES.md
// files. Nothing here may be committed, so without the variable every test
// in this file skips.

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

func sharedData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SOVGATE_SHARED_DATA")
	if dir == "" {
		t.Skip("set SOVGATE_SHARED_DATA to the shared data directory to run this check")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SOVGATE_SHARED_DATA: %v", err)
	}
	return dir
}

// TestSharedDataMaxMindDatabases reads MaxMind's own GeoIP2/GeoLite2 test
// databases (written by MaxMind's tools, not by mmdbwriter through our
// fixtures) and checks the vectors documented in their source data.
func TestSharedDataMaxMindDatabases(t *testing.T) {
	dir := filepath.Join(sharedData(t), "mmdb")
	for _, countryDB := range []string{"GeoIP2-City-Test.mmdb", "GeoIP2-Country-Test.mmdb", "GeoLite2-City-Test.mmdb", "GeoLite2-Country-Test.mmdb"} {
		t.Run(countryDB, func(t *testing.T) {
			c := newClassifier(t, geo.ClassifierConfig{
				CountryDB: filepath.Join(dir, countryDB),
				ASNDB:     filepath.Join(dir, "GeoLite2-ASN-Test.mmdb"),
			})
			d := c.Classify(geotest.DefaultKnowledge(t), "x.example", nil, addrs("81.2.69.160", "89.160.20.112", "216.160.83.56", "2a02:cfc0::1", "1.0.0.1"))
			want := []struct {
				country string
				eu      bool
			}{{"GB", false}, {"SE", true}, {"US", false}, {"FR", true}, {"", false}}
			for i, w := range want {
				a := d.Addresses[i]
				if w.country != "" && (a.Country != w.country || a.EU != w.eu) {
					t.Errorf("%v: %+v, want %s", a.IP, a, w.country)
				}
			}
			if a := d.Addresses[1]; a.ASN != 29518 || a.ASOrg != "Bredband2 AB" {
				t.Errorf("89.160.20.112: AS%d %q", a.ASN, a.ASOrg)
			}
			if a := d.Addresses[4]; a.ASN != 15169 || a.Provider != "google" {
				t.Errorf("1.0.0.1: AS%d provider %q", a.ASN, a.Provider)
			}
		})
	}
}

// TestSharedDataCountryCodeDB opens the free sapics country database and
// measures how often the embedded fallback (iploc) agrees with it, on one
// address per ASN-table range. Logs the numbers; fails only if agreement is
// implausibly low.
func TestSharedDataCountryCodeDB(t *testing.T) {
	dir := filepath.Join(sharedData(t), "ipdb")
	sapics, err := geo.OpenCountryDB(filepath.Join(dir, "geo-whois-asn-country.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer sapics.Close()
	t.Logf("sapics: %+v", sapics.Info())
	fallback, err := geo.OpenCountryDB("")
	if err != nil {
		t.Fatal(err)
	}
	territory := geotest.DefaultKnowledge(t).Territory
	for _, file := range []string{"asn-ipv4.csv.gz", "asn-ipv6.csv.gz"} {
		sample := sampleAddresses(t, filepath.Join(dir, file), 20)
		var total, same, sameEU, bothKnown int
		for _, ip := range sample {
			a, _ := sapics.Lookup(ip)
			b, _ := fallback.Lookup(ip)
			total++
			if a == "" || b == "" {
				continue
			}
			bothKnown++
			if a == b {
				same++
			}
			if territory.EEA(a) == territory.EEA(b) {
				sameEU++
			}
		}
		pct := func(n, d int) float64 { return 100 * float64(n) / float64(max(d, 1)) }
		t.Logf("%s: %d sampled, %d known to both; same country %.1f%%, same EU/EEA verdict %.1f%%",
			file, total, bothKnown, pct(same, bothKnown), pct(sameEU, bothKnown))
		if pct(same, bothKnown) < 80 {
			t.Errorf("%s: agreement %.1f%% is implausibly low", file, pct(same, bothKnown))
		}
	}
}

// sampleAddresses returns the first address of every n-th range of a sapics
// ASN CSV file (start,end,asn,org).
func sampleAddresses(t testing.TB, path string, n int) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	sc := gzipLines(t, path)
	for i := 0; sc.Scan(); i++ {
		if i%n != 0 {
			continue
		}
		start, _, _ := strings.Cut(sc.Text(), ",")
		if ip, err := netip.ParseAddr(start); err == nil {
			out = append(out, ip)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func BenchmarkSharedDataClassify(b *testing.B) {
	dir := sharedData(b)
	configs := map[string]geo.ClassifierConfig{
		"sapics-country+asn-test": {
			CountryDB: filepath.Join(dir, "ipdb", "geo-whois-asn-country.mmdb"),
			ASNDB:     filepath.Join(dir, "mmdb", "GeoLite2-ASN-Test.mmdb"),
		},
		"geoip2-city-test+asn-test": {
			CountryDB: filepath.Join(dir, "mmdb", "GeoIP2-City-Test.mmdb"),
			ASNDB:     filepath.Join(dir, "mmdb", "GeoLite2-ASN-Test.mmdb"),
		},
	}
	k := geotest.DefaultKnowledge(b)
	for name, cfg := range configs {
		c := newClassifier(b, cfg)
		for _, ips := range [][]netip.Addr{addrs("89.160.20.112"), addrs("89.160.20.112", "81.2.69.160", "2a02:cfc0::1")} {
			b.Run(name+"/"+string(rune('0'+len(ips)))+"addr", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.Classify(k, "x.example", nil, ips)
				}
			})
		}
	}
}

// TestSharedDataJurisdictionCoverage measures, with the data built into
// sovgate and the default catalogue, how the operators of real addresses
// are known: from the catalogue (range, asn, domain), by inference from
// the registration data, or not at all. Two address sets:
//
//   - one address per /24 (one per network in IPv6) of every EU/EEA
//     region in the providers' feeds, anycast excluded: the EU-region
//     samples of the provider-intelligence work; classified with the
//     provider ranges as deployed, and again without them (what the ASNs
//     and the registration data alone give);
//   - the 1,000 autonomous systems with the most IPv4 addresses in the ASN
//     table, each counted once and weighted by its addresses.
func TestSharedDataJurisdictionCoverage(t *testing.T) {
	dir := sharedData(t)
	k := geotest.DefaultKnowledge(t)
	c := newClassifier(t, geo.ClassifierConfig{})
	ranges, err := geo.EmbeddedProviderRanges()
	if err != nil {
		t.Fatal(err)
	}
	var eu []netip.Addr
	for _, e := range ranges.Entries() {
		if e.Anycast || !k.Territory.EEA(e.RegionCountry) {
			continue
		}
		eu = append(eu, geotest.PerSlash24(e.Prefix)...)
	}
	tally := func(name string) {
		counts := map[string]int{}
		for _, ip := range eu {
			a := c.Classify(k, "x.example", nil, []netip.Addr{ip}).Addresses[0]
			counts[a.MatchedBy]++
		}
		catalogue := counts[geo.MatchedByRange] + counts[geo.MatchedByASN] + counts[geo.MatchedByDomain]
		t.Logf("EU-region samples, %s: %d addresses; catalogue %d (%.1f%%: range %d, asn %d), inferred from registration %d (%.1f%%), none %d (%.1f%%)",
			name, len(eu), catalogue, pct(catalogue, len(eu)), counts[geo.MatchedByRange], counts[geo.MatchedByASN],
			counts[geo.MatchedByRegistration], pct(counts[geo.MatchedByRegistration], len(eu)), counts[""], pct(counts[""], len(eu)))
	}
	tally("with the provider ranges")
	c.SetProviderRanges(nil)
	tally("without the provider ranges (ASN and registration only)")

	// The top 1,000 ASNs by IPv4 address count.
	type asInfo struct {
		addrs uint64
		first netip.Addr
	}
	byASN := map[uint32]*asInfo{}
	sc := gzipLines(t, filepath.Join(dir, "ipdb", "asn-ipv4.csv.gz"))
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ",", 4)
		if len(fields) < 4 {
			continue
		}
		start, err1 := netip.ParseAddr(fields[0])
		end, err2 := netip.ParseAddr(fields[1])
		asn, err3 := strconv.ParseUint(fields[2], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || asn == 0 {
			continue
		}
		s, e := start.As4(), end.As4()
		n := uint64(binary.BigEndian.Uint32(e[:])) - uint64(binary.BigEndian.Uint32(s[:])) + 1
		info := byASN[uint32(asn)]
		if info == nil {
			info = &asInfo{first: start}
			byASN[uint32(asn)] = info
		}
		info.addrs += n
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	asns := make([]uint32, 0, len(byASN))
	for a := range byASN {
		asns = append(asns, a)
	}
	slices.SortFunc(asns, func(a, b uint32) int { return cmp.Compare(byASN[b].addrs, byASN[a].addrs) })
	asns = asns[:1000]
	reg, err := geo.EmbeddedRegistration()
	if err != nil {
		t.Fatal(err)
	}
	var counts [3]int
	var weights [3]uint64
	var total uint64
	for _, a := range asns {
		i := 2 // none
		if _, ok := k.Operators.ProviderByASN(a); ok {
			i = 0
		} else if _, _, cc := reg.Lookup(byASN[a].first); cc != "" {
			i = 1
		}
		counts[i]++
		weights[i] += byASN[a].addrs
		total += byASN[a].addrs
	}
	t.Logf("top 1,000 ASNs by IPv4 addresses (%d addresses): catalogue %d ASNs (%.1f%% of the addresses), inferred from registration %d (%.1f%%), none %d (%.1f%%)",
		total, counts[0], 100*float64(weights[0])/float64(total), counts[1], 100*float64(weights[1])/float64(total),
		counts[2], 100*float64(weights[2])/float64(total))
}

// gzipLines reads the lines of a gzip-compressed file; the file is closed
// at the end of the test.
func gzipLines(t testing.TB, path string) *bufio.Scanner {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return bufio.NewScanner(zr)
}

func pct(n, d int) float64 { return 100 * float64(n) / float64(max(d, 1)) }
