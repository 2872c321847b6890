package geo_test

import (
	"encoding/json"
	"fmt"
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

// testOperators is a small catalogue for the classifier's tests, so they
// test the matching, not the catalogue's data.
const testOperators = `{
  "akamai": {"name": "Akamai", "kind": "cdn", "headquarters": "US", "domain_suffixes": ["akamaiedge.net"], "range_feeds": ["akamai", "linode"], "sources": ["test"], "checked": "2026-12-06"},
  "alibaba": {"name": "Alibaba Cloud", "kind": "cloud", "headquarters": "CN", "domain_suffixes": ["aliyuncs.com"], "sources": ["test"], "checked": "2026-12-06"},
  "aws": {"name": "Amazon Web Services", "kind": "cloud", "headquarters": "US", "asns": [16509], "domain_suffixes": ["amazonaws.com", "cloudfront.net"], "range_feeds": ["aws"], "sources": ["test"], "checked": "2026-12-06"},
  "azure": {"name": "Microsoft Azure", "kind": "cloud", "headquarters": "US", "domain_suffixes": ["core.windows.net", "azureedge.net", "azurewebsites.net"], "range_feeds": ["azure"], "sources": ["test"], "checked": "2026-12-06"},
  "cloudflare": {"name": "Cloudflare", "kind": "cdn", "headquarters": "US", "range_feeds": ["cloudflare"], "sources": ["test"], "checked": "2026-12-06"},
  "gcp": {"name": "Google Cloud", "kind": "cloud", "headquarters": "US", "domain_suffixes": ["googleapis.com"], "range_feeds": ["gcp"], "sources": ["test"], "checked": "2026-12-06"},
  "google": {"name": "Google", "kind": "saas", "headquarters": "US", "asns": [15169], "range_feeds": ["google"], "sources": ["test"], "checked": "2026-12-06"},
  "microsoft": {"name": "Microsoft", "kind": "saas", "headquarters": "US", "asns": [8075], "domain_suffixes": ["sharepoint.com"], "sources": ["test"], "checked": "2026-12-06"},
  "oracle": {"name": "Oracle Cloud Infrastructure", "kind": "cloud", "headquarters": "US", "range_feeds": ["oracle"], "sources": ["test"], "checked": "2026-12-06"},
  "ovhcloud": {"name": "OVHcloud", "kind": "cloud", "headquarters": "FR", "asns": [16276], "domain_suffixes": ["ovh.net"], "offers": [
    {"id": "ovh-snc", "name": "SecNumCloud offer", "domain_suffixes": ["snc.ovh.net"], "ranges": ["198.51.100.128/25"],
     "qualifications": [{"scheme": "secnumcloud", "since": "2024-01-10", "until": "2027-01-10", "source": "test"}]}],
    "sources": ["test"], "checked": "2026-12-06"}
}`

// testKnowledge is testOperators with the EU/EEA territory of the default
// policy.
func testKnowledge(t testing.TB) *geo.Knowledge {
	t.Helper()
	c, err := geo.ParseCatalogue([]byte(testOperators))
	if err != nil {
		t.Fatal(err)
	}
	return &geo.Knowledge{Operators: c, Territory: geotest.DefaultKnowledge(t).Territory}
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
			[]addrWant{{"IE", "EU", true, true, 8075, "MICROSOFT-CORP-MSN-AS-BLOCK", "microsoft"}}, provs("microsoft/asn")},
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
	k := testKnowledge(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ips := addrs(tt.addrs...)
			d := c.Classify(k, tt.host, tt.cnames, ips)
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
	d := c.Classify(testKnowledge(t), "x.aliyuncs.com", nil, addrs("192.0.2.1"))
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
	k := testKnowledge(t)
	d := c.Classify(k, "api.example.com", nil, addrs("203.0.113.7"))
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"host":"api.example.com","addresses":[{"ip":"203.0.113.7","country":"US","continent":"NA","eu":false,"eea":false,"asn":16509,"as_org":"AMAZON-02","provider":"aws","matched_by":"asn","internal":false,"region":"","region_country":"","service":"","anycast":false}],"providers":[{"id":"aws","name":"Amazon Web Services","headquarters":"US","jurisdictions":["US"],"matched_by":"asn","inferred":false}]}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	empty, _ := json.Marshal(c.Classify(k, "x.example", nil, nil))
	if string(empty) != `{"host":"x.example","addresses":[],"providers":[]}` {
		t.Errorf("empty destination JSON %s", empty)
	}
}

// TestClassifyWithoutDatabases classifies real addresses with the data
// built into the binary only: the IP2Location LITE countries, the
// registration snapshot (ASNs and their registration country) and the
// provider-ranges snapshot, and the default policy's catalogue.
func TestClassifyWithoutDatabases(t *testing.T) {
	c := newClassifier(t, geo.ClassifierConfig{})
	info := c.Info()
	if info.Country.Source != geo.SourceIPLoc || info.ASN.Source != geo.SourceNone ||
		info.Registration.Source != geo.SourceEmbedded || info.ProviderRanges.Source != geo.SourceEmbedded || info.Revision != c.Revision() {
		t.Errorf("Info() = %+v", info)
	}
	for _, ds := range info.Datasets(time.Now()) {
		if ds.Built.IsZero() || ds.Built.After(time.Now()) {
			t.Errorf("dataset %+v has no plausible date", ds)
		}
	}
	d := c.Classify(geotest.DefaultKnowledge(t), "dns.google", nil, addrs("8.8.8.8", "37.187.0.1", "35.180.0.10"))
	us, fr, aws := d.Addresses[0], d.Addresses[1], d.Addresses[2]
	if us.Country != "US" || us.Continent != "NA" || us.EU || us.ASN != 15169 || us.Provider != "google" || us.MatchedBy != "range" {
		t.Errorf("8.8.8.8: %+v", us)
	}
	if fr.Country != "FR" || fr.Continent != "EU" || !fr.EU || !fr.EEA || fr.ASN != 16276 || fr.Provider != "ovhcloud" {
		t.Errorf("37.187.0.1: %+v", fr)
	}
	// AWS Paris: the embedded feed snapshot gives the region and its
	// country, the catalogue the US jurisdiction.
	if aws.Country != "FR" || aws.Region != "eu-west-3" || aws.RegionCountry != "FR" || aws.Provider != "aws" || aws.MatchedBy != "range" {
		t.Errorf("35.180.0.10: %+v", aws)
	}
	var got []string
	for _, p := range d.Providers {
		got = append(got, p.ID+"/"+p.MatchedBy+"/"+strings.Join(p.Jurisdictions, ","))
	}
	if strings.Join(got, " ") != "google/range/US ovhcloud/asn/FR aws/range/US" {
		t.Errorf("providers %v", got)
	}
}

// TestClassifyInfersFromRegistration: an operator the catalogue does not
// know gets the jurisdiction of the country its network is registered in;
// the catalogue wins over registration; nothing known leaves the address
// without an operator; internal addresses get no inferred operator.
func TestClassifyInfersFromRegistration(t *testing.T) {
	dir := t.TempDir()
	cfg := geo.ClassifierConfig{
		CountryDB:      filepath.Join(dir, "country.mmdb"),
		RegistrationDB: filepath.Join(dir, "registration.mmdb"),
		Internal:       []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")},
	}
	geotest.WriteCountryDB(t, cfg.CountryDB, map[string]string{
		"203.0.113.0/24": "FR", "198.51.100.0/24": "FR", "192.0.2.0/24": "IE", "10.20.0.0/16": "FR",
	})
	geotest.WriteRegistrationDB(t, cfg.RegistrationDB, map[string]geotest.Registration{
		"203.0.113.0/25":   {ASN: 14340, Org: "Salesforce.com, Inc.", Country: "US"},
		"203.0.113.128/25": {ASN: 3215, Org: "Orange S.A.", Country: "FR"},
		"198.51.100.0/24":  {ASN: 16276, Org: "OVH SAS", Country: "FR"},
		"192.0.2.0/25":     {Country: "CN"},
		"10.20.0.0/16":     {ASN: 64600, Org: "CITY", Country: "US"},
	})
	c := newClassifier(t, cfg)
	k := testKnowledge(t)
	d := c.Classify(k, "crm.example", nil, addrs("203.0.113.5", "203.0.113.200", "198.51.100.7", "192.0.2.1", "192.0.2.200", "10.20.1.1"))
	type addrWant struct{ provider, by string }
	wants := []addrWant{{"as14340", "registration"}, {"as3215", "registration"}, {"ovhcloud", "asn"}, {"registered-in-cn", "registration"}, {"", ""}, {"", ""}}
	for i, w := range wants {
		a := d.Addresses[i]
		if a.Provider != w.provider || a.MatchedBy != w.by {
			t.Errorf("%v: provider %q by %q, want %q by %q", a.IP, a.Provider, a.MatchedBy, w.provider, w.by)
		}
	}
	if a := d.Addresses[0]; a.ASN != 14340 || a.ASOrg != "Salesforce.com, Inc." {
		t.Errorf("the ASN comes from the registration data without an ASN database: %+v", a)
	}
	if a := d.Addresses[5]; !a.Internal || a.Provider != "" {
		t.Errorf("internal address: %+v", a)
	}
	if d.Addresses[4].Internal {
		t.Error("192.0.2.200 marked internal")
	}
	var got []string
	for _, p := range d.Providers {
		got = append(got, fmt.Sprintf("%s/%s/%s/%v/%s", p.ID, p.MatchedBy, strings.Join(p.Jurisdictions, ","), p.Inferred, p.Headquarters))
	}
	want := "ovhcloud/asn/FR/false/FR as14340/registration/US/true/ as3215/registration/FR/true/ registered-in-cn/registration/CN/true/"
	if strings.Join(got, " ") != want {
		t.Errorf("providers\n%v\nwant\n%s", strings.Join(got, " "), want)
	}
	if p := d.Providers[1]; p.Name != "Salesforce.com, Inc." {
		t.Errorf("inferred provider name %q", p.Name)
	}
}

func TestClassifyOffers(t *testing.T) {
	countryPath, asnPath := classifierFixture(t)
	c := newClassifier(t, geo.ClassifierConfig{CountryDB: countryPath, ASNDB: asnPath})
	k := testKnowledge(t)
	// By an offer's domain suffix: the addresses are OVH's by ASN.
	d := c.Classify(k, "api.snc.ovh.net", nil, addrs("198.51.100.7"))
	if len(d.Providers) != 1 || d.Providers[0].Offer == nil || d.Providers[0].Offer.ID != "ovh-snc" || d.Providers[0].MatchedBy != "asn" {
		t.Errorf("offer by suffix: %+v", d.Providers)
	}
	// By an offer's range.
	d = c.Classify(k, "x.example", nil, addrs("198.51.100.200"))
	if len(d.Providers) != 1 || d.Providers[0].Offer == nil || d.Providers[0].MatchedBy != "range" || d.Addresses[0].MatchedBy != "range" {
		t.Errorf("offer by range: %+v", d.Providers)
	}
	// Outside the offer: no offer.
	d = c.Classify(k, "www.ovh.net", nil, addrs("198.51.100.7"))
	if len(d.Providers) != 1 || d.Providers[0].Offer != nil {
		t.Errorf("no offer: %+v", d.Providers)
	}
	b, _ := json.Marshal(c.Classify(k, "api.snc.ovh.net", nil, addrs("198.51.100.7")).Providers[0])
	if !strings.Contains(string(b), `"offer":{"id":"ovh-snc","name":"SecNumCloud offer","qualifications":[{"scheme":"secnumcloud","since":"2024-01-10","until":"2027-01-10","source":"test"}]}`) {
		t.Errorf("JSON %s", b)
	}
}

func TestClassifyWithoutKnowledge(t *testing.T) {
	countryPath, asnPath := classifierFixture(t)
	c := newClassifier(t, geo.ClassifierConfig{CountryDB: countryPath, ASNDB: asnPath})
	d := c.Classify(nil, "x.amazonaws.com", nil, addrs("203.0.113.7"))
	if a := d.Addresses[0]; a.EU || a.Provider != "" || len(d.Providers) != 0 {
		t.Errorf("no knowledge, yet %+v %+v", a, d.Providers)
	}
}

func TestClassifierRevision(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	c1, a1 := classifierFixture(t, geotest.BuildTime(t1))
	c2, a2 := classifierFixture(t, geotest.BuildTime(t2))

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
		"internal":         {CountryDB: c1, ASNDB: a1, Internal: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
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
	k := geotest.DefaultKnowledge(b)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.c.Classify(k, bc.host, bc.cnames, bc.addrs)
			}
		})
	}
}
