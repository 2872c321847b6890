package geo

import (
	"fmt"
	"slices"
)

// Knowledge is the sovereignty knowledge of one policy revision: the
// operator catalogue and which countries are EU and EEA territory. Both
// are policy data, reviewed, tested and signed with the rules, so the
// classifier takes them from the revision that evaluates: a DPO's
// correction takes effect with the revision, never half of it. A nil
// *Knowledge, or nil fields, know nothing (no operator, no EU country).
type Knowledge struct {
	Operators *Catalogue
	Territory *Territory
}

// Territory says which countries are EU territory and which are EEA
// territory, indexed by the two letters of the code like the continent
// table, so a lookup on the request path is an array read. Its lists come
// from the policy data (the member states, the outermost regions that
// GeoIP codes apart, the EEA states outside the EU): the law lives in one
// place, the policy bundle. A nil *Territory holds no country.
type Territory struct {
	eu, eea [26 * 26]bool
}

// NewTerritory builds a territory from the EU codes (member states and the
// regions of member states that have codes of their own: GP, GF, MQ, RE,
// YT, MF, AX) and the codes that are EEA territory outside the EU (IS, LI,
// NO). Every EU code is EEA territory too.
func NewTerritory(eu, eeaOutsideEU []string) (*Territory, error) {
	t := &Territory{}
	for _, code := range eu {
		i, ok := countryIndex(code)
		if !ok || !ValidCountry(code) {
			return nil, fmt.Errorf("EU territory: %q is not an upper-case ISO 3166-1 alpha-2 country code", code)
		}
		t.eu[i], t.eea[i] = true, true
	}
	for _, code := range eeaOutsideEU {
		i, ok := countryIndex(code)
		if !ok || !ValidCountry(code) {
			return nil, fmt.Errorf("EEA territory: %q is not an upper-case ISO 3166-1 alpha-2 country code", code)
		}
		if t.eu[i] {
			return nil, fmt.Errorf("EEA territory: %s is listed as EU territory too", code)
		}
		t.eea[i] = true
	}
	return t, nil
}

// EU reports whether code is EU territory.
func (t *Territory) EU(code string) bool {
	i, ok := countryIndex(code)
	return ok && t != nil && t.eu[i]
}

// EEA reports whether code is EEA territory (the EU's included).
func (t *Territory) EEA(code string) bool {
	i, ok := countryIndex(code)
	return ok && t != nil && t.eea[i]
}

// EUCountries lists the EU codes, sorted.
func (t *Territory) EUCountries() []string { return t.list(func(i int) bool { return t.eu[i] }) }

// EEACountries lists the EEA codes (EU included), sorted.
func (t *Territory) EEACountries() []string { return t.list(func(i int) bool { return t.eea[i] }) }

func (t *Territory) list(keep func(int) bool) []string {
	if t == nil {
		return nil
	}
	var out []string
	for i := range countryTable {
		if keep(i) {
			out = append(out, countryTable[i].code)
		}
	}
	return slices.Clip(out)
}
