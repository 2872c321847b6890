package geo_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/geotest"
)

// rangesFixture writes GeoIP databases that get cloud addresses wrong, the
// way free databases do, and the provider ranges of feedtest.Default.
func rangesFixture(t testing.TB) geo.ClassifierConfig {
	t.Helper()
	dir := t.TempDir()
	cfg := geo.ClassifierConfig{
		CountryDB:      filepath.Join(dir, "GeoLite2-Country.mmdb"),
		ASNDB:          filepath.Join(dir, "GeoLite2-ASN.mmdb"),
		RegistrationDB: filepath.Join(dir, "registration.mmdb"),
		ProviderRanges: filepath.Join(dir, "providers"),
	}
	geotest.WriteRegistrationDB(t, cfg.RegistrationDB, map[string]geotest.Registration{
		"198.51.100.0/24": {ASN: 16276, Org: "OVH SAS", Country: "FR"},
	})
	geotest.WriteCountryDB(t, cfg.CountryDB, map[string]string{
		"35.180.0.0/16":   "US", // AWS Paris, placed at Amazon's seat
		"15.220.200.0/22": "DE", // AWS Warsaw Local Zone, placed in Frankfurt
		"104.16.0.0/13":   "US", // Cloudflare anycast
		"13.104.0.0/14":   "US", // Azure, no region in the feed
		"34.155.0.0/16":   "US", // Google Cloud Paris
		"129.159.64.0/20": "NL", // Oracle Serbia
		"198.51.100.0/24": "FR", // not in any feed
	})
	geotest.WriteASNDB(t, cfg.ASNDB, map[string]geotest.ASNEntry{
		"35.180.0.0/16":   {Number: 16509, Org: "AMAZON-02"},
		"34.155.0.0/16":   {Number: 15169, Org: "GOOGLE"}, // Google's ASN: provider google by ASN
		"198.51.100.0/24": {Number: 16276, Org: "OVH SAS"},
	})
	feedtest.Default().WriteIndex(t, cfg.ProviderRanges)
	return cfg
}

func TestClassifyWithProviderRanges(t *testing.T) {
	c := newClassifier(t, rangesFixture(t))
	tests := []struct {
		ip                         string
		country, continent         string
		eu                         bool
		provider, region, regionCC string
		service                    string
		anycast                    bool
		asn                        uint32
	}{
		// The feed's region country beats GeoIP.
		{"35.180.1.2", "FR", "EU", true, "aws", "eu-west-3", "FR", "EC2", false, 16509},
		// A Local Zone in another country than its region.
		{"15.220.200.9", "PL", "EU", true, "aws", "eu-central-1", "PL", "EC2", false, 0},
		// Anycast: no country, whatever GeoIP says.
		{"104.16.0.1", "", "", false, "cloudflare", "", "", "", true, 0},
		// In the feed without a region: GeoIP's country stays.
		{"13.104.0.1", "US", "NA", false, "azure", "", "", "", false, 0},
		// The range (gcp) beats the ASN (google).
		{"34.155.3.4", "FR", "EU", true, "gcp", "europe-west9", "FR", "Google Cloud", false, 15169},
		// Serbia is in Europe, outside the EU.
		{"129.159.64.1", "RS", "EU", false, "oracle", "eu-jovanovac-1", "RS", "OCI", false, 0},
		// No feed lists it: ASN then GeoIP, as before.
		{"198.51.100.7", "FR", "EU", true, "ovhcloud", "", "", "", false, 16276},
	}
	for _, tt := range tests {
		d := c.Classify(testKnowledge(t), "x.example", nil, addrs(tt.ip))
		a := d.Addresses[0]
		if a.Country != tt.country || a.Continent != tt.continent || a.EU != tt.eu || a.EEA != tt.eu ||
			a.Provider != tt.provider || a.Region != tt.region || a.RegionCountry != tt.regionCC ||
			a.Service != tt.service || a.Anycast != tt.anycast || a.ASN != tt.asn {
			t.Errorf("%s: %+v", tt.ip, a)
		}
	}
}

func TestClassifyProvidersMatchedByRange(t *testing.T) {
	c := newClassifier(t, rangesFixture(t))
	// gcp by range for one address; aws by range and by ASN; a domain
	// suffix of gcp (googleapis.com) adds nothing new; cloudfront.net
	// (aws) neither; the azure suffix adds azure by domain.
	d := c.Classify(testKnowledge(t), "storage.googleapis.com", []string{"d111.cloudfront.net", "x.blob.core.windows.net"},
		addrs("34.155.3.4", "35.180.1.2", "198.51.100.7"))
	var got []string
	for _, p := range d.Providers {
		got = append(got, p.ID+"/"+p.MatchedBy)
	}
	want := "gcp/range aws/range ovhcloud/asn azure/domain"
	if strings.Join(got, " ") != want {
		t.Errorf("providers %v, want %s", got, want)
	}
	// The same provider by ASN for one address and by range for another
	// is listed once, as matched by range.
	d = c.Classify(testKnowledge(t), "x.example", nil, addrs("198.51.100.7", "35.180.1.2"))
	if len(d.Providers) != 2 || d.Providers[1].ID != "aws" || d.Providers[1].MatchedBy != "range" {
		t.Errorf("providers %+v", d.Providers)
	}
	// JSON: the anycast flag is part of the address object.
	b, _ := json.Marshal(c.Classify(testKnowledge(t), "x.example", nil, addrs("104.16.0.1")).Addresses[0])
	if !strings.Contains(string(b), `"anycast":true`) || !strings.Contains(string(b), `"country":""`) {
		t.Errorf("JSON %s", b)
	}
}

func TestClassifierRevisionFollowsProviderRanges(t *testing.T) {
	cfg := rangesFixture(t)
	with := newClassifier(t, cfg)
	noRanges := cfg
	noRanges.ProviderRanges = ""
	without := newClassifier(t, noRanges) // the embedded snapshot
	if with.Revision() == without.Revision() || without.Info().ProviderRanges.Source != geo.SourceEmbedded {
		t.Fatal("provider ranges do not change the revision")
	}
	without.SetProviderRanges(nil)
	base := without.Revision()
	other := feedtest.Default()
	other.AWS = other.AWS[:1]
	p, err := geo.ParseProviderRanges(other.Index(t))
	if err != nil {
		t.Fatal(err)
	}
	without.SetProviderRanges(p)
	if r := without.Revision(); r == base || r == with.Revision() {
		t.Errorf("revision after a swap: %s (base %s, default ranges %s)", r, base, with.Revision())
	}
	if info := without.Info(); info.Revision != without.Revision() || info.ProviderRanges.Source != geo.SourceMMDB {
		t.Errorf("info %+v", info)
	}
	without.SetProviderRanges(nil)
	if without.Revision() != base || without.Info().ProviderRanges.Source != geo.SourceNone {
		t.Errorf("back to no ranges: %s, want %s", without.Revision(), base)
	}
}

func TestNewClassifierProviderRangesErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := geo.NewClassifier(geo.ClassifierConfig{ProviderRanges: dir}); err == nil || !strings.Contains(err.Error(), "sovgate geo update") {
		t.Errorf("empty directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, geo.ProviderRangesFile), []byte("not an index"), 0o644)
	if _, err := geo.NewClassifier(geo.ClassifierConfig{ProviderRanges: dir}); err == nil || !strings.Contains(err.Error(), geo.ProviderRangesFile) {
		t.Errorf("corrupt index: %v", err)
	}
}

func TestReloadProviderRanges(t *testing.T) {
	cfg := rangesFixture(t)
	c := newClassifier(t, cfg)
	paris := addrs("35.180.1.2")
	rev1 := c.Revision()
	mtime := time.Now().Add(-time.Hour)

	// Nothing changed on disk.
	if swapped, err := c.ReloadProviderRanges(); swapped || err != nil {
		t.Fatalf("unchanged file: %v %v", swapped, err)
	}
	// AWS moved the prefix to Frankfurt.
	moved := feedtest.Default()
	moved.AWS[0].Region = "eu-central-1"
	movedIndex := moved.Index(t)
	writeIndexFile(t, cfg.ProviderRanges, movedIndex, mtime)
	if swapped, err := c.ReloadProviderRanges(); !swapped || err != nil {
		t.Fatalf("new file: %v %v", swapped, err)
	}
	if a := c.Classify(testKnowledge(t), "x", nil, paris).Addresses[0]; a.Region != "eu-central-1" || a.Country != "DE" {
		t.Errorf("after the swap: %+v", a)
	}
	rev2 := c.Revision()
	if rev2 == rev1 {
		t.Error("revision unchanged after a swap")
	}
	// The same content written again: no swap, same revision.
	writeIndexFile(t, cfg.ProviderRanges, movedIndex, mtime.Add(time.Minute))
	if swapped, err := c.ReloadProviderRanges(); swapped || err != nil || c.Revision() != rev2 {
		t.Errorf("same content: %v %v", swapped, err)
	}
	// A corrupt file, then a missing one: errors, and the data stays.
	writeIndexFile(t, cfg.ProviderRanges, movedIndex[:len(movedIndex)/3], mtime.Add(2*time.Minute))
	if swapped, err := c.ReloadProviderRanges(); swapped || err == nil {
		t.Errorf("corrupt file: %v %v", swapped, err)
	}
	os.Remove(filepath.Join(cfg.ProviderRanges, geo.ProviderRangesFile))
	if swapped, err := c.ReloadProviderRanges(); swapped || err == nil {
		t.Errorf("missing file: %v %v", swapped, err)
	}
	if a := c.Classify(testKnowledge(t), "x", nil, paris).Addresses[0]; a.Region != "eu-central-1" || c.Revision() != rev2 {
		t.Errorf("data lost after failed reloads: %+v", a)
	}
}

// TestWatchProviderRangesHotSwap swaps the index under concurrent
// Classify calls: every call sees one whole version (region and country
// agree), the watcher swaps each new file, reports a corrupt one once and
// keeps the data in service.
func TestWatchProviderRangesHotSwap(t *testing.T) {
	cfg := rangesFixture(t)
	c := newClassifier(t, cfg)
	versions := map[string]string{"eu-west-3": "FR", "eu-central-1": "DE", "eu-south-1": "IT"}
	indexFor := func(region string) []byte {
		s := feedtest.Default()
		s.AWS[0].Region = region
		return s.Index(t)
	}

	swaps := make(chan geo.RangesInfo, 10)
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		c.WatchProviderRanges(ctx, geo.WatchOptions{
			Interval: 10 * time.Millisecond,
			Settle:   5 * time.Millisecond,
			OnSwap:   func(_, n geo.RangesInfo) { swaps <- n },
			OnError:  func(err error) { errs <- err },
		})
	}()

	var stop atomic.Bool
	var calls atomic.Int64
	var wg sync.WaitGroup
	k := testKnowledge(t)
	for range 4 {
		wg.Go(func() {
			ip := addrs("35.180.1.2")
			for !stop.Load() {
				a := c.Classify(k, "x", nil, ip).Addresses[0]
				if want, ok := versions[a.Region]; !ok || a.Country != want || a.RegionCountry != want {
					t.Errorf("inconsistent classification %+v", a)
					return
				}
				calls.Add(1)
			}
		})
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-swaps:
		case err := <-errs:
			t.Fatalf("%s: %v", what, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no swap", what)
		}
	}
	mtime := time.Now().Add(-time.Hour)
	writeIndexFile(t, cfg.ProviderRanges, indexFor("eu-central-1"), mtime)
	wait("first swap")
	writeIndexFile(t, cfg.ProviderRanges, []byte("corrupt"), mtime.Add(time.Minute))
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), geo.ProviderRangesFile) {
			t.Errorf("error does not name the file: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("corrupt file: no error reported")
	}
	time.Sleep(50 * time.Millisecond) // several more checks: no second report
	select {
	case err := <-errs:
		t.Errorf("corrupt file reported twice: %v", err)
	default:
	}
	writeIndexFile(t, cfg.ProviderRanges, indexFor("eu-south-1"), mtime.Add(2*time.Minute))
	wait("swap after a corrupt file")
	stop.Store(true)
	wg.Wait()
	cancel()
	<-watchDone
	if a := c.Classify(testKnowledge(t), "x", nil, addrs("35.180.1.2")).Addresses[0]; a.Region != "eu-south-1" || a.Country != "IT" {
		t.Errorf("final data: %+v", a)
	}
	if calls.Load() == 0 {
		t.Error("no classification ran during the swaps")
	}
}

// BenchmarkClassifyWithProviderRanges compares the same GeoIP databases
// with and without provider ranges.
func BenchmarkClassifyWithProviderRanges(b *testing.B) {
	cfg := rangesFixture(b)
	withRanges := newClassifier(b, cfg)
	without := newClassifier(b, cfg)
	without.SetProviderRanges(nil)
	k := testKnowledge(b)
	for _, bc := range []struct {
		name string
		ips  []netip.Addr
	}{
		{"1addr-in-range", addrs("35.180.1.2")},
		{"1addr-no-range", addrs("198.51.100.7")},
		{"3addr", addrs("35.180.1.2", "104.16.0.1", "2a05:d012::1")},
	} {
		for _, c := range []struct {
			name string
			c    *geo.Classifier
		}{{"ranges", withRanges}, {"no-ranges", without}} {
			b.Run(bc.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					c.c.Classify(k, "x.example", nil, bc.ips)
				}
			})
		}
	}
}
