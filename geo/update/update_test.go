package update_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/geotest"
	"github.com/sovgate/sovgate/geo/update"
)

func run(t *testing.T, opts update.Options) (*update.Report, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return update.Run(ctx, opts)
}

func mustRun(t *testing.T, opts update.Options) *update.Report {
	t.Helper()
	rep, err := run(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// snapshot returns every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func TestUpdateFromMirrorDirectory(t *testing.T) {
	mirror := t.TempDir()
	feedtest.Default().WriteMirror(t, mirror)
	dir := filepath.Join(t.TempDir(), "providers")
	var progress bytes.Buffer
	rep := mustRun(t, update.Options{Dir: dir, Mirror: mirror, Progress: &progress})

	if len(rep.Feeds) != 10 || !rep.IndexChanged || rep.Networks == 0 || len(rep.Unmapped) != 0 || len(rep.Conflicts) != 0 {
		t.Errorf("report %+v", rep)
	}
	for _, f := range rep.Feeds {
		if f.Previous != -1 || !f.Changed || f.Prefixes == 0 || !strings.HasPrefix(f.Source, mirror) {
			t.Errorf("feed report %+v", f)
		}
	}
	if !strings.Contains(progress.String(), "aws") || !strings.Contains(progress.String(), "compiled") {
		t.Errorf("progress:\n%s", progress.String())
	}
	idx, err := geo.OpenProviderRanges(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ri, ok := idx.Lookup(netipAddr("35.180.0.10")); !ok || ri.Provider != "aws" || ri.Region != "eu-west-3" || ri.RegionCountry != "FR" {
		t.Errorf("lookup %+v %v", ri, ok)
	}
	// The feeds are kept in the mirror layout: DIR/feeds is a mirror.
	for _, p := range feedtest.MirrorPaths {
		want, _ := os.ReadFile(filepath.Join(mirror, p))
		got, err := os.ReadFile(filepath.Join(dir, "feeds", p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("feeds/%s: %v", p, err)
		}
	}
	before := snapshot(t, dir)
	st1, _ := os.Stat(filepath.Join(dir, geo.ProviderRangesFile))

	// Nothing changed upstream: the index is left as it is.
	rep = mustRun(t, update.Options{Dir: dir, Mirror: filepath.Join(dir, "feeds")})
	st2, _ := os.Stat(filepath.Join(dir, geo.ProviderRangesFile))
	if rep.IndexChanged || !os.SameFile(st1, st2) || rep.Networks == 0 {
		t.Errorf("unchanged feeds rewrote the index: %+v", rep)
	}
	for _, f := range rep.Feeds {
		if f.Changed || f.Previous != f.Prefixes {
			t.Errorf("feed report %+v", f)
		}
	}
	if after := snapshot(t, dir); len(after) != len(before) {
		t.Errorf("files changed: %d before, %d after", len(before), len(after))
	}
}

func TestUpdateFromOfficialURLs(t *testing.T) {
	srv := feedtest.Default().ServeOfficial(t)
	dir := t.TempDir()
	rep := mustRun(t, update.Options{Dir: dir, Rewrite: feedtest.Rewrite(srv)})
	if len(rep.Feeds) != 10 || !rep.IndexChanged {
		t.Fatalf("report %+v", rep)
	}
	sources := map[string]string{}
	for _, f := range rep.Feeds {
		sources[f.Name] = f.Source
	}
	// Azure's weekly file is found through its download page; Akamai's
	// files come out of one zip.
	if sources["azure"] != feedtest.AzureFileURL {
		t.Errorf("azure source %q", sources["azure"])
	}
	if !strings.HasSuffix(sources["akamai"], ".zip#akamai_ipv4_CIDRs.txt") {
		t.Errorf("akamai source %q", sources["akamai"])
	}
	for _, u := range []string{
		"https://techdocs.akamai.com/property-manager/pdfs/akamai_ipv4_ipv6_CIDRs-txt.zip",
		"https://www.gstatic.com/ipranges/cloud.json", // gcp and google share it
	} {
		if n := srv.Hits(feedtest.OfficialKey(u)); n != 1 {
			t.Errorf("%s fetched %d times, want once", u, n)
		}
	}
}

func TestUpdateFailuresLeaveThePreviousData(t *testing.T) {
	good := feedtest.Default()
	mirror := t.TempDir()
	good.WriteMirror(t, mirror)
	dir := t.TempDir()
	mustRun(t, update.Options{Dir: dir, Mirror: mirror})
	before := snapshot(t, dir)

	small := feedtest.Default()
	small.AWS = small.AWS[:2] // 8 prefixes down to 2
	tests := []struct {
		name     string
		mutate   func(t *testing.T, mirror string)
		opts     func(o *update.Options)
		wantFeed string
		wantErr  string
	}{
		{"missing feed", func(t *testing.T, m string) { os.Remove(filepath.Join(m, "linode", "geofeed.csv")) }, nil, "linode", "no such file"},
		{"corrupt feed", func(t *testing.T, m string) {
			os.WriteFile(filepath.Join(m, "azure", "ServiceTags_Public.json"), []byte(`{"changeNumber":1,"cloud":"Public","values":[{"name":"AzureCloud.x","properties":{"addressPrefixes":["nope"]}}]}`), 0o644)
		}, nil, "azure", "nope"},
		{"truncated feed", func(t *testing.T, m string) {
			b, _ := os.ReadFile(filepath.Join(m, "oracle", "public_ip_ranges.json"))
			os.WriteFile(filepath.Join(m, "oracle", "public_ip_ranges.json"), b[:len(b)/2], 0o644)
		}, nil, "oracle", "JSON"},
		{"empty feed", func(t *testing.T, m string) {
			os.WriteFile(filepath.Join(m, "cloudflare", "ips-v4"), nil, 0o644)
			os.WriteFile(filepath.Join(m, "cloudflare", "ips-v6"), []byte("\n"), 0o644)
		}, nil, "cloudflare", "no prefixes"},
		{"feed shrank by more than half", func(t *testing.T, m string) {
			os.WriteFile(filepath.Join(m, "aws", "ip-ranges.json"), small.Files()["aws/ip-ranges.json"], 0o644)
		}, nil, "aws", "--force"},
		{"unknown feed selected", nil, func(o *update.Options) { o.Feeds = []string{"aws", "ovh"} }, "", "unknown feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := t.TempDir()
			good.WriteMirror(t, m)
			if tt.mutate != nil {
				tt.mutate(t, m)
			}
			opts := update.Options{Dir: dir, Mirror: m}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			_, err := run(t, opts)
			var ue *update.Error
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantFeed != "" && (!errors.As(err, &ue) || ue.Feed != tt.wantFeed) {
				t.Errorf("error %v does not name feed %s", err, tt.wantFeed)
			}
			after := snapshot(t, dir)
			if len(after) != len(before) {
				t.Errorf("files added or removed: %d -> %d", len(before), len(after))
			}
			for p, content := range before {
				if after[p] != content {
					t.Errorf("%s changed", p)
				}
			}
		})
	}

	t.Run("force accepts a shrunk feed", func(t *testing.T) {
		m := t.TempDir()
		good.WriteMirror(t, m)
		os.WriteFile(filepath.Join(m, "aws", "ip-ranges.json"), small.Files()["aws/ip-ranges.json"], 0o644)
		rep := mustRun(t, update.Options{Dir: t.TempDir(), Mirror: m, Force: true})
		if rep.Feeds[0].Name != "aws" || rep.Feeds[0].Prefixes != 2 {
			t.Errorf("report %+v", rep.Feeds[0])
		}
	})
}

func TestUpdateHTTPErrors(t *testing.T) {
	set := feedtest.Default()
	srv := set.ServeMirror(t)
	srv.Set("gcp/goog.json", nil) // 404
	_, err := run(t, update.Options{Dir: t.TempDir(), Mirror: srv.URL})
	var he *update.HTTPError
	var ue *update.Error
	if !errors.As(err, &he) || he.Status != http.StatusNotFound || !errors.As(err, &ue) || ue.Feed != "google" {
		t.Errorf("error %v", err)
	}

	official := set.ServeOfficial(t)
	official.Set(feedtest.OfficialKey("https://www.microsoft.com/en-us/download/details.aspx?id=56519"), []byte("<html>moved</html>"))
	_, err = run(t, update.Options{Dir: t.TempDir(), Rewrite: feedtest.Rewrite(official), Feeds: []string{"azure"}})
	if err == nil || !strings.Contains(err.Error(), "no link") || !strings.Contains(err.Error(), "azure") {
		t.Errorf("azure page without a link: %v", err)
	}
}

func TestUpdateSelectedFeeds(t *testing.T) {
	mirror := t.TempDir()
	feedtest.Default().WriteMirror(t, mirror)
	dir := t.TempDir()
	rep := mustRun(t, update.Options{Dir: dir, Mirror: mirror, Feeds: []string{"cloudflare", "aws"}})
	if len(rep.Feeds) != 2 || rep.Feeds[0].Name != "aws" {
		t.Fatalf("feeds %+v", rep.Feeds)
	}
	idx, err := geo.OpenProviderRanges(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(idx.Manifest().Feeds); n != 2 {
		t.Errorf("%d feeds in the index", n)
	}
}

// ---- GeoIP downloads -----------------------------------------------------------

func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

func gzipBytes(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func countryDB(t *testing.T, dbType string, entries map[string]string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db.mmdb")
	geotest.WriteCountryDB(t, p, entries, geotest.DatabaseType(dbType))
	b, _ := os.ReadFile(p)
	return b
}

func asnDB(t *testing.T, dbType string) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db.mmdb")
	geotest.WriteASNDB(t, p, map[string]geotest.ASNEntry{"35.180.0.0/16": {Number: 16509, Org: "AMAZON-02"}}, geotest.DatabaseType(dbType))
	b, _ := os.ReadFile(p)
	return b
}

// maxmindServer answers like MaxMind's download API: Basic auth with the
// account id and licence key, ?suffix=tar.gz and ?suffix=tar.gz.sha256.
func maxmindServer(t *testing.T, archives map[string][]byte, sums map[string]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "123456" || pass != "secret-key" {
			http.Error(w, "Invalid license key", http.StatusUnauthorized)
			return
		}
		edition := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/geoip/databases/"), "/download")
		archive, found := archives[edition]
		if !found {
			http.NotFound(w, r)
			return
		}
		switch r.URL.Query().Get("suffix") {
		case "tar.gz":
			w.Write(archive)
		case "tar.gz.sha256":
			sum, ok := sums[edition]
			if !ok {
				sum = fmt.Sprintf("%x", sha256.Sum256(archive))
			}
			fmt.Fprintf(w, "%s  %s_20251125.tar.gz\n", sum, edition)
		default:
			http.Error(w, "bad suffix", http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUpdateMaxMind(t *testing.T) {
	country := countryDB(t, "GeoLite2-Country", map[string]string{"35.180.0.0/16": "FR"})
	archives := map[string][]byte{
		"GeoLite2-Country": tarGz(t, map[string][]byte{"GeoLite2-Country_20251125/GeoLite2-Country.mmdb": country, "GeoLite2-Country_20251125/LICENSE.txt": []byte("licence")}),
		"GeoLite2-ASN":     tarGz(t, map[string][]byte{"GeoLite2-ASN_20251125/GeoLite2-ASN.mmdb": asnDB(t, "GeoLite2-ASN")}),
		// The wrong kind of database under a country edition's name.
		"GeoLite2-City": tarGz(t, map[string][]byte{"GeoLite2-City_20251125/GeoLite2-City.mmdb": asnDB(t, "GeoLite2-ASN")}),
	}
	srv := maxmindServer(t, archives, nil)
	mm := func(editions ...string) *update.MaxMind {
		return &update.MaxMind{AccountID: "123456", LicenseKey: "secret-key", Editions: editions, BaseURL: srv.URL}
	}

	dir := t.TempDir()
	rep := mustRun(t, update.Options{Dir: dir, SkipFeeds: true, MaxMind: mm()})
	if len(rep.Databases) != 2 || !rep.Databases[0].Changed || rep.Databases[0].DatabaseType != "GeoLite2-Country" {
		t.Fatalf("databases %+v", rep.Databases)
	}
	db, err := geo.OpenCountryDB(filepath.Join(dir, "GeoLite2-Country.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Lookup(netipAddr("35.180.0.1")); c != "FR" {
		t.Errorf("country %q", c)
	}
	db.Close()
	if _, err := geo.OpenASNDB(filepath.Join(dir, "GeoLite2-ASN.mmdb")); err != nil {
		t.Error(err)
	}
	// Again: unchanged, nothing rewritten.
	rep = mustRun(t, update.Options{Dir: dir, SkipFeeds: true, MaxMind: mm()})
	if rep.Databases[0].Changed || rep.Databases[1].Changed {
		t.Errorf("unchanged databases reported changed: %+v", rep.Databases)
	}
	fail := func(name string, opts update.Options, want string) {
		t.Helper()
		before := snapshot(t, opts.Dir)
		_, err := run(t, opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
		after := snapshot(t, opts.Dir)
		if len(after) != len(before) {
			t.Errorf("%s: files added or removed (temporary files left?): %v", name, after)
		}
		for p, content := range before {
			if after[p] != content {
				t.Errorf("%s: %s changed", name, p)
			}
		}
	}
	fail("wrong key", update.Options{Dir: dir, SkipFeeds: true, MaxMind: &update.MaxMind{AccountID: "123456", LicenseKey: "wrong", BaseURL: srv.URL}}, "licence key")
	fail("wrong kind", update.Options{Dir: dir, SkipFeeds: true, MaxMind: mm("GeoLite2-City")}, "no country data")
	fail("no key", update.Options{Dir: dir, SkipFeeds: true, MaxMind: &update.MaxMind{AccountID: "123456"}}, "licence key")
	bad := maxmindServer(t, archives, map[string]string{"GeoLite2-Country": strings.Repeat("ab", 32)})
	fail("checksum mismatch", update.Options{Dir: dir, SkipFeeds: true, MaxMind: &update.MaxMind{AccountID: "123456", LicenseKey: "secret-key", BaseURL: bad.URL}}, "checksum mismatch")
	// A partial failure writes nothing, not even the editions that passed.
	fail("second edition fails", update.Options{Dir: t.TempDir(), SkipFeeds: true, MaxMind: mm("GeoLite2-Country", "GeoLite2-City")}, "GeoLite2-City")
}

func TestUpdateDBIP(t *testing.T) {
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC) // December's file is not out yet
	files := map[string][]byte{
		"free/dbip-country-lite-2026-11.mmdb.gz": gzipBytes(countryDB(t, "DBIP-Country-Lite", map[string]string{"35.180.0.0/16": "FR"})),
		"free/dbip-asn-lite-2026-11.mmdb.gz":     gzipBytes(asnDB(t, "DBIP-ASN-Lite (compat=GeoLite2-ASN)")),
	}
	srv := feedtest.ServeFiles(t, files)
	dir := t.TempDir()
	rep := mustRun(t, update.Options{Dir: dir, SkipFeeds: true, DBIP: &update.DBIP{BaseURL: srv.URL}, Now: func() time.Time { return now }})
	if len(rep.Databases) != 2 || rep.Databases[0].DatabaseType != "DBIP-Country-Lite" {
		t.Fatalf("databases %+v", rep.Databases)
	}
	if srv.Hits("free/dbip-country-lite-2026-12.mmdb.gz") != 1 {
		t.Error("this month's file was not tried first")
	}
	db, err := geo.OpenCountryDB(filepath.Join(dir, "dbip-country-lite.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if info := db.Info(); info.Format != geo.FormatGeoIP2 {
		t.Errorf("info %+v", info)
	}
	srv.Set("free/dbip-asn-lite-2026-11.mmdb.gz", []byte("not gzip"))
	if _, err := run(t, update.Options{Dir: dir, SkipFeeds: true, DBIP: &update.DBIP{BaseURL: srv.URL, Editions: []string{"asn"}}, Now: func() time.Time { return now }}); err == nil || !strings.Contains(err.Error(), "dbip-asn-lite") {
		t.Errorf("corrupt download: %v", err)
	}
}

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
