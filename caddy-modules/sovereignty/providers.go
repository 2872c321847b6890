package sovereignty

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/geo"
)

// Provider data: the classifier loads the provider_ranges index at
// Provision (a missing or broken index fails validation, like a broken
// GeoIP database), and a watcher keeps it in step with the file on disk
// while the gateway runs. `sovgate geo update` writes the index to a
// temporary file and renames it in place; the watcher notices the new
// file, validates it, and swaps it into the classifier in one pointer
// store: requests in flight finish on the data they started with, later
// ones use the new data, and the classifier's revision changes so no cached
// decision made on the old data is reused. A file that does not validate is
// logged and ignored; the data in service stays.
//
// The classifier is shared across config reloads (sharedResources), and so
// is its watcher: one watcher per classifier, started by the first config
// that runs it, stopped when the last config using it is cleaned up.

// defaultProviderRangesInterval is how often the index file is checked.
const defaultProviderRangesInterval = 10 * time.Second

// ClassifierConfig is the classifier configuration of the app's options
// (used by the pipeline and by `sovgate geo lookup`).
func (a *App) ClassifierConfig() (geo.ClassifierConfig, error) {
	internal, err := ParseAllowPrivate(a.Internal)
	if err != nil {
		return geo.ClassifierConfig{}, fmt.Errorf("internal: %w", err)
	}
	return geo.ClassifierConfig{
		CountryDB: a.GeoIPCountry, ASNDB: a.GeoIPASN, RegistrationDB: a.GeoIPRegistration,
		ProviderRanges: a.ProviderRanges, Internal: internal,
	}, nil
}

// rangesWatcher is a running WatchProviderRanges loop.
type rangesWatcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Destruct stops the watcher and waits for it.
func (w *rangesWatcher) Destruct() error {
	w.cancel()
	<-w.done
	return nil
}

// startProviderWatch starts the watcher of the classifier's provider
// ranges, or joins the one already watching this classifier.
func (a *App) startProviderWatch() error {
	if a.ProviderRanges == "" || a.parts == nil {
		return nil
	}
	c := a.parts.Classifier
	interval := time.Duration(a.ProviderRangesInterval)
	if interval <= 0 {
		interval = defaultProviderRangesInterval
	}
	key := fmt.Sprintf("provider-ranges-watch|%p", c)
	_, _, err := sharedResources.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The watcher outlives the config that started it: it logs to the
		// process's default logger, not to this config's.
		log := caddy.Log().Named("sovereignty.provider_ranges")
		ctx, cancel := context.WithCancel(context.Background())
		w := &rangesWatcher{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(w.done)
			c.WatchProviderRanges(ctx, geo.WatchOptions{
				Interval: interval,
				OnSwap: func(old, cur geo.RangesInfo) {
					log.Info("provider ranges updated",
						zap.String("path", cur.Path),
						zap.Time("build_time", cur.BuildTime),
						zap.Int("networks", cur.Networks),
						zap.Time("previous_build_time", old.BuildTime),
						zap.String("data_revision", c.Revision()))
					runDataSwapHooks(c)
				},
				OnError: func(err error) {
					log.Error("new provider ranges refused; the data in service stays", zap.Error(err))
				},
			})
		}()
		return w, nil
	})
	if err != nil {
		return fmt.Errorf("sovereignty: provider_ranges watcher: %w", err)
	}
	a.pooled = append(a.pooled, key)
	return nil
}

// DataSwapHook runs after new provider data is put in service in a
// classifier (shared by every config that uses the same data files). The
// egress handlers use it, as they use PolicySwapHook, to decide again about
// the CONNECT tunnels opened on the old data: an address the new ranges
// place elsewhere, or under another provider, must not keep a tunnel that
// no decision on the new data allowed. Hooks run in the watcher's
// goroutine, one swap at a time; stopping the watcher waits for them.
type DataSwapHook func(c *geo.Classifier)

var dataSwapHooks hookList[DataSwapHook]

// OnDataSwap registers a hook (call it from an init function: hooks cannot
// be removed).
func OnDataSwap(h DataSwapHook) {
	dataSwapHooks.add(h)
}

func runDataSwapHooks(c *geo.Classifier) {
	for _, h := range dataSwapHooks.all() {
		h(c)
	}
}

// warnAboutData announces, at start-up, the datasets older than
// data_max_age, the provider feeds older than it by their own dates, and
// the files configured in place of a snapshot the binary carries in a
// newer version: stale data misplaces addresses and misses new cloud
// ranges, and nobody notices unless told. Each stale dataset is one line
// that says how to refresh it; the provider ranges' line names each stale
// feed with its date, so a whole stale index is still one line.
func (a *App) warnAboutData() {
	maxAge := time.Duration(a.DataMaxAge)
	if maxAge <= 0 {
		maxAge = geo.DefaultDataMaxAge
	}
	info := a.parts.Classifier.Info()
	rangesDir := ""
	if info.ProviderRanges.Source == geo.SourceMMDB {
		rangesDir = filepath.Dir(info.ProviderRanges.Path)
	}
	now := time.Now()
	for _, d := range info.Datasets(now) {
		path := zap.Skip()
		if d.Path != "" {
			path = zap.String("path", d.Path)
		}
		fields := []zap.Field{zap.String("dataset", d.Name), zap.String("source", d.Source), path,
			zap.String("built", d.Built.UTC().Format(time.DateOnly)), zap.Int("age_days", d.AgeDays),
			zap.String("data_max_age", durationText(maxAge))}
		if d.Name == "provider_ranges" {
			// Judged feed by feed: an index compiled today from an old
			// mirror is new, its feeds are not.
			stale := geo.StaleFeeds(info.ProviderRanges, now, maxAge)
			if len(stale) == 0 {
				continue
			}
			fields = append(fields, zap.String("stale_feeds", fmt.Sprintf("%d of %d: %s", len(stale), len(info.ProviderRanges.Feeds), geo.FormatFeedAges(stale))))
		} else if now.Sub(d.Built) <= maxAge {
			continue
		}
		a.logger.Warn("dataset older than data_max_age", append(fields, zap.String("refresh", refreshHint(d, rangesDir)))...)
	}
	older := func(dataset, path string, built, embedded time.Time) {
		if path != "" && !embedded.IsZero() && built.Before(embedded) {
			a.logger.Warn("the configured file is older than the snapshot built into sovgate: run `sovgate geo update`, or remove the option to use the snapshot",
				zap.String("dataset", dataset), zap.String("path", path),
				zap.String("built", built.UTC().Format(time.DateOnly)), zap.String("embedded_built", embedded.UTC().Format(time.DateOnly)))
		}
	}
	if er, err := geo.EmbeddedProviderRanges(); err == nil && info.ProviderRanges.Source == geo.SourceMMDB {
		older("provider_ranges", info.ProviderRanges.Path, info.ProviderRanges.BuildTime, er.Info().BuildTime)
	}
	if reg, err := geo.EmbeddedRegistration(); err == nil && info.Registration.Source == geo.SourceMMDB {
		older("registration", info.Registration.Path, info.Registration.BuildTime, reg.Info().BuildTime)
	}
}

// defaultDataDir is where the admin guide keeps the data `sovgate geo
// update` writes.
const defaultDataDir = "/var/lib/sovgate/providers"

// refreshHint says how to refresh a stale dataset, in the commands and
// options an admin types. rangesDir is the provider_ranges directory in
// use, "" for the snapshot built in.
func refreshHint(d geo.Dataset, rangesDir string) string {
	setUp := "sovgate geo update --dir " + defaultDataDir + ", then the option provider_ranges " + defaultDataDir +
		" (sovgate egress --provider-ranges " + defaultDataDir + ")"
	switch {
	case d.Name == "provider_ranges" && rangesDir != "":
		return "sovgate geo update --dir " + rangesDir + " (the gateway picks the new index up by itself)"
	case d.Name == "registration" && d.Source == geo.SourceMMDB:
		return "sovgate geo update --dir " + filepath.Dir(d.Path) + " (it writes " + geo.RegistrationFile + " there), then sovgate reload"
	case d.Name == "registration" && rangesDir != "":
		return "sovgate geo update --dir " + rangesDir + ", then sovgate reload"
	case d.Name == "provider_ranges" || d.Name == "registration":
		return setUp
	case d.Source == geo.SourceMMDB:
		return "a newer database: sovgate geo update --dir " + filepath.Dir(d.Path) + " --dbip (or with a MaxMind account), then sovgate reload"
	}
	// The IP2Location LITE data built into sovgate.
	return "a newer sovgate, or a GeoIP database: sovgate geo update --dir " + defaultDataDir + " --dbip, then the option geoip_country " +
		filepath.Join(defaultDataDir, "dbip-country-lite.mmdb")
}

// durationText writes a duration as the options take it: whole days as
// "90d".
func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
