package policy_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"slices"
	"testing"

	"github.com/sovgate/sovgate/policies"
)

// TestCountryTables pins the EU and EEA tables of the default data to the
// treaties: the 27 member states (ISO 3166-1 codes, so Greece is GR, not the
// EU's own "EL") and the three EEA states outside the EU. A change here is a
// change of law, not of code.
func TestCountryTables(t *testing.T) {
	raw, err := fs.ReadFile(policies.FS(), "sovgate/data.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		DefaultProfile string                     `json:"default_profile"`
		Profiles       map[string]json.RawMessage `json:"profiles"`
		EU             map[string]string          `json:"eu_countries"`
		EEAExtra       map[string]string          `json:"eea_extra_countries"`
		Adequacy       map[string]json.RawMessage `json:"adequacy"`
		Apps           map[string]json.RawMessage `json:"apps"`
		Exceptions     map[string]json.RawMessage `json:"exceptions"`
	}
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	eu27 := []string{
		"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
		"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
	}
	if got := slices.Sorted(maps.Keys(data.EU)); !slices.Equal(got, eu27) {
		t.Errorf("eu_countries = %v\nwant %v", got, eu27)
	}
	if got, want := slices.Sorted(maps.Keys(data.EEAExtra)), []string{"IS", "LI", "NO"}; !slices.Equal(got, want) {
		t.Errorf("eea_extra_countries = %v, want %v", got, want)
	}
	for code := range data.Adequacy {
		if data.EU[code] != "" || data.EEAExtra[code] != "" {
			t.Errorf("adequacy lists %s, an EU/EEA state", code)
		}
	}
	if data.DefaultProfile != "sovereign" {
		t.Errorf("default_profile = %q", data.DefaultProfile)
	}
	// The shipped defaults must not open anything.
	if len(data.Exceptions) != 0 || len(data.Apps) != 0 {
		t.Errorf("shipped data has apps %v or exceptions %v", data.Apps, data.Exceptions)
	}
	for _, p := range []string{"sovereign", "residency", "open"} {
		if _, ok := data.Profiles[p]; !ok {
			t.Errorf("profile %q missing", p)
		}
	}
}
