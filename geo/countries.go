package geo

// Country facts that no single data source gives us: the continent of every
// country (the fallback database and the free country_code databases carry
// only the country). Membership of the EU and the EEA is a legal fact: it
// lives in the policy data, and reaches the classifier as a Territory.
//
// The tables are indexed by the two letters of the code, so a lookup on the
// request path is an array read with no map hashing and no allocation.

// Continent codes, as used by GeoIP2 / GeoNames.
const (
	ContinentAfrica       = "AF"
	ContinentAntarctica   = "AN"
	ContinentAsia         = "AS"
	ContinentEurope       = "EU"
	ContinentNorthAmerica = "NA"
	ContinentOceania      = "OC"
	ContinentSouthAmerica = "SA"
)

// continents maps each continent to the ISO 3166-1 alpha-2 codes on it,
// following GeoNames (the source MaxMind uses), so a country from the
// fallback database gets the same continent a GeoIP2 database would give.
// All 249 officially assigned codes are listed, plus XK (Kosovo, a
// user-assigned code that GeoIP vendors use).
var continents = [...]struct{ code, countries string }{
	{ContinentAfrica, "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW"},
	{ContinentAntarctica, "AQ BV GS HM TF"},
	{ContinentAsia, "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE"},
	{ContinentEurope, "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK"},
	{ContinentNorthAmerica, "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR SV SX TC TT US VC VG VI"},
	{ContinentOceania, "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS"},
	{ContinentSouthAmerica, "AR BO BR CL CO EC FK GF GY PE PY SR UY VE"},
}

type countryInfo struct {
	code      string // the canonical code, so callers can reuse it without allocating
	continent string
}

var countryTable [26 * 26]countryInfo

// countryList holds, for every code, a list of that code alone: the
// jurisdictions of an inferred provider, shared so that inferring one
// allocates nothing. Never modified.
var countryList [26 * 26][]string

func init() {
	forEachCode := func(list string, f func(i int, code string)) {
		for j := 0; j+1 < len(list); j += 3 {
			code := list[j : j+2]
			i, ok := countryIndex(code)
			if !ok {
				panic("geo: bad country code in table: " + code)
			}
			f(i, code)
		}
	}
	for _, c := range continents {
		forEachCode(c.countries, func(i int, code string) {
			if countryTable[i].code != "" {
				panic("geo: country listed twice: " + code)
			}
			countryTable[i] = countryInfo{code: code, continent: c.code}
			countryList[i] = []string{code}
		})
	}
}

// countryIndex accepts upper- or lower-case two-letter codes.
func countryIndex(code string) (int, bool) {
	if len(code) != 2 {
		return 0, false
	}
	a, b := code[0]|0x20, code[1]|0x20 // ASCII lower case
	if a < 'a' || a > 'z' || b < 'a' || b > 'z' {
		return 0, false
	}
	return int(a-'a')*26 + int(b-'a'), true
}

func lookupCountry(code string) (countryInfo, bool) {
	i, ok := countryIndex(code)
	if !ok || countryTable[i].code == "" {
		return countryInfo{}, false
	}
	return countryTable[i], true
}

// NormalizeCountry returns the canonical upper-case ISO 3166-1 alpha-2 code,
// or "" when code is not an assigned country code. Sources use placeholders
// such as "ZZ" (unknown), "EU" or "AP" (a whole region): those are not a
// country, so they become "" and the policy reports the residency as unknown
// instead of treating "EU" as a foreign country. The result never allocates.
func NormalizeCountry(code string) string {
	ci, _ := lookupCountry(code)
	return ci.code
}

// singleCountry returns the shared list holding code alone (a valid code).
func singleCountry(code string) []string {
	i, _ := countryIndex(code)
	return countryList[i]
}

// ValidCountry reports whether code is an assigned ISO 3166-1 alpha-2 code
// (or XK), in upper case.
func ValidCountry(code string) bool {
	ci, ok := lookupCountry(code)
	return ok && ci.code == code
}

// CountryContinent returns the continent code of an ISO country code, or ""
// for an unknown code.
func CountryContinent(code string) string {
	ci, _ := lookupCountry(code)
	return ci.continent
}

// Countries returns every country code the tables know, sorted.
func Countries() []string { return listCodes(func(countryInfo) bool { return true }) }

func listCodes(keep func(countryInfo) bool) []string {
	var out []string
	for _, ci := range countryTable { // index order is alphabetical order
		if ci.code != "" && keep(ci) {
			out = append(out, ci.code)
		}
	}
	return out
}
