package update_test

import (
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

// TestUpdateReportsStaleFeeds: a mirror whose AWS file is 200 days old and
// whose newest Azure file is dated 2025-06-01 in its name (Azure's content
// has no date) is installed, and both feeds, only they, are reported
// stale by their own dates, while the index itself is new. The dates the
// gateway judges at start are in the index's manifest.
func TestUpdateReportsStaleFeeds(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fresh := feedtest.Default()
	fresh.Date = now.AddDate(0, 0, -10)
	old := *fresh
	old.Date = now.AddDate(0, 0, -200)
	files := fresh.Files()
	files["aws/ip-ranges.json"] = old.Files()["aws/ip-ranges.json"]
	files["azure/ServiceTags_Public_20250601.json"] = files["azure/ServiceTags_Public.json"]
	delete(files, "azure/ServiceTags_Public.json")
	mirror := t.TempDir()
	writeFiles(t, mirror, files)
	dir := t.TempDir()
	clock := func() time.Time { return now }

	rep := mustRun(t, update.Options{Dir: dir, Mirror: mirror, Now: clock})
	if !rep.IndexChanged {
		t.Fatalf("the index was not written: %+v", rep)
	}
	got := map[string]update.Stale{}
	for _, s := range rep.Stale {
		got[s.Name] = s
	}
	aws, azure := got["feed aws"], got["feed azure"]
	if len(got) != 2 || aws.Age != 200*24*time.Hour || !azure.Date.Equal(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("stale: %+v, want feed aws (200 days) and feed azure (2025-06-01)", rep.Stale)
	}
	if line := aws.String(); !strings.Contains(line, "feed aws is dated "+old.Date.Format(time.DateOnly)+", 200 days old") ||
		!strings.Contains(line, filepath.Join(mirror, "aws", "ip-ranges.json")) {
		t.Errorf("the warning does not name the feed, its date, its age and its file: %s", line)
	}

	// The gateway's own check reads the same dates from the index.
	idx, err := geo.OpenProviderRanges(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range geo.StaleFeeds(idx.Info(), now, geo.DefaultDataMaxAge) {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "aws,azure" {
		t.Errorf("StaleFeeds on the new index: %v, want aws,azure", names)
	}

	// A longer limit: nothing is stale.
	rep = mustRun(t, update.Options{Dir: t.TempDir(), Mirror: mirror, Now: clock, MaxAge: 365 * 24 * time.Hour})
	if len(rep.Stale) != 0 {
		t.Errorf("stale under a one-year limit: %+v", rep.Stale)
	}
}

// TestUpdateReportsStaleDatabases: a GeoIP database built 120 days ago is
// installed and reported; one built last week is not.
func TestUpdateReportsStaleDatabases(t *testing.T) {
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	db := func(built time.Time) []byte {
		p := filepath.Join(t.TempDir(), "db.mmdb")
		geotest.WriteCountryDB(t, p, map[string]string{"35.180.0.0/16": "FR"}, geotest.DatabaseType("DBIP-Country-Lite"), geotest.BuildTime(built))
		b, _ := os.ReadFile(p)
		return gzipBytes(b)
	}
	srv := feedtest.ServeFiles(t, map[string][]byte{"free/dbip-country-lite-2026-12.mmdb.gz": db(now.AddDate(0, 0, -120))})
	opts := update.Options{Dir: t.TempDir(), SkipFeeds: true, DBIP: &update.DBIP{BaseURL: srv.URL, Editions: []string{"country"}}, Now: func() time.Time { return now }}
	rep := mustRun(t, opts)
	if len(rep.Stale) != 1 || rep.Stale[0].Name != "dbip-country-lite" || rep.Stale[0].Age != 120*24*time.Hour {
		t.Errorf("stale: %+v, want dbip-country-lite, 120 days", rep.Stale)
	}
	srv.Set("free/dbip-country-lite-2026-12.mmdb.gz", db(now.AddDate(0, 0, -7)))
	if rep = mustRun(t, opts); len(rep.Stale) != 0 || !rep.Databases[0].Changed {
		t.Errorf("a week-old database: stale %+v, databases %+v", rep.Stale, rep.Databases)
	}
}
