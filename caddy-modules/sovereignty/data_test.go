package sovereignty

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds/feedtest"
	"github.com/sovgate/sovgate/geo/geotest"
)

// TestWarnAboutStaleData: at start-up, every dataset older than
// data_max_age is announced, and so is a configured file older than the
// snapshot built into sovgate.
func TestWarnAboutStaleData(t *testing.T) {
	dir := t.TempDir()
	country := filepath.Join(dir, "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(t, country, map[string]string{"192.0.2.0/24": "FR"}, geotest.BuildTime(time.Now().AddDate(0, 0, -200)))
	registration := filepath.Join(dir, "registration.mmdb")
	geotest.WriteRegistrationDB(t, registration, map[string]geotest.Registration{"192.0.2.0/24": {Country: "FR"}}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))

	a := &App{GeoIPCountry: country, GeoIPRegistration: registration, DataMaxAge: caddy.Duration(90 * 24 * time.Hour)}
	parts, err := a.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer parts.Close()
	core, logs := observer.New(zap.WarnLevel)
	a.parts, a.logger = parts, zap.New(core)
	a.warnAboutData()

	stale := map[string]bool{}
	older := false
	for _, e := range logs.All() {
		f := e.ContextMap()
		switch {
		case strings.HasPrefix(e.Message, "dataset older than data_max_age"):
			stale[f["dataset"].(string)] = true
		case strings.HasPrefix(e.Message, "the configured file is older than the snapshot"):
			older = f["dataset"] == "registration" && f["path"] == registration
		}
	}
	if !stale["country"] || !stale["registration"] {
		t.Errorf("stale datasets announced: %v", stale)
	}
	if !older {
		t.Errorf("the registration file older than the snapshot was not announced: %v", logs.All())
	}

	// With a generous limit, only the older-than-the-snapshot warning is left.
	logs.TakeAll()
	a.DataMaxAge = caddy.Duration(100 * 365 * 24 * time.Hour)
	a.warnAboutData()
	if n := logs.FilterMessageSnippet("data_max_age").Len(); n != 0 {
		t.Errorf("%d stale warnings under a 100-year limit", n)
	}
}

// TestWarnAboutStaleFeeds: an index compiled today whose AWS feed is 200
// days old (a mirror nobody refreshed) is announced in one line that names
// that feed, its date and its age, and how to refresh it; with every other
// dataset fresh, nothing else is.
func TestWarnAboutStaleFeeds(t *testing.T) {
	now := time.Now()
	set := feedtest.Default()
	set.Date = now.AddDate(0, 0, -2)
	idx, err := geo.ParseProviderRanges(set.Index(t))
	if err != nil {
		t.Fatal(err)
	}
	m := idx.Manifest()
	old := now.AddDate(0, 0, -200)
	for i := range m.Feeds {
		if m.Feeds[i].Name == "aws" {
			m.Feeds[i].Date = old
		}
	}
	m.Built = now
	dir := t.TempDir()
	var index bytes.Buffer
	if err := geo.WriteProviderRanges(&index, idx.Entries(), m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, geo.ProviderRangesFile), index.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	country := filepath.Join(dir, "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(t, country, map[string]string{"192.0.2.0/24": "FR"}, geotest.BuildTime(now))
	geotest.WriteRegistrationDB(t, filepath.Join(dir, geo.RegistrationFile), map[string]geotest.Registration{"192.0.2.0/24": {Country: "FR"}}, now)

	logs := startUpWarnings(t, &App{GeoIPCountry: country, ProviderRanges: dir})
	if len(logs) != 1 {
		t.Fatalf("%d warnings, want one (the provider ranges): %v", len(logs), logs)
	}
	f := logs[0].ContextMap()
	want := fmt.Sprintf("1 of %d: aws %s (200 days)", len(m.Feeds), old.UTC().Format(time.DateOnly))
	if f["dataset"] != "provider_ranges" || f["stale_feeds"] != want || f["data_max_age"] != "90d" {
		t.Errorf("warning %q %v, want stale_feeds %q", logs[0].Message, f, want)
	}
	if f["refresh"] != "sovgate geo update --dir "+dir+" (the gateway picks the new index up by itself)" {
		t.Errorf("refresh hint %q", f["refresh"])
	}
}

// TestWarnAboutEmbeddedData: on the embedded defaults, with a limit every
// dataset exceeds, the start-up warning is one line per dataset, never one
// per feed: the provider ranges' line names all their feeds. Each line
// says how to refresh the dataset.
func TestWarnAboutEmbeddedData(t *testing.T) {
	logs := startUpWarnings(t, &App{DataMaxAge: caddy.Duration(time.Nanosecond)})
	warned := map[string]map[string]any{}
	for _, e := range logs {
		f := e.ContextMap()
		name, _ := f["dataset"].(string)
		if e.Message != "dataset older than data_max_age" || warned[name] != nil {
			t.Errorf("unexpected or repeated warning %q %v", e.Message, f)
		}
		warned[name] = f
	}
	if len(warned) != 3 || warned["country"] == nil || warned["registration"] == nil || warned["provider_ranges"] == nil {
		t.Fatalf("warnings %v, want one each for country, registration and provider_ranges", warned)
	}
	embedded, err := geo.EmbeddedProviderRanges()
	if err != nil {
		t.Fatal(err)
	}
	n := len(embedded.Info().Feeds)
	if stale, _ := warned["provider_ranges"]["stale_feeds"].(string); !strings.HasPrefix(stale, fmt.Sprintf("%d of %d: ", n, n)) || !strings.Contains(stale, "aws 2") {
		t.Errorf("provider ranges: stale_feeds %q", stale)
	}
	setUp := "sovgate geo update --dir /var/lib/sovgate/providers, then the option provider_ranges /var/lib/sovgate/providers (sovgate egress --provider-ranges /var/lib/sovgate/providers)"
	for name, want := range map[string]string{
		"provider_ranges": setUp,
		"registration":    setUp,
		"country":         "a newer sovgate, or a GeoIP database: sovgate geo update --dir /var/lib/sovgate/providers --dbip, then the option geoip_country /var/lib/sovgate/providers/dbip-country-lite.mmdb",
	} {
		if got := warned[name]["refresh"]; got != want {
			t.Errorf("%s: refresh %q, want %q", name, got, want)
		}
	}
}

// startUpWarnings builds the app's pipeline and returns what warnAboutData
// logs.
func startUpWarnings(t *testing.T, a *App) []observer.LoggedEntry {
	t.Helper()
	parts, err := a.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parts.Close() })
	core, logs := observer.New(zap.WarnLevel)
	a.parts, a.logger = parts, zap.New(core)
	a.warnAboutData()
	return logs.All()
}
