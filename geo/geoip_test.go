package geo_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phuslu/iploc"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

var countryFixture = map[string]string{
	"127.0.0.0/24":     "FR", // reserved networks can be placed (upstream test servers)
	"203.0.113.0/24":   "US",
	"203.0.113.128/25": "DE", // more specific wins
	"198.51.100.0/24":  "NO",
	"192.0.2.0/24":     "",   // a record without a country (anycast)
	"192.0.2.128/25":   "EU", // a region, not a country
	"2001:db8:1::/48":  "IE",
	"2001:db8:2::/48":  "CN",
}

func TestCountryDB(t *testing.T) {
	for _, tc := range []struct {
		dbType, wantFormat string
		write              func(testing.TB, string, map[string]string, ...geotest.Option)
	}{
		{"GeoLite2-Country", geo.FormatGeoIP2, geotest.WriteCountryDB},
		{"GeoLite2-City", geo.FormatGeoIP2, geotest.WriteCountryDB},
		{"GeoIP2-Country", geo.FormatGeoIP2, geotest.WriteCountryDB},
		{"DBIP-Country-Lite", geo.FormatGeoIP2, geotest.WriteCountryDB},
		{"country ipvAll", geo.FormatCountryCode, geotest.WriteCountryCodeDB},
		// Types nobody knows: the layout comes from the records.
		{"Vendor-Geo-Data", geo.FormatGeoIP2, geotest.WriteCountryDB},
		{"ip-location-db", geo.FormatCountryCode, geotest.WriteCountryCodeDB},
	} {
		t.Run(tc.dbType, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "country.mmdb")
			built := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
			tc.write(t, path, countryFixture, geotest.DatabaseType(tc.dbType), geotest.BuildTime(built))
			db, err := geo.OpenCountryDB(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			info := db.Info()
			if info.Source != geo.SourceMMDB || info.Path != path || info.DatabaseType != tc.dbType ||
				info.Format != tc.wantFormat || !info.BuildTime.Equal(built) {
				t.Errorf("Info() = %+v", info)
			}
			tests := []struct{ ip, country, continent string }{
				{"127.0.0.1", "FR", "EU"},
				{"203.0.113.7", "US", "NA"},
				{"203.0.113.200", "DE", "EU"},
				{"::ffff:203.0.113.7", "US", "NA"}, // mapped form: same answer
				{"198.51.100.1", "NO", "EU"},
				{"2001:db8:1::1", "IE", "EU"},
				{"2001:db8:2::1", "CN", "AS"},
				{"192.0.2.1", "", ""},     // record without country
				{"192.0.2.200", "", ""},   // "EU" is no country
				{"8.8.8.8", "", ""},       // not in the database: no fallback mixing
				{"2001:db8:9::1", "", ""}, // idem, IPv6
			}
			for _, tt := range tests {
				country, continent := db.Lookup(netip.MustParseAddr(tt.ip))
				if country != tt.country || continent != tt.continent {
					t.Errorf("Lookup(%s) = %q, %q; want %q, %q", tt.ip, country, continent, tt.country, tt.continent)
				}
			}
		})
	}
}

func TestCountryDBFallbackIPLoc(t *testing.T) {
	db, err := geo.OpenCountryDB("")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info := db.Info(); info.Source != geo.SourceIPLoc || info.Version != iploc.Version || info.Path != "" {
		t.Errorf("Info() = %+v", info)
	}
	// Well-known allocations that the embedded IP2Location LITE data places
	// firmly: Google DNS, OVHcloud Roubaix (v4 and v6), Hetzner.
	tests := []struct{ ip, country, continent string }{
		{"8.8.8.8", "US", "NA"},
		{"37.187.0.1", "FR", "EU"},
		{"2001:41d0::1", "FR", "EU"},
		{"88.198.0.1", "DE", "EU"},
		{"127.0.0.1", "", ""}, // ZZ in the data: unknown
	}
	for _, tt := range tests {
		country, continent := db.Lookup(netip.MustParseAddr(tt.ip))
		if country != tt.country || continent != tt.continent {
			t.Errorf("Lookup(%s) = %q, %q; want %q, %q", tt.ip, country, continent, tt.country, tt.continent)
		}
	}
}

func TestASNDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	geotest.WriteASNDB(t, path, map[string]geotest.ASNEntry{
		"203.0.113.0/24":  {Number: 16509, Org: "AMAZON-02"},
		"198.51.100.0/24": {Number: 16276, Org: "OVH SAS"},
		"2001:db8::/32":   {Number: 8075, Org: "MICROSOFT-CORP-MSN-AS-BLOCK"},
	})
	db, err := geo.OpenASNDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info := db.Info(); info.DatabaseType != "GeoLite2-ASN" || info.Format != geo.FormatASN || info.Path != path {
		t.Errorf("Info() = %+v", info)
	}
	tests := []struct {
		ip  string
		asn uint32
		org string
	}{
		{"203.0.113.9", 16509, "AMAZON-02"},
		{"198.51.100.9", 16276, "OVH SAS"},
		{"2001:db8:5::1", 8075, "MICROSOFT-CORP-MSN-AS-BLOCK"},
		{"8.8.8.8", 0, ""},
	}
	for _, tt := range tests {
		asn, org := db.Lookup(netip.MustParseAddr(tt.ip))
		if asn != tt.asn || org != tt.org {
			t.Errorf("Lookup(%s) = %d, %q; want %d, %q", tt.ip, asn, org, tt.asn, tt.org)
		}
	}
}

func TestOpenDatabaseErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	empty := filepath.Join(dir, "empty.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	truncated := filepath.Join(dir, "truncated.mmdb")
	asnPath := filepath.Join(dir, "asn.mmdb")
	countryPath := filepath.Join(dir, "country.mmdb")
	otherType := filepath.Join(dir, "other.mmdb")

	must(t, os.WriteFile(empty, nil, 0o644))
	must(t, os.WriteFile(garbage, []byte(strings.Repeat("not a maxmind database\n", 100)), 0o644))
	geotest.WriteCountryDB(t, countryPath, countryFixture)
	geotest.WriteASNDB(t, asnPath, map[string]geotest.ASNEntry{"203.0.113.0/24": {Number: 1, Org: "x"}})
	// A type nobody knows, whose records have neither layout.
	geotest.WriteASNDB(t, otherType, map[string]geotest.ASNEntry{"203.0.113.0/24": {Number: 0, Org: "x"}}, geotest.DatabaseType("Sovgate-Test-Type"))
	whole, err := os.ReadFile(countryPath)
	must(t, err)
	must(t, os.WriteFile(truncated, whole[:len(whole)/2], 0o644))

	tests := []struct {
		name, path, want string
		open             func(string) error
	}{
		{"country missing", missing, "no such file", openCountry},
		{"country empty", empty, "empty", openCountry},
		{"country garbage", garbage, "invalid MaxMind DB", openCountry},
		{"country truncated", truncated, "invalid MaxMind DB", openCountry},
		{"country is ASN", asnPath, `"GeoLite2-ASN" has no country data`, openCountry},
		{"country unknown type and shape", otherType, `unsupported database type "Sovgate-Test-Type": its records have no country.iso_code`, openCountry},
		{"asn missing", missing, "no such file", openASN},
		{"asn garbage", garbage, "invalid MaxMind DB", openASN},
		{"asn is country", countryPath, `"GeoLite2-Country" has no ASN data`, openASN},
		{"asn unknown type", otherType, `unsupported database type`, openASN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open(tt.path)
			if err == nil {
				t.Fatal("opened without error")
			}
			kind := "country"
			if strings.HasPrefix(tt.name, "asn") {
				kind = "ASN"
			}
			prefix := "opening GeoIP " + kind + " database " + tt.path + ": "
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant prefix %q and %q", err, prefix, tt.want)
			}
		})
	}
}

func openCountry(path string) error {
	db, err := geo.OpenCountryDB(path)
	if err == nil {
		db.Close()
	}
	return err
}

func openASN(path string) error {
	db, err := geo.OpenASNDB(path)
	if err == nil {
		db.Close()
	}
	return err
}

func TestDatabaseInfoJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	geotest.WriteCountryDB(t, path, countryFixture, geotest.BuildTime(time.Unix(1700000000, 0)))
	db, err := geo.OpenCountryDB(path)
	must(t, err)
	defer db.Close()
	b, err := json.Marshal(db.Info())
	must(t, err)
	want := `{"source":"mmdb","path":"` + path + `","format":"geoip2","database_type":"GeoLite2-Country","build_time":"2023-11-14T22:13:20Z"}`
	if string(b) != want {
		t.Errorf("JSON:\n%s\nwant\n%s", b, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
