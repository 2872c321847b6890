package feeds

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sovgate/sovgate/geo"
)

// decodeJSON reads one JSON document and refuses trailing data.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(trimBOM(data)))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the expected JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON document")
	}
	return nil
}

// ---- AWS ip-ranges.json ----------------------------------------------------

type awsPrefix struct {
	IPPrefix   string `json:"ip_prefix"`
	IPv6Prefix string `json:"ipv6_prefix"`
	Region     string `json:"region"`
	Service    string `json:"service"`
	NBG        string `json:"network_border_group"`
}

type awsFeed struct {
	SyncToken    string      `json:"syncToken"`
	CreateDate   string      `json:"createDate"`
	Prefixes     []awsPrefix `json:"prefixes"`
	IPv6Prefixes []awsPrefix `json:"ipv6_prefixes"`
}

// awsGlobal is the region of anycast ranges (CloudFront, Global
// Accelerator, Route 53).
const awsGlobal = "GLOBAL"

// ParseAWS reads AWS's ip-ranges.json. A prefix listed for several services
// (AMAZON is the superset of all) gets the specific ones, sorted and joined
// with commas ("EC2,S3"), or AMAZON when there is no other.
func ParseAWS(data []byte, t *RegionTable) (*Parsed, error) {
	var f awsFeed
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Prefixes == nil && f.IPv6Prefixes == nil {
		return nil, errors.New("no prefixes or ipv6_prefixes list")
	}
	info := geo.FeedInfo{SyncToken: limitString(f.SyncToken, 64)}
	if f.CreateDate != "" {
		d, err := time.Parse("2006-01-02-15-04-05", f.CreateDate)
		if err != nil {
			return nil, fmt.Errorf("createDate %q: %w", f.CreateDate, err)
		}
		info.Date = d.UTC()
	}
	c := newCollector()
	services := map[netip.Prefix][]string{}
	add := func(i int, raw string, p awsPrefix) error {
		prefix, err := parsePrefix(raw)
		if err != nil {
			return fmt.Errorf("prefix #%d: %w", i+1, err)
		}
		region, nbg := limitString(p.Region, 64), limitString(p.NBG, 64)
		if region == "" {
			return fmt.Errorf("prefix %s: no region", prefix)
		}
		c.region(region)
		c.region(nbg)
		e := geo.RangeEntry{Prefix: prefix, RangeInfo: geo.RangeInfo{Region: region}}
		switch {
		case region == awsGlobal || nbg == awsGlobal:
			e.Anycast = true
		case nbg != "" && nbg != region:
			// A Local Zone or Wavelength Zone: the border group says
			// where it is, which may be another country than the region.
			e.RegionCountry = t.country("aws", nbg)
		default:
			e.RegionCountry = t.country("aws", region)
		}
		c.add(e)
		if s := limitString(p.Service, 64); s != "" && !slices.Contains(services[prefix], s) {
			services[prefix] = append(services[prefix], s)
		}
		return nil
	}
	for i, p := range f.Prefixes {
		if err := add(i, p.IPPrefix, p); err != nil {
			return nil, err
		}
	}
	for i, p := range f.IPv6Prefixes {
		if err := add(i, p.IPv6Prefix, p); err != nil {
			return nil, err
		}
	}
	for i := range c.entries {
		e := &c.entries[i]
		s := services[e.Prefix]
		if len(s) > 1 {
			s = slices.DeleteFunc(slices.Clone(s), func(x string) bool { return x == "AMAZON" })
		}
		slices.Sort(s)
		e.Service = strings.Join(s, ",")
	}
	return c.parsed(info), nil
}

// ---- Google: cloud.json and goog.json --------------------------------------

type googPrefix struct {
	IPv4Prefix string `json:"ipv4Prefix"`
	IPv6Prefix string `json:"ipv6Prefix"`
	Service    string `json:"service"`
	Scope      string `json:"scope"`
}

type googFeed struct {
	SyncToken    string       `json:"syncToken"`
	CreationTime string       `json:"creationTime"`
	Prefixes     []googPrefix `json:"prefixes"`
}

// gcpGlobal is the scope of Google Cloud's global (anycast) load balancers.
const gcpGlobal = "global"

func parseGoogFeed(data []byte) (*googFeed, geo.FeedInfo, []netip.Prefix, error) {
	var f googFeed
	if err := decodeJSON(data, &f); err != nil {
		return nil, geo.FeedInfo{}, nil, err
	}
	if f.Prefixes == nil {
		return nil, geo.FeedInfo{}, nil, errors.New("no prefixes list")
	}
	info := geo.FeedInfo{SyncToken: limitString(f.SyncToken, 64)}
	if f.CreationTime != "" {
		d, err := time.Parse("2006-01-02T15:04:05.999999999", f.CreationTime)
		if err != nil {
			return nil, geo.FeedInfo{}, nil, fmt.Errorf("creationTime %q: %w", f.CreationTime, err)
		}
		info.Date = d.UTC()
	}
	prefixes := make([]netip.Prefix, len(f.Prefixes))
	for i, p := range f.Prefixes {
		if (p.IPv4Prefix == "") == (p.IPv6Prefix == "") {
			return nil, geo.FeedInfo{}, nil, fmt.Errorf("prefix #%d: want one of ipv4Prefix and ipv6Prefix", i+1)
		}
		var err error
		if prefixes[i], err = parsePrefix(p.IPv4Prefix + p.IPv6Prefix); err != nil {
			return nil, geo.FeedInfo{}, nil, fmt.Errorf("prefix #%d: %w", i+1, err)
		}
	}
	return &f, info, prefixes, nil
}

// ParseGCP reads Google Cloud's cloud.json: the scope is the region; the
// global scope is anycast.
func ParseGCP(data []byte, t *RegionTable) (*Parsed, error) {
	f, info, prefixes, err := parseGoogFeed(data)
	if err != nil {
		return nil, err
	}
	c := newCollector()
	for i, p := range f.Prefixes {
		scope := limitString(p.Scope, 64)
		if scope == "" {
			return nil, fmt.Errorf("prefix %s: no scope", prefixes[i])
		}
		c.region(scope)
		e := geo.RangeEntry{Prefix: prefixes[i], RangeInfo: geo.RangeInfo{Region: scope, Service: limitString(p.Service, 64)}}
		if scope == gcpGlobal {
			e.Anycast = true
		} else {
			e.RegionCountry = t.country("gcp", scope)
		}
		c.add(e)
	}
	return c.parsed(info), nil
}

// ParseGoogle reads goog.json minus cloud.json, as Google documents: the
// ranges of Google's own services (provider google). A goog.json prefix
// inside (or equal to) a cloud.json prefix is left out; one that holds
// cloud.json prefixes stays, and the index's longest-prefix rule gives
// their addresses to gcp.
func ParseGoogle(goog, cloud []byte) (*Parsed, error) {
	_, info, prefixes, err := parseGoogFeed(goog)
	if err != nil {
		return nil, err
	}
	_, _, cloudPrefixes, err := parseGoogFeed(cloud)
	if err != nil {
		return nil, fmt.Errorf("cloud.json: %w", err)
	}
	c := newCollector()
	for _, p := range prefixes {
		if !coveredBy(p, cloudPrefixes) {
			c.add(geo.RangeEntry{Prefix: p})
		}
	}
	return c.parsed(info), nil
}

func coveredBy(p netip.Prefix, by []netip.Prefix) bool {
	for _, q := range by {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// ---- Azure ServiceTags_Public.json ------------------------------------------

type azureFeed struct {
	ChangeNumber *int64 `json:"changeNumber"`
	Cloud        string `json:"cloud"`
	Values       []struct {
		Name       string `json:"name"`
		Properties struct {
			Region          string   `json:"region"`
			AddressPrefixes []string `json:"addressPrefixes"`
		} `json:"properties"`
	} `json:"values"`
}

// ParseAzure reads Azure's service tags: AzureCloud.<region> gives each
// prefix its region (the tag's spelling, such as centralfrance, is mapped
// to Azure's region name, francecentral, through the region table), and
// AzureCloud the prefixes of no particular region. Other tags are subsets
// of these and are not read.
func ParseAzure(data []byte, t *RegionTable) (*Parsed, error) {
	var f azureFeed
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Values == nil {
		return nil, errors.New("no values list")
	}
	if f.Cloud != "Public" {
		return nil, fmt.Errorf("cloud %q: want the Public cloud's service tags", f.Cloud)
	}
	info := geo.FeedInfo{}
	if f.ChangeNumber != nil {
		info.SyncToken = strconv.FormatInt(*f.ChangeNumber, 10)
	}
	c := newCollector()
	var global []netip.Prefix
	for _, v := range f.Values {
		name, ok := strings.CutPrefix(v.Name, "AzureCloud")
		if !ok || (name != "" && name[0] != '.') {
			continue
		}
		tagRegion := limitString(strings.TrimPrefix(name, "."), 64)
		if name != "" && tagRegion == "" {
			return nil, fmt.Errorf("tag %q: no region", v.Name)
		}
		var region, country string
		if tagRegion != "" {
			c.region(tagRegion)
			region = tagRegion
			if row, ok := t.Lookup("azure", tagRegion); ok {
				region, country = row.Region, row.Country
			}
		}
		for _, raw := range v.Properties.AddressPrefixes {
			p, err := parsePrefix(raw)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", v.Name, err)
			}
			if tagRegion == "" {
				global = append(global, p)
				continue
			}
			c.add(geo.RangeEntry{Prefix: p, RangeInfo: geo.RangeInfo{Region: region, RegionCountry: country}})
		}
	}
	// The region-less AzureCloud tag repeats every regional prefix: the
	// regional entry says more.
	for _, p := range global {
		c.add(geo.RangeEntry{Prefix: p})
	}
	return c.parsed(info), nil
}

// ---- Oracle public_ip_ranges.json ----------------------------------------

type oracleFeed struct {
	LastUpdated string `json:"last_updated_timestamp"`
	Regions     []struct {
		Region string `json:"region"`
		CIDRs  []struct {
			CIDR string   `json:"cidr"`
			Tags []string `json:"tags"`
		} `json:"cidrs"`
	} `json:"regions"`
}

// ParseOracle reads Oracle Cloud's public_ip_ranges.json. The service is
// the CIDR's most specific tag (the last: OBJECT_STORAGE in [OSN,
// OBJECT_STORAGE]).
func ParseOracle(data []byte, t *RegionTable) (*Parsed, error) {
	var f oracleFeed
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Regions == nil {
		return nil, errors.New("no regions list")
	}
	info := geo.FeedInfo{}
	if f.LastUpdated != "" {
		d, err := time.Parse("2006-01-02T15:04:05.999999999", f.LastUpdated)
		if err != nil {
			return nil, fmt.Errorf("last_updated_timestamp %q: %w", f.LastUpdated, err)
		}
		info.Date = d.UTC()
	}
	c := newCollector()
	for _, r := range f.Regions {
		region := limitString(r.Region, 64)
		if region == "" {
			return nil, errors.New("a region with no name")
		}
		c.region(region)
		country := t.country("oracle", region)
		for _, cidr := range r.CIDRs {
			p, err := parsePrefix(cidr.CIDR)
			if err != nil {
				return nil, fmt.Errorf("region %s: %w", region, err)
			}
			service := ""
			if len(cidr.Tags) > 0 {
				service = limitString(cidr.Tags[len(cidr.Tags)-1], 64)
			}
			c.add(geo.RangeEntry{Prefix: p, RangeInfo: geo.RangeInfo{Region: region, RegionCountry: country, Service: service}})
		}
	}
	return c.parsed(info), nil
}

// ---- Plain CIDR lists: Cloudflare ips-v4/ips-v6, Akamai -----------------------

// ParseCIDRList reads text files with one CIDR per line (blank lines,
// surrounding white space and '#' comments allowed), as Cloudflare and
// Akamai publish them. The ranges are anycast. A file may be empty (a
// provider without IPv6 ranges), but not all of them.
func ParseCIDRList(files ...[]byte) (*Parsed, error) {
	c := newCollector()
	for n, data := range files {
		sc := bufio.NewScanner(bytes.NewReader(trimBOM(data)))
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			p, err := parsePrefix(text)
			if err != nil {
				return nil, fmt.Errorf("file %d line %d: %w", n+1, line, err)
			}
			c.add(geo.RangeEntry{Prefix: p, RangeInfo: geo.RangeInfo{Anycast: true}})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("file %d: %w", n+1, err)
		}
	}
	return c.parsed(geo.FeedInfo{}), nil
}

// ---- Fastly public-ip-list ---------------------------------------------------

type fastlyFeed struct {
	Addresses     []string `json:"addresses"`
	IPv6Addresses []string `json:"ipv6_addresses"`
}

// ParseFastly reads Fastly's public-ip-list. The ranges are anycast.
func ParseFastly(data []byte) (*Parsed, error) {
	var f fastlyFeed
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Addresses == nil && f.IPv6Addresses == nil {
		return nil, errors.New("no addresses list")
	}
	c := newCollector()
	for _, raw := range slices.Concat(f.Addresses, f.IPv6Addresses) {
		p, err := parsePrefix(raw)
		if err != nil {
			return nil, err
		}
		c.add(geo.RangeEntry{Prefix: p, RangeInfo: geo.RangeInfo{Anycast: true}})
	}
	return c.parsed(geo.FeedInfo{}), nil
}

// ---- RFC 8805 geofeeds: DigitalOcean, Linode ----------------------------------

// ParseGeofeed reads an RFC 8805 self-published geofeed
// (ip_prefix,alpha2code,region,city,postal_code): the country comes from
// the feed, the region is its ISO 3166-2 region (FR-IDF). A country code
// that is not an assigned one (ZZ, EU, empty) leaves the country to GeoIP.
// A "# Last modified:" comment, as Linode writes, is the feed's date.
func ParseGeofeed(data []byte) (*Parsed, error) {
	data = trimBOM(data)
	info := geo.FeedInfo{}
	// Comments first: csv.Reader skips them.
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# Last modified:"); ok {
			if d, err := time.Parse("2006-01-02 15:04:05.999999999", strings.TrimSpace(rest)); err == nil {
				info.Date = d.UTC()
			}
			break
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
	}

	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.ReuseRecord = true
	c := newCollector()
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not an RFC 8805 geofeed: %w", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		line, _ := r.FieldPos(0)
		p, err := parsePrefix(rec[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		e := geo.RangeEntry{Prefix: p}
		if len(rec) > 1 {
			e.RegionCountry = geo.NormalizeCountry(strings.TrimSpace(rec[1]))
		}
		if len(rec) > 2 {
			e.Region = limitString(rec[2], 64)
		}
		c.add(e)
	}
	return c.parsed(info), nil
}
