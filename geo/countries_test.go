package geo_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/geotest"
)

// TestDefaultTerritory checks the EU/EEA lists of the embedded policy data:
// the 27 member states, the parts of them GeoIP codes apart (outermost
// regions, Åland), and the three EEA states outside the EU.
func TestDefaultTerritory(t *testing.T) {
	tr := geotest.DefaultKnowledge(t).Territory
	eu := tr.EUCountries()
	want := strings.Fields("AT AX BE BG CY CZ DE DK EE ES FI FR GF GP GR HR HU IE IT LT LU LV MF MQ MT NL PL PT RE RO SE SI SK YT")
	if !slices.Equal(eu, want) {
		t.Errorf("EU territory = %v\nwant %v", eu, want)
	}
	if eea := tr.EEACountries(); len(eea) != len(want)+3 {
		t.Errorf("EEA territory has %d codes, want %d", len(eea), len(want)+3)
	}
	for _, c := range []string{"IS", "LI", "NO"} {
		if !tr.EEA(c) || tr.EU(c) {
			t.Errorf("%s: EEA=%v EU=%v, want EEA only", c, tr.EEA(c), tr.EU(c))
		}
	}
	for _, c := range []string{"GB", "CH", "US", "EL", "EU", "", "NC", "PF", "BL", "PM"} {
		if tr.EU(c) || tr.EEA(c) {
			t.Errorf("%q counted as EU/EEA territory", c)
		}
	}
	if !tr.EU("gr") || !tr.EU("GR") || !tr.EU("re") {
		t.Error("Greece (GR) and Réunion (RE) must be EU territory, whatever the case")
	}
}

func TestNewTerritoryRejects(t *testing.T) {
	if _, err := geo.NewTerritory([]string{"FR", "EL"}, nil); err == nil || !strings.Contains(err.Error(), `"EL"`) {
		t.Errorf("EL accepted: %v", err)
	}
	if _, err := geo.NewTerritory([]string{"FR"}, []string{"fr"}); err == nil {
		t.Error("a lower-case code accepted")
	}
	if _, err := geo.NewTerritory([]string{"FR"}, []string{"FR"}); err == nil || !strings.Contains(err.Error(), "EU territory too") {
		t.Errorf("a code in both lists: %v", err)
	}
	var nilTerritory *geo.Territory
	if nilTerritory.EU("FR") || nilTerritory.EEA("FR") {
		t.Error("a nil territory holds France")
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
