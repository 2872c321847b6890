package sovereignty

import (
	"sync/atomic"

	"github.com/sovgate/sovgate/decision"
)

// current is the sovereignty app of the configuration in service. During a
// reload Caddy starts the new configuration before it stops the old one;
// the old handlers then ask the current app to decide again about the
// tunnels they opened, so a tunnel never outlives the policy that allowed
// it without a new decision.
var current atomic.Pointer[App]

func setCurrent(a *App) { current.Store(a) }

// clearCurrent forgets a, unless a newer app has replaced it already.
func clearCurrent(a *App) { current.CompareAndSwap(a, nil) }

// Current returns the app in service, or nil while none is (the process is
// stopping, or the configuration has no sovereignty app).
func Current() *App { return current.Load() }

// limits turns the app's options into the pipeline's limits.
func (a *App) limits() decision.Limits {
	l := decision.Limits{
		RatePerApp:       a.RatePerApp,
		MaxTunnels:       a.MaxTunnels,
		MaxTunnelsPerApp: a.MaxTunnelsPerApp,
	}
	switch {
	case l.MaxTunnels == 0:
		l.MaxTunnels = defaultMaxTunnels
	case l.MaxTunnels < 0:
		l.MaxTunnels = 0
	}
	switch {
	case l.MaxTunnelsPerApp == 0 && l.MaxTunnels > 0:
		l.MaxTunnelsPerApp = max(1, l.MaxTunnels*defaultTunnelSharePercent/100)
	case l.MaxTunnelsPerApp < 0:
		l.MaxTunnelsPerApp = 0
	}
	return l
}

// defaultMaxTunnels keeps a flood of tunnels from exhausting memory and
// file descriptors: at under 64 KiB per idle tunnel it is about 640 MiB.
const defaultMaxTunnels = 10000

// defaultTunnelSharePercent is the share of max_tunnels one app (or one
// unidentified source address) may hold by default, so one client cannot
// fill the pool for every other app.
const defaultTunnelSharePercent = 25
