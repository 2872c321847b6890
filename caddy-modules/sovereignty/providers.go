package sovereignty

import (
	"context"
	"fmt"
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

// defaultDataMaxAge is the age beyond which a dataset is announced stale.
const defaultDataMaxAge = 90 * 24 * time.Hour

// warnAboutData announces, at start-up, the datasets older than
// data_max_age, and the files configured in place of a snapshot the binary
// carries in a newer version: stale data misplaces addresses and misses
// new cloud ranges, and nobody notices unless told.
func (a *App) warnAboutData() {
	maxAge := time.Duration(a.DataMaxAge)
	if maxAge <= 0 {
		maxAge = defaultDataMaxAge
	}
	info := a.parts.Classifier.Info()
	now := time.Now()
	for _, d := range info.Datasets(now) {
		if now.Sub(d.Built) > maxAge {
			a.logger.Warn("dataset older than data_max_age: run `sovgate geo update` or install a newer file",
				zap.String("dataset", d.Name), zap.String("source", d.Source), zap.String("path", d.Path),
				zap.Time("built", d.Built), zap.Int("age_days", d.AgeDays), zap.Duration("data_max_age", maxAge))
		}
	}
	older := func(dataset, path string, built, embedded time.Time) {
		if path != "" && !embedded.IsZero() && built.Before(embedded) {
			a.logger.Warn("the configured file is older than the snapshot built into sovgate: run `sovgate geo update`, or remove the option to use the snapshot",
				zap.String("dataset", dataset), zap.String("path", path),
				zap.Time("built", built), zap.Time("embedded_built", embedded))
		}
	}
	if er, err := geo.EmbeddedProviderRanges(); err == nil && info.ProviderRanges.Source == geo.SourceMMDB {
		older("provider_ranges", info.ProviderRanges.Path, info.ProviderRanges.BuildTime, er.Info().BuildTime)
	}
	if reg, err := geo.EmbeddedRegistration(); err == nil && info.Registration.Source == geo.SourceMMDB {
		older("registration", info.Registration.Path, info.Registration.BuildTime, reg.Info().BuildTime)
	}
}
