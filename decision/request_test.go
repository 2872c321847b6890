package decision

import (
	"context"
	"github.com/sovgate/sovgate/audit"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
)

// TestDecideRequestOrder: admission comes first, so a caller over its
// share gets 429 whatever its request (a bad target, a password that would
// fail), and no password is checked for it; then the target, the
// identity, the port, the destination.
func TestDecideRequestOrder(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pipeline(t, Enforce, func(c *Config) { c.Limits = Limits{RatePerApp: 1, Burst: 2} })
	var checks atomic.Int32
	failing := func(context.Context) (Caller, *Refusal) {
		checks.Add(1)
		return Caller{}, &Refusal{Status: http.StatusProxyAuthRequired, Code: audit.CodeAuthFailed, Detail: audit.WrongPassword("claimed")}
	}
	_, badErr := ParseConnectTarget("0x7f.0.0.1:443")
	source := Caller{App: "claimed", IP: "10.9.9.9", IdentifiedBy: "basic"} // not verified: its source's share

	// Within the burst: each refusal says what is wrong.
	checkOutcome(t, p.DecideRequest(ctx, Request{Target: Target{Method: "CONNECT", Host: "0x7f.0.0.1"}, TargetErr: badErr, Caller: source}),
		refused(http.StatusBadRequest, audit.CodeBadTarget))
	out := p.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: source, Identify: failing})
	checkOutcome(t, out, refused(http.StatusProxyAuthRequired, "AUTH_FAILED"))
	if out.Caller.App != UnknownApp || out.Caller.IP != "10.9.9.9" {
		t.Errorf("an identity refusal names %+v; want the unknown app at the client's address", out.Caller)
	}
	// Over the share: 429, for a bad target as for a password, which is
	// not checked.
	for _, req := range []Request{
		{Target: Target{Method: "CONNECT", Host: "0x7f.0.0.1"}, TargetErr: badErr, Caller: source},
		{Target: connect(t, hostFR+":443"), Caller: source, Identify: failing},
		{Target: connect(t, hostFR+":443"), Caller: Caller{App: "other-name", IP: "10.9.9.9", IdentifiedBy: "basic"}},
	} {
		out := p.DecideRequest(ctx, req)
		checkOutcome(t, out, refused(http.StatusTooManyRequests, audit.CodeRateLimited))
		if out.RetryAfter <= 0 || !out.RefusedEarly {
			t.Errorf("RetryAfter %v, RefusedEarly %v", out.RetryAfter, out.RefusedEarly)
		}
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("%d password checks, want 1: a request over its share must not cost one", n)
	}
	// A verified app has its own share; the port comes after identity.
	app := Caller{App: "etat-civil", IP: "10.9.9.9", IdentifiedBy: "mtls", Verified: true}
	out = p.DecideRequest(ctx, Request{Target: connect(t, hostFR+":8443"), Caller: app, Tunnel: true,
		Checks: TunnelChecks{ConnectPorts: []uint16{443}}})
	checkOutcome(t, out, refused(http.StatusForbidden, audit.CodePortNotAllowed))
	out = p.DecideRequest(ctx, Request{Target: connect(t, hostUS+":443"), Caller: app})
	checkOutcome(t, out, deniedEnforce("RESIDENCY_NON_EU"))
	if out.RefusedEarly {
		t.Error("a policy denial is marked as refused early")
	}
}

// TestDecideRequestProvedIdentitySpendsTheAppsShare: a password checked for
// the first time was claimed under the source's share; once proved, the
// request spends the app's share too, and its tunnel slot moves there.
func TestDecideRequestProvedIdentitySpendsTheAppsShare(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pipeline(t, Monitor, func(c *Config) { c.Limits = Limits{RatePerApp: 1, Burst: 2, MaxTunnels: 10, MaxTunnelsPerApp: 1} })
	proved := Caller{App: "etat-civil", IP: "10.5.5.5", IdentifiedBy: "basic", Verified: true}
	prove := func(context.Context) (Caller, *Refusal) { return proved, nil }
	claims := []Caller{
		{App: "etat-civil", IP: "10.5.5.5", IdentifiedBy: "basic"},
		{App: "etat-civil", IP: "10.5.5.6", IdentifiedBy: "basic"},
	}
	// Two first logins, from two addresses: the app's burst is spent.
	for _, c := range claims {
		if out := p.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: c, Identify: prove}); out.Blocked() {
			t.Fatalf("%+v: %v %s", c, out.Reasons, out.Detail.String())
		}
	}
	out := p.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: proved, Identify: prove})
	checkOutcome(t, out, refused(http.StatusTooManyRequests, audit.CodeRateLimited))

	tunnels := w.pipeline(t, Monitor, func(c *Config) { c.Limits = Limits{MaxTunnels: 10, MaxTunnelsPerApp: 1} })
	held := tunnels.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: claims[0], Identify: prove, Tunnel: true})
	if held.Blocked() {
		t.Fatalf("first tunnel: %v", held.Reasons)
	}
	// The slot is the app's now: the app has no other, its first address
	// has its own again.
	checkOutcome(t, tunnels.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: proved, Tunnel: true}),
		refused(http.StatusTooManyRequests, audit.CodeTooManyTunnels))
	if out := tunnels.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: claims[0], Tunnel: true}); out.Blocked() {
		t.Errorf("the source's share still holds the moved slot: %v %s", out.Reasons, out.Detail.String())
	}
	held.Release()
	if out := tunnels.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: proved, Tunnel: true}); out.Blocked() {
		t.Errorf("after the release: %v %s", out.Reasons, out.Detail.String())
	}
}

// TestDecideRequestTunnelShares: a tunnel holds a slot until released; the
// share is per app for verified callers and per source otherwise, so
// rotating unchecked names gains nothing.
func TestDecideRequestTunnelShares(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pipeline(t, Monitor, func(c *Config) { c.Limits = Limits{MaxTunnels: 4, MaxTunnelsPerApp: 2} })
	open := func(c Caller) *Outcome {
		return p.DecideRequest(ctx, Request{Target: connect(t, hostFR+":443"), Caller: c, Tunnel: true})
	}
	var held []*Outcome
	for i, name := range []string{"a", "b"} {
		out := open(Caller{App: name, IP: "10.6.6.6", IdentifiedBy: "basic"})
		if out.Blocked() {
			t.Fatalf("tunnel %d: %v %s", i, out.Reasons, out.Detail.String())
		}
		held = append(held, out)
	}
	out := open(Caller{App: "c", IP: "10.6.6.6", IdentifiedBy: "basic"})
	checkOutcome(t, out, refused(http.StatusTooManyRequests, audit.CodeTooManyTunnels))
	if out.RetryAfter <= 0 {
		t.Error("no Retry-After")
	}
	// Another source, and a verified app at the same source, are not
	// affected.
	for _, c := range []Caller{
		{App: "a", IP: "10.7.7.7", IdentifiedBy: "basic"},
		{App: "etat-civil", IP: "10.6.6.6", IdentifiedBy: "cidr", Verified: true},
	} {
		out := open(c)
		if out.Blocked() {
			t.Fatalf("%+v: %v %s", c, out.Reasons, out.Detail.String())
		}
		held = append(held, out)
	}
	// The pool is full now (4): everyone waits.
	checkOutcome(t, open(Caller{App: "x", IP: "10.8.8.8", Verified: true}), refused(http.StatusTooManyRequests, audit.CodeTooManyTunnels))
	held[0].Release()
	held[0].Release() // idempotent
	if out := open(Caller{App: "d", IP: "10.6.6.6", IdentifiedBy: "basic"}); out.Blocked() {
		t.Errorf("after a release: %v %s", out.Reasons, out.Detail.String())
	}
	// A blocked decision gives its slot back at once.
	full := w.pipeline(t, Enforce, func(c *Config) { c.Limits = Limits{MaxTunnels: 1} })
	for range 3 {
		out := full.DecideRequest(ctx, Request{Target: connect(t, hostUS+":443"), Caller: etatCivil, Tunnel: true})
		if !out.Blocked() || out.Reasons[0] == audit.CodeTooManyTunnels {
			t.Fatalf("%v: a denied tunnel kept its slot", out.Reasons)
		}
	}
}

// TestDestinationSelf: every address the gateway listens on is refused,
// whatever allow_private says: declared ones, wildcard ones (every local
// address), and listeners found on the system, even opened after the
// pipeline started.
func TestDestinationSelf(t *testing.T) {
	w := newWorld(t)
	w.dns.SetA("lan.test", dnsTTL, "10.20.0.5")
	w.dns.SetA("admin.test", dnsTTL, "10.20.0.5")
	p := w.pipeline(t, Monitor)
	p.guard = geo.NewGuard([]netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/8")})
	var scanned atomic.Pointer[[]netip.AddrPort]
	scanned.Store(&[]netip.AddrPort{})
	scans := atomic.Int32{}
	p.self.scan = func() ([]netip.AddrPort, error) {
		scans.Add(1)
		return *scanned.Load(), nil
	}
	p.self.interfaces = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.20.0.5")}, nil }
	ctx := context.Background()
	decide := func(authority string) *Outcome { return p.Decide(ctx, connect(t, authority), etatCivil) }
	self := refused(http.StatusForbidden, audit.CodeDestinationSelf)

	// Nothing declared: a LAN destination in allow_private is reached.
	if out := decide("lan.test:2019"); out.Blocked() {
		t.Fatalf("before any listener: %v %s", out.Reasons, out.Detail.String())
	}
	p.AddListeners([]netip.AddrPort{netip.MustParseAddrPort("10.20.0.5:3128"), netip.MustParseAddrPort("[::]:9180")})
	checkOutcome(t, decide("lan.test:3128"), self)
	checkOutcome(t, decide("10.20.0.5:3128"), self)
	checkOutcome(t, decide("lan.test:9180"), self)  // wildcard: the interface address
	checkOutcome(t, decide("127.0.0.1:9180"), self) // and loopback
	checkOutcome(t, decide("0.0.0.0:3128"), self)   // connecting to 0.0.0.0 reaches every listener
	checkOutcome(t, decide("[::ffff:10.20.0.5]:3128"), self)
	if out := decide("lan.test:3129"); out.Blocked() {
		t.Errorf("another port of the host: %v", out.Reasons)
	}

	// A listener the configuration does not describe (the admin endpoint)
	// appears: found by reading the sockets again, at most once a second.
	scanned.Store(&[]netip.AddrPort{netip.MustParseAddrPort("10.20.0.5:2019")})
	before := scans.Load()
	p.self.state.Load().scannedAt = time.Now().Add(-2 * rescanInterval)
	out := decide("admin.test:2019")
	checkOutcome(t, out, self)
	if scans.Load() != before+1 {
		t.Errorf("%d scans, want one more", scans.Load()-before)
	}
	// A non-local destination never makes the sockets be read.
	before = scans.Load()
	p.self.state.Load().scannedAt = time.Now().Add(-2 * rescanInterval)
	decide(hostFR + ":443")
	if scans.Load() != before {
		t.Error("a public destination made the sockets be read")
	}
	// Unknown local destinations read the sockets at most once a second.
	p.RefreshListeners()
	before = scans.Load()
	start := time.Now()
	for port := range 20 {
		decide("lan.test:" + strconv.Itoa(5000+port))
	}
	if n, allowed := scans.Load()-before, int32(time.Since(start)/rescanInterval); n > allowed {
		t.Errorf("%d scans for 20 unknown local destinations in %s; at most one a second", n, time.Since(start))
	}
}
