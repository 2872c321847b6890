package policy

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/sovgate/sovgate/geo"
)

// sampleInputs cover every field, empty and nil values, IPv6, large numbers
// and a time in another location.
func sampleInputs() map[string]*Input {
	paris := time.FixedZone("CET", 3600)
	return map[string]*Input{
		"zero": {},
		"full": {
			Request: Request{Method: "CONNECT", Scheme: "https", Host: "api.example.com", Port: 443},
			Source:  Caller{App: "etat-civil", IP: "10.1.2.3", IdentifiedBy: "basic", Categories: []string{"personal", "état civil"}},
			Destination: geo.Destination{
				Host: "api.example.com",
				Addresses: []geo.Address{{
					IP: netip.MustParseAddr("203.0.113.7"), Country: "US", Continent: "NA",
					ASN: 16509, ASOrg: "AMAZON-02", Provider: "aws", Region: "us-east-1",
					RegionCountry: "US", Service: "EC2",
				}, {
					IP: netip.MustParseAddr("2001:db8::1"), Country: "FR", Continent: "EU",
					EU: true, EEA: true, ASN: 4294967295, ASOrg: "Exämple \"quoted\"",
				}},
				Providers: []geo.Provider{{
					ID: "aws", Name: "Amazon Web Services", Headquarters: "US",
					Jurisdictions: []string{"US"}, MatchedBy: "range",
				}, {
					ID: "nojur", Jurisdictions: []string{}, MatchedBy: "asn",
				}, {
					ID: "niljur",
				}},
			},
			Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
		},
		"empty slices, zero address, local time": {
			Request: Request{Method: "GET", Scheme: "http", Host: "203.0.113.9", Port: 65535, Path: "/a?b=c"},
			Source:  Caller{Categories: []string{}},
			Destination: geo.Destination{
				Host:      "203.0.113.9",
				Addresses: []geo.Address{{}},
				Providers: []geo.Provider{},
			},
			Time: time.Date(2027, 1, 1, 0, 30, 0, 123456789, paris),
		},
	}
}

// TestInputValueMatchesJSON proves that the hand-built input equals the JSON
// encoding of Input read back by OPA, so the two can never drift apart.
func TestInputValueMatchesJSON(t *testing.T) {
	for name, in := range sampleInputs() {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.UnmarshalJSON(raw, &doc); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			got := inputValue(in)
			if got.Compare(want) != 0 {
				t.Fatalf("inputValue differs from the JSON encoding\n got: %v\nwant: %v", got, want)
			}
			// With the provider cache, cold and warm.
			cache := newProviderTerms()
			for range 2 {
				if got := inputValueWith(in, cache); got.Compare(want) != 0 {
					t.Fatalf("inputValueWith differs from the JSON encoding\n got: %v\nwant: %v", got, want)
				}
			}
		})
	}
}

func TestInputTimeIsUTC(t *testing.T) {
	in := sampleInputs()["empty slices, zero address, local time"]
	v := inputValue(in).(ast.Object).Get(ast.StringTerm("time"))
	if want := ast.StringTerm("2026-12-31T23:30:00.123456789Z"); !v.Equal(want) {
		t.Fatalf("time = %v, want %v", v, want)
	}
}

// TestProviderTermsKeepsEveryDifference: the cache of provider objects
// never hands out the object of another provider that shares its id.
func TestProviderTermsKeepsEveryDifference(t *testing.T) {
	us, fr := []string{"US"}, []string{"FR"}
	offer := &geo.OfferMatch{ID: "o", Name: "O", Qualifications: []geo.Qualification{}}
	base := geo.Provider{ID: "acme", Name: "Acme", Headquarters: "US", Jurisdictions: us, MatchedBy: "asn"}
	variants := []geo.Provider{base}
	for _, change := range []func(*geo.Provider){
		func(p *geo.Provider) { p.Name = "Acme Corp" },
		func(p *geo.Provider) { p.Headquarters = "FR" },
		func(p *geo.Provider) { p.Jurisdictions = fr },
		func(p *geo.Provider) { p.Jurisdictions = []string{"US", "CN"} },
		func(p *geo.Provider) { p.MatchedBy = "range" },
		func(p *geo.Provider) { p.Inferred = true },
		func(p *geo.Provider) { p.Offer = offer },
	} {
		p := base
		change(&p)
		variants = append(variants, p)
	}
	cache := newProviderTerms()
	for range 2 {
		for _, p := range variants {
			var a termArena
			got := cache.term(&a, &p)
			want := ast.NewTerm(providerValue(&termArena{}, &p))
			if !got.Equal(want) {
				t.Errorf("%+v: cached %v, want %v", p, got, want)
			}
		}
	}
}
