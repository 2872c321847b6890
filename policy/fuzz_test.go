package policy_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policy"
)

// FuzzLoad feeds arbitrary bytes to the loader as a policy module and as a
// data file. Whatever DPO staff save, a reload must fail with an error, never
// panic, and a policy that loads must evaluate without panicking.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(goodPolicy), []byte(`{}`))
	f.Add([]byte("package sovgate\n\ndecision := {\n"), []byte(`{"apps": {`))
	f.Add([]byte("package sovgate\n\ndecision := data.sovgate.d\n"), []byte(`{"d": {"allow": true, "profile": "p", "reasons": []}}`))
	f.Add([]byte("package sovgate\n\ndecision := input\n"), []byte("a: [1, 2]\n"))
	f.Add([]byte(goodPolicy), []byte(registryData))
	f.Add([]byte(goodPolicy), []byte(`{"apps": {"a": {"identified_by": {"cidr": ["::ffff:10.0.0.0/104", "10.0.0.0/8"], "mtls": ["x"]}}, "b": {"identified_by": {"mtls": ["X"]}}}}`))
	f.Fuzz(func(t *testing.T, module, data []byte) {
		ctx := context.Background()
		b := policy.Bundle{FS: fstest.MapFS{
			"sovgate/p.rego":    {Data: module},
			"sovgate/data.json": {Data: data},
		}, Dir: "fuzz:"}
		e, err := policy.Load(ctx, b)
		if err == nil {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, _ = e.Evaluate(ctx, fuzzInput("app", "h.example", "192.0.2.1", "FR", "", "", "FR"))
		}
		_, _ = policy.Check(ctx, b)
	})
}

// eea are the EU and EEA member states, written out independently of the
// policy data so the fuzzer checks the policy against a second opinion.
var eea = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
	"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
	"GP", "GF", "MQ", "RE", "YT", "MF", "AX", // outermost regions, Åland
	"IS", "LI", "NO",
}

func fuzzInput(app, host, ip, country, regionCountry, hq, jurisdiction string) *policy.Input {
	addr, _ := netip.ParseAddr(ip)
	in := &policy.Input{
		Request: policy.Request{Method: "CONNECT", Scheme: "https", Host: host, Port: 443},
		Source:  policy.Caller{App: app, IP: "10.0.0.1", IdentifiedBy: "basic"},
		Destination: geo.Destination{
			Host:      host,
			Addresses: []geo.Address{{IP: addr, Country: country, RegionCountry: regionCountry}},
		},
		Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
	// An address with no operator facts has no known operator.
	if hq != "" || jurisdiction != "" {
		in.Destination.Addresses[0].Provider, in.Destination.Addresses[0].MatchedBy = "p", "asn"
		// As the classifier gives them: the jurisdictions include the
		// headquarters' country.
		p := geo.Provider{ID: "p", Name: "P", Headquarters: hq, MatchedBy: "asn"}
		for _, cc := range []string{hq, jurisdiction} {
			if cc != "" && !slices.Contains(p.Jurisdictions, cc) {
				p.Jurisdictions = append(p.Jurisdictions, cc)
			}
		}
		in.Destination.Providers = []geo.Provider{p}
	}
	return in
}

// FuzzEvaluate checks the default policy against a plain Go statement of the
// sovereign profile, for arbitrary apps, hosts, addresses and countries: the
// decision is always well formed, and allowed exactly when the address and
// the provider's law stay in the EU/EEA.
func FuzzEvaluate(f *testing.F) {
	f.Add("etat-civil", "api.example.fr", "192.0.2.10", "FR", "", "FR", "FR")
	f.Add("unknown", "api.example.com", "203.0.113.7", "US", "", "", "")
	f.Add("visio", "s3.example", "2001:db8::1", "US", "FR", "US", "US")
	f.Add("", "", "", "", "", "", "")
	f.Add("x", "h", "1.2.3.4", "EL", "", "DE", "CN")
	e, err := policy.LoadEmbedded(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, app, host, ip, country, regionCountry, hq, jurisdiction string) {
		d, err := e.Evaluate(context.Background(), fuzzInput(app, host, ip, country, regionCountry, hq, jurisdiction))
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		if d.Profile != "sovereign" {
			t.Fatalf("profile = %q", d.Profile)
		}
		location := country
		if regionCountry != "" {
			location = regionCountry
		}
		want := slices.Contains(eea, location) &&
			(hq != "" || jurisdiction != "") && // an operator nobody knows is denied
			(hq == "" || slices.Contains(eea, hq)) &&
			(jurisdiction == "" || slices.Contains(eea, jurisdiction))
		if d.Allow != want {
			t.Fatalf("allow = %v, want %v: %+v", d.Allow, want, d)
		}
		if d.Allow != (len(d.Reasons) == 0) {
			t.Fatalf("allow = %v with reasons %+v", d.Allow, d.Reasons)
		}
	})
}
