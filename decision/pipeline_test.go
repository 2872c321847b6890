package decision

import (
	"context"
	"errors"
	"github.com/sovgate/sovgate/audit"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo/geotest"
	"github.com/sovgate/sovgate/policy"
)

func TestNewChecksConfig(t *testing.T) {
	w := newWorld(t)
	full := Config{Resolver: w.resolver, Guard: w.guard, Classifier: w.classifier, Policy: w.policy}
	for name, change := range map[string]func(*Config){
		"no resolver":   func(c *Config) { c.Resolver = nil },
		"no guard":      func(c *Config) { c.Guard = nil },
		"no classifier": func(c *Config) { c.Classifier = nil },
		"no policy":     func(c *Config) { c.Policy = nil },
		"bad mode":      func(c *Config) { c.Mode = "block" },
	} {
		cfg := full
		change(&cfg)
		if p, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded (%v)", name, p)
		}
	}
	for in, want := range map[Mode]Mode{"": Monitor, "monitor": Monitor, " ENFORCE ": Enforce} {
		cfg := full
		cfg.Mode = in
		p, err := New(cfg)
		if err != nil || p.Mode() != want {
			t.Errorf("mode %q: %v, %v; want %q", in, p, err, want)
		}
	}
}

// outcomeWant is what a decision must look like.
type outcomeWant struct {
	verdict    audit.Verdict
	action     audit.Action
	status     int
	reasons    []audit.Code // exact codes, in order
	addrs      []string     // Addrs; nil when blocked
	classified bool         // Destination set
	evaluated  bool         // Decision set
}

func checkOutcome(t *testing.T, out *Outcome, want outcomeWant) {
	t.Helper()
	if out == nil {
		t.Fatal("nil outcome")
	}
	if out.Verdict != want.verdict || out.Action != want.action || out.Status != want.status {
		t.Errorf("verdict/action/status = %s/%s/%d, want %s/%s/%d (reasons %v, detail %q)",
			out.Verdict, out.Action, out.Status, want.verdict, want.action, want.status, out.Reasons, out.Detail)
	}
	if !slices.Equal(out.Reasons, want.reasons) {
		t.Errorf("reasons = %q, want %q (detail %q)", out.Reasons, want.reasons, out.Detail.String())
	}
	if out.Blocked() != (want.action == "blocked") {
		t.Errorf("Blocked() = %v with action %q", out.Blocked(), out.Action)
	}
	var got []string
	for _, a := range out.Addrs {
		got = append(got, a.String())
	}
	if !slices.Equal(got, want.addrs) {
		t.Errorf("Addrs = %v, want %v", got, want.addrs)
	}
	if (out.Destination != nil) != want.classified {
		t.Errorf("Destination = %+v, want set=%v", out.Destination, want.classified)
	}
	if (out.Decision != nil) != want.evaluated {
		t.Errorf("Decision = %+v, want set=%v", out.Decision, want.evaluated)
	}
	if out.ID == "" || out.Start.IsZero() {
		t.Errorf("ID %q, Start %v: want both set", out.ID, out.Start)
	}
	if out.PolicyRevision == "" {
		t.Error("PolicyRevision is empty")
	}
}

func allowed(addrs ...string) outcomeWant {
	return outcomeWant{verdict: "allow", action: "forwarded", reasons: []audit.Code{}, addrs: addrs, classified: true, evaluated: true}
}

func deniedMonitor(code audit.Code, addrs ...string) outcomeWant {
	return outcomeWant{verdict: "deny", action: "forwarded", reasons: []audit.Code{code}, addrs: addrs, classified: true, evaluated: true}
}

func deniedEnforce(code audit.Code) outcomeWant {
	return outcomeWant{verdict: "deny", action: "blocked", status: http.StatusForbidden, reasons: []audit.Code{code}, classified: true, evaluated: true}
}

func refused(status int, code audit.Code) outcomeWant {
	return outcomeWant{verdict: "deny", action: "blocked", status: status, reasons: []audit.Code{code}}
}

func TestDecide(t *testing.T) {
	w := newWorld(t)
	w.dns.SetFailure("empty.test", geotest.NoAnswer)
	pipelines := map[Mode]*Pipeline{
		Monitor: w.pipeline(t, Monitor),
		Enforce: w.pipeline(t, Enforce),
	}
	cases := []struct {
		name    string
		target  string
		monitor outcomeWant
		enforce outcomeWant
		detail  string // substring of Detail, both modes
	}{
		{name: "EU destination", target: hostFR + ":443",
			monitor: allowed(ipFR), enforce: allowed(ipFR)},
		{name: "three EU addresses", target: hostThree + ":8443",
			monitor: allowed(ipFR, ipFR2, ipDE), enforce: allowed(ipFR, ipFR2, ipDE)},
		{name: "EU IP literal", target: ipFR + ":443",
			monitor: allowed(ipFR), enforce: allowed(ipFR)},
		{name: "US destination", target: hostUS + ":443",
			monitor: deniedMonitor("RESIDENCY_NON_EU", ipUS), enforce: deniedEnforce("RESIDENCY_NON_EU")},
		{name: "US IP literal", target: ipUS + ":443",
			monitor: deniedMonitor("RESIDENCY_NON_EU", ipUS), enforce: deniedEnforce("RESIDENCY_NON_EU")},
		{name: "US operator in Paris", target: hostAWS + ":443",
			monitor: deniedMonitor("JURISDICTION_NON_EU", ipAWSFR), enforce: deniedEnforce("JURISDICTION_NON_EU")},

		// The guard refuses in both modes: monitor mode does not open the
		// city's network.
		{name: "private", target: hostPrivate + ":443", detail: "10.1.2.3",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "metadata", target: hostMeta + ":80", detail: "169.254.169.254",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "loopback", target: hostLoop + ":443", detail: "loopback",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "one private address among public ones", target: hostMixed + ":443", detail: "192.168.1.1",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "private IP literal", target: "10.0.0.1:443", detail: "private",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "loopback v6 literal", target: "[::1]:443", detail: "loopback",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},
		{name: "mapped loopback literal", target: "[::ffff:127.0.0.1]:443", detail: "loopback",
			monitor: refused(403, audit.CodeDestinationPrivate), enforce: refused(403, audit.CodeDestinationPrivate)},

		// Without addresses there is nothing to forward to, in either mode.
		{name: "NXDOMAIN", target: hostNX + ":443", detail: "NXDOMAIN",
			monitor: refused(502, audit.CodeDNSFailure), enforce: refused(502, audit.CodeDNSFailure)},
		{name: "SERVFAIL", target: hostFail + ":443", detail: "SERVFAIL",
			monitor: refused(502, audit.CodeDNSFailure), enforce: refused(502, audit.CodeDNSFailure)},
		{name: "no address", target: "empty.test:443", detail: "no A or AAAA",
			monitor: refused(502, audit.CodeDNSFailure), enforce: refused(502, audit.CodeDNSFailure)},
	}
	ctx := context.Background()
	for _, tc := range cases {
		for _, mode := range []Mode{Monitor, Enforce} {
			t.Run(tc.name+"/"+string(mode), func(t *testing.T) {
				p := pipelines[mode]
				target := connect(t, tc.target)
				out := p.Decide(ctx, target, etatCivil)
				want := tc.monitor
				if mode == Enforce {
					want = tc.enforce
				}
				checkOutcome(t, out, want)
				if out.Mode != mode || out.Target != target || out.Caller != etatCivil {
					t.Errorf("mode/target/caller = %q/%v/%v", out.Mode, out.Target, out.Caller)
				}
				if !strings.Contains(out.Detail.String(), tc.detail) {
					t.Errorf("detail %q does not contain %q", out.Detail, tc.detail)
				}
				if tc.detail == "" && !out.Detail.IsZero() {
					t.Errorf("detail %q on a policy decision", out.Detail.String())
				}
				if out.PolicyRevision != w.policy.Revision() {
					t.Errorf("PolicyRevision = %q, want %q", out.PolicyRevision, w.policy.Revision())
				}
				if !want.evaluated {
					return
				}
				// The addresses dialled are exactly the vetted answer.
				ans, err := w.resolver.Resolve(ctx, target.Host)
				if err != nil {
					t.Fatal(err)
				}
				if out.Action == "forwarded" && !slices.Equal(out.Addrs, ans.Addrs) {
					t.Errorf("Addrs %v differ from the vetted answer %v", out.Addrs, ans.Addrs)
				}
				var classified []netip.Addr
				for _, a := range out.Destination.Addresses {
					classified = append(classified, a.IP)
				}
				if !slices.Equal(classified, ans.Addrs) {
					t.Errorf("classified %v, vetted %v", classified, ans.Addrs)
				}
				if !out.Cached {
					if out.Input == nil || out.Input.Request.Host != target.Host || out.Input.Source.App != etatCivil.App ||
						!out.Input.Time.Equal(out.Start) || out.Input.Time.Location() != time.UTC {
						t.Errorf("Input = %+v", out.Input)
					}
				}
			})
		}
	}

	t.Run("classification facts", func(t *testing.T) {
		out := pipelines[Monitor].Decide(ctx, connect(t, hostAWS+":443"), etatCivil)
		if n := len(out.Destination.Addresses); n != 1 {
			t.Fatalf("%d addresses", n)
		}
		a := out.Destination.Addresses[0]
		if a.Country != "FR" || a.ASN != 16509 || a.Provider != "aws" || !a.EU {
			t.Errorf("address = %+v", a)
		}
		if len(out.Destination.Providers) != 1 || out.Destination.Providers[0].ID != "aws" {
			t.Errorf("providers = %+v", out.Destination.Providers)
		}
	})

	t.Run("IP literal needs no DNS", func(t *testing.T) {
		before := w.dns.TotalQueries()
		pipelines[Enforce].Decide(ctx, connect(t, "192.0.2.11:443"), etatCivil)
		if n := w.dns.TotalQueries() - before; n != 0 {
			t.Errorf("%d DNS queries for an IP literal", n)
		}
	})
}

func TestDecidePolicyError(t *testing.T) {
	w := newWorld(t)
	w.policy = writePolicy(t, map[string]string{"sovgate/decision.rego": conflictPolicy})
	ctx := context.Background()
	for _, mode := range []Mode{Enforce, Monitor} {
		t.Run(string(mode), func(t *testing.T) {
			p := w.pipeline(t, mode)
			want := outcomeWant{verdict: "deny", action: "forwarded", reasons: []audit.Code{audit.CodePolicyError}, addrs: []string{ipFR}, classified: true}
			if mode == Enforce {
				want.action, want.status, want.addrs = "blocked", http.StatusServiceUnavailable, nil
			}
			for i := range 3 {
				out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
				checkOutcome(t, out, want)
				if !strings.Contains(out.Detail.String(), "conflict") {
					t.Errorf("detail %q does not name the conflict", out.Detail.String())
				}
				if out.Cached {
					t.Errorf("decision %d: a failing policy was cached", i)
				}
				if out.Input == nil {
					t.Error("Input not set: the policy was asked")
				}
				if out.PolicyRevision != w.policy.Revision() {
					t.Errorf("PolicyRevision = %q, want %q", out.PolicyRevision, w.policy.Revision())
				}
			}
			s := p.Stats()
			if s.PolicyError.Load() != 3 || s.Denied.Load() != 3 || s.CacheHits.Load() != 0 {
				t.Errorf("stats: policy errors %d, denied %d, hits %d", s.PolicyError.Load(), s.Denied.Load(), s.CacheHits.Load())
			}
			if n := p.cache.len(); n != 0 {
				t.Errorf("%d cache entries after policy errors", n)
			}
			// A working policy swapped in decides normally.
			p.SwapPolicy(w.mustOpen(t))
			out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
			checkOutcome(t, out, allowed(ipFR))
		})
	}
}

func (w *world) mustOpen(t *testing.T) *policy.Engine {
	t.Helper()
	return writePolicy(t, map[string]string{"sovgate/decision.rego": openPolicy})
}

func TestDecideCache(t *testing.T) {
	ctx := context.Background()

	t.Run("hit", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Enforce)
		first := p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
		queries := w.dns.TotalQueries()
		second := p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
		checkOutcome(t, second, deniedEnforce("RESIDENCY_NON_EU"))
		if first.Cached || !second.Cached {
			t.Fatalf("Cached = %v then %v, want false then true", first.Cached, second.Cached)
		}
		if second.Decision != first.Decision || second.Destination != first.Destination {
			t.Error("a hit does not reuse the cached Decision and Destination")
		}
		if second.Input != nil {
			t.Error("Input set on a cache hit")
		}
		if second.ID == first.ID {
			t.Error("a hit reuses the decision id")
		}
		if n := w.dns.TotalQueries() - queries; n != 0 {
			t.Errorf("%d DNS queries on a hit", n)
		}
		if got := p.Stats().CacheHits.Load(); got != 1 {
			t.Errorf("CacheHits = %d", got)
		}
	})

	t.Run("hit keeps the addresses of a forwarded decision", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor)
		p.Decide(ctx, connect(t, hostThree+":443"), etatCivil)
		out := p.Decide(ctx, connect(t, hostThree+":443"), etatCivil)
		if !out.Cached {
			t.Fatal("not cached")
		}
		checkOutcome(t, out, allowed(ipFR, ipFR2, ipDE))
	})

	t.Run("misses", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor)
		getURL := func(method, raw string) Target {
			u, _ := url.Parse(raw)
			tg, err := ParseURLTarget(method, u)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
		base := connect(t, hostFR+":443")
		p.Decide(ctx, base, etatCivil)
		p.Decide(ctx, getURL("GET", "http://"+hostFR+"/"), etatCivil)
		for name, tc := range map[string]struct {
			target Target
			caller Caller
		}{
			"other app":          {base, Caller{App: "urbanisme", IP: etatCivil.IP, IdentifiedBy: "basic"}},
			"other ident method": {base, Caller{App: etatCivil.App, IP: etatCivil.IP, IdentifiedBy: "cidr"}},
			"other port":         {connect(t, hostFR+":8443"), etatCivil},
			"other method":       {getURL("POST", "http://"+hostFR+"/"), etatCivil},
			"other host":         {connect(t, hostThree+":443"), etatCivil},
		} {
			if out := p.Decide(ctx, tc.target, tc.caller); out.Cached {
				t.Errorf("%s: cache hit", name)
			}
		}
		if out := p.Decide(ctx, base, etatCivil); !out.Cached {
			t.Error("the first decision is no longer cached")
		}
	})

	t.Run("expires with the DNS answer", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor, func(c *Config) { c.CacheTTL = time.Hour })
		p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		w.clock.Advance(dnsTTL*time.Second - time.Second)
		if out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil); !out.Cached {
			t.Fatal("miss before the DNS TTL")
		}
		queries := w.dns.Queries(hostFR)
		w.clock.Advance(time.Second)
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		if out.Cached {
			t.Fatal("hit after the DNS TTL")
		}
		if w.dns.Queries(hostFR) == queries {
			t.Error("no new DNS lookup after the TTL")
		}
		checkOutcome(t, out, allowed(ipFR))
		if out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil); !out.Cached {
			t.Error("the renewed decision is not cached")
		}
	})

	t.Run("a new DNS answer is a new decision", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Enforce, func(c *Config) { c.CacheTTL = time.Hour })
		checkOutcome(t, p.Decide(ctx, connect(t, "moving.test:443"), etatCivil), refused(502, audit.CodeDNSFailure))
		w.dns.SetA("moving.test", 30, ipFR)
		w.clock.Advance(10 * time.Second) // past the negative TTL
		checkOutcome(t, p.Decide(ctx, connect(t, "moving.test:443"), etatCivil), allowed(ipFR))
		w.dns.SetA("moving.test", 30, ipUS)
		w.clock.Advance(31 * time.Second)
		out := p.Decide(ctx, connect(t, "moving.test:443"), etatCivil)
		if out.Cached {
			t.Fatal("decision of the old address reused")
		}
		checkOutcome(t, out, deniedEnforce("RESIDENCY_NON_EU"))
	})

	t.Run("expires after CacheTTL", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor, func(c *Config) { c.CacheTTL = 10 * time.Second })
		p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		queries := w.dns.TotalQueries()
		w.clock.Advance(9 * time.Second)
		if out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil); !out.Cached {
			t.Fatal("miss before CacheTTL")
		}
		w.clock.Advance(time.Second)
		out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		if out.Cached {
			t.Fatal("hit after CacheTTL")
		}
		if n := w.dns.TotalQueries() - queries; n != 0 {
			t.Errorf("%d DNS queries: the DNS answer is still valid", n)
		}
	})

	t.Run("a decision that applied an exception ends at UTC midnight", func(t *testing.T) {
		w := newWorld(t)
		engine := policyWithData(t, map[string]any{"exceptions": map[string]any{
			"2026-017": map[string]any{
				"app": etatCivil.App, "host": hostUS, "reason": "migration until the end of the day",
				"approved_by": "DPO", "expires": "2026-11-28",
			},
		}})
		p := w.pipeline(t, Enforce, func(c *Config) { c.Policy, c.CacheTTL = engine, time.Hour })
		w.clock.Advance(13*time.Hour + 59*time.Minute) // 23:59:00 UTC, the exception's last minute
		out := p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
		if out.Verdict != "allow" || !slices.Contains(out.Reasons, "EXCEPTION_APPLIED") {
			t.Fatalf("before expiry: %s %v, want allow with EXCEPTION_APPLIED", out.Verdict, out.Reasons)
		}
		w.clock.Advance(59 * time.Second)
		if out := p.Decide(ctx, connect(t, hostUS+":443"), etatCivil); !out.Cached || out.Verdict != "allow" {
			t.Fatalf("23:59:59: cached %v, verdict %s; want the cached allow", out.Cached, out.Verdict)
		}
		w.clock.Advance(time.Second) // midnight: the exception has expired
		out = p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
		if out.Cached {
			t.Fatal("the exception's decision was reused after it expired")
		}
		checkOutcome(t, out, deniedEnforce("RESIDENCY_NON_EU"))
	})

	t.Run("default CacheTTL is a minute", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor)
		p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
		w.clock.Advance(59 * time.Second)
		if !p.Decide(ctx, connect(t, hostFR+":443"), etatCivil).Cached {
			t.Fatal("miss before a minute")
		}
		w.clock.Advance(time.Second)
		if p.Decide(ctx, connect(t, hostFR+":443"), etatCivil).Cached {
			t.Fatal("hit after a minute")
		}
	})

	t.Run("SwapPolicy flushes", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Enforce)
		target := connect(t, hostUS+":443")
		p.Decide(ctx, target, etatCivil)
		if !p.Decide(ctx, target, etatCivil).Cached {
			t.Fatal("not cached")
		}
		open := w.mustOpen(t)
		if open.Revision() == w.policy.Revision() {
			t.Fatal("the open policy has the embedded policy's revision")
		}
		p.SwapPolicy(open)
		if p.Policy() != open {
			t.Error("Policy() is not the new engine")
		}
		if n := p.cache.len(); n != 0 {
			t.Errorf("%d entries after the swap", n)
		}
		out := p.Decide(ctx, target, etatCivil)
		if out.Cached {
			t.Fatal("decision of the old policy reused")
		}
		if out.PolicyRevision != open.Revision() {
			t.Errorf("PolicyRevision = %q, want %q", out.PolicyRevision, open.Revision())
		}
		checkOutcome(t, out, allowed(ipUS))
		again := p.Decide(ctx, target, etatCivil)
		if !again.Cached || again.PolicyRevision != open.Revision() {
			t.Errorf("Cached %v, revision %q", again.Cached, again.PolicyRevision)
		}
	})

	t.Run("disabled", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor, func(c *Config) { c.CacheSize = -1 })
		for range 3 {
			out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
			if out.Cached || out.Input == nil {
				t.Fatal("cached with CacheSize -1")
			}
		}
		p.SwapPolicy(w.policy) // no cache to flush: must not panic
	})

	t.Run("bounded", func(t *testing.T) {
		w := newWorld(t)
		p := w.pipeline(t, Monitor, func(c *Config) { c.CacheSize = 2 })
		for _, h := range []string{hostFR, hostUS, hostThree, hostAWS} {
			p.Decide(ctx, connect(t, h+":443"), etatCivil)
			if n := p.cache.len(); n > 2 {
				t.Fatalf("%d entries, bound 2", n)
			}
		}
	})
}

// TestDecideCacheKeyCoversPolicyInput: a cached decision must only be
// reused for a request the policy would decide the same way. The policy
// input has request.path and source.ip, and DPO staff may
// write rules on them; the cache key has neither, so a decision made for
// one path or source address is reused for another.
func TestDecideCacheKeyCoversPolicyInput(t *testing.T) {
	ctx := context.Background()
	t.Run("path", func(t *testing.T) {
		w := newWorld(t)
		w.policy = writePolicy(t, map[string]string{"sovgate/decision.rego": pathPolicy})
		p := w.pipeline(t, Enforce)
		target := func(path string) Target {
			u, _ := url.Parse("http://" + hostFR + path)
			tg, err := ParseURLTarget("GET", u)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
		checkOutcome(t, p.Decide(ctx, target("/public"), etatCivil), allowed(ipFR))
		out := p.Decide(ctx, target("/secret"), etatCivil)
		if out.Cached || out.Verdict != "deny" {
			t.Errorf("GET /secret after GET /public: cached %v, verdict %s, want a fresh deny", out.Cached, out.Verdict)
		}
	})
	t.Run("source ip", func(t *testing.T) {
		w := newWorld(t)
		w.policy = writePolicy(t, map[string]string{"sovgate/decision.rego": sourcePolicy})
		p := w.pipeline(t, Enforce)
		checkOutcome(t, p.Decide(ctx, connect(t, hostFR+":443"), etatCivil), allowed(ipFR))
		other := etatCivil
		other.IP = "10.9.9.9"
		out := p.Decide(ctx, connect(t, hostFR+":443"), other)
		if out.Cached || out.Verdict != "deny" {
			t.Errorf("source 10.9.9.9 after 10.1.2.3: cached %v, verdict %s, want a fresh deny", out.Cached, out.Verdict)
		}
	})
}

func TestRefuse(t *testing.T) {
	w := newWorld(t)
	for _, mode := range []Mode{Monitor, Enforce} {
		p := w.pipeline(t, mode)
		_, perr := ParseConnectTarget("0x7f.0.0.1:443")
		raw := Target{Method: "CONNECT", Host: "0x7f.0.0.1"}
		out := p.Refuse(raw, etatCivil, perr)
		checkOutcome(t, out, refused(http.StatusBadRequest, audit.CodeBadTarget))
		if out.Detail.String() != perr.Error() || out.Mode != mode || out.Target != raw {
			t.Errorf("%s: detail %q, mode %q, target %v", mode, out.Detail, out.Mode, out.Target)
		}
		if out.PolicyRevision != w.policy.Revision() {
			t.Errorf("PolicyRevision = %q", out.PolicyRevision)
		}
		if s := p.Stats(); s.Decisions.Load() != 1 || s.Denied.Load() != 1 || s.Blocked.Load() != 1 {
			t.Errorf("stats %d/%d/%d", s.Decisions.Load(), s.Denied.Load(), s.Blocked.Load())
		}
	}
}

func TestStats(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.pipeline(t, Monitor)
	p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)      // allow
	p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)      // allow, cached
	p.Decide(ctx, connect(t, hostUS+":443"), etatCivil)      // deny, forwarded
	p.Decide(ctx, connect(t, hostPrivate+":443"), etatCivil) // deny, blocked
	p.Decide(ctx, connect(t, hostNX+":443"), etatCivil)      // deny, blocked
	p.Refuse(Target{}, etatCivil, errors.New("bad"))         // deny, blocked
	s := p.Stats()
	got := [...]int64{s.Decisions.Load(), s.Allowed.Load(), s.Denied.Load(), s.Blocked.Load(), s.CacheHits.Load(), s.PolicyError.Load()}
	want := [...]int64{6, 2, 4, 3, 1, 0}
	if got != want {
		t.Errorf("decisions, allowed, denied, blocked, hits, policy errors = %v, want %v", got, want)
	}

	e := w.pipeline(t, Enforce)
	e.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
	e.Decide(ctx, connect(t, hostUS+":443"), etatCivil)
	if s := e.Stats(); s.Denied.Load() != 2 || s.Blocked.Load() != 2 || s.CacheHits.Load() != 1 {
		t.Errorf("enforce: denied %d, blocked %d, hits %d", s.Denied.Load(), s.Blocked.Load(), s.CacheHits.Load())
	}
}

// TestDecideConcurrent runs decisions, cache hits and policy swaps at once
// (run with -race).
func TestDecideConcurrent(t *testing.T) {
	w := newWorld(t)
	p := w.pipeline(t, Enforce)
	open := w.mustOpen(t)
	ctx := context.Background()
	hosts := []string{hostFR, hostUS, hostThree, hostAWS, hostPrivate}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				h := hosts[(g+i)%len(hosts)]
				out := p.Decide(ctx, connect(t, h+":443"), etatCivil)
				if out.Verdict == "" || out.Action == "" || out.PolicyRevision == "" {
					t.Errorf("incomplete outcome %+v", out)
					return
				}
				if out.Action == "forwarded" && len(out.Addrs) == 0 {
					t.Errorf("%s forwarded without addresses", h)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if i%2 == 0 {
				p.SwapPolicy(open)
			} else {
				p.SwapPolicy(w.policy)
			}
		}
	})
	wg.Wait()
	if got := p.Stats().Decisions.Load(); got != 400 {
		t.Errorf("Decisions = %d, want 400", got)
	}
}

// TestDecideAbandoned: a caller that is gone before the lookup gets a DNS
// failure, not a hang.
func TestDecideAbandoned(t *testing.T) {
	w := newWorld(t)
	p := w.pipeline(t, Enforce)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := p.Decide(ctx, connect(t, hostFR+":443"), etatCivil)
	checkOutcome(t, out, refused(http.StatusBadGateway, audit.CodeDNSFailure))
	if !strings.Contains(out.Detail.String(), "abandoned") {
		t.Errorf("detail %q", out.Detail.String())
	}
}
