package geo_test

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

// classifierFixture writes a country and an ASN database and returns their
// paths. Documentation ranges stand in for real provider networks.
func classifierFixture(t testing.TB, opts ...geotest.Option) (countryPath, asnPath string) {
	t.Helper()
	dir := t.TempDir()
	countryPath = filepath.Join(dir, "GeoLite2-Country.mmdb")
	asnPath = filepath.Join(dir, "GeoLite2-ASN.mmdb")
	geotest.WriteCountryDB(t, countryPath, map[string]string{
		"203.0.113.0/24":  "US",
		"198.51.100.0/24": "FR",
		"192.0.2.0/24":    "DE",
		"127.0.0.0/24":    "NO",
		"2001:db8:1::/48": "IE",
	}, opts...)
	geotest.WriteASNDB(t, asnPath, map[string]geotest.ASNEntry{
		"203.0.113.0/24":  {Number: 16509, Org: "AMAZON-02"},
		"198.51.100.0/24": {Number: 16276, Org: "OVH SAS"},
		"127.0.0.0/24":    {Number: 64512, Org: "PRIVATE-TEST"},
		"2001:db8:1::/48": {Number: 8075, Org: "MICROSOFT-CORP-MSN-AS-BLOCK"},
	}, opts...)
	return countryPath, asnPath
}

func newClassifier(t testing.TB, cfg geo.ClassifierConfig) *geo.Classifier {
	t.Helper()
	c, err := geo.NewClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func provs(ps ...string) []string { return ps } // "id/matched_by"

func TestClassify(t *testing.T) {
	countryPath, asnPath := classifierFixture(t)
	c := newClassifier(t, geo.ClassifierConfig{CountryDB: countryPath, ASNDB: asnPath})

	type addrWant struct {
		country, continent string
		eu, eea            bool
		asn                uint32
		org, provider      string
	}
	fr := addrWant{"FR", "EU", true, true, 16276, "OVH SAS", "ovhcloud"}
	us := addrWant{"US", "NA", false, false, 16509, "AMAZON-02", "aws"}
	tests := []struct {
		name      string
		host      string
		cnames    []string
		addrs     []string
		want      []addrWant
		providers []string
	}{
		{"EU address, provider by ASN", "api.example.fr", nil, []string{"198.51.100.7"},
			[]addrWant{fr}, provs("ovhcloud/asn")},
		{"US address, provider by ASN", "api.example.com", nil, []string{"203.0.113.7"},
			[]addrWant{us}, provs("aws/asn")},
		{"IPv4-mapped address", "api.example.fr", nil, []string{"::ffff:198.51.100.7"},
			[]addrWant{fr}, provs("ovhcloud/asn")},
		{"IPv6 address", "x.example", nil, []string{"2001:db8:1::5"},
			[]addrWant{{"IE", "EU", true, true, 8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "azure"}}, provs("azure/asn")},
		{"EEA but not EU, ASN unknown to the catalogue", "intranet.example", nil, []string{"127.0.0.9"},
			[]addrWant{{"NO", "EU", false, true, 64512, "PRIVATE-TEST", ""}}, provs()},
		{"unknown everything", "unknown.example", nil, []string{"100.100.1.1"},
			[]addrWant{{}}, provs()},
		{"provider by domain suffix of the host", "bucket.s3.eu-west-3.amazonaws.com", nil, []string{"192.0.2.5"},
			[]addrWant{{"DE", "EU", true, true, 0, "", "aws"}}, provs("aws/domain")},
		{"provider by domain suffix of a CNAME", "files.city.example", []string{"cityfiles.blob.core.windows.net"}, []string{"192.0.2.6"},
			[]addrWant{{"DE", "EU", true, true, 0, "", "azure"}}, provs("azure/domain")},
		{"ASN beats domain for the address; both providers listed", "cdn.example.org", []string{"cdn-example.azureedge.net"}, []string{"203.0.113.9"},
			[]addrWant{us}, provs("aws/asn", "azure/domain")},
		{"same provider by ASN and domain: once, as asn", "d1.cloudfront.net", nil, []string{"203.0.113.9", "203.0.113.10"},
			[]addrWant{us, us}, provs("aws/asn")},
		{"nearest CNAME gives the address provider", "x.cloudfront.net", []string{"y.akamaiedge.net"}, []string{"192.0.2.7"},
			[]addrWant{{"DE", "EU", true, true, 0, "", "akamai"}}, provs("aws/domain", "akamai/domain")},
		{"several addresses and providers, in address order", "multi.example", nil, []string{"203.0.113.1", "198.51.100.1", "192.0.2.1"},
			[]addrWant{us, fr, {"DE", "EU", true, true, 0, "", ""}}, provs("aws/asn", "ovhcloud/asn")},
		{"evil suffix look-alike", "evilamazonaws.com", nil, []string{"192.0.2.8"},
			[]addrWant{{"DE", "EU", true, true, 0, "", ""}}, provs()},
		{"no address", "nothing.example", nil, nil, nil, provs()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips := addrs(tt.addrs...)
			d := c.Classify(tt.host, tt.cnames, ips)
			if d.Host != tt.host {
				t.Errorf("Host = %q", d.Host)
			}
			if len(d.Addresses) != len(tt.want) {
				t.Fatalf("%d addresses, want %d", len(d.Addresses), len(tt.want))
			}
			for i, w := range tt.want {
				a := d.Addresses[i]
				got := addrWant{a.Country, a.Continent, a.EU, a.EEA, a.ASN, a.ASOrg, a.Provider}
				if got != w || a.IP != ips[i] {
					t.Errorf("address %d: %v %+v, want %+v", i, a.IP, got, w)
				}
			}
			var gotProvs []string
			for _, p := range d.Providers {
				gotProvs = append(gotProvs, p.ID+"/"+p.MatchedBy)
				if p.Name == "" || p.Headquarters == "" || len(p.Jurisdictions) == 0 {
					t.Errorf("provider %+v lacks facts", p)
				}
			}
			if strings.Join(gotProvs, ",") != strings.Join(tt.providers, ",") {
				t.Errorf("providers %v, want %v", gotProvs, tt.providers)
			}
			if d.Providers == nil || d.Addresses == nil {
				t.Error("nil slices would be JSON null, policies expect arrays")
			}
		})
	}
}

func TestClassifyJurisdictionFacts(t *testing.T) {
	c := newClassifier(t, geo.ClassifierConfig{})
	d := c.Classify("x.aliyuncs.com", nil, addrs("192.0.2.1"))
	if len(d.Providers) != 1 {
		t.Fatalf("providers %+v", d.Providers)
	}
	p := d.Providers[0]
	if p.ID != "alibaba" || p.Name != "Alibaba Cloud" || p.Headquarters != "CN" || strings.Join(p.Jurisdictions, ",") != "CN" || p.MatchedBy != "domain" {
		t.Errorf("provider %+v", p)
	}
}

func TestClassifyJSONMatchesPolicyInput(t *testing.T) {
	countryPath, asnPath := classifierFixture(t)
	c := newClassifier(t, geo.ClassifierConfig{CountryDB: countryPath, ASNDB: asnPath})
	d := c.Classify("api.example.com", nil, addrs("203.0.113.7"))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"host":"api.example.com","addresses":[{"ip":"203.0.113.7","country":"US","continent":"NA","eu":false,"eea":false,"asn":16509,"as_org":"AMAZON-02","provider":"aws","region":"","region_country":"","service":"","anycast":false}],"providers":[{"id":"aws","name":"Amazon Web Services","headquarters":"US","jurisdictions":["US"],"matched_by":"asn"}]}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	empty, _ := json.Marshal(c.Classify("x.example", nil, nil))
	if string(empty) != `{"host":"x.example","addresses":[],"providers":[]}` {
		t.Errorf("empty destination JSON %s", empty)
	}
}

func TestClassifyWithoutDatabases(t *testing.T) {
	c := newClassifier(t, geo.ClassifierConfig{})
	info := c.Info()
	if info.Country.Source != geo.SourceIPLoc || info.ASN.Source != geo.SourceNone || info.Catalogue.Providers == 0 || info.Revision != c.Revision() {
		t.Errorf("Info() = %+v", info)
	}
	d := c.Classify("dns.google", nil, addrs("8.8.8.8", "37.187.0.1"))
	us, fr := d.Addresses[0], d.Addresses[1]
	if us.Country != "US" || us.Continent != "NA" || us.EU || us.ASN != 0 {
		t.Errorf("8.8.8.8: %+v", us)
	}
	if fr.Country != "FR" || fr.Continent != "EU" || !fr.EU || !fr.EEA {
		t.Errorf("37.187.0.1: %+v", fr)
	}
	if len(d.Providers) != 0 {
		t.Errorf("providers without ASN data nor suffix: %+v", d.Providers)
	}
}

func TestClassifierRevision(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	c1, a1 := classifierFixture(t, geotest.BuildTime(t1))
	c2, a2 := classifierFixture(t, geotest.BuildTime(t2))
	overlay := loadCatalogue(t, `{"schema":1,"providers":[{"id":"city","name":"City","headquarters":"FR","asns":[64512],"source":"test"}]}`)
	merged, err := geo.EmbeddedCatalogue().Merge(overlay)
	if err != nil {
		t.Fatal(err)
	}

	base := newClassifier(t, geo.ClassifierConfig{CountryDB: c1, ASNDB: a1}).Revision()
	same := newClassifier(t, geo.ClassifierConfig{CountryDB: c1, ASNDB: a1}).Revision()
	if base != same || base == "" {
		t.Fatalf("same data, revisions %q and %q", base, same)
	}
	others := map[string]geo.ClassifierConfig{
		"newer country DB": {CountryDB: c2, ASNDB: a1},
		"newer ASN DB":     {CountryDB: c1, ASNDB: a2},
		"no ASN DB":        {CountryDB: c1},
		"fallback country": {ASNDB: a1},
		"other catalogue":  {CountryDB: c1, ASNDB: a1, Catalogue: merged},
	}
	seen := map[string]string{base: "base"}
	for name, cfg := range others {
		rev := newClassifier(t, cfg).Revision()
		if prev, dup := seen[rev]; dup {
			t.Errorf("%s has the same revision as %s", name, prev)
		}
		seen[rev] = name
	}
}

func TestNewClassifierErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.mmdb")
	countryPath, _ := classifierFixture(t)
	if _, err := geo.NewClassifier(geo.ClassifierConfig{CountryDB: missing}); err == nil ||
		!strings.Contains(err.Error(), "opening GeoIP country database "+missing) {
		t.Errorf("missing country DB: %v", err)
	}
	if _, err := geo.NewClassifier(geo.ClassifierConfig{CountryDB: countryPath, ASNDB: missing}); err == nil ||
		!strings.Contains(err.Error(), "opening GeoIP ASN database "+missing) {
		t.Errorf("missing ASN DB: %v", err)
	}
}

func BenchmarkClassify(b *testing.B) {
	countryPath, asnPath := classifierFixture(b)
	c := newClassifier(b, geo.ClassifierConfig{CountryDB: countryPath, ASNDB: asnPath})
	fallback := newClassifier(b, geo.ClassifierConfig{})
	cases := []struct {
		name   string
		c      *geo.Classifier
		host   string
		cnames []string
		addrs  []netip.Addr
	}{
		{"mmdb/1addr", c, "api.example.com", nil, addrs("203.0.113.7")},
		{"mmdb/3addr", c, "www.city.example", []string{"city-app.azurewebsites.net"}, addrs("203.0.113.7", "198.51.100.7", "2001:db8:1::7")},
		{"iploc/1addr", fallback, "api.example.com", nil, addrs("8.8.8.8")},
		{"iploc/3addr", fallback, "www.city.example", []string{"city-app.azurewebsites.net"}, addrs("8.8.8.8", "37.187.0.1", "2001:41d0::1")},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.c.Classify(bc.host, bc.cnames, bc.addrs)
			}
		})
	}
}
