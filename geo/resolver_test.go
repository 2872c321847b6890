package geo_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

// fakeClock lets tests expire cache entries without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newResolver(t testing.TB, srv *geotest.DNSServer, clock *fakeClock, mutate ...func(*geo.ResolverConfig)) *geo.Resolver {
	t.Helper()
	cfg := geo.ResolverConfig{Server: srv.Addr(), Timeout: 2 * time.Second, Now: clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	r, err := geo.NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func asDNSError(t *testing.T, err error) *geo.DNSError {
	t.Helper()
	var de *geo.DNSError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *geo.DNSError", err, err)
	}
	return de
}

func TestResolveAddresses(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("svc.example.test", 60, "203.0.113.8", "203.0.113.7", "203.0.113.8")
	srv.SetAAAA("svc.example.test", 90, "2001:db8::7")
	srv.SetA("v4only.example.test", 60, "198.51.100.1")
	srv.SetAAAA("v6only.example.test", 60, "2001:db8::1")
	srv.SetAAAA("mapped.example.test", 60, "::ffff:198.51.100.9")
	clock := newFakeClock()
	r := newResolver(t, srv, clock)

	tests := []struct {
		host     string
		want     []netip.Addr
		wantKey  string
		wantHost string
		ttl      time.Duration
	}{
		{"svc.example.test", addrs("203.0.113.7", "203.0.113.8", "2001:db8::7"), "203.0.113.7,203.0.113.8,2001:db8::7", "svc.example.test", 60 * time.Second},
		{"v4only.example.test", addrs("198.51.100.1"), "198.51.100.1", "v4only.example.test", 60 * time.Second},
		{"V6ONLY.example.test.", addrs("2001:db8::1"), "2001:db8::1", "v6only.example.test", 60 * time.Second},
		{"mapped.example.test", addrs("198.51.100.9"), "198.51.100.9", "mapped.example.test", 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			ans, err := r.Resolve(context.Background(), tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ans.Addrs, tt.want) {
				t.Errorf("Addrs = %v, want %v", ans.Addrs, tt.want)
			}
			if ans.Key != tt.wantKey {
				t.Errorf("Key = %q, want %q", ans.Key, tt.wantKey)
			}
			if ans.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", ans.Host, tt.wantHost)
			}
			if want := clock.Now().Add(tt.ttl); !ans.Expires.Equal(want) {
				t.Errorf("Expires = %v, want %v", ans.Expires, want)
			}
			if len(ans.CNAMEs) != 0 {
				t.Errorf("CNAMEs = %v, want none", ans.CNAMEs)
			}
		})
	}
}

func TestResolveCacheHitDoesNotQuery(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("cached.example.test", 300, "203.0.113.1")
	r := newResolver(t, srv, newFakeClock())
	ctx := context.Background()

	first, err := r.Resolve(ctx, "cached.example.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"cached.example.test", "Cached.Example.Test", "cached.example.test."} {
		again, err := r.Resolve(ctx, spelling)
		if err != nil {
			t.Fatal(err)
		}
		if again != first {
			t.Errorf("Resolve(%q) returned a new *Answer, want the cached one", spelling)
		}
	}
	if got := srv.QueriesOf("cached.example.test", dns.TypeA, false); got != 1 {
		t.Errorf("A queries = %d, want 1", got)
	}
	if got := srv.QueriesOf("cached.example.test", dns.TypeAAAA, false); got != 1 {
		t.Errorf("AAAA queries = %d, want 1", got)
	}
	if got := r.Lookups(); got != 1 {
		t.Errorf("Lookups() = %d, want 1", got)
	}
}

func TestResolveCacheHitAllocationFree(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("hot.example.test", 300, "203.0.113.1")
	r := newResolver(t, srv, newFakeClock())
	ctx := context.Background()
	for _, host := range []string{"hot.example.test", "203.0.113.50", "[2001:db8::50]"} {
		if _, err := r.Resolve(ctx, host); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := r.Resolve(ctx, host); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("cache hit for %q: %v allocations, want 0", host, allocs)
		}
	}
}

func TestResolveTTLExpiry(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("moving.example.test", 30, "203.0.113.1")
	clock := newFakeClock()
	r := newResolver(t, srv, clock)
	ctx := context.Background()

	first, err := r.Resolve(ctx, "moving.example.test")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetA("moving.example.test", 30, "203.0.113.2")

	clock.Advance(29 * time.Second)
	hit, err := r.Resolve(ctx, "moving.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if hit != first || srv.QueriesOf("moving.example.test", dns.TypeA, false) != 1 {
		t.Fatal("answer not served from the cache within its TTL")
	}

	clock.Advance(time.Second) // now exactly at Expires: stale
	fresh, err := r.Resolve(ctx, "moving.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first {
		t.Fatal("expired answer served again")
	}
	if want := addrs("203.0.113.2"); !slices.Equal(fresh.Addrs, want) {
		t.Errorf("Addrs after expiry = %v, want %v", fresh.Addrs, want)
	}
	if got := srv.QueriesOf("moving.example.test", dns.TypeA, false); got != 2 {
		t.Errorf("A queries = %d, want 2", got)
	}
}

func TestResolveTTL(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("zero.example.test", 0, "203.0.113.1")
	srv.SetA("day.example.test", 86400, "203.0.113.1")
	srv.SetA("mixed.example.test", 100, "203.0.113.1")
	srv.SetAAAA("mixed.example.test", 20, "2001:db8::1")
	srv.SetCNAME("alias.example.test", "mixed.example.test", 10)
	clock := newFakeClock()
	r := newResolver(t, srv, clock, func(c *geo.ResolverConfig) {
		c.MinTTL = 5 * time.Second
		c.MaxTTL = 10 * time.Minute
	})
	tests := []struct {
		host string
		want time.Duration
	}{
		{"zero.example.test", 5 * time.Second},   // clamped up to MinTTL
		{"day.example.test", 10 * time.Minute},   // clamped down to MaxTTL
		{"mixed.example.test", 20 * time.Second}, // min of A and AAAA
		{"alias.example.test", 10 * time.Second}, // the CNAME's TTL counts too
		{"203.0.113.99", 10 * time.Minute},       // IP literal: MaxTTL
	}
	for _, tt := range tests {
		ans, err := r.Resolve(context.Background(), tt.host)
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		if got := ans.Expires.Sub(clock.Now()); got != tt.want {
			t.Errorf("%s: TTL %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestResolveSingleflight(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("popular.example.test", 60, "203.0.113.1")
	arrived, release := srv.Hold("popular.example.test")
	r := newResolver(t, srv, newFakeClock())

	const callers = 20
	answers := make([]*geo.Answer, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { answers[i], errs[i] = r.Resolve(context.Background(), "popular.example.test") })
	}
	<-arrived // the one real lookup reached the server and is held there
	release()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if answers[i] != answers[0] {
			t.Errorf("caller %d got a different *Answer", i)
		}
	}
	// Callers that arrived after the flight landed hit the cache, so the count
	// is exact whatever the scheduling.
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if got := srv.QueriesOf("popular.example.test", qt, false); got != 1 {
			t.Errorf("%s queries = %d, want 1", dns.TypeToString[qt], got)
		}
	}
}

func TestResolveCallerCancelDoesNotCancelSharedLookup(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("slow.example.test", 60, "203.0.113.1")
	arrived, release := srv.Hold("slow.example.test")
	r := newResolver(t, srv, newFakeClock())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, "slow.example.test")
		done <- err
	}()
	<-arrived
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	asDNSError(t, err)
	release()
	ans, err := r.Resolve(context.Background(), "slow.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ans.Addrs, addrs("203.0.113.1")) {
		t.Errorf("Addrs = %v", ans.Addrs)
	}
	if got := srv.QueriesOf("slow.example.test", dns.TypeA, false); got != 1 {
		t.Errorf("A queries = %d, want 1 (the abandoned lookup finished for the cache)", got)
	}
}

func TestResolveFailures(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetFailure("nx.example.test", geotest.NXDomain)
	srv.SetFailure("broken.example.test", geotest.ServFail)
	srv.SetFailure("refused.example.test", geotest.Refused)
	srv.SetFailure("empty.example.test", geotest.NoAnswer)
	srv.SetCNAME("dangling.example.test", "missing.example.test", 60)
	srv.SetCNAME("loop1.example.test", "loop2.example.test", 60)
	srv.SetCNAME("loop2.example.test", "loop1.example.test", 60)
	clock := newFakeClock()
	r := newResolver(t, srv, clock)

	tests := []struct {
		host       string
		notFound   bool
		timeout    bool
		reasonPart string
	}{
		{"nx.example.test", true, false, "NXDOMAIN"},
		{"never-set.example.test", true, false, "NXDOMAIN"},
		{"dangling.example.test", true, false, "NXDOMAIN"},
		{"broken.example.test", false, false, "SERVFAIL"},
		{"refused.example.test", false, false, "REFUSED"},
		{"empty.example.test", true, false, "no A or AAAA records"},
		{"loop1.example.test", false, false, "CNAME chain"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			_, err := r.Resolve(context.Background(), tt.host)
			de := asDNSError(t, err)
			if de.NotFound != tt.notFound || de.Timeout != tt.timeout {
				t.Errorf("NotFound=%v Timeout=%v, want %v %v (%v)", de.NotFound, de.Timeout, tt.notFound, tt.timeout, err)
			}
			if !strings.Contains(err.Error(), tt.reasonPart) || !strings.Contains(err.Error(), tt.host) {
				t.Errorf("error %q should name the host and contain %q", err, tt.reasonPart)
			}
			if de.Server != srv.Addr() {
				t.Errorf("Server = %q, want %q", de.Server, srv.Addr())
			}
		})
	}
}

func TestResolveNegativeCache(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetFailure("gone.example.test", geotest.NXDomain)
	clock := newFakeClock()
	r := newResolver(t, srv, clock, func(c *geo.ResolverConfig) { c.NegativeTTL = 5 * time.Second })
	ctx := context.Background()

	_, err1 := r.Resolve(ctx, "gone.example.test")
	clock.Advance(4 * time.Second)
	_, err2 := r.Resolve(ctx, "gone.example.test")
	if err1 == nil || err2 == nil {
		t.Fatal("want errors")
	}
	if err1 != err2 {
		t.Error("the cached failure should be returned as is")
	}
	if got := srv.QueriesOf("gone.example.test", dns.TypeA, false); got != 1 {
		t.Fatalf("A queries = %d within NegativeTTL, want 1", got)
	}

	srv.SetFailure("gone.example.test", geotest.NoFailure)
	srv.SetA("gone.example.test", 60, "203.0.113.5")
	clock.Advance(time.Second)
	ans, err := r.Resolve(ctx, "gone.example.test")
	if err != nil {
		t.Fatalf("after NegativeTTL: %v", err)
	}
	if !slices.Equal(ans.Addrs, addrs("203.0.113.5")) {
		t.Errorf("Addrs = %v", ans.Addrs)
	}
}

func TestResolveTimeoutIsBounded(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetFailure("blackhole.example.test", geotest.NoReply)
	const timeout = 300 * time.Millisecond
	r := newResolver(t, srv, newFakeClock(), func(c *geo.ResolverConfig) { c.Timeout = timeout })

	start := time.Now()
	_, err := r.Resolve(context.Background(), "blackhole.example.test")
	elapsed := time.Since(start)
	de := asDNSError(t, err)
	if !de.Timeout {
		t.Errorf("Timeout = false for %v", err)
	}
	if elapsed < timeout/2 || elapsed > timeout+time.Second {
		t.Errorf("lookup took %v, want about %v", elapsed, timeout)
	}
	// The UDP query is sent again once within the budget (a lost datagram
	// must not cost the whole timeout).
	if got := srv.QueriesOf("blackhole.example.test", dns.TypeA, false); got != 2 {
		t.Errorf("A queries = %d, want 2 (one retransmission)", got)
	}
}

// A server that drops or fails one record type must neither fail the lookup
// nor add the whole timeout to it; the partial answer is cached briefly.
func TestResolveOneFamilyFails(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	for _, name := range []string{"dropaaaa.example.test", "servfailaaaa.example.test", "dropa.example.test"} {
		srv.SetA(name, 600, "203.0.113.40")
		srv.SetAAAA(name, 600, "2001:db8::40")
	}
	srv.SetFailureFor("dropaaaa.example.test", dns.TypeAAAA, geotest.NoReply)
	srv.SetFailureFor("servfailaaaa.example.test", dns.TypeAAAA, geotest.ServFail)
	srv.SetFailureFor("dropa.example.test", dns.TypeA, geotest.NoReply)
	clock := newFakeClock()
	const timeout = 3 * time.Second
	r := newResolver(t, srv, clock, func(c *geo.ResolverConfig) {
		c.Timeout = timeout
		c.NegativeTTL = 5 * time.Second
	})
	tests := []struct {
		host string
		want []netip.Addr
	}{
		{"dropaaaa.example.test", addrs("203.0.113.40")},
		{"servfailaaaa.example.test", addrs("203.0.113.40")},
		{"dropa.example.test", addrs("2001:db8::40")},
	}
	for _, tt := range tests {
		start := time.Now()
		ans, err := r.Resolve(context.Background(), tt.host)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		if !slices.Equal(ans.Addrs, tt.want) {
			t.Errorf("%s: Addrs = %v, want %v", tt.host, ans.Addrs, tt.want)
		}
		if elapsed > timeout/2 {
			t.Errorf("%s: took %v; the silent family should not cost the timeout", tt.host, elapsed)
		}
		if got := ans.Expires.Sub(clock.Now()); got != 5*time.Second {
			t.Errorf("%s: partial answer cached for %v, want NegativeTTL", tt.host, got)
		}
	}
}

func TestResolveCNAMEChain(t *testing.T) {
	for _, follow := range []bool{true, false} {
		t.Run(fmt.Sprintf("server follows=%v", follow), func(t *testing.T) {
			srv := geotest.StartDNSServer(t)
			srv.SetFollowCNAMEs(follow)
			srv.SetCNAME("www.city.example", "City-App.Azurewebsites.NET", 300)
			srv.SetCNAME("city-app.azurewebsites.net", "waws-prod-par-001.cloudapp.net", 300)
			srv.SetA("waws-prod-par-001.cloudapp.net", 60, "203.0.113.20")
			srv.SetAAAA("waws-prod-par-001.cloudapp.net", 60, "2001:db8::20")
			r := newResolver(t, srv, newFakeClock())

			ans, err := r.Resolve(context.Background(), "www.city.example")
			if err != nil {
				t.Fatal(err)
			}
			wantCNAMEs := []string{"city-app.azurewebsites.net", "waws-prod-par-001.cloudapp.net"}
			if !slices.Equal(ans.CNAMEs, wantCNAMEs) {
				t.Errorf("CNAMEs = %q, want %q", ans.CNAMEs, wantCNAMEs)
			}
			if want := addrs("203.0.113.20", "2001:db8::20"); !slices.Equal(ans.Addrs, want) {
				t.Errorf("Addrs = %v, want %v", ans.Addrs, want)
			}
			targetQueries := srv.QueriesOf("waws-prod-par-001.cloudapp.net", dns.TypeA, false)
			if follow && targetQueries != 0 {
				t.Errorf("target queried %d times although the answer held it", targetQueries)
			}
			if !follow && targetQueries != 1 {
				t.Errorf("target queried %d times, want 1 (re-query after a CNAME-only answer)", targetQueries)
			}
		})
	}
}

func TestResolveTruncatedRetriesOverTCP(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	srv.SetA("big.example.test", 60, "203.0.113.30", "203.0.113.31")
	srv.SetTruncated("big.example.test", true)
	r := newResolver(t, srv, newFakeClock())

	ans, err := r.Resolve(context.Background(), "big.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := addrs("203.0.113.30", "203.0.113.31"); !slices.Equal(ans.Addrs, want) {
		t.Errorf("Addrs = %v, want %v", ans.Addrs, want)
	}
	if udp, tcp := srv.QueriesOf("big.example.test", dns.TypeA, false), srv.QueriesOf("big.example.test", dns.TypeA, true); udp != 1 || tcp != 1 {
		t.Errorf("A queries: %d over UDP, %d over TCP; want 1 and 1", udp, tcp)
	}
}

func TestResolveIPLiterals(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	r := newResolver(t, srv, newFakeClock())
	tests := []struct {
		host, wantHost string
		want           netip.Addr
	}{
		{"203.0.113.9", "203.0.113.9", netip.MustParseAddr("203.0.113.9")},
		{"[2001:db8::1]", "2001:db8::1", netip.MustParseAddr("2001:db8::1")},
		{"2001:DB8::1", "2001:db8::1", netip.MustParseAddr("2001:db8::1")},
		{"::ffff:198.51.100.1", "198.51.100.1", netip.MustParseAddr("198.51.100.1")},
		{"127.0.0.1", "127.0.0.1", netip.MustParseAddr("127.0.0.1")}, // the guard refuses it, not the resolver
	}
	for _, tt := range tests {
		ans, err := r.Resolve(context.Background(), tt.host)
		if err != nil {
			t.Fatalf("%s: %v", tt.host, err)
		}
		if ans.Host != tt.wantHost || len(ans.Addrs) != 1 || ans.Addrs[0] != tt.want || ans.Key != tt.want.String() {
			t.Errorf("%s: got host %q addrs %v key %q", tt.host, ans.Host, ans.Addrs, ans.Key)
		}
	}
	if n := srv.TotalQueries(); n != 0 {
		t.Errorf("%d DNS queries for IP literals, want 0", n)
	}
}

func TestResolveInvalidHosts(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	r := newResolver(t, srv, newFakeClock())
	for _, host := range []string{
		"", ".", "a..b", "foo bar.example", "exa_mple.com/x", "évian.fr",
		"2130706433", // decimal IPv4
		"0x7f.1",     // hex + shortened
		"0177.0.0.1", // octal
		"127.1",      // shortened
		"[example.com]", "[127.0.0.1]",
		strings.Repeat("a", 64) + ".example",
		strings.Repeat("abcdefghi.", 26) + "com",
	} {
		_, err := r.Resolve(context.Background(), host)
		de := asDNSError(t, err)
		if !strings.Contains(de.Reason, "invalid host name") {
			t.Errorf("%q: reason %q", host, de.Reason)
		}
	}
	if n := srv.TotalQueries(); n != 0 {
		t.Errorf("%d DNS queries for invalid names, want 0", n)
	}
}

func TestResolveCacheIsBounded(t *testing.T) {
	srv := geotest.StartDNSServer(t)
	clock := newFakeClock()
	r := newResolver(t, srv, clock, func(c *geo.ResolverConfig) { c.MaxEntries = 8 })
	for i := range 40 {
		name := fmt.Sprintf("scan%d.example.test", i)
		if i%2 == 0 {
			srv.SetA(name, 60, "203.0.113.1")
		}
		r.Resolve(context.Background(), name) // half fail: failures are cached too
		if n := r.Len(); n > 8 {
			t.Fatalf("cache holds %d entries after %d names, bound is 8", n, i+1)
		}
	}
	// The most recent name is still cached.
	before := srv.TotalQueries()
	r.Resolve(context.Background(), "scan39.example.test")
	if srv.TotalQueries() != before {
		t.Error("the entry just stored was evicted")
	}
}

func TestResolveSystemResolver(t *testing.T) {
	clock := newFakeClock()
	r, err := geo.NewResolver(geo.ResolverConfig{Now: clock.Now, Timeout: 2 * time.Second, SystemTTL: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := r.Resolve(context.Background(), "localhost")
	if err != nil {
		t.Skipf("system resolver cannot resolve localhost here: %v", err)
	}
	if !slices.ContainsFunc(ans.Addrs, netip.Addr.IsLoopback) {
		t.Errorf("localhost resolved to %v", ans.Addrs)
	}
	for _, a := range ans.Addrs {
		if a.Is4In6() {
			t.Errorf("address %v left IPv4-mapped", a)
		}
	}
	if got := ans.Expires.Sub(clock.Now()); got != 7*time.Second {
		t.Errorf("TTL %v, want SystemTTL", got)
	}
}

func TestNewResolverRejectsBadConfig(t *testing.T) {
	for _, cfg := range []geo.ResolverConfig{
		{Server: "192.0.2.53"},  // no port
		{Server: ":53"},         // no host
		{Timeout: -time.Second}, // negative
		{MinTTL: time.Hour, MaxTTL: time.Minute},
	} {
		if _, err := geo.NewResolver(cfg); err == nil {
			t.Errorf("NewResolver(%+v) accepted", cfg)
		}
	}
}

func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM.", "[::1]", "127.0.0.1", "0x7f.1", "a..b", "xn--bcher-kva.example", "::ffff:1.2.3.4", "fe80::1%eth0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		name, ip, err := geo.CanonicalHost(host)
		if err != nil {
			return
		}
		if ip.IsValid() {
			if ip.Zone() != "" || ip.Is4In6() || name != ip.String() {
				t.Fatalf("CanonicalHost(%q) = %q, %v", host, name, ip)
			}
			return
		}
		if name != strings.ToLower(name) || strings.HasSuffix(name, ".") || name == "" || len(name) > 253 {
			t.Fatalf("CanonicalHost(%q) = %q: not canonical", host, name)
		}
		again, ip2, err := geo.CanonicalHost(name)
		if err != nil || again != name || ip2.IsValid() {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v, %v", host, name, again, ip2, err)
		}
	})
}

func BenchmarkResolveCacheHit(b *testing.B) {
	srv := geotest.StartDNSServer(b)
	srv.SetA("hot.example.test", 300, "203.0.113.1", "203.0.113.2")
	r, err := geo.NewResolver(geo.ResolverConfig{Server: srv.Addr()}) // real clock
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "hot.example.test"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Resolve(ctx, "hot.example.test")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.Resolve(ctx, "hot.example.test")
			}
		})
	})
}
