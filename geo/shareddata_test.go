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
	"compress/gzip"
	"net/netip"
	"os"
	"path/filepath"
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
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	sc := bufio.NewScanner(zr)
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
