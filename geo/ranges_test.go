package geo_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/geotest"
)

func openRanges(t testing.TB, data []byte) *geo.ProviderRanges {
	t.Helper()
	p, err := geo.ParseProviderRanges(data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProviderRangesFromEveryFeed(t *testing.T) {
	dir := t.TempDir()
	file := feedtest.Default().WriteIndex(t, dir)
	for _, path := range []string{dir, file} { // the directory or the file
		p, err := geo.OpenProviderRanges(path)
		if err != nil {
			t.Fatal(err)
		}
		if info := p.Info(); info.Path != file || info.Networks == 0 || len(info.Feeds) != 10 || len(info.SHA256) != 64 || info.BuildTime.IsZero() {
			t.Errorf("info %+v", info)
		}
	}
	p, _ := geo.OpenProviderRanges(dir)
	tests := []struct {
		ip   string
		want string // provider region country service anycast feed; "" = not found
	}{
		{"35.180.1.2", "aws eu-west-3 FR EC2 false aws"},
		{"::ffff:35.180.1.2", "aws eu-west-3 FR EC2 false aws"},
		{"2a05:d012::1", "aws eu-west-3 FR EC2 false aws"},
		{"15.220.200.5", "aws eu-central-1 PL EC2 false aws"},
		{"13.33.0.1", "aws GLOBAL  CLOUDFRONT true aws"},
		// goog.json's 34.128.0.0/10 holds cloud.json's 34.155.0.0/16: the
		// longest prefix wins.
		{"34.155.1.1", "gcp europe-west9 FR Google Cloud false gcp"},
		{"34.149.0.1", "gcp global  Google Cloud true gcp"},
		{"34.130.0.1", "google    false google"},
		{"20.19.8.1", "azure francecentral FR  false azure"},
		{"13.104.0.1", "azure    false azure"},
		{"129.159.64.1", "oracle eu-jovanovac-1 RS OCI false oracle"},
		{"104.16.0.1", "cloudflare    true cloudflare"},
		{"2a02:26f0::1", "akamai    true akamai"},
		{"172.104.130.1", "akamai DE-HE DE  false linode"},
		{"10.0.0.1", ""},
		{"2001:db8::1", ""},
	}
	for _, tt := range tests {
		ri, ok := p.Lookup(netip.MustParseAddr(tt.ip))
		got := ""
		if ok {
			got = strings.Join([]string{ri.Provider, ri.Region, ri.RegionCountry, ri.Service, boolString(ri.Anycast), ri.Feed}, " ")
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.ip, got, tt.want)
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestProviderRangesLongestPrefixWins(t *testing.T) {
	e := func(prefix, region string) geo.RangeEntry {
		return geo.RangeEntry{Prefix: netip.MustParsePrefix(prefix), RangeInfo: geo.RangeInfo{Provider: "aws", Region: region, Feed: "aws"}}
	}
	entries := []geo.RangeEntry{ // in no particular order
		e("10.1.2.3/32", "d"), e("10.0.0.0/8", "a"), e("10.1.2.0/24", "c"), e("10.1.0.0/16", "b"),
		e("2001:db8:1::/48", "v6b"), e("2001:db8::/32", "v6a"),
	}
	var b bytes.Buffer
	if err := geo.WriteProviderRanges(&b, entries, geo.RangesManifest{Feeds: []geo.FeedInfo{{Name: "aws", Provider: "aws"}}}); err != nil {
		t.Fatal(err)
	}
	p := openRanges(t, b.Bytes())
	for ip, want := range map[string]string{
		"10.9.9.9": "a", "10.1.9.9": "b", "10.1.2.9": "c", "10.1.2.3": "d", "10.1.2.4": "c", "10.1.3.0": "b", "11.0.0.0": "",
		"2001:db8:2::1": "v6a", "2001:db8:1::1": "v6b", "2001:db9::": "",
	} {
		ri, ok := p.Lookup(netip.MustParseAddr(ip))
		got := ""
		if ok {
			got = ri.Region
		}
		if got != want {
			t.Errorf("%s: %q, want %q", ip, got, want)
		}
	}
	// Entries gives the networks the index holds, without overlaps.
	got := p.Entries()
	for i := 1; i < len(got); i++ {
		if got[i-1].Prefix.Overlaps(got[i].Prefix) {
			t.Errorf("%v overlaps %v", got[i-1].Prefix, got[i].Prefix)
		}
	}
}

func TestWriteProviderRangesRejects(t *testing.T) {
	m := geo.RangesManifest{Feeds: []geo.FeedInfo{{Name: "aws", Provider: "aws"}}}
	ok := geo.RangeEntry{Prefix: netip.MustParsePrefix("35.180.0.0/16"), RangeInfo: geo.RangeInfo{Provider: "aws", Feed: "aws"}}
	with := func(f func(*geo.RangeEntry)) geo.RangeEntry { e := ok; f(&e); return e }
	tests := map[string][]geo.RangeEntry{
		"nothing":              nil,
		"prefix twice":         {ok, ok},
		"bad provider id":      {with(func(e *geo.RangeEntry) { e.Provider = "AWS!" })},
		"bad country":          {with(func(e *geo.RangeEntry) { e.RegionCountry = "EU" })},
		"anycast with country": {with(func(e *geo.RangeEntry) { e.Anycast, e.RegionCountry = true, "FR" })},
		"unknown feed":         {with(func(e *geo.RangeEntry) { e.Feed = "gcp" })},
		"invalid prefix":       {with(func(e *geo.RangeEntry) { e.Prefix = netip.Prefix{} })},
		"mapped prefix":        {with(func(e *geo.RangeEntry) { e.Prefix = netip.MustParsePrefix("::ffff:35.180.0.0/112") })},
	}
	for name, entries := range tests {
		if err := geo.WriteProviderRanges(&bytes.Buffer{}, entries, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseProviderRangesRejects(t *testing.T) {
	good := feedtest.Default().Index(t)
	dir := t.TempDir()
	country := filepath.Join(dir, "country.mmdb")
	geotest.WriteCountryDB(t, country, map[string]string{"35.180.0.0/16": "FR"})
	countryData, _ := os.ReadFile(country)

	// A database that claims the type but lacks a manifest, or has another
	// schema, or no network.
	writeRaw := func(description map[string]string) []byte {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: geo.ProviderRangesType, Description: description, IPVersion: 6, IncludeReservedNetworks: true})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := tree.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	corrupt := bytes.Clone(good)
	for i := 200; i < 400; i++ { // scribble over the search tree
		corrupt[i] ^= 0x5a
	}
	tests := map[string]struct {
		data    []byte
		wantErr string
	}{
		"GeoIP database":  {countryData, "database type"},
		"truncated":       {good[:len(good)/2], ""},
		"not a database":  {[]byte("<html>503</html>"), ""},
		"corrupt tree":    {corrupt, ""},
		"no manifest":     {writeRaw(map[string]string{"en": "x"}), "sovgate-manifest"},
		"other schema":    {writeRaw(map[string]string{"sovgate-manifest": `{"schema":99,"built":"2025-01-01T00:00:00Z","feeds":[]}`}), "schema 99"},
		"no network":      {writeRaw(map[string]string{"sovgate-manifest": `{"schema":1,"built":"2025-01-01T00:00:00Z","feeds":[]}`}), "empty"},
		"unknown field":   {writeRaw(map[string]string{"sovgate-manifest": `{"schema":1,"built":"2025-01-01T00:00:00Z","feeds":[],"x":1}`}), "manifest"},
		"repeated feed":   {writeRaw(map[string]string{"sovgate-manifest": `{"schema":1,"built":"2025-01-01T00:00:00Z","feeds":[{"name":"aws"},{"name":"aws"}]}`}), "repeated"},
		"empty data":      {nil, ""},
		"manifest is not": {writeRaw(map[string]string{"sovgate-manifest": `[]`}), "manifest"},
	}
	for name, tt := range tests {
		_, err := geo.ParseProviderRanges(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tt.wantErr)
		}
	}
}

func TestOpenProviderRangesErrorsTellWhatToDo(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing"), dir} {
		_, err := geo.OpenProviderRanges(path)
		if err == nil || !strings.Contains(err.Error(), "sovgate geo update --dir") {
			t.Errorf("%s: %v", path, err)
		}
	}
	bad := filepath.Join(dir, geo.ProviderRangesFile)
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := geo.OpenProviderRanges(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt file: %v", err)
	}
}

func TestProviderRangesLookupAllocationFree(t *testing.T) {
	p := openRanges(t, feedtest.Default().Index(t))
	ips := []netip.Addr{netip.MustParseAddr("35.180.1.2"), netip.MustParseAddr("2a05:d012::1"), netip.MustParseAddr("10.0.0.1")}
	if n := testing.AllocsPerRun(100, func() {
		for _, ip := range ips {
			p.Lookup(ip)
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
}

func BenchmarkProviderRangesLookup(b *testing.B) {
	p := openRanges(b, feedtest.Default().Index(b))
	for name, ip := range map[string]string{"ipv4": "35.180.1.2", "ipv6": "2a05:d012::1", "miss": "10.0.0.1"} {
		addr := netip.MustParseAddr(ip)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Lookup(addr)
			}
		})
	}
}

// writeIndexFile replaces dir/providers.mmdb with data by renaming a
// temporary file over it, as `geo update` does, and gives it a distinct
// modification time.
func writeIndexFile(t testing.TB, dir string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-index")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, geo.ProviderRangesFile)); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseProviderRanges feeds the index reader arbitrary files: a
// provider_ranges directory may hold anything. It must never panic, and an
// index it accepts must answer lookups.
func FuzzParseProviderRanges(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := geo.ParseProviderRanges(data)
		if err != nil {
			return
		}
		if p.Info().Networks == 0 {
			t.Fatal("accepted an empty index")
		}
		for _, e := range p.Entries() {
			if ri, ok := p.Lookup(e.Prefix.Addr()); !ok || *ri != e.RangeInfo {
				t.Fatalf("%v: lookup %+v %v, entry %+v", e.Prefix, ri, ok, e.RangeInfo)
			}
		}
	})
}
