package decision

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/sovgate/sovgate/audit"
)

// Limits protect the gateway from one app (a bug, a loop, a compromised
// server) taking it down for every other app. Zero means unlimited.
//
// A limit applies per app when the app is identified by something the
// client cannot choose freely (a client certificate, a checked password, a
// registered network); otherwise per source address, so a client cannot
// escape its share by rotating unchecked user names.
type Limits struct {
	// RatePerApp is the sustained number of requests per second one app
	// may send; Burst is how many it may send at once (default twice the
	// rate, at least 1).
	RatePerApp float64
	Burst      int
	// MaxTunnels bounds the CONNECT tunnels open at once, all apps
	// together; MaxTunnelsPerApp bounds them per app.
	MaxTunnels       int
	MaxTunnelsPerApp int
}

// maxTrackedApps bounds the per-app state: app names come from clients,
// so a flood of invented names must not grow memory without bound.
const maxTrackedApps = 10000

// RateByKey is a token bucket per key (an app, a source address). Keys
// come from clients, so their number is bounded: when full, the buckets
// that are whole again are forgotten (they hold nothing), and if that is
// not enough, all of them.
type RateByKey struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	by map[string]*rate.Limiter
}

// NewRateByKey returns buckets of burst tokens refilled at limit per second.
func NewRateByKey(limit rate.Limit, burst int) *RateByKey {
	return &RateByKey{limit: limit, burst: burst, by: make(map[string]*rate.Limiter)}
}

// Reserve takes a token of key's bucket at now. It returns the reservation
// (cancel it to give the token back), or nil and how long until a token is
// there.
func (k *RateByKey) Reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	k.mu.Lock()
	lim := k.by[key]
	if lim == nil {
		if len(k.by) >= maxTrackedApps {
			for name, l := range k.by {
				if l.TokensAt(now) >= float64(k.burst) {
					delete(k.by, name)
				}
			}
			if len(k.by) >= maxTrackedApps {
				clear(k.by)
			}
		}
		lim = rate.NewLimiter(k.limit, k.burst)
		k.by[key] = lim
	}
	k.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return nil, delay
	}
	return r, 0
}

// admission enforces Limits. It is shared by every request of a pipeline.
type admission struct {
	limits Limits
	rates  *RateByKey

	mu      sync.Mutex
	perApp  map[string]int
	tunnels atomic.Int64
}

func newAdmission(l Limits) *admission {
	if l.RatePerApp > 0 && l.Burst <= 0 {
		l.Burst = int(math.Max(1, math.Ceil(2*l.RatePerApp)))
	}
	return &admission{limits: l, rates: NewRateByKey(rate.Limit(l.RatePerApp), l.Burst), perApp: make(map[string]int)}
}

// admissionKey is whose share a request spends: the app when the client
// could not have chosen its name freely, otherwise its source address.
func admissionKey(c Caller) string {
	if c.Verified {
		return "app " + c.App
	}
	return "source " + c.IP
}

// rateExceeded explains a RATE_LIMITED refusal, naming the holder of the
// share.
func rateExceeded(c Caller, perSecond float64) audit.Message {
	if c.Verified {
		return audit.RateExceededByApp(c.App, perSecond)
	}
	return audit.RateExceededBySource(c.IP, perSecond)
}

// allow spends one request of the share; when the share is spent it says
// how long until the next request would be allowed.
func (a *admission) allow(key string, now time.Time) (time.Duration, bool) {
	if a.limits.RatePerApp <= 0 {
		return 0, true
	}
	r, wait := a.rates.Reserve(key, now)
	return wait, r != nil
}

// acquireTunnel reserves a tunnel slot for the share. It returns the
// release to call when the tunnel closes, or why there is no slot.
func (a *admission) acquireTunnel(c Caller) (release func(), refusal audit.Message) {
	key := admissionKey(c)
	if a.limits.MaxTunnels > 0 && a.tunnels.Add(1) > int64(a.limits.MaxTunnels) {
		a.tunnels.Add(-1)
		return nil, audit.GatewayTunnelsFull(a.limits.MaxTunnels)
	}
	if a.limits.MaxTunnelsPerApp > 0 {
		a.mu.Lock()
		if a.perApp[key] >= a.limits.MaxTunnelsPerApp {
			a.mu.Unlock()
			if a.limits.MaxTunnels > 0 {
				a.tunnels.Add(-1)
			}
			if c.Verified {
				return nil, audit.AppTunnelsFull(c.App, a.limits.MaxTunnelsPerApp)
			}
			return nil, audit.SourceTunnelsFull(c.IP, a.limits.MaxTunnelsPerApp)
		}
		// Only holders of open tunnels are tracked, and each holds at
		// least one slot, so the map is bounded by MaxTunnels (or, without
		// it, cleared of idle entries when large).
		if len(a.perApp) >= maxTrackedApps {
			for name, n := range a.perApp {
				if n == 0 {
					delete(a.perApp, name)
				}
			}
		}
		a.perApp[key]++
		a.mu.Unlock()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if a.limits.MaxTunnels > 0 {
				a.tunnels.Add(-1)
			}
			if a.limits.MaxTunnelsPerApp > 0 {
				a.mu.Lock()
				if a.perApp[key]--; a.perApp[key] <= 0 {
					delete(a.perApp, key)
				}
				a.mu.Unlock()
			}
		})
	}, audit.Message{}
}
