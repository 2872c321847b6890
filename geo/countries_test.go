package geo_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
)

func TestEUAndEEA(t *testing.T) {
	eu := geo.EUCountries()
	want := strings.Fields("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK")
	if !slices.Equal(eu, want) {
		t.Errorf("EUCountries() = %v", eu)
	}
	eea := geo.EEACountries()
	if len(eea) != 30 {
		t.Errorf("EEA has %d members, want 30", len(eea))
	}
	for _, c := range []string{"IS", "LI", "NO"} {
		if !geo.IsEEA(c) || geo.IsEU(c) {
			t.Errorf("%s: EEA=%v EU=%v, want EEA only", c, geo.IsEEA(c), geo.IsEU(c))
		}
	}
	for _, c := range eu {
		if !geo.IsEEA(c) {
			t.Errorf("%s is EU but not EEA", c)
		}
	}
	for _, c := range []string{"GB", "CH", "US", "EL", "EU", "", "gr"} {
		if geo.IsEU(c) && c != "gr" {
			t.Errorf("%q counted as EU", c)
		}
	}
	if !geo.IsEU("gr") || !geo.IsEU("GR") {
		t.Error("Greece (GR) must be in the EU, whatever the case")
	}
}

func TestCountryTable(t *testing.T) {
	all := geo.Countries()
	if len(all) != 250 { // 249 ISO 3166-1 codes + XK
		t.Errorf("%d countries, want 249 + XK", len(all))
	}
	valid := map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}
	for _, c := range all {
		if !valid[geo.CountryContinent(c)] {
			t.Errorf("%s: continent %q", c, geo.CountryContinent(c))
		}
		if !geo.ValidCountry(c) || geo.NormalizeCountry(strings.ToLower(c)) != c {
			t.Errorf("%s not valid or not normalised", c)
		}
	}
	tests := map[string]string{"FR": "EU", "US": "NA", "BR": "SA", "CN": "AS", "TR": "AS", "RU": "EU", "CY": "EU",
		"AU": "OC", "ZA": "AF", "AQ": "AN", "GL": "NA", "XK": "EU", "ZZ": "", "EU": "", "A1": "", "FRA": ""}
	for c, want := range tests {
		if got := geo.CountryContinent(c); got != want {
			t.Errorf("CountryContinent(%q) = %q, want %q", c, got, want)
		}
	}
	for _, c := range []string{"ZZ", "EU", "AP", "A1", "--", "F", "FRA", "fr "} {
		if geo.NormalizeCountry(c) != "" || geo.ValidCountry(c) {
			t.Errorf("%q accepted as a country", c)
		}
	}
	if geo.ValidCountry("fr") {
		t.Error("ValidCountry accepts lower case")
	}
}
