package geo

import (
	"context"
	"os"
	"time"
)

// WatchOptions tunes WatchProviderRanges.
type WatchOptions struct {
	// Interval is how often the file is checked (a stat; cheap). Default
	// 10 seconds.
	Interval time.Duration
	// Settle is how long a changed file must stay unchanged before it is
	// read, so a file copied in place (not renamed in, as `geo update`
	// does) is not read half written. Default 1 second, at most Interval.
	Settle time.Duration
	// OnSwap is called after new ranges went into service.
	OnSwap func(old, new RangesInfo)
	// OnError is called when a changed file cannot be used; the ranges in
	// service stay. It is called once per version of the file, not at
	// every check.
	OnError func(err error)
}

// WatchProviderRanges keeps the classifier's provider ranges in step with
// the file on disk until ctx is done: it checks the file every Interval
// and, once a change has settled, validates the new file and swaps it in
// (ReloadProviderRanges). Requests never wait for it: they keep using the
// ranges in service until the swap, which is one pointer store. It returns
// at once for a classifier without provider ranges.
func (c *Classifier) WatchProviderRanges(ctx context.Context, opts WatchOptions) {
	if c.rangesPath == "" {
		return
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Settle <= 0 {
		opts.Settle = time.Second
	}
	opts.Settle = min(opts.Settle, opts.Interval)
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	var failed os.FileInfo // the version that last failed to load
	missing := false       // the file was missing at the last check
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := os.Stat(c.rangesPath)
		c.mu.Lock()
		unchanged := err == nil && sameFileVersion(st, c.loaded)
		c.mu.Unlock()
		if unchanged || (err == nil && sameFileVersion(st, failed)) {
			continue
		}
		if err != nil {
			// Gone (deleted, or a directory being replaced): keep the
			// ranges in service, say it once.
			if !missing && opts.OnError != nil {
				opts.OnError(err)
			}
			missing = true
			continue
		}
		missing = false
		// Changed: wait until it stops changing.
		select {
		case <-ctx.Done():
			return
		case <-time.After(opts.Settle):
		}
		again, err := os.Stat(c.rangesPath)
		if err != nil || !sameFileVersion(st, again) {
			continue // still moving; look again at the next tick
		}
		old := c.Info().ProviderRanges
		swapped, err := c.ReloadProviderRanges()
		if err != nil {
			failed = again
			if opts.OnError != nil {
				opts.OnError(err)
			}
			continue
		}
		failed = nil
		if swapped && opts.OnSwap != nil {
			opts.OnSwap(old, c.Info().ProviderRanges)
		}
	}
}
