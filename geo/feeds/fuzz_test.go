package feeds_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
)

// The fuzz targets feed every parser arbitrary bytes. `go test` runs the
// committed seeds in testdata/fuzz (generated feeds in the official
// formats and corrupt variants); `go test -fuzz FuzzParseAWS ./geo/feeds`
// explores further. A parser must never panic, and whatever it accepts
// must make a valid index.

func fuzzFeed(t *testing.T, name string, files ...[]byte) {
	f, ok := feeds.ByName(name)
	if !ok {
		t.Fatalf("no feed %s", name)
	}
	p, err := f.Parse(files, nil)
	if err != nil {
		return
	}
	checkParsed(t, p)
}

// checkParsed checks what a parser accepted, and that it writes and reads
// back as an index.
func checkParsed(t *testing.T, p *feeds.Parsed) {
	if len(p.Entries) == 0 || p.Info.Prefixes != len(p.Entries) || p.Info.IPv4+p.Info.IPv6 != len(p.Entries) {
		t.Fatalf("counts %+v for %d entries", p.Info, len(p.Entries))
	}
	seen := map[netip.Prefix]bool{}
	for _, e := range p.Entries {
		switch {
		case !e.Prefix.IsValid() || e.Prefix.Masked() != e.Prefix || e.Prefix.Addr().Is4In6():
			t.Fatalf("bad prefix %v", e.Prefix)
		case e.Prefix.Addr().Is4() && e.Prefix.Bits() < 8, e.Prefix.Addr().Is6() && e.Prefix.Bits() < 16:
			t.Fatalf("prefix %v wider than allowed", e.Prefix)
		case e.RegionCountry != "" && !geo.ValidCountry(e.RegionCountry):
			t.Fatalf("%v: region country %q", e.Prefix, e.RegionCountry)
		case e.Anycast && e.RegionCountry != "":
			t.Fatalf("%v: anycast with a country", e.Prefix)
		case seen[e.Prefix]:
			t.Fatalf("%v twice", e.Prefix)
		}
		seen[e.Prefix] = true
	}
	if len(p.Entries) > 2000 {
		return // the round trip below is for small inputs
	}
	var buf bytes.Buffer
	if err := geo.WriteProviderRanges(&buf, p.Entries, geo.RangesManifest{Feeds: []geo.FeedInfo{p.Info}}); err != nil {
		t.Fatalf("writing the index: %v", err)
	}
	idx, err := geo.ParseProviderRanges(buf.Bytes())
	if err != nil {
		t.Fatalf("reading the index back: %v", err)
	}
	for _, e := range p.Entries[:min(len(p.Entries), 50)] {
		if _, ok := idx.Lookup(e.Prefix.Addr()); !ok {
			t.Fatalf("%v not found in the index", e.Prefix)
		}
	}
}

func FuzzParseAWS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, "aws", data) })
}

func FuzzParseGCP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, "gcp", data) })
}

func FuzzParseGoogle(f *testing.F) {
	f.Fuzz(func(t *testing.T, goog, cloud []byte) { fuzzFeed(t, "google", goog, cloud) })
}

func FuzzParseAzure(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, "azure", data) })
}

func FuzzParseOracle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, "oracle", data) })
}

func FuzzParseCIDRList(f *testing.F) {
	f.Fuzz(func(t *testing.T, v4, v6 []byte) {
		fuzzFeed(t, "cloudflare", v4, v6)
		fuzzFeed(t, "akamai", v4, v6)
	})
}

func FuzzParseFastly(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzFeed(t, "fastly", data) })
}

func FuzzParseGeofeed(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFeed(t, "digitalocean", data)
		fuzzFeed(t, "linode", data)
	})
}

func FuzzParseRegionTable(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := feeds.ParseRegionTable(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range table.All() {
			if r.Country != "" && !geo.ValidCountry(r.Country) {
				t.Fatalf("country %q accepted", r.Country)
			}
			if r.Unmapped() && r.Location == "" {
				t.Fatalf("unmapped %s without a reason", r.Name)
			}
			if got, ok := table.Lookup(r.Provider, r.Name); !ok || got != r {
				t.Fatalf("lookup of %s %s: %+v", r.Provider, r.Name, got)
			}
		}
	})
}
