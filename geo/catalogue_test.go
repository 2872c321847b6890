package geo_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
)

// TestEmbeddedCatalogueIsValid loads the embedded file through the same
// validation as an override file (unique ids, ISO codes, no ASN or suffix
// claimed twice, a source for every entry) and pins the facts the product
// brief requires.
func TestEmbeddedCatalogueIsValid(t *testing.T) {
	c, err := geo.LoadCatalogue(bytes.NewReader(geo.EmbeddedCatalogueJSON()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() != geo.EmbeddedCatalogue().Hash() {
		t.Error("EmbeddedCatalogue differs from loading the embedded file")
	}
	required := []struct {
		id, hq   string
		asns     []uint32
		suffixes []string
	}{
		{"aws", "US", []uint32{16509, 14618, 8987, 214101}, []string{"amazonaws.com", "cloudfront.net", "on.aws", "api.aws", "amazonaws.eu"}},
		{"azure", "US", []uint32{8075, 8068, 8069, 8070, 8071, 12076}, []string{"core.windows.net", "servicebus.windows.net", "azurewebsites.net", "cloudapp.net", "azureedge.net", "azurefd.net", "azure-api.net", "trafficmanager.net", "azure.com"}},
		{"google", "US", []uint32{15169, 396982, 36040, 19527, 43515}, []string{"gstatic.com"}},
		{"gcp", "US", nil, []string{"googleapis.com", "appspot.com", "run.app", "cloudfunctions.net", "web.app"}},
		{"oracle", "US", []uint32{31898}, []string{"oraclecloud.com", "oraclecloudapps.com", "customer-oci.com"}},
		{"cloudflare", "US", []uint32{13335, 209242}, []string{"cloudflare.com", "cloudflare.net", "workers.dev", "pages.dev", "r2.dev"}},
		{"akamai", "US", []uint32{20940, 16625, 12222, 35994, 63949}, []string{"akamai.net", "akamaiedge.net", "akamaihd.net", "akamaized.net", "edgekey.net", "edgesuite.net", "linode.com"}},
		{"fastly", "US", []uint32{54113}, []string{"fastly.net", "fastlylb.net", "edgecompute.app"}},
		{"digitalocean", "US", []uint32{14061, 393406}, []string{"digitaloceanspaces.com", "ondigitalocean.app"}},
		{"ibm", "US", []uint32{36351}, []string{"cloud.ibm.com", "appdomain.cloud"}},
		{"alibaba", "CN", []uint32{45102, 37963}, []string{"aliyuncs.com"}},
		{"ovhcloud", "FR", []uint32{16276, 35540}, []string{"ovh.net", "ovhcloud.com"}},
		{"scaleway", "FR", []uint32{12876, 202023}, []string{"scw.cloud"}},
		{"hetzner", "DE", []uint32{24940, 213230, 212317}, []string{"hetzner.com", "hetzner.cloud", "your-server.de"}},
		{"ionos", "DE", []uint32{8560}, []string{"ionos.com"}},
		{"outscale", "FR", []uint32{50624}, []string{"outscale.com"}},
	}
	for _, r := range required {
		p, ok := c.Provider(r.id)
		if !ok {
			t.Errorf("provider %q missing", r.id)
			continue
		}
		if p.Headquarters != r.hq || len(p.Jurisdictions) == 0 || p.Jurisdictions[0] != r.hq || p.Name == "" {
			t.Errorf("%s: %+v", r.id, p)
		}
		for _, asn := range r.asns {
			if got, ok := c.ProviderByASN(asn); !ok || got.ID != r.id || got.MatchedBy != "asn" {
				t.Errorf("AS%d -> %+v, want %s", asn, got, r.id)
			}
		}
		for _, s := range r.suffixes {
			if got, suffix, ok := c.ProviderByDomain("x." + s); !ok || got.ID != r.id || suffix != s || got.MatchedBy != "domain" {
				t.Errorf("x.%s -> %+v (%q), want %s", s, got, suffix, r.id)
			}
		}
	}
	for _, e := range c.Entries() {
		if e.Source == "" {
			t.Errorf("%s has no source", e.ID)
		}
		for _, a := range e.ASNs {
			if a.Org == "" {
				t.Errorf("%s: AS%d has no organisation recorded", e.ID, a.ASN)
			}
		}
	}
}

func TestCatalogueDomainMatching(t *testing.T) {
	c := geo.EmbeddedCatalogue()
	tests := []struct{ host, id, suffix string }{
		{"bucket.s3.eu-west-3.amazonaws.com", "aws", "amazonaws.com"},
		{"amazonaws.com", "aws", "amazonaws.com"},
		{"AMAZONAWS.COM.", "aws", "amazonaws.com"},
		{"evilamazonaws.com", "", ""},
		{"amazonaws.com.evil.example", "", ""},
		{"x.blob.core.windows.net", "azure", "core.windows.net"},
		{"foo.windows.net", "", ""}, // only the listed Azure zones, not all of windows.net
		{"myfunc.azurewebsites.net", "azure", "azurewebsites.net"},
		{"storage.googleapis.com", "gcp", "googleapis.com"},
		{"fonts.gstatic.com", "google", "gstatic.com"},
		{"d111111abcdef8.cloudfront.net", "aws", "cloudfront.net"},
		{"cloudfront.net.example", "", ""},
		{"s3.fr-par.scw.cloud", "scaleway", "scw.cloud"},
		{"ip.linodeusercontent.com", "akamai", "ip.linodeusercontent.com"},
		{"linodeusercontent.com", "", ""},
		{"example.com", "", ""},
		{"", "", ""},
		{".", "", ""},
		{"com", "", ""},
	}
	for _, tt := range tests {
		p, suffix, ok := c.ProviderByDomain(tt.host)
		if ok != (tt.id != "") || p.ID != tt.id || suffix != tt.suffix {
			t.Errorf("ProviderByDomain(%q) = %q, %q, %v; want %q, %q", tt.host, p.ID, suffix, ok, tt.id, tt.suffix)
		}
	}
}

func TestCatalogueLongestSuffixWins(t *testing.T) {
	c := loadCatalogue(t, `{"schema":1,"providers":[
		{"id":"parent","name":"Parent","headquarters":"US","asns":[64500],"domain_suffixes":["example.net"],"source":"test"},
		{"id":"child","name":"Child","headquarters":"FR","jurisdictions":["FR","DE"],"asns":[{"asn":64501,"org":"CHILD"}],"domain_suffixes":["Eu.Example.NET."],"source":"test"}]}`)
	for host, want := range map[string]string{
		"a.example.net":     "parent",
		"a.eu.example.net":  "child",
		"eu.example.net":    "child",
		"a.xeu.example.net": "parent",
	} {
		if p, _, _ := c.ProviderByDomain(host); p.ID != want {
			t.Errorf("%s -> %q, want %q", host, p.ID, want)
		}
	}
	if p, _ := c.Provider("child"); strings.Join(p.Jurisdictions, ",") != "FR,DE" {
		t.Errorf("child jurisdictions %v", p.Jurisdictions)
	}
	if p, _ := c.Provider("parent"); strings.Join(p.Jurisdictions, ",") != "US" {
		t.Errorf("parent jurisdictions default to headquarters: %v", p.Jurisdictions)
	}
}

func TestLoadCatalogueRejects(t *testing.T) {
	entry := func(id, extra string) string {
		return `{"id":"` + id + `","name":"N","headquarters":"FR","asns":[],"domain_suffixes":[],"source":"s"` + extra + `}`
	}
	doc := func(entries ...string) string {
		return `{"schema":1,"providers":[` + strings.Join(entries, ",") + `]}`
	}
	tests := []struct{ name, doc, want string }{
		{"not json", `{`, "parsing"},
		{"trailing data", doc(entry("a", "")) + `{}`, "after the JSON"},
		{"wrong schema", `{"schema":2,"providers":[]}`, "schema 2"},
		{"unknown field", doc(entry("a", `,"asn":[1]`)), "unknown field"},
		{"unknown ASN field", doc(entry("a", `,"asns":[{"asn":1,"name":"x"}]`)), "unknown field"},
		{"bad id", doc(entry("Bad_ID", "")), "id"},
		{"duplicate id", doc(entry("a", ""), entry("a", "")), "listed twice"},
		{"no name", doc(`{"id":"a","headquarters":"FR","source":"s"}`), "no name"},
		{"bad hq", doc(`{"id":"a","name":"N","headquarters":"France","source":"s"}`), "headquarters"},
		{"lower-case hq", doc(`{"id":"a","name":"N","headquarters":"fr","source":"s"}`), "headquarters"},
		{"bad jurisdiction", doc(entry("a", `,"jurisdictions":["EU"]`)), "jurisdiction"},
		{"no source", doc(`{"id":"a","name":"N","headquarters":"FR","source":"  "}`), "no source"},
		{"ASN zero", doc(entry("a", `,"asns":[0]`)), "reserved"},
		{"ASN negative", doc(entry("a", `,"asns":[-1]`)), "ASN"},
		{"ASN twice in entry", doc(entry("a", `,"asns":[5,5]`)), "listed twice"},
		{"ASN claimed twice", doc(entry("a", `,"asns":[5]`), entry("b", `,"asns":[{"asn":5}]`)), `AS5 claimed by both "a" and "b"`},
		{"suffix claimed twice", doc(entry("a", `,"domain_suffixes":["x.example"]`), entry("b", `,"domain_suffixes":["X.Example."]`)), `claimed by both`},
		{"suffix TLD", doc(entry("a", `,"domain_suffixes":["com"]`)), "top-level"},
		{"suffix IP", doc(entry("a", `,"domain_suffixes":["10.0.0.1"]`)), "IP address"},
		{"suffix junk", doc(entry("a", `,"domain_suffixes":["a b.com"]`)), "invalid character"},
		{"suffix empty", doc(entry("a", `,"domain_suffixes":[""]`)), "domain suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := geo.LoadCatalogue(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCatalogueMerge(t *testing.T) {
	base := geo.EmbeddedCatalogue()
	overlay := loadCatalogue(t, `{"schema":1,"providers":[
		{"id":"ovhcloud","name":"OVHcloud (override)","headquarters":"FR","asns":[16276],"domain_suffixes":["ovh.net"],"source":"local review"},
		{"id":"city-dc","name":"City data centre","headquarters":"FR","asns":[64512],"domain_suffixes":["city.example"],"source":"our network team"}]}`)
	m, err := base.Merge(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != base.Len()+1 {
		t.Errorf("merged has %d providers, want %d", m.Len(), base.Len()+1)
	}
	if p, _ := m.Provider("ovhcloud"); p.Name != "OVHcloud (override)" {
		t.Errorf("override not applied: %+v", p)
	}
	if _, ok := m.ProviderByASN(35540); ok {
		t.Error("the overridden entry's old ASN is still matched")
	}
	if p, _, _ := m.ProviderByDomain("intranet.city.example"); p.ID != "city-dc" {
		t.Errorf("new entry not matched: %+v", p)
	}
	if m.Hash() == base.Hash() {
		t.Error("hash unchanged by the merge")
	}
	// The base is untouched.
	if p, _ := base.Provider("ovhcloud"); p.Name != "OVHcloud" {
		t.Errorf("base modified: %+v", p)
	}

	conflict := loadCatalogue(t, `{"schema":1,"providers":[
		{"id":"mine","name":"Mine","headquarters":"FR","asns":[16509],"source":"x"}]}`)
	if _, err := base.Merge(conflict); err == nil || !strings.Contains(err.Error(), "AS16509") {
		t.Errorf("merge claiming AWS's ASN: err = %v", err)
	}
}

func TestCatalogueJSONRoundTrip(t *testing.T) {
	c := geo.EmbeddedCatalogue()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	again, err := geo.LoadCatalogue(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash() != c.Hash() {
		t.Error("hash changed through MarshalJSON/LoadCatalogue")
	}
}

func TestCatalogueLookupAllocationFree(t *testing.T) {
	c := geo.EmbeddedCatalogue()
	allocs := testing.AllocsPerRun(100, func() {
		c.ProviderByDomain("bucket.s3.eu-west-3.amazonaws.com")
		c.ProviderByDomain("www.example.org")
		c.ProviderByASN(16509)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func loadCatalogue(t testing.TB, doc string) *geo.Catalogue {
	t.Helper()
	c, err := geo.LoadCatalogue(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// naiveSuffixMatch is the obviously correct reference for the fuzz target.
func naiveSuffixMatch(host string, suffixes []string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	best := ""
	for _, s := range suffixes {
		if (host == s || strings.HasSuffix(host, "."+s)) && len(s) > len(best) {
			best = s
		}
	}
	return best
}

func FuzzProviderByDomain(f *testing.F) {
	for _, s := range []string{"bucket.s3.eu-west-3.amazonaws.com", "evilamazonaws.com", "x.blob.core.windows.net", "AMAZONAWS.COM.", "a..amazonaws.com", ".amazonaws.com", "", "."} {
		f.Add(s)
	}
	c := geo.EmbeddedCatalogue()
	var suffixes []string
	for _, e := range c.Entries() {
		suffixes = append(suffixes, e.DomainSuffixes...)
	}
	f.Fuzz(func(t *testing.T, host string) {
		_, got, ok := c.ProviderByDomain(host)
		want := naiveSuffixMatch(host, suffixes)
		if got != want || ok != (want != "") {
			t.Fatalf("ProviderByDomain(%q) matched %q, reference %q", host, got, want)
		}
	})
}

func FuzzLoadCatalogue(f *testing.F) {
	f.Add(geo.EmbeddedCatalogueJSON())
	f.Add([]byte(`{"schema":1,"providers":[{"id":"a","name":"A","headquarters":"FR","asns":[1,{"asn":2,"org":"o"}],"domain_suffixes":["a.example"],"source":"s"}]}`))
	f.Add([]byte(`{"schema":1,"providers":[]}`))
	f.Add([]byte(`{"schema":1,"providers":[{"id":"a","asns":[1e3]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := geo.LoadCatalogue(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever loads must survive a round trip unchanged.
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := geo.LoadCatalogue(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-loading %s: %v", b, err)
		}
		if again.Hash() != c.Hash() {
			t.Fatalf("hash changed on round trip")
		}
	})
}
