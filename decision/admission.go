package decision

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Codes of requests refused to protect the gateway itself.
const (
	// CodeRateLimited: the app sends more requests per second than its
	// share (429 with Retry-After).
	CodeRateLimited = "RATE_LIMITED"
	// CodeTooManyTunnels: the gateway, or the app, has as many tunnels open
	// as it may (429 with Retry-After).
	CodeTooManyTunnels = "TOO_MANY_TUNNELS"
)

// Limits protect the gateway from one app (a bug, a loop, a compromised
// server) taking it down for every other app. Zero means unlimited.
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

// admission enforces Limits. It is shared by every request of a pipeline.
type admission struct {
	limits Limits

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	perApp   map[string]int
	tunnels  atomic.Int64
}

func newAdmission(l Limits) *admission {
	if l.RatePerApp > 0 && l.Burst <= 0 {
		l.Burst = int(math.Max(1, math.Ceil(2*l.RatePerApp)))
	}
	return &admission{limits: l, limiters: make(map[string]*rate.Limiter), perApp: make(map[string]int)}
}

// allow spends one request of the app's budget; when the budget is spent
// it says how long until the next request would be allowed.
func (a *admission) allow(app string, now time.Time) (time.Duration, bool) {
	if a.limits.RatePerApp <= 0 {
		return 0, true
	}
	a.mu.Lock()
	lim := a.limiters[app]
	if lim == nil {
		if len(a.limiters) >= maxTrackedApps {
			a.limiters = make(map[string]*rate.Limiter)
		}
		lim = rate.NewLimiter(rate.Limit(a.limits.RatePerApp), a.limits.Burst)
		a.limiters[app] = lim
	}
	a.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return delay, false
	}
	return 0, true
}

// Admit checks the app's request rate before anything else is done for the
// request. It returns nil when the request may proceed, or the outcome of a
// refused request (429 RATE_LIMITED with a Retry-After) to answer and record.
func (p *Pipeline) Admit(t Target, c Caller) *Outcome {
	now := p.now()
	wait, ok := p.admission.allow(c.App, now)
	if ok {
		return nil
	}
	out := &Outcome{ID: newID(now), Start: now, Target: t, Caller: c, Mode: p.mode}
	out.block(http.StatusTooManyRequests, CodeRateLimited,
		fmt.Sprintf("app %s sends more than %g requests per second", c.App, p.admission.limits.RatePerApp))
	out.RetryAfter = wait
	out.PolicyRevision = p.policy.Load().Revision()
	p.count(out)
	return out
}

// AcquireTunnel reserves a tunnel slot for an allowed CONNECT. When the
// gateway or the app is at its limit, it turns the outcome into a refusal
// (429 TOO_MANY_TUNNELS) and returns false; otherwise the caller must call
// the returned release when the tunnel closes.
func (p *Pipeline) AcquireTunnel(out *Outcome) (release func(), ok bool) {
	a := p.admission
	app := out.Caller.App
	if a.limits.MaxTunnels > 0 && a.tunnels.Add(1) > int64(a.limits.MaxTunnels) {
		a.tunnels.Add(-1)
		p.refuseTunnel(out, fmt.Sprintf("the gateway has %d tunnels open, its limit", a.limits.MaxTunnels))
		return nil, false
	}
	if a.limits.MaxTunnelsPerApp > 0 {
		a.mu.Lock()
		if a.perApp[app] >= a.limits.MaxTunnelsPerApp {
			a.mu.Unlock()
			if a.limits.MaxTunnels > 0 {
				a.tunnels.Add(-1)
			}
			p.refuseTunnel(out, fmt.Sprintf("app %s has %d tunnels open, its limit", app, a.limits.MaxTunnelsPerApp))
			return nil, false
		}
		if len(a.perApp) >= maxTrackedApps {
			// Only apps with open tunnels are tracked; the map cannot
			// outgrow the tunnel limit unless that is unlimited.
			for name, n := range a.perApp {
				if n == 0 {
					delete(a.perApp, name)
				}
			}
		}
		a.perApp[app]++
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
				if a.perApp[app]--; a.perApp[app] <= 0 {
					delete(a.perApp, app)
				}
				a.mu.Unlock()
			}
		})
	}, true
}

func (p *Pipeline) refuseTunnel(out *Outcome, detail string) {
	// The policy's verdict stands in the record (the reasons say why the
	// tunnel was refused anyway); the action becomes blocked.
	out.Action = "blocked"
	out.Status = http.StatusTooManyRequests
	out.Reasons = append(append([]string(nil), out.Reasons...), CodeTooManyTunnels)
	out.Detail = detail
	out.Addrs = nil
	out.RetryAfter = time.Second
	p.stats.Blocked.Add(1)
}

// selfAddrs are the addresses the gateway listens on. A request to one of
// them would loop through the gateway (and reach its admin-adjacent
// listeners), so it is refused like a private address.
type selfAddrs struct {
	mu  sync.Mutex
	set atomic.Pointer[map[netip.AddrPort]struct{}]
}

// AddListeners records addresses the gateway listens on; a destination
// among them is refused (DESTINATION_PRIVATE). Handlers call it for their
// server's listeners; a wildcard listener adds every local address.
func (p *Pipeline) AddListeners(addrs []netip.AddrPort) {
	p.self.mu.Lock()
	defer p.self.mu.Unlock()
	next := make(map[netip.AddrPort]struct{})
	if cur := p.self.set.Load(); cur != nil {
		for a := range *cur {
			next[a] = struct{}{}
		}
	}
	for _, a := range addrs {
		next[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())] = struct{}{}
	}
	p.self.set.Store(&next)
}

func (p *Pipeline) isSelf(ip netip.Addr, port uint16) bool {
	set := p.self.set.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[netip.AddrPortFrom(ip.Unmap(), port)]
	return ok
}
