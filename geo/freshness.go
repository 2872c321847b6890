package geo

import (
	"fmt"
	"strings"
	"time"
)

// DefaultDataMaxAge is the age beyond which a dataset or a provider feed
// is announced as stale (the data_max_age option's default). Providers
// publish their ranges daily to monthly and GeoIP databases monthly: three
// months leaves room for a few missed updates, not for a forgotten timer or
// a mirror nobody refreshes.
const DefaultDataMaxAge = 90 * 24 * time.Hour

// FeedAge is how old one provider feed of a ranges index is.
type FeedAge struct {
	Name string
	// Date is the date the provider gave the feed; zero when the feed
	// carries none (Cloudflare's, Fastly's, Akamai's and DigitalOcean's
	// lists).
	Date time.Time
	// Since is what the age counts from: Date, or for an undated feed the
	// build time of the index, since the feed was fetched then at the
	// latest.
	Since time.Time
	Age   time.Duration
}

// StaleFeeds returns the feeds of an index older than maxAge at now, in
// the index's order. An index freshly compiled from an old mirror is
// itself new, so each feed is judged by its own date: a stale feed shows
// even when the index does not look stale.
func StaleFeeds(info RangesInfo, now time.Time, maxAge time.Duration) []FeedAge {
	var out []FeedAge
	for _, f := range info.Feeds {
		since := f.Date
		if since.IsZero() {
			since = info.BuildTime
		}
		if since.IsZero() {
			continue
		}
		if age := now.Sub(since); age > maxAge {
			out = append(out, FeedAge{Name: f.Name, Date: f.Date, Since: since, Age: age})
		}
	}
	return out
}

// FormatFeedAges writes stale feeds on one line, dated feeds first:
// "google 2024-04-25 (956 days), aws 2025-07-24 (500 days); undated:
// cloudflare, fastly (fetched by 2025-07-24, 500 days ago)". Undated feeds
// are grouped by the index date they share, so a whole stale index stays
// one short line.
func FormatFeedAges(ages []FeedAge) string {
	var dated, undated []string
	var newest FeedAge // the undated feed fetched last
	for _, a := range ages {
		if !a.Date.IsZero() {
			dated = append(dated, fmt.Sprintf("%s %s (%s)", a.Name, a.Date.UTC().Format(time.DateOnly), days(a.Age)))
			continue
		}
		undated = append(undated, a.Name)
		if newest.Since.IsZero() || a.Since.After(newest.Since) {
			newest = a
		}
	}
	text := strings.Join(dated, ", ")
	if len(undated) > 0 {
		if text != "" {
			text += "; "
		}
		text += fmt.Sprintf("undated: %s (fetched by %s, %s ago)", strings.Join(undated, ", "), newest.Since.UTC().Format(time.DateOnly), days(newest.Age))
	}
	return text
}

// days writes a duration in whole days ("1 day", "500 days").
func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
