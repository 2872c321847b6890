package sovereignty

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

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
