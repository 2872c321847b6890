package geo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
)

func day(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

// TestStaleFeeds: each feed is judged by its own date, an undated one by
// the index's build time (it was fetched then at the latest); the line
// names each stale feed with its date and age, undated ones grouped.
func TestStaleFeeds(t *testing.T) {
	info := geo.RangesInfo{
		BuildTime: day("2026-11-30"),
		Feeds: []geo.FeedInfo{
			{Name: "aws", Date: day("2026-11-29")},
			{Name: "google", Date: day("2024-04-25")},
			{Name: "oracle", Date: day("2026-06-01")},
			{Name: "cloudflare"},
			{Name: "fastly"},
		},
	}
	now := day("2026-12-07")
	stale := geo.StaleFeeds(info, now, 90*24*time.Hour)
	if len(stale) != 2 || stale[0].Name != "google" || stale[1].Name != "oracle" {
		t.Fatalf("stale %+v, want google and oracle (the undated feeds are in an index of last week)", stale)
	}
	if got, want := geo.FormatFeedAges(stale), "google 2024-04-25 (956 days), oracle 2026-06-01 (189 days)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	// The same index a year later: every feed is stale, on one line.
	stale = geo.StaleFeeds(info, now.AddDate(1, 0, 0), 90*24*time.Hour)
	want := "aws 2026-11-29 (373 days), google 2024-04-25 (1321 days), oracle 2026-06-01 (554 days); undated: cloudflare, fastly (fetched by 2026-11-30, 372 days ago)"
	if got := geo.FormatFeedAges(stale); len(stale) != 5 || got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if len(geo.StaleFeeds(info, now, 10*365*24*time.Hour)) != 0 {
		t.Error("stale feeds under a ten-year limit")
	}
	if len(geo.StaleFeeds(geo.RangesInfo{Feeds: []geo.FeedInfo{{Name: "x"}}}, now, time.Hour)) != 0 {
		t.Error("a feed with no date in an index with none was judged")
	}
}

// TestEmbeddedFeedsAge: the snapshot built into the binary is dated by its
// feeds; 100 days after its newest feed, every one of its feeds is stale.
func TestEmbeddedFeedsAge(t *testing.T) {
	p, err := geo.EmbeddedProviderRanges()
	if err != nil {
		t.Fatal(err)
	}
	info := p.Info()
	stale := geo.StaleFeeds(info, info.BuildTime.AddDate(0, 0, 100), geo.DefaultDataMaxAge)
	if len(stale) != len(info.Feeds) || len(stale) < 10 {
		t.Errorf("%d stale of %d feeds", len(stale), len(info.Feeds))
	}
	if line := geo.FormatFeedAges(stale); !strings.Contains(line, "aws ") || !strings.Contains(line, "undated: ") {
		t.Errorf("line: %s", line)
	}
}
