package sovereignty

import (
	"runtime/debug"
	"sync/atomic"

	"go.uber.org/zap"
)

// Loading a configuration is the gateway's most memory-hungry moment: the
// policy is parsed, compiled and its tests run, the catalogue and the
// embedded data are checked, and the Caddyfile is adapted. Go keeps the
// heap that work grew for later use and returns it to the system only
// slowly, and the code it ran stays mapped, so a gateway that had just
// started held about 120 MiB to serve with 40. Once a configuration is in
// service, or an old one is let go, releaseMemory collects the garbage,
// returns the free pages at once, and drops the code pages start-up
// touched (dropCodePages).
//
// It works in the background (a forced collection takes a few
// milliseconds, off the request path); calls made while a release runs
// coalesce into one more release after it.
func releaseMemory(logger *zap.Logger) {
	if logger == nil {
		logger = zap.NewNop()
	}
	if releasePending.Add(1) > 1 {
		return
	}
	go func() {
		for {
			release(logger)
			// Calls made while this release ran get one more.
			if releasePending.Add(-1) == 0 {
				return
			}
			releasePending.Store(1)
		}
	}()
}

var releasePending atomic.Int32

// release is one release; tests replace it to count them.
var release = func(logger *zap.Logger) {
	debug.FreeOSMemory()
	covered, err := dropCodePages()
	if err != nil {
		logger.Warn("start-up's code pages stay mapped", zap.Error(err))
		return
	}
	logger.Debug("memory released after loading a configuration", zap.Int("code_bytes_unmapped", covered))
}
