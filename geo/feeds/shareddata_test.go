package feeds_test

// Opt-in measurements on the real feed snapshots, never for CI:
//
//	SOVGATE_SHARED_DATA=/path/to/shared/data go test ./geo/feeds -run SharedData -v
//	SOVGATE_SHARED_DATA=/path/to/shared/data go test ./geo/feeds -run '^$' -bench SharedData
//
// The directory holds feeds/ (provider feed snapshots) and ipdb/ (the
// sapics ip-location-db country MMDB); see their SOURCES.md. Nothing there
// may be committed, so without the variable these skip.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
	"github.com/sovgate/sovgate/geo/geotest"
)

// buildShared parses the real feeds and compiles them, and reports the time
// each step took.
func buildShared(t testing.TB) (*geo.ProviderRanges, map[string]*feeds.Parsed, time.Duration, time.Duration) {
	t.Helper()
	dir := sharedFeeds(t)
	start := time.Now()
	parsed := parseMirror(t, dir)
	parseTime := time.Since(start)
	start = time.Now()
	var list []*feeds.Parsed
	m := geo.RangesManifest{}
	for _, name := range feeds.Names() {
		list = append(list, parsed[name])
		m.Feeds = append(m.Feeds, parsed[name].Info)
	}
	entries, _ := feeds.Combine(list)
	var b bytes.Buffer
	if err := geo.WriteProviderRanges(&b, entries, m); err != nil {
		t.Fatal(err)
	}
	idx, err := geo.ParseProviderRanges(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return idx, parsed, parseTime, time.Since(start)
}

// TestSharedDataRealFeedsReport imports the real feeds, and measures how
// often GeoIP alone (the free sapics country database, and the IP2Location
// LITE data built into sovgate) places an address of a European cloud
// region somewhere else.
func TestSharedDataRealFeedsReport(t *testing.T) {
	idx, parsed, parseTime, buildTime := buildShared(t)
	byProvider := map[string][3]int{}
	for _, p := range parsed {
		c := byProvider[p.Info.Provider]
		byProvider[p.Info.Provider] = [3]int{c[0] + p.Info.Prefixes, c[1] + p.Info.IPv4, c[2] + p.Info.IPv6}
	}
	providers := make([]string, 0, len(byProvider))
	for p := range byProvider {
		providers = append(providers, p)
	}
	sort.Strings(providers)
	total := 0
	for _, p := range providers {
		c := byProvider[p]
		total += c[0]
		t.Logf("%-13s %6d prefixes (%d IPv4, %d IPv6)", p, c[0], c[1], c[2])
	}
	t.Logf("total %d prefixes; parsed in %v, compiled and validated into %d networks in %v",
		total, parseTime.Round(time.Millisecond), idx.Info().Networks, buildTime.Round(time.Millisecond))

	root := os.Getenv("SOVGATE_SHARED_DATA")
	territory := geotest.DefaultKnowledge(t).Territory
	sapics, err := geo.OpenCountryDB(filepath.Join(root, "ipdb", "geo-whois-asn-country.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer sapics.Close()
	iploc, _ := geo.OpenCountryDB("")

	// Every network of an EU/EEA region (anycast excluded): one address per
	// /24 in IPv4, one per network in IPv6.
	type tally struct{ total, otherCountry, outsideEEA, unknown int }
	results := map[string]map[string]*tally{"sapics": {}, "iploc": {}}
	dbs := map[string]*geo.CountryDB{"sapics": sapics, "iploc": iploc}
	examples := map[string][]string{}
	for _, e := range idx.Entries() {
		if e.Anycast || !territory.EEA(e.RegionCountry) {
			continue
		}
		for _, ip := range geotest.PerSlash24(e.Prefix) {
			for name, db := range dbs {
				tl := results[name][e.Provider]
				if tl == nil {
					tl = &tally{}
					results[name][e.Provider] = tl
				}
				tl.total++
				c, _ := db.Lookup(ip)
				switch {
				case c == "":
					tl.unknown++
				case c != e.RegionCountry:
					tl.otherCountry++
					if !territory.EEA(c) {
						tl.outsideEEA++
						if len(examples[name]) < 5 {
							examples[name] = append(examples[name], fmt.Sprintf("%s (%s %s, %s) -> %s", ip, e.Provider, e.Region, e.RegionCountry, c))
						}
					}
				}
			}
		}
	}
	for _, name := range []string{"sapics", "iploc"} {
		var sum tally
		for _, p := range providers {
			tl := results[name][p]
			if tl == nil {
				continue
			}
			sum.total += tl.total
			sum.otherCountry += tl.otherCountry
			sum.outsideEEA += tl.outsideEEA
			sum.unknown += tl.unknown
			t.Logf("%s: %-12s %7d EU/EEA-region samples: %6d in another country (%.1f%%), %6d outside the EU/EEA (%.1f%%), %d unknown",
				name, p, tl.total, tl.otherCountry, pct(tl.otherCountry, tl.total), tl.outsideEEA, pct(tl.outsideEEA, tl.total), tl.unknown)
		}
		t.Logf("%s: all          %7d EU/EEA-region samples: %6d in another country (%.1f%%), %6d outside the EU/EEA (%.1f%%), %d unknown; e.g. %s",
			name, sum.total, sum.otherCountry, pct(sum.otherCountry, sum.total), sum.outsideEEA, pct(sum.outsideEEA, sum.total), sum.unknown, strings.Join(examples[name], "; "))
	}

	// The done-when check of the provider-intelligence issue: an address
	// of AWS eu-west-3 from the real feed.
	var paris []netip.Prefix
	for _, e := range parsed["aws"].Entries {
		if e.Region == "eu-west-3" && e.Prefix.Addr().Is4() {
			paris = append(paris, e.Prefix)
		}
	}
	if len(paris) == 0 {
		t.Fatal("no eu-west-3 prefix in the real AWS feed")
	}
	ri, ok := idx.Lookup(paris[0].Addr().Next())
	if !ok || ri.Provider != "aws" || ri.Region != "eu-west-3" || ri.RegionCountry != "FR" {
		t.Errorf("%v: %+v", paris[0], ri)
	}
}

func pct(n, d int) float64 { return 100 * float64(n) / float64(max(d, 1)) }

// BenchmarkSharedDataLookup looks up addresses spread over the real index
// (every network's first address, shuffled), and addresses in no feed.
func BenchmarkSharedDataLookup(b *testing.B) {
	idx, _, _, _ := buildShared(b)
	var hit, hit6 []netip.Addr
	for _, e := range idx.Entries() {
		if e.Prefix.Addr().Is4() {
			hit = append(hit, e.Prefix.Addr())
		} else {
			hit6 = append(hit6, e.Prefix.Addr())
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(hit), func(i, j int) { hit[i], hit[j] = hit[j], hit[i] })
	r.Shuffle(len(hit6), func(i, j int) { hit6[i], hit6[j] = hit6[j], hit6[i] })
	miss := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("81.2.69.160"), netip.MustParseAddr("2001:db8::1")}
	for name, ips := range map[string][]netip.Addr{"ipv4-hit": hit, "ipv6-hit": hit6, "miss": miss} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				idx.Lookup(ips[i%len(ips)])
				i++
			}
		})
	}
}

// BenchmarkSharedDataBuild parses, compiles and validates the real feeds.
func BenchmarkSharedDataBuild(b *testing.B) {
	sharedFeeds(b)
	for b.Loop() {
		buildShared(b)
	}
}

// BenchmarkSharedDataOpen reads and validates the compiled real index, as
// the gateway does at start-up and at each swap.
func BenchmarkSharedDataOpen(b *testing.B) {
	idx, _, _, _ := buildShared(b)
	var buf bytes.Buffer
	m := idx.Manifest()
	if err := geo.WriteProviderRanges(&buf, idx.Entries(), m); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := geo.ParseProviderRanges(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
