// Package feedtest writes provider IP-range feeds in their official formats
// for tests: AWS ip-ranges.json, Google cloud.json and goog.json, Azure
// ServiceTags_Public.json (and its download page), Oracle
// public_ip_ranges.json, Cloudflare ips-v4/ips-v6, Fastly public-ip-list,
// Akamai's CIDR lists (and their zip), DigitalOcean's and Linode's RFC 8805
// geofeeds. Tests get a mirror directory, an HTTP mirror, or a server that
// answers at the official URLs, with no network and no downloaded data.
//
//	set := feedtest.Default()
//	set.AWS = append(set.AWS, feedtest.AWSPrefix{Prefix: "127.0.0.4/32", Region: "eu-west-3", Services: []string{"EC2"}})
//	dir := t.TempDir()
//	set.WriteMirror(t, dir)
package feedtest

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
)

// AWSPrefix is one prefix of ip-ranges.json; it is written once per
// service, as AWS does (AMAZON first, always).
type AWSPrefix struct {
	Prefix   string
	Region   string
	NBG      string // network_border_group; default Region
	Services []string
}

// GooglePrefix is one prefix of cloud.json.
type GooglePrefix struct {
	Prefix string
	Scope  string
}

// AzureTag is one service tag of ServiceTags_Public.json.
type AzureTag struct {
	Name     string // AzureCloud.centralfrance, AzureCloud, Storage, ...
	Region   string // the tag's properties.region
	Prefixes []string
}

// OracleCIDR is one CIDR of public_ip_ranges.json.
type OracleCIDR struct {
	Region string
	CIDR   string
	Tags   []string
}

// RegistrationRange is one line of the registration table: an inclusive
// range, its autonomous system (0: not routed), the country that system is
// registered in ("None" when unknown) and its description.
type RegistrationRange struct {
	Start, End  string
	ASN         uint32
	Country     string
	Description string
}

// GeofeedLine is one line of an RFC 8805 geofeed.
type GeofeedLine struct {
	Prefix, Country, Region, City string
}

// Set is a set of feeds to write.
type Set struct {
	AWS          []AWSPrefix
	GCP          []GooglePrefix
	Goog         []string
	Azure        []AzureTag
	Oracle       []OracleCIDR
	CloudflareV4 []string
	CloudflareV6 []string
	Fastly       []string
	AkamaiV4     []string
	AkamaiV6     []string
	DigitalOcean []GeofeedLine
	Linode       []GeofeedLine
	// Registration is the network registration table (iptoasn.com's
	// ip2asn-combined layout) that `geo update` compiles beside the feeds.
	Registration []RegistrationRange
	// SyncToken is written as AWS's and Google's syncToken and Azure's
	// changeNumber; Date as every feed's date.
	SyncToken int64
	Date      time.Time
}

// Default returns a small set in which every feed lists a few real-looking
// prefixes, chosen so tests can check each rule:
//
//	35.180.0.0/16, 2a05:d012::/40  aws eu-west-3 (FR), EC2
//	52.95.154.0/24                 aws eu-west-3, EC2 and S3 -> "EC2,S3"
//	15.230.221.0/24                aws us-east-1 (US), AMAZON only
//	15.220.200.0/22                aws eu-central-1, border group eu-central-1-waw-1 (PL)
//	3.5.140.0/22                   aws ap-northeast-2 (KR)
//	13.32.0.0/15, 2600:9000::/28   aws GLOBAL, CLOUDFRONT: anycast
//	34.155.0.0/16                  gcp europe-west9 (FR)
//	34.1.208.0/20                  gcp africa-south1 (ZA)
//	34.149.0.0/16                  gcp global: anycast
//	34.128.0.0/10, 8.8.8.0/24      google (goog.json; 34.155/16 and 34.149/16 inside go to gcp)
//	20.19.0.0/16, 2603:1020:800::/47  azure francecentral (tag centralfrance, FR)
//	20.52.0.0/16                   azure germanywestcentral (tag germanywc, DE)
//	20.42.0.0/16                   azure eastus (US)
//	13.104.0.0/14                  azure, no region (AzureCloud only)
//	141.253.96.0/19                oracle eu-paris-1 (FR), OCI
//	129.159.64.0/20                oracle eu-jovanovac-1 (RS)
//	134.70.24.0/21                 oracle eu-frankfurt-1 (DE), OSN + OBJECT_STORAGE
//	104.16.0.0/13, 2606:4700::/32  cloudflare: anycast
//	151.101.0.0/16, 2a04:4e42::/32 fastly: anycast
//	23.32.0.0/11, 2a02:26f0::/29   akamai: anycast
//	164.90.160.0/20, 2a03:b0c0:3::/48  digitalocean DE (DE-HE, Frankfurt)
//	172.104.128.0/19, 2a01:7e01::/32   linode (akamai) DE (DE-HE, Frankfurt)
//	139.162.0.0/20                 linode (akamai) GB (GB-ENG, London)
//
// and a registration table: 35.180.0.0/16 AS16509 (US), 198.51.100.0/24
// AS16276 (FR), 203.0.113.0/25 AS14340 (US), 2a01:4f8::/32 AS24940 (DE),
// 192.0.2.0/24 not routed.
func Default() *Set {
	return &Set{
		AWS: []AWSPrefix{
			{Prefix: "35.180.0.0/16", Region: "eu-west-3", Services: []string{"EC2"}},
			{Prefix: "52.95.154.0/24", Region: "eu-west-3", Services: []string{"S3", "EC2"}},
			{Prefix: "15.230.221.0/24", Region: "us-east-1"},
			{Prefix: "15.220.200.0/22", Region: "eu-central-1", NBG: "eu-central-1-waw-1", Services: []string{"EC2"}},
			{Prefix: "3.5.140.0/22", Region: "ap-northeast-2"},
			{Prefix: "13.32.0.0/15", Region: "GLOBAL", Services: []string{"CLOUDFRONT"}},
			{Prefix: "2a05:d012::/40", Region: "eu-west-3", Services: []string{"EC2"}},
			{Prefix: "2600:9000::/28", Region: "GLOBAL", Services: []string{"CLOUDFRONT"}},
		},
		GCP: []GooglePrefix{
			{Prefix: "34.155.0.0/16", Scope: "europe-west9"},
			{Prefix: "34.1.208.0/20", Scope: "africa-south1"},
			{Prefix: "34.149.0.0/16", Scope: "global"},
			{Prefix: "2600:1900:4150::/44", Scope: "europe-west9"},
		},
		Goog: []string{"8.8.8.0/24", "34.128.0.0/10", "34.155.0.0/16", "2001:4860::/32"},
		Azure: []AzureTag{
			{Name: "ActionGroup", Prefixes: []string{"20.19.0.4/30"}},
			{Name: "AzureCloud.centralfrance", Region: "centralfrance", Prefixes: []string{"20.19.0.0/16", "2603:1020:800::/47"}},
			{Name: "AzureCloud.germanywc", Region: "germanywc", Prefixes: []string{"20.52.0.0/16"}},
			{Name: "AzureCloud.eastus", Region: "eastus", Prefixes: []string{"20.42.0.0/16"}},
			{Name: "AzureCloud", Prefixes: []string{"13.104.0.0/14", "20.19.0.0/16", "20.42.0.0/16", "20.52.0.0/16", "2603:1020:800::/47"}},
			{Name: "Storage.FranceCentral", Region: "francecentral", Prefixes: []string{"20.19.8.0/24"}},
		},
		Oracle: []OracleCIDR{
			{Region: "eu-paris-1", CIDR: "141.253.96.0/19", Tags: []string{"OCI"}},
			{Region: "eu-jovanovac-1", CIDR: "129.159.64.0/20", Tags: []string{"OCI"}},
			{Region: "eu-frankfurt-1", CIDR: "134.70.24.0/21", Tags: []string{"OSN", "OBJECT_STORAGE"}},
		},
		CloudflareV4: []string{"104.16.0.0/13"},
		CloudflareV6: []string{"2606:4700::/32"},
		Fastly:       []string{"151.101.0.0/16", "2a04:4e42::/32"},
		AkamaiV4:     []string{"23.32.0.0/11"},
		AkamaiV6:     []string{"2a02:26f0::/29"},
		DigitalOcean: []GeofeedLine{
			{Prefix: "164.90.160.0/20", Country: "DE", Region: "DE-HE", City: "Frankfurt"},
			{Prefix: "2a03:b0c0:3::/48", Country: "DE", Region: "DE-HE", City: "Frankfurt"},
		},
		Linode: []GeofeedLine{
			{Prefix: "172.104.128.0/19", Country: "DE", Region: "DE-HE", City: "Frankfurt"},
			{Prefix: "2a01:7e01::/32", Country: "DE", Region: "DE-HE", City: "Frankfurt"},
			{Prefix: "139.162.0.0/20", Country: "GB", Region: "GB-ENG", City: "London"},
		},
		Registration: []RegistrationRange{
			{"35.180.0.0", "35.180.255.255", 16509, "US", "AMAZON-02"},
			{"192.0.2.0", "192.0.2.255", 0, "None", "Not routed"},
			{"198.51.100.0", "198.51.100.255", 16276, "FR", "OVH"},
			{"203.0.113.0", "203.0.113.127", 14340, "US", "SALESFORCE"},
			{"2a01:4f8::", "2a01:4f8:ffff:ffff:ffff:ffff:ffff:ffff", 24940, "DE", "HETZNER-AS"},
		},
		SyncToken: 1753388594,
		Date:      time.Date(2025, 7, 24, 20, 23, 14, 0, time.UTC),
	}
}

// RegistrationMirrorPath and RegistrationURL say where `geo update` reads
// the registration table (see package update).
const (
	RegistrationMirrorPath = "iptoasn/ip2asn-combined.tsv.gz"
	RegistrationURL        = "https://iptoasn.com/data/ip2asn-combined.tsv.gz"
)

// RegistrationTable writes the set's registration table as iptoasn.com
// publishes it: tab-separated lines, gzip-compressed.
func (s *Set) RegistrationTable() []byte {
	var raw bytes.Buffer
	for _, r := range s.Registration {
		fmt.Fprintf(&raw, "%s\t%s\t%d\t%s\t%s\n", r.Start, r.End, r.ASN, r.Country, r.Description)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	return gz.Bytes()
}

// MirrorPaths lists the files of a mirror, in the layout `sovgate geo
// update --mirror` reads.
var MirrorPaths = []string{
	"aws/ip-ranges.json",
	"gcp/cloud.json",
	"gcp/goog.json",
	"azure/ServiceTags_Public.json",
	"oracle/public_ip_ranges.json",
	"cloudflare/ips-v4",
	"cloudflare/ips-v6",
	"fastly/public-ip-list",
	"akamai/akamai_ipv4_CIDRs.txt",
	"akamai/akamai_ipv6_CIDRs.txt",
	"digitalocean/google.csv",
	"linode/geofeed.csv",
	RegistrationMirrorPath,
}

// Files returns every feed file in its official format, by mirror path.
func (s *Set) Files() map[string][]byte {
	return map[string][]byte{
		"aws/ip-ranges.json":            s.awsJSON(),
		"gcp/cloud.json":                s.googJSON(s.GCP, true),
		"gcp/goog.json":                 s.googJSON(googPrefixes(s.Goog), false),
		"azure/ServiceTags_Public.json": s.azureJSON(),
		"oracle/public_ip_ranges.json":  s.oracleJSON(),
		"cloudflare/ips-v4":             lines(s.CloudflareV4, ""),
		"cloudflare/ips-v6":             lines(s.CloudflareV6, ""),
		"fastly/public-ip-list":         mustJSON(map[string][]string{"addresses": nonNil(s.Fastly, 4), "ipv6_addresses": nonNil(s.Fastly, 6)}),
		// Akamai's files end their lines with a tab.
		"akamai/akamai_ipv4_CIDRs.txt": lines(s.AkamaiV4, "\t"),
		"akamai/akamai_ipv6_CIDRs.txt": lines(s.AkamaiV6, "\t"),
		"digitalocean/google.csv":      geofeed(s.DigitalOcean, ""),
		"linode/geofeed.csv":           geofeed(s.Linode, s.Date.Format("2006-01-02 15:04:05.000000")),
		RegistrationMirrorPath:         s.RegistrationTable(),
	}
}

// WriteMirror writes Files under dir.
func (s *Set) WriteMirror(t testing.TB, dir string) {
	t.Helper()
	for p, data := range s.Files() {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Index compiles the set into a provider-ranges index, as `sovgate geo
// update` does, and returns the file's bytes.
func (s *Set) Index(t testing.TB) []byte {
	t.Helper()
	files := s.Files()
	var parsed []*feeds.Parsed
	m := geo.RangesManifest{Built: s.Date}
	for _, f := range feeds.All() {
		data := make([][]byte, len(f.Files))
		for i, file := range f.Files {
			data[i] = files[file.Path]
		}
		p, err := f.Parse(data, nil)
		if err != nil {
			if strings.Contains(err.Error(), "no prefixes") {
				continue // a feed the set leaves empty
			}
			t.Fatalf("feedtest: feed %s: %v", f.Name, err)
		}
		parsed = append(parsed, p)
		m.Feeds = append(m.Feeds, p.Info)
	}
	entries, _ := feeds.Combine(parsed)
	var b bytes.Buffer
	if err := geo.WriteProviderRanges(&b, entries, m); err != nil {
		t.Fatalf("feedtest: writing the index: %v", err)
	}
	return b.Bytes()
}

// WriteIndex writes Index as dir/providers.mmdb (creating dir), the way
// `sovgate geo update --dir dir` leaves it (written to a temporary file,
// then renamed), and returns the file's path.
func (s *Set) WriteIndex(t testing.TB, dir string) string {
	t.Helper()
	data := s.Index(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, geo.ProviderRangesFile)
	tmp, err := os.CreateTemp(dir, ".providers-*.mmdb")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// AzureFileURL is where the generated Azure download page says the weekly
// file is.
const AzureFileURL = "https://download.microsoft.com/download/7/1/D/71D86715-5596-4529-9B13-DA13A5DE5B63/ServiceTags_Public_20250721.json"

// Official returns the content served at each official URL: the feeds, the
// Azure download page that links to the weekly file, and Akamai's zip.
func (s *Set) Official() map[string][]byte {
	f := s.Files()
	return map[string][]byte{
		"https://ip-ranges.amazonaws.com/ip-ranges.json":                 f["aws/ip-ranges.json"],
		"https://www.gstatic.com/ipranges/cloud.json":                    f["gcp/cloud.json"],
		"https://www.gstatic.com/ipranges/goog.json":                     f["gcp/goog.json"],
		"https://www.microsoft.com/en-us/download/details.aspx?id=56519": azurePage(),
		AzureFileURL: f["azure/ServiceTags_Public.json"],
		"https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json": f["oracle/public_ip_ranges.json"],
		"https://www.cloudflare.com/ips-v4":                              f["cloudflare/ips-v4"],
		"https://www.cloudflare.com/ips-v6":                              f["cloudflare/ips-v6"],
		"https://api.fastly.com/public-ip-list":                          f["fastly/public-ip-list"],
		"https://techdocs.akamai.com/property-manager/pdfs/akamai_ipv4_ipv6_CIDRs-txt.zip": zipOf(map[string][]byte{
			"akamai_ipv4_CIDRs.txt": f["akamai/akamai_ipv4_CIDRs.txt"],
			"akamai_ipv6_CIDRs.txt": f["akamai/akamai_ipv6_CIDRs.txt"],
		}),
		"https://digitalocean.com/geo/google.csv": f["digitalocean/google.csv"],
		"https://geoip.linode.com/":               f["linode/geofeed.csv"],
		RegistrationURL:                           f[RegistrationMirrorPath],
	}
}

// Server serves files over HTTP and counts requests per path. Replace
// content with Set while it runs.
type Server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

// Set replaces (or, with nil, removes) the file at p.
func (s *Server) Set(p string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data == nil {
		delete(s.files, p)
	} else {
		s.files[p] = data
	}
}

// Hits returns how often p was requested.
func (s *Server) Hits(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

// ServeFiles serves files (keyed by request URI without the leading slash).
func ServeFiles(t testing.TB, files map[string][]byte) *Server {
	s := &Server{files: map[string][]byte{}, hits: map[string]int{}}
	for k, v := range files {
		s.files[k] = v
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.RequestURI(), "/")
		s.mu.Lock()
		data, ok := s.files[key]
		s.hits[key]++
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

// ServeMirror serves Files as an HTTP mirror: its URL is a --mirror value.
func (s *Set) ServeMirror(t testing.TB) *Server { return ServeFiles(t, s.Files()) }

// ServeOfficial serves Official at paths derived from the official URLs;
// Rewrite turns an official URL into the URL of this server.
func (s *Set) ServeOfficial(t testing.TB) *Server {
	files := map[string][]byte{}
	for u, data := range s.Official() {
		files[OfficialKey(u)] = data
	}
	return ServeFiles(t, files)
}

// OfficialKey is where ServeOfficial serves an official URL.
func OfficialKey(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return "official/" + pu.Host + pu.RequestURI()
}

// Rewrite returns the function that points official URLs at srv.
func Rewrite(srv *Server) func(string) string {
	return func(u string) string { return srv.URL + "/" + OfficialKey(u) }
}

func (s *Set) awsJSON() []byte {
	type entry struct {
		IPPrefix   string `json:"ip_prefix,omitempty"`
		IPv6Prefix string `json:"ipv6_prefix,omitempty"`
		Region     string `json:"region"`
		Service    string `json:"service"`
		NBG        string `json:"network_border_group"`
	}
	v4, v6 := []entry{}, []entry{}
	for _, p := range s.AWS {
		nbg := p.NBG
		if nbg == "" {
			nbg = p.Region
		}
		for _, svc := range append([]string{"AMAZON"}, p.Services...) {
			e := entry{Region: p.Region, Service: svc, NBG: nbg}
			if strings.Contains(p.Prefix, ":") {
				e.IPv6Prefix = p.Prefix
				v6 = append(v6, e)
			} else {
				e.IPPrefix = p.Prefix
				v4 = append(v4, e)
			}
		}
	}
	return mustJSON(map[string]any{
		"syncToken":     fmt.Sprint(s.SyncToken),
		"createDate":    s.Date.Format("2006-01-02-15-04-05"),
		"prefixes":      v4,
		"ipv6_prefixes": v6,
	})
}

func googPrefixes(ps []string) []GooglePrefix {
	out := make([]GooglePrefix, len(ps))
	for i, p := range ps {
		out[i] = GooglePrefix{Prefix: p}
	}
	return out
}

func (s *Set) googJSON(ps []GooglePrefix, cloud bool) []byte {
	var entries []map[string]string
	for _, p := range ps {
		e := map[string]string{}
		if strings.Contains(p.Prefix, ":") {
			e["ipv6Prefix"] = p.Prefix
		} else {
			e["ipv4Prefix"] = p.Prefix
		}
		if cloud {
			e["service"], e["scope"] = "Google Cloud", p.Scope
		}
		entries = append(entries, e)
	}
	if entries == nil {
		entries = []map[string]string{}
	}
	return mustJSON(map[string]any{
		"syncToken":    fmt.Sprint(s.SyncToken * 1000),
		"creationTime": s.Date.Format("2006-01-02T15:04:05.000000"),
		"prefixes":     entries,
	})
}

func (s *Set) azureJSON() []byte {
	values := []map[string]any{}
	for i, tag := range s.Azure {
		values = append(values, map[string]any{
			"name": tag.Name,
			"id":   tag.Name,
			"properties": map[string]any{
				"changeNumber":    1,
				"region":          tag.Region,
				"regionId":        i,
				"platform":        "Azure",
				"systemService":   "",
				"addressPrefixes": nonNil(tag.Prefixes, 0),
				"networkFeatures": []string{"API", "NSG"},
			},
		})
	}
	return mustJSON(map[string]any{"changeNumber": s.SyncToken % 100000, "cloud": "Public", "values": values})
}

func (s *Set) oracleJSON() []byte {
	type cidr struct {
		CIDR string   `json:"cidr"`
		Tags []string `json:"tags"`
	}
	type region struct {
		Region string `json:"region"`
		CIDRs  []cidr `json:"cidrs"`
	}
	var regions []region
	index := map[string]int{}
	for _, c := range s.Oracle {
		i, ok := index[c.Region]
		if !ok {
			i = len(regions)
			index[c.Region] = i
			regions = append(regions, region{Region: c.Region})
		}
		regions[i].CIDRs = append(regions[i].CIDRs, cidr{CIDR: c.CIDR, Tags: c.Tags})
	}
	if regions == nil {
		regions = []region{}
	}
	return mustJSON(map[string]any{
		"last_updated_timestamp": s.Date.Format("2006-01-02T15:04:05.000000"),
		"regions":                regions,
	})
}

func azurePage() []byte {
	return []byte(`<!DOCTYPE html><html><head><title>Download Azure IP Ranges and Service Tags – Public Cloud</title></head>
<body><a href="` + AzureFileURL + `" class="mscom-link download-button dl-button">Download</a></body></html>`)
}

func lines(ps []string, suffix string) []byte {
	var b bytes.Buffer
	for i, p := range ps {
		b.WriteString(p + suffix)
		if i < len(ps)-1 {
			b.WriteByte('\n') // no final newline, as Cloudflare serves them
		}
	}
	return b.Bytes()
}

func geofeed(ls []GeofeedLine, modified string) []byte {
	var b bytes.Buffer
	b.WriteString("# This file contains a self-published geofeed as defined in https://datatracker.ietf.org/doc/html/rfc8805\n")
	if modified != "" {
		b.WriteString("# Last modified: " + modified + "\n")
	}
	b.WriteString("# ip_prefix, alpha2code, region, city, postal_code\n")
	for _, l := range ls {
		fmt.Fprintf(&b, "%s,%s,%s,%s,\n", l.Prefix, l.Country, l.Region, l.City)
	}
	return b.Bytes()
}

// nonNil returns ps (never nil); with family 4 or 6, only that family.
func nonNil(ps []string, family int) []string {
	out := []string{}
	for _, p := range ps {
		v6 := strings.Contains(p, ":")
		if family == 0 || (family == 6) == v6 {
			out = append(out, p)
		}
	}
	return out
}

func zipOf(files map[string][]byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range []string{"akamai_ipv4_CIDRs.txt", "akamai_ipv6_CIDRs.txt"} {
		w, err := zw.Create("akamai_ipv4_ipv6_CIDRs-txt/" + name)
		if err != nil {
			panic(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}
