// Package feeds reads the IP-range feeds that cloud and CDN providers
// publish about their own networks, each in its official format, and turns
// them into the entries of sovgate's provider-ranges index
// (geo.WriteProviderRanges):
//
//	feed          files (mirror layout)                              provider
//	aws           aws/ip-ranges.json                                 aws
//	gcp           gcp/cloud.json                                     gcp
//	azure         azure/ServiceTags_Public.json                      azure
//	oracle        oracle/public_ip_ranges.json                       oracle
//	digitalocean  digitalocean/google.csv (RFC 8805 geofeed)         digitalocean
//	linode        linode/geofeed.csv (RFC 8805 geofeed)              akamai
//	cloudflare    cloudflare/ips-v4, cloudflare/ips-v6               cloudflare (anycast)
//	fastly        fastly/public-ip-list                              fastly (anycast)
//	akamai        akamai/akamai_ipv4_CIDRs.txt, ..._ipv6_CIDRs.txt   akamai (anycast)
//	google        gcp/goog.json minus gcp/cloud.json                 google
//
// The region of a range comes from the feed, its country from sovgate's
// region table (regions.csv) or, for geofeeds, from the feed itself. AWS
// Local Zones take the country of their network border group
// (eu-central-1-waw-1 is in Poland although its region is eu-central-1).
// Ranges the feed marks as global (AWS GLOBAL, Google Cloud global) and the
// CDN feeds are anycast: they get no country.
//
// Parsers are strict: a file that does not parse, lists no prefix, or
// holds an invalid or implausibly wide prefix (shorter than /8 in IPv4 or
// /16 in IPv6) is an error, so a corrupt download never replaces good data.
// Unknown JSON fields are ignored: providers add fields over time.
package feeds

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/sovgate/sovgate/geo"
)

// Parsed is a feed read and checked.
type Parsed struct {
	// Info has the feed's name, provider, date, sync token and counts;
	// Source and SHA256 are filled in by Feed.Parse.
	Info    geo.FeedInfo
	Entries []geo.RangeEntry
	// Regions are the region names the feed uses (for AWS also the network
	// border groups), sorted; every one must be in the region table.
	Regions []string
}

// File is one file of a feed.
type File struct {
	// Path is the file's place in a mirror, and under DIR/feeds.
	Path string
	// URL is where the provider publishes it.
	URL string
	// Discover, when set, means URL is a web page that links to the file:
	// the first match in the page is the file's URL. Azure publishes its
	// service tags under a new name every week.
	Discover *regexp.Regexp
	// ZipMember, when set, means URL is a zip archive that holds the file
	// under this name (Akamai).
	ZipMember string
}

// Feed is one provider feed and its importer.
type Feed struct {
	Name     string
	Provider string
	Files    []File
	parse    func(files [][]byte, t *RegionTable) (*Parsed, error)
}

// Parse reads the feed's files (in the order of Files) with the region
// table t (nil: the embedded one).
func (f Feed) Parse(files [][]byte, t *RegionTable) (*Parsed, error) {
	if len(files) != len(f.Files) {
		return nil, fmt.Errorf("feed %s: %d files, want %d", f.Name, len(files), len(f.Files))
	}
	if t == nil {
		t = Regions()
	}
	p, err := f.parse(files, t)
	if err != nil {
		return nil, err
	}
	if len(p.Entries) == 0 {
		return nil, errors.New("no prefixes")
	}
	p.Info.Name, p.Info.Provider = f.Name, f.Provider
	p.Info.SHA256 = hashFiles(f.Files, files)
	p.Info.IPv4, p.Info.IPv6 = 0, 0
	for i := range p.Entries {
		p.Entries[i].Feed = f.Name
		if p.Entries[i].Provider == "" {
			p.Entries[i].Provider = f.Provider
		}
		if p.Entries[i].Prefix.Addr().Is4() {
			p.Info.IPv4++
		} else {
			p.Info.IPv6++
		}
	}
	p.Info.Prefixes = len(p.Entries)
	return p, nil
}

func hashFiles(defs []File, files [][]byte) string {
	h := sha256.New()
	for i, data := range files {
		h.Write([]byte(defs[i].Path))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(data))))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The official locations of the feeds.
const (
	awsURL          = "https://ip-ranges.amazonaws.com/ip-ranges.json"
	gcpCloudURL     = "https://www.gstatic.com/ipranges/cloud.json"
	gcpGoogURL      = "https://www.gstatic.com/ipranges/goog.json"
	azureURL        = "https://www.microsoft.com/en-us/download/details.aspx?id=56519"
	oracleURL       = "https://docs.oracle.com/en-us/iaas/tools/public_ip_ranges.json"
	cloudflareV4URL = "https://www.cloudflare.com/ips-v4"
	cloudflareV6URL = "https://www.cloudflare.com/ips-v6"
	fastlyURL       = "https://api.fastly.com/public-ip-list"
	akamaiURL       = "https://techdocs.akamai.com/property-manager/pdfs/akamai_ipv4_ipv6_CIDRs-txt.zip"
	digitalOceanURL = "https://digitalocean.com/geo/google.csv"
	linodeURL       = "https://geoip.linode.com/"
)

// azureFileLink finds the weekly file on Azure's download page.
var azureFileLink = regexp.MustCompile(`https://[^"'<>\s]+/ServiceTags_Public_[0-9]{8}\.json`)

var (
	gcpCloudFile = File{Path: "gcp/cloud.json", URL: gcpCloudURL}
	akamaiV4File = File{Path: "akamai/akamai_ipv4_CIDRs.txt", URL: akamaiURL, ZipMember: "akamai_ipv4_CIDRs.txt"}
	akamaiV6File = File{Path: "akamai/akamai_ipv6_CIDRs.txt", URL: akamaiURL, ZipMember: "akamai_ipv6_CIDRs.txt"}
)

// all lists the feeds in precedence order: where two feeds list the very
// same prefix, the first one keeps it (nested prefixes need no rule: the
// longest prefix wins). google comes last: goog.json covers all of Google.
var all = []Feed{
	{Name: "aws", Provider: "aws", Files: []File{{Path: "aws/ip-ranges.json", URL: awsURL}},
		parse: func(f [][]byte, t *RegionTable) (*Parsed, error) { return ParseAWS(f[0], t) }},
	{Name: "gcp", Provider: "gcp", Files: []File{gcpCloudFile},
		parse: func(f [][]byte, t *RegionTable) (*Parsed, error) { return ParseGCP(f[0], t) }},
	{Name: "azure", Provider: "azure", Files: []File{{Path: "azure/ServiceTags_Public.json", URL: azureURL, Discover: azureFileLink}},
		parse: func(f [][]byte, t *RegionTable) (*Parsed, error) { return ParseAzure(f[0], t) }},
	{Name: "oracle", Provider: "oracle", Files: []File{{Path: "oracle/public_ip_ranges.json", URL: oracleURL}},
		parse: func(f [][]byte, t *RegionTable) (*Parsed, error) { return ParseOracle(f[0], t) }},
	{Name: "digitalocean", Provider: "digitalocean", Files: []File{{Path: "digitalocean/google.csv", URL: digitalOceanURL}},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseGeofeed(f[0]) }},
	{Name: "linode", Provider: "akamai", Files: []File{{Path: "linode/geofeed.csv", URL: linodeURL}},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseGeofeed(f[0]) }},
	{Name: "cloudflare", Provider: "cloudflare", Files: []File{{Path: "cloudflare/ips-v4", URL: cloudflareV4URL}, {Path: "cloudflare/ips-v6", URL: cloudflareV6URL}},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseCIDRList(f...) }},
	{Name: "fastly", Provider: "fastly", Files: []File{{Path: "fastly/public-ip-list", URL: fastlyURL}},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseFastly(f[0]) }},
	{Name: "akamai", Provider: "akamai", Files: []File{akamaiV4File, akamaiV6File},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseCIDRList(f...) }},
	{Name: "google", Provider: "google", Files: []File{{Path: "gcp/goog.json", URL: gcpGoogURL}, gcpCloudFile},
		parse: func(f [][]byte, _ *RegionTable) (*Parsed, error) { return ParseGoogle(f[0], f[1]) }},
}

// All returns every feed, in precedence order.
func All() []Feed { return slices.Clone(all) }

// Names returns the names of every feed, in precedence order.
func Names() []string {
	out := make([]string, len(all))
	for i, f := range all {
		out[i] = f.Name
	}
	return out
}

// ByName returns the feed with this name.
func ByName(name string) (Feed, bool) {
	for _, f := range all {
		if f.Name == name {
			return f, true
		}
	}
	return Feed{}, false
}

func precedence(name string) int {
	for i, f := range all {
		if f.Name == name {
			return i
		}
	}
	return len(all)
}

// Conflict is a prefix listed by two feeds: Kept's entry went into the
// index, Dropped's did not.
type Conflict struct {
	Prefix        netip.Prefix
	Kept, Dropped string
}

// Combine merges parsed feeds into the entries of one index. Where feeds
// list the very same prefix, the feed first in All's order keeps it and the
// other is reported as a conflict.
func Combine(parsed []*Parsed) ([]geo.RangeEntry, []Conflict) {
	ordered := slices.Clone(parsed)
	slices.SortStableFunc(ordered, func(a, b *Parsed) int {
		return cmp.Compare(precedence(a.Info.Name), precedence(b.Info.Name))
	})
	n := 0
	for _, p := range ordered {
		n += len(p.Entries)
	}
	seen := make(map[netip.Prefix]string, n)
	out := make([]geo.RangeEntry, 0, n)
	var conflicts []Conflict
	for _, p := range ordered {
		for _, e := range p.Entries {
			if kept, dup := seen[e.Prefix]; dup {
				conflicts = append(conflicts, Conflict{Prefix: e.Prefix, Kept: kept, Dropped: e.Feed})
				continue
			}
			seen[e.Prefix] = e.Feed
			out = append(out, e)
		}
	}
	return out, conflicts
}

// Minimum prefix lengths: a feed listing a wider network is corrupt (or
// hostile: 0.0.0.0/0 would make every address a cloud address).
const (
	minBits4 = 8
	minBits6 = 16
)

// parsePrefix reads a CIDR (or a single address) from a feed.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zone not allowed", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	a := p.Addr()
	switch {
	case a.Is4In6():
		return netip.Prefix{}, fmt.Errorf("%q: IPv4-mapped IPv6 prefix", s)
	case a.Is4() && p.Bits() < minBits4:
		return netip.Prefix{}, fmt.Errorf("%q: wider than /%d, implausible for a provider range", s, minBits4)
	case a.Is6() && p.Bits() < minBits6:
		return netip.Prefix{}, fmt.Errorf("%q: wider than /%d, implausible for a provider range", s, minBits6)
	}
	return p.Masked(), nil
}

// collector gathers a feed's entries, each prefix once.
type collector struct {
	index   map[netip.Prefix]int
	entries []geo.RangeEntry
	regions map[string]bool
}

func newCollector() *collector {
	return &collector{index: make(map[netip.Prefix]int), regions: make(map[string]bool)}
}

// add records e unless its prefix is there already; it returns the entry
// in the collector (the new or the existing one) and whether it is new.
func (c *collector) add(e geo.RangeEntry) (*geo.RangeEntry, bool) {
	if i, ok := c.index[e.Prefix]; ok {
		return &c.entries[i], false
	}
	c.index[e.Prefix] = len(c.entries)
	c.entries = append(c.entries, e)
	return &c.entries[len(c.entries)-1], true
}

func (c *collector) region(name string) {
	if name != "" {
		c.regions[name] = true
	}
}

func (c *collector) parsed(info geo.FeedInfo) *Parsed {
	p := &Parsed{Info: info, Entries: c.entries}
	for r := range c.regions {
		p.Regions = append(p.Regions, r)
	}
	slices.Sort(p.Regions)
	return p
}

// limitString bounds free text taken from a feed into the index.
func limitString(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// trimBOM drops a UTF-8 byte order mark.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }
