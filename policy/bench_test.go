package policy

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/policies/policiestest"
)

var (
	benchAWS = geo.Provider{ID: "aws", Name: "Amazon Web Services", Headquarters: "US", Jurisdictions: []string{"US"}, MatchedBy: "range"}
	benchOVH = geo.Provider{ID: "ovhcloud", Name: "OVHcloud", Headquarters: "FR", Jurisdictions: []string{"FR"}, MatchedBy: "asn"}
)

func benchAddress(ip, country string) geo.Address {
	return geo.Address{IP: netip.MustParseAddr(ip), Country: country, Continent: "EU", ASN: 16276, ASOrg: "OVH SAS", Provider: "ovhcloud", MatchedBy: "asn"}
}

func benchInput(addresses []geo.Address, providers []geo.Provider) *Input {
	return &Input{
		Request:     Request{Method: "CONNECT", Scheme: "https", Host: "api.example.com", Port: 443},
		Source:      Caller{App: "etat-civil", IP: "10.1.2.3", IdentifiedBy: "basic"},
		Destination: geo.Destination{Host: "api.example.com", Addresses: addresses, Providers: providers},
		Time:        time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	}
}

var benchCases = []struct {
	name  string
	in    *Input
	allow bool
}{
	{"1addr/allowed", benchInput([]geo.Address{benchAddress("192.0.2.10", "FR")}, []geo.Provider{benchOVH}), true},
	{"1addr/denied-residency", benchInput([]geo.Address{benchAddress("203.0.113.7", "US")}, nil), false},
	{"1addr/denied-jurisdiction", benchInput([]geo.Address{benchAddress("192.0.2.30", "FR")}, []geo.Provider{benchAWS}), false},
	{"4addr/allowed", benchInput([]geo.Address{
		benchAddress("192.0.2.10", "FR"), benchAddress("192.0.2.11", "DE"),
		benchAddress("2001:db8::1", "NL"), benchAddress("2001:db8::2", "FR"),
	}, []geo.Provider{benchOVH}), true},
	{"4addr/denied", benchInput([]geo.Address{
		benchAddress("192.0.2.10", "FR"), benchAddress("203.0.113.7", "US"),
		benchAddress("2001:db8::1", "US"), benchAddress("2001:db8::2", ""),
	}, []geo.Provider{benchAWS, benchOVH}), false},
}

// BenchmarkEvaluate measures one decision of the embedded policy (sovereign
// profile) from a classified Input: input conversion, evaluation and result
// parsing.
func BenchmarkEvaluate(b *testing.B) {
	e, err := LoadEmbedded(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			d, err := e.Evaluate(ctx, bc.in)
			if err != nil || d.Allow != bc.allow {
				b.Fatalf("Evaluate = %+v, %v", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(ctx, bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvaluateExceptions is a denied request with 50 exceptions that
// do not apply, and one that applies.
func BenchmarkEvaluateExceptions(b *testing.B) {
	exceptions := map[string]any{}
	for i := range 50 {
		exceptions[fmt.Sprintf("e%02d", i)] = map[string]any{
			"app": fmt.Sprintf("app-%d", i), "host": fmt.Sprintf("*.example-%d.com", i),
			"reason": "r", "approved_by": "DPO", "expires": "2027-12-31",
		}
	}
	ctx := context.Background()
	denied := benchCases[1].in
	for _, name := range []string{"none-applies", "one-applies"} {
		if name == "one-applies" {
			exceptions["z"] = map[string]any{
				"app": denied.Source.App, "host": denied.Destination.Host,
				"reason": "r", "approved_by": "DPO", "expires": "2027-12-31",
			}
		}
		e := embeddedWithExceptions(b, exceptions)
		b.Run(name, func(b *testing.B) {
			d, err := e.Evaluate(ctx, denied)
			if err != nil || d.Allow != (name == "one-applies") {
				b.Fatalf("Evaluate = %+v, %v", d, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(ctx, denied); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func embeddedWithExceptions(b *testing.B, exceptions map[string]any) *Engine {
	b.Helper()
	mfs := policiestest.WithData(b, func(data map[string]any) { data["exceptions"] = exceptions })
	e, err := Load(context.Background(), Bundle{FS: mfs, Dir: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkEvaluateParallel runs decisions on every CPU, as the proxy does.
func BenchmarkEvaluateParallel(b *testing.B) {
	e, err := LoadEmbedded(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	in := benchCases[0].in
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := e.Evaluate(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkInputValue is the input conversion alone.
func BenchmarkInputValue(b *testing.B) {
	in := benchCases[3].in
	b.ReportAllocs()
	for b.Loop() {
		_ = inputValue(in)
	}
}

// BenchmarkLoadEmbedded is the cost of a reload (read, parse, compile,
// prepare).
func BenchmarkLoadEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadEmbedded(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
