package sovereignty

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/sovgate/sovgate/policy"
)

// What asks the reloader for a new revision:
//   - a policies directory: a change seen by fsnotify (debounced), and a
//     periodic check of the files' digest (policy_poll_interval, a safety
//     net for file systems without inotify);
//   - a bundle URL: a poll of the bundle server (policy_poll_interval,
//     If-None-Match with the last ETag);
//   - the embedded bundle never changes while the process runs;
//   - any source: POST /sovereignty/policy/reload (admin.go).

// Defaults of the reload options.
const (
	defaultDirPollInterval    = 10 * time.Second
	defaultBundlePollInterval = time.Minute
	watchDebounce             = 250 * time.Millisecond
)

// startPolicyReload launches the watcher and the poller.
func (a *App) startPolicyReload() error {
	r := a.reloader
	if r == nil {
		return nil
	}
	if _, embedded := r.source.(*policy.EmbeddedSource); embedded {
		return nil
	}
	// The bundle in service is the one to fall back on at the next
	// start-up if the bundle server is down then.
	if err := r.source.Activated(); err != nil {
		r.logger.Warn("the bundle in service is not kept for the next start-up", zap.Error(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	interval := time.Duration(a.PolicyPollInterval)
	if dir, ok := r.source.(*policy.DirSource); ok {
		if interval <= 0 {
			interval = defaultDirPollInterval
		}
		w, err := fsnotify.NewWatcher()
		if err != nil {
			// No inotify (exhausted instances, exotic file system): the
			// periodic check still finds changes.
			r.logger.Warn("cannot watch the policies directory; changes are found by the periodic check only",
				zap.String("dir", dir.Dir()), zap.Duration("interval", interval), zap.Error(err))
		} else {
			r.syncWatches(w, dir.Dir())
			r.wg.Add(1)
			go r.watch(ctx, w, dir.Dir())
		}
	} else if interval <= 0 {
		interval = defaultBundlePollInterval
	}
	r.wg.Add(1)
	go r.poll(ctx, interval)
	return nil
}

// stopPolicyReload stops the watcher, the poller and running hooks, and
// waits for them.
func (a *App) stopPolicyReload() {
	r := a.reloader
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
}

// watch turns file events into reloads, once the files have been quiet for
// watchDebounce (an editor or a deployment writes several files).
func (r *reloader) watch(ctx context.Context, w *fsnotify.Watcher, root string) {
	defer r.wg.Done()
	defer w.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.logger.Warn("watching the policies directory", zap.Error(err))
		case <-timer.C:
			r.reload(ctx, "watch")
			r.syncWatches(w, root)
		}
	}
}

// syncWatches watches the policies directory and its subdirectories (hidden
// ones excepted, as the loader skips them), including those created since
// the last call. fsnotify does not watch subdirectories by itself.
func (r *reloader) syncWatches(w *fsnotify.Watcher, root string) {
	watched := map[string]bool{}
	for _, p := range w.WatchList() {
		watched[p] = true
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !watched[p] {
			if err := w.Add(p); err != nil {
				r.logger.Warn("cannot watch a policy directory", zap.String("dir", p), zap.Error(err))
			}
		}
		return nil
	})
}

// poll checks the source periodically, with some jitter so a fleet of
// gateways does not hit a bundle server at the same instant.
func (r *reloader) poll(ctx context.Context, interval time.Duration) {
	defer r.wg.Done()
	for {
		jitter := time.Duration(rand.Int64N(int64(interval)/10 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval + jitter):
			r.reload(ctx, "poll")
		}
	}
}
