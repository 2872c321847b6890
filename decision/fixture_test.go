package decision

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
	"github.com/sovgate/sovgate/policies/policiestest"
	"github.com/sovgate/sovgate/policy"
)

// The test world. Documentation ranges are used for "public" destinations:
// the guard lets them through (they are not routed, so nothing is ever
// dialled by these tests), and the MMDBs written below place them.
const (
	ipFR    = "192.0.2.10"  // FR, an unnamed French network (AS64500)
	ipFR2   = "192.0.2.11"  // FR, same network
	ipDE    = "192.0.2.20"  // DE (AS64502)
	ipUS    = "203.0.113.7" // US (AS64501)
	ipAWSFR = "192.0.2.30"  // FR, in Amazon's AS16509: US jurisdiction
	ipOVH   = "192.0.2.40"  // FR, in OVH's AS16276
	ipV6FR  = "2001:db8::10"

	hostFR      = "eu.test"
	hostUS      = "us.test"
	hostAWS     = "aws-paris.test"
	hostThree   = "three.test" // three French/German addresses
	hostPrivate = "private.test"
	hostMeta    = "metadata.test"
	hostLoop    = "loop.test"
	hostNX      = "nxdomain.test"
	hostFail    = "servfail.test"
	hostMixed   = "mixed.test" // one public, one private address

	dnsTTL = 300 // seconds
)

// clock is a settable clock shared by the pipeline and the resolver, so
// tests expire entries without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is everything around the pipeline: a real DNS server on loopback,
// real MMDB files, the embedded policy.
type world struct {
	dir        string
	dns        *geotest.DNSServer
	clock      *clock
	resolver   *geo.Resolver
	guard      *geo.Guard
	classifier *geo.Classifier
	policy     *policy.Engine
}

// embeddedPolicy is loaded once: compiling the bundle takes a while and an
// Engine is immutable.
var embeddedPolicy = sync.OnceValues(func() (*policy.Engine, error) {
	return policy.LoadEmbedded(context.Background())
})

func newWorld(tb testing.TB) *world {
	tb.Helper()
	w := &world{dir: tb.TempDir(), clock: newClock()}

	country := filepath.Join(w.dir, "GeoLite2-Country.mmdb")
	geotest.WriteCountryDB(tb, country, map[string]string{
		ipFR: "FR", ipFR2: "FR", ipDE: "DE", ipUS: "US", ipAWSFR: "FR", ipOVH: "FR", ipV6FR: "FR",
	})
	asn := filepath.Join(w.dir, "GeoLite2-ASN.mmdb")
	geotest.WriteASNDB(tb, asn, map[string]geotest.ASNEntry{
		"192.0.2.0/28": {Number: 64500, Org: "METROPOLE-DE-LYON"},
		ipDE:           {Number: 64502, Org: "EXAMPLE-DE-NET"},
		ipUS:           {Number: 64501, Org: "EXAMPLE-US-NET"},
		ipAWSFR:        {Number: 16509, Org: "AMAZON-02"},
		ipOVH:          {Number: 16276, Org: "OVH SAS"},
	})
	// Where the networks are registered: their operators' jurisdictions
	// when the catalogue does not know them. Every network here is
	// registered in France (the US one is a French operator's point of
	// presence abroad), so only the location and the catalogue decide.
	registration := filepath.Join(w.dir, "registration.mmdb")
	geotest.WriteRegistrationDB(tb, registration, map[string]geotest.Registration{
		"192.0.2.0/24": {Country: "FR"}, "203.0.113.0/24": {Country: "FR"}, ipV6FR: {Country: "FR"},
	})

	w.dns = geotest.StartDNSServer(tb)
	w.dns.SetA(hostFR, dnsTTL, ipFR)
	w.dns.SetA(hostUS, dnsTTL, ipUS)
	w.dns.SetA(hostAWS, dnsTTL, ipAWSFR)
	w.dns.SetA(hostThree, dnsTTL, ipFR, ipFR2, ipDE)
	w.dns.SetA(hostPrivate, dnsTTL, "10.1.2.3")
	w.dns.SetA(hostMeta, dnsTTL, "169.254.169.254")
	w.dns.SetA(hostLoop, dnsTTL, "127.0.0.1")
	w.dns.SetA(hostMixed, dnsTTL, ipFR, "192.168.1.1")
	w.dns.SetFailure(hostNX, geotest.NXDomain)
	w.dns.SetFailure(hostFail, geotest.ServFail)

	var err error
	w.resolver, err = geo.NewResolver(geo.ResolverConfig{
		Server:  w.dns.Addr(),
		Timeout: 2 * time.Second,
		Now:     w.clock.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.guard = geo.NewGuard(nil)
	w.classifier, err = geo.NewClassifier(geo.ClassifierConfig{CountryDB: country, ASNDB: asn, RegistrationDB: registration})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.classifier.Close() })
	w.policy, err = embeddedPolicy()
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// pipeline builds a pipeline over the world; change adjusts the config.
func (w *world) pipeline(tb testing.TB, mode Mode, change ...func(*Config)) *Pipeline {
	tb.Helper()
	cfg := Config{
		Mode:       mode,
		Resolver:   w.resolver,
		Guard:      w.guard,
		Classifier: w.classifier,
		Policy:     w.policy,
		Now:        w.clock.Now,
	}
	for _, f := range change {
		f(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// writePolicy writes a policy directory with the given Rego modules (file
// name -> source) under t.TempDir() and loads it with policy.LoadDir.
func writePolicy(tb testing.TB, modules map[string]string) *policy.Engine {
	tb.Helper()
	dir := tb.TempDir()
	for name, src := range modules {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	e, err := policy.LoadDir(context.Background(), dir)
	if err != nil {
		tb.Fatalf("LoadDir: %v", err)
	}
	return e
}

// policyWithData loads the embedded bundle with top-level keys of its
// data.json replaced (exceptions, apps, ...).
func policyWithData(tb testing.TB, replace map[string]any) *policy.Engine {
	tb.Helper()
	dir := policiestest.WriteDir(tb, policiestest.WithData(tb, func(data map[string]any) { maps.Copy(data, replace) }))
	e, err := policy.LoadDir(context.Background(), dir)
	if err != nil {
		tb.Fatalf("LoadDir: %v", err)
	}
	return e
}

// conflictPolicy compiles, but its complete rule decision gets two
// different values for every request: evaluation fails with OPA's
// eval_conflict_error, which the pipeline reports as POLICY_ERROR.
const conflictPolicy = `package sovgate

decision := {"allow": true, "profile": "conflict", "reasons": []} if {
	input.request.port > 0
}

decision := {"allow": false, "profile": "conflict", "reasons": []} if {
	input.request.host != ""
}
`

// openPolicy allows everything.
const openPolicy = `package sovgate

decision := {"allow": true, "profile": "open", "reasons": []}
`

// pathPolicy denies one path and allows the rest: a policy that reads
// input.request.path, which the policy input offers.
const pathPolicy = `package sovgate

decision := {"allow": false, "profile": "path", "reasons": [{"code": "PATH_SECRET", "message": "secret path"}]} if {
	input.request.path == "/secret"
} else := {"allow": true, "profile": "path", "reasons": []}
`

// sourcePolicy denies one source IP: a policy that reads input.source.ip.
const sourcePolicy = `package sovgate

decision := {"allow": false, "profile": "source", "reasons": [{"code": "SOURCE_DENIED", "message": "source"}]} if {
	input.source.ip == "10.9.9.9"
} else := {"allow": true, "profile": "source", "reasons": []}
`

func connect(tb testing.TB, authority string) Target {
	tb.Helper()
	t, err := ParseConnectTarget(authority)
	if err != nil {
		tb.Fatalf("ParseConnectTarget(%q): %v", authority, err)
	}
	return t
}

var etatCivil = Caller{App: "etat-civil", IP: "10.1.2.3", IdentifiedBy: "basic"}
