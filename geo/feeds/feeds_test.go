package feeds_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
)

// parseSet parses every feed of a generated set, as `geo update` does.
func parseSet(t testing.TB, set *feedtest.Set) map[string]*feeds.Parsed {
	t.Helper()
	files := set.Files()
	out := map[string]*feeds.Parsed{}
	for _, f := range feeds.All() {
		data := make([][]byte, len(f.Files))
		for i, file := range f.Files {
			data[i] = files[file.Path]
		}
		p, err := f.Parse(data, nil)
		if err != nil {
			t.Fatalf("feed %s: %v", f.Name, err)
		}
		out[f.Name] = p
	}
	return out
}

func entryOf(t testing.TB, p *feeds.Parsed, prefix string) geo.RangeEntry {
	t.Helper()
	want := netip.MustParsePrefix(prefix)
	for _, e := range p.Entries {
		if e.Prefix == want {
			return e
		}
	}
	t.Fatalf("feed %s has no %s; entries %v", p.Info.Name, prefix, p.Entries)
	return geo.RangeEntry{}
}

func TestParseEveryOfficialFormat(t *testing.T) {
	parsed := parseSet(t, feedtest.Default())
	date := time.Date(2025, 7, 24, 20, 23, 14, 0, time.UTC)

	tests := []struct {
		feed, prefix string
		want         geo.RangeInfo
	}{
		{"aws", "35.180.0.0/16", geo.RangeInfo{Provider: "aws", Region: "eu-west-3", RegionCountry: "FR", Service: "EC2", Feed: "aws"}},
		{"aws", "2a05:d012::/40", geo.RangeInfo{Provider: "aws", Region: "eu-west-3", RegionCountry: "FR", Service: "EC2", Feed: "aws"}},
		{"aws", "52.95.154.0/24", geo.RangeInfo{Provider: "aws", Region: "eu-west-3", RegionCountry: "FR", Service: "EC2,S3", Feed: "aws"}},
		{"aws", "15.230.221.0/24", geo.RangeInfo{Provider: "aws", Region: "us-east-1", RegionCountry: "US", Service: "AMAZON", Feed: "aws"}},
		// A Local Zone: the region is Frankfurt's, the border group is in Warsaw.
		{"aws", "15.220.200.0/22", geo.RangeInfo{Provider: "aws", Region: "eu-central-1", RegionCountry: "PL", Service: "EC2", Feed: "aws"}},
		{"aws", "13.32.0.0/15", geo.RangeInfo{Provider: "aws", Region: "GLOBAL", Service: "CLOUDFRONT", Anycast: true, Feed: "aws"}},
		{"gcp", "34.155.0.0/16", geo.RangeInfo{Provider: "gcp", Region: "europe-west9", RegionCountry: "FR", Service: "Google Cloud", Feed: "gcp"}},
		{"gcp", "34.149.0.0/16", geo.RangeInfo{Provider: "gcp", Region: "global", Service: "Google Cloud", Anycast: true, Feed: "gcp"}},
		{"google", "34.128.0.0/10", geo.RangeInfo{Provider: "google", Feed: "google"}},
		{"google", "8.8.8.0/24", geo.RangeInfo{Provider: "google", Feed: "google"}},
		// Tag spellings are mapped to Azure's region names.
		{"azure", "20.19.0.0/16", geo.RangeInfo{Provider: "azure", Region: "francecentral", RegionCountry: "FR", Feed: "azure"}},
		{"azure", "2603:1020:800::/47", geo.RangeInfo{Provider: "azure", Region: "francecentral", RegionCountry: "FR", Feed: "azure"}},
		{"azure", "20.52.0.0/16", geo.RangeInfo{Provider: "azure", Region: "germanywestcentral", RegionCountry: "DE", Feed: "azure"}},
		{"azure", "13.104.0.0/14", geo.RangeInfo{Provider: "azure", Feed: "azure"}},
		{"oracle", "141.253.96.0/19", geo.RangeInfo{Provider: "oracle", Region: "eu-paris-1", RegionCountry: "FR", Service: "OCI", Feed: "oracle"}},
		{"oracle", "129.159.64.0/20", geo.RangeInfo{Provider: "oracle", Region: "eu-jovanovac-1", RegionCountry: "RS", Service: "OCI", Feed: "oracle"}},
		{"oracle", "134.70.24.0/21", geo.RangeInfo{Provider: "oracle", Region: "eu-frankfurt-1", RegionCountry: "DE", Service: "OBJECT_STORAGE", Feed: "oracle"}},
		{"cloudflare", "104.16.0.0/13", geo.RangeInfo{Provider: "cloudflare", Anycast: true, Feed: "cloudflare"}},
		{"cloudflare", "2606:4700::/32", geo.RangeInfo{Provider: "cloudflare", Anycast: true, Feed: "cloudflare"}},
		{"fastly", "2a04:4e42::/32", geo.RangeInfo{Provider: "fastly", Anycast: true, Feed: "fastly"}},
		{"akamai", "23.32.0.0/11", geo.RangeInfo{Provider: "akamai", Anycast: true, Feed: "akamai"}},
		{"akamai", "2a02:26f0::/29", geo.RangeInfo{Provider: "akamai", Anycast: true, Feed: "akamai"}},
		{"digitalocean", "164.90.160.0/20", geo.RangeInfo{Provider: "digitalocean", Region: "DE-HE", RegionCountry: "DE", Feed: "digitalocean"}},
		{"linode", "139.162.0.0/20", geo.RangeInfo{Provider: "akamai", Region: "GB-ENG", RegionCountry: "GB", Feed: "linode"}},
	}
	for _, tt := range tests {
		if got := entryOf(t, parsed[tt.feed], tt.prefix).RangeInfo; got != tt.want {
			t.Errorf("%s %s:\n got %+v\nwant %+v", tt.feed, tt.prefix, got, tt.want)
		}
	}

	counts := map[string][3]int{ // prefixes, IPv4, IPv6
		"aws": {8, 6, 2}, "gcp": {4, 3, 1}, "azure": {5, 4, 1}, "oracle": {3, 3, 0},
		"cloudflare": {2, 1, 1}, "fastly": {2, 1, 1}, "akamai": {2, 1, 1},
		"digitalocean": {2, 1, 1}, "linode": {3, 2, 1},
		// goog.json minus cloud.json: 34.155.0.0/16 is Google Cloud's.
		"google": {3, 2, 1},
	}
	for name, want := range counts {
		info := parsed[name].Info
		if got := [3]int{info.Prefixes, info.IPv4, info.IPv6}; got != want {
			t.Errorf("%s: counts %v, want %v", name, got, want)
		}
		if info.Name != name || len(info.SHA256) != 64 {
			t.Errorf("%s: info %+v", name, info)
		}
	}
	for _, name := range []string{"aws", "gcp", "oracle", "linode", "google"} {
		if got := parsed[name].Info.Date; !got.Equal(date) {
			t.Errorf("%s: date %v, want %v", name, got, date)
		}
	}
	if got := parsed["aws"].Info.SyncToken; got != "1753388594" {
		t.Errorf("aws sync token %q", got)
	}
	if got := parsed["azure"].Info.SyncToken; got != "88594" {
		t.Errorf("azure change number %q", got)
	}
	if got, want := parsed["aws"].Regions, []string{"GLOBAL", "ap-northeast-2", "eu-central-1", "eu-central-1-waw-1", "eu-west-3", "us-east-1"}; !slices.Equal(got, want) {
		t.Errorf("aws regions %v, want %v", got, want)
	}
}

func TestCombine(t *testing.T) {
	set := feedtest.Default()
	// Fastly also lists one of Cloudflare's prefixes: the feed earlier in
	// precedence order (cloudflare) keeps it.
	set.Fastly = append(set.Fastly, "104.16.0.0/13")
	parsed := parseSet(t, set)
	var list []*feeds.Parsed
	for _, name := range []string{"fastly", "google", "cloudflare", "aws"} { // any order
		list = append(list, parsed[name])
	}
	entries, conflicts := feeds.Combine(list)
	want := feeds.Conflict{Prefix: netip.MustParsePrefix("104.16.0.0/13"), Kept: "cloudflare", Dropped: "fastly"}
	if len(conflicts) != 1 || conflicts[0] != want {
		t.Fatalf("conflicts %v, want [%v]", conflicts, want)
	}
	seen := map[netip.Prefix]bool{}
	for _, e := range entries {
		if seen[e.Prefix] {
			t.Fatalf("%s twice", e.Prefix)
		}
		seen[e.Prefix] = true
	}
	if n := len(entries); n != 8+3+2+2 {
		t.Errorf("%d entries", n)
	}
}

func TestParsersRejectCorruptFeeds(t *testing.T) {
	good := feedtest.Default().Files()
	corrupt := func(path, old, new string) []byte {
		b := good[path]
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("%s has no %q", path, old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	html := []byte("<html><body>503 Service Unavailable</body></html>")
	tests := []struct {
		name, feed string
		files      [][]byte
		wantErr    string
	}{
		{"aws html", "aws", [][]byte{html}, "not the expected JSON"},
		{"aws truncated", "aws", [][]byte{good["aws/ip-ranges.json"][:200]}, "not the expected JSON"},
		{"aws no lists", "aws", [][]byte{[]byte(`{"syncToken":"1"}`)}, "no prefixes"},
		{"aws empty lists", "aws", [][]byte{[]byte(`{"prefixes":[],"ipv6_prefixes":[]}`)}, "no prefixes"},
		{"aws bad prefix", "aws", [][]byte{corrupt("aws/ip-ranges.json", "35.180.0.0/16", "35.180.0.0/33")}, "prefix"},
		{"aws whole internet", "aws", [][]byte{corrupt("aws/ip-ranges.json", "35.180.0.0/16", "0.0.0.0/0")}, "implausible"},
		{"aws no region", "aws", [][]byte{[]byte(`{"prefixes":[{"ip_prefix":"35.180.0.0/16"}]}`)}, "no region"},
		{"aws bad date", "aws", [][]byte{corrupt("aws/ip-ranges.json", "2025-07-24-20-23-14", "yesterday")}, "createDate"},
		{"aws trailing data", "aws", [][]byte{append(bytes.Clone(good["aws/ip-ranges.json"]), "{}"...)}, "after the JSON"},
		{"gcp both families", "gcp", [][]byte{[]byte(`{"prefixes":[{"ipv4Prefix":"34.1.0.0/16","ipv6Prefix":"2600::/32","scope":"x"}]}`)}, "one of"},
		{"gcp no scope", "gcp", [][]byte{[]byte(`{"prefixes":[{"ipv4Prefix":"34.1.0.0/16"}]}`)}, "no scope"},
		{"google corrupt cloud.json", "google", [][]byte{good["gcp/goog.json"], html}, "cloud.json"},
		{"azure government cloud", "azure", [][]byte{corrupt("azure/ServiceTags_Public.json", `"Public"`, `"AzureGovernment"`)}, "Public"},
		{"azure bad prefix", "azure", [][]byte{corrupt("azure/ServiceTags_Public.json", "20.52.0.0/16", "20.52.0.0/x")}, "AzureCloud.germanywc"},
		{"azure no AzureCloud tag", "azure", [][]byte{[]byte(`{"cloud":"Public","values":[{"name":"Storage","properties":{"addressPrefixes":["20.1.0.0/16"]}}]}`)}, "no prefixes"},
		{"oracle mapped v6", "oracle", [][]byte{corrupt("oracle/public_ip_ranges.json", "141.253.96.0/19", "::ffff:141.253.96.0/115")}, "IPv4-mapped"},
		{"cloudflare html", "cloudflare", [][]byte{html, good["cloudflare/ips-v6"]}, "file 1 line 1"},
		{"cloudflare both empty", "cloudflare", [][]byte{nil, []byte("\n# nothing\n")}, "no prefixes"},
		{"fastly wrong shape", "fastly", [][]byte{[]byte(`["151.101.0.0/16"]`)}, "not the expected JSON"},
		{"akamai garbage line", "akamai", [][]byte{[]byte("23.32.0.0/11\t\nhello\n"), good["akamai/akamai_ipv6_CIDRs.txt"]}, "line 2"},
		{"geofeed bad prefix", "linode", [][]byte{[]byte("# comment\n172.104.128.0/19,DE,DE-HE,Frankfurt,\nnot-a-prefix,DE,,,\n")}, "line 3"},
		{"geofeed only comments", "digitalocean", [][]byte{[]byte("# empty\n")}, "no prefixes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := feeds.ByName(tt.feed)
			_, err := f.Parse(tt.files, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGeofeedDetails(t *testing.T) {
	data := []byte("\xef\xbb\xbf# Last modified: 2025-07-24 10:00:06.525037\n" +
		"192.0.2.0/24,fr,FR-IDF,Paris,75001\n" +
		"\n" +
		"198.51.100.0/24,ZZ,,,\n" + // not a country: left to GeoIP
		"203.0.113.7,\"US\",US-NY,\"New York, NY\",\n" + // a single address, quoted fields
		"2001:db8::/32\n") // prefix only
	p, err := feeds.ParseGeofeed(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []geo.RangeEntry{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), RangeInfo: geo.RangeInfo{Region: "FR-IDF", RegionCountry: "FR"}},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24")},
		{Prefix: netip.MustParsePrefix("203.0.113.7/32"), RangeInfo: geo.RangeInfo{Region: "US-NY", RegionCountry: "US"}},
		{Prefix: netip.MustParsePrefix("2001:db8::/32")},
	}
	if !slices.Equal(p.Entries, want) {
		t.Errorf("entries\n got %v\nwant %v", p.Entries, want)
	}
	if d := time.Date(2025, 7, 24, 10, 0, 6, 525037000, time.UTC); !p.Info.Date.Equal(d) {
		t.Errorf("date %v", p.Info.Date)
	}
}

func TestRegionTable(t *testing.T) {
	table := feeds.Regions()
	for _, tt := range []struct{ provider, name, region, country string }{
		{"aws", "eu-west-3", "eu-west-3", "FR"},
		{"aws", "eu-central-1-waw-1", "eu-central-1-waw-1", "PL"},
		{"aws", "us-east-1-bue-1", "us-east-1-bue-1", "AR"},
		{"gcp", "europe-west9", "europe-west9", "FR"},
		{"azure", "centralfrance", "francecentral", "FR"},
		{"azure", "germanywc", "germanywestcentral", "DE"},
		{"azure", "norwaye", "norwayeast", "NO"},
		{"oracle", "eu-jovanovac-1", "eu-jovanovac-1", "RS"},
		{"aws", "GLOBAL", "GLOBAL", ""},
	} {
		r, ok := table.Lookup(tt.provider, tt.name)
		if !ok || r.Region != tt.region || r.Country != tt.country {
			t.Errorf("%s %s: %+v %v, want region %s country %q", tt.provider, tt.name, r, ok, tt.region, tt.country)
		}
	}
	// Every European and US region of the four clouds is mapped: check the
	// names that say so.
	for _, r := range table.All() {
		european := strings.HasPrefix(r.Name, "eu-") || strings.HasPrefix(r.Name, "europe-") || strings.HasPrefix(r.Name, "uk-")
		american := strings.HasPrefix(r.Name, "us-")
		if (european || american) && r.Unmapped() && !strings.HasPrefix(r.Location, "anycast") {
			t.Errorf("%s %s is European or American but unmapped", r.Provider, r.Name)
		}
	}

	for _, bad := range []string{
		"aws,eu-west-3,,fr,Paris\n",                          // lower case
		"aws,eu-west-3,,XX,Paris\n",                          // not assigned
		"aws,eu-west-3,,FR,Paris\naws,eu-west-3,,FR,Paris\n", // twice
		"aws,me-west-1,,-,\n",                                // unmapped without a reason
		"aws,eu-west-3,FR\n",                                 // columns missing
	} {
		if _, err := feeds.ParseRegionTable(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestRegionTableCoversFeeds checks that every region a feed uses is in the
// region table, mapped or unmapped on purpose: for the generated feeds
// always, and for the real feeds when SOVGATE_SHARED_DATA names the shared
// data directory (its feeds/ holds real snapshots; see SOURCES.md there).
func TestRegionTableCoversFeeds(t *testing.T) {
	check := func(t *testing.T, parsed map[string]*feeds.Parsed) {
		table := feeds.Regions()
		for name, p := range parsed {
			for _, region := range p.Regions {
				if _, ok := table.Lookup(p.Info.Provider, region); !ok {
					t.Errorf("feed %s: region %q is not in regions.csv: add it, with its country or '-' and the reason", name, region)
				}
			}
		}
	}
	t.Run("generated", func(t *testing.T) { check(t, parseSet(t, feedtest.Default())) })
	t.Run("real", func(t *testing.T) {
		dir := sharedFeeds(t)
		check(t, parseMirror(t, dir))
	})
}

// sharedFeeds returns the real feed snapshots directory, or skips.
func sharedFeeds(t testing.TB) string {
	t.Helper()
	root := os.Getenv("SOVGATE_SHARED_DATA")
	if root == "" {
		t.Skip("set SOVGATE_SHARED_DATA to the shared data directory to check the real feeds")
	}
	dir := filepath.Join(root, "feeds")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SOVGATE_SHARED_DATA: %v", err)
	}
	return dir
}

// realNames maps mirror paths to the names the shared snapshots use.
var realNames = map[string]string{
	"cloudflare/ips-v4":     "cloudflare/ips-v4.txt",
	"cloudflare/ips-v6":     "cloudflare/ips-v6.txt",
	"fastly/public-ip-list": "fastly/public-ip-list.json",
}

// parseMirror parses every feed of a directory in the mirror layout (or
// the shared snapshots' layout).
func parseMirror(t testing.TB, dir string) map[string]*feeds.Parsed {
	t.Helper()
	out := map[string]*feeds.Parsed{}
	for _, f := range feeds.All() {
		data := make([][]byte, len(f.Files))
		for i, file := range f.Files {
			p := file.Path
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil && realNames[p] != "" {
				p = realNames[p]
			}
			b, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			data[i] = b
		}
		p, err := f.Parse(data, nil)
		if err != nil {
			t.Fatalf("feed %s: %v", f.Name, err)
		}
		out[f.Name] = p
	}
	return out
}
