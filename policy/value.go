package policy

import (
	"strconv"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/sovgate/sovgate/geo"
)

// The input is built as an ast.Value by hand, field by field: it is several
// times cheaper than encoding Input to JSON and parsing it back, and it runs on
// every request. TestInputValueMatchesJSON proves the two give the same value,
// so the names below can never drift from the JSON tags of Input.

// Object keys, shared by every input. Terms handed to OPA are never modified
// by evaluation, so sharing them between concurrent requests is safe.
var (
	keyRequest      = ast.StringTerm("request")
	keySource       = ast.StringTerm("source")
	keyDestination  = ast.StringTerm("destination")
	keyTime         = ast.StringTerm("time")
	keyMethod       = ast.StringTerm("method")
	keyScheme       = ast.StringTerm("scheme")
	keyHost         = ast.StringTerm("host")
	keyPort         = ast.StringTerm("port")
	keyPath         = ast.StringTerm("path")
	keyApp          = ast.StringTerm("app")
	keyIP           = ast.StringTerm("ip")
	keyIdentifiedBy = ast.StringTerm("identified_by")
	keyCategories   = ast.StringTerm("categories")
	keyAddresses    = ast.StringTerm("addresses")
	keyProviders    = ast.StringTerm("providers")
	keyCountry      = ast.StringTerm("country")
	keyContinent    = ast.StringTerm("continent")
	keyEU           = ast.StringTerm("eu")
	keyEEA          = ast.StringTerm("eea")
	keyASN          = ast.StringTerm("asn")
	keyASOrg        = ast.StringTerm("as_org")
	keyProvider     = ast.StringTerm("provider")
	keyRegion       = ast.StringTerm("region")
	keyRegionCC     = ast.StringTerm("region_country")
	keyService      = ast.StringTerm("service")
	keyAnycast      = ast.StringTerm("anycast")
	keyID           = ast.StringTerm("id")
	keyName         = ast.StringTerm("name")
	keyHeadquarters = ast.StringTerm("headquarters")
	keyJurisdiction = ast.StringTerm("jurisdictions")
	keyMatchedBy    = ast.StringTerm("matched_by")
	keyInternal     = ast.StringTerm("internal")
	keyInferred     = ast.StringTerm("inferred")
	keyOffer        = ast.StringTerm("offer")
)

// inputValue is the policy input for in, equal to ast.InterfaceToValue of its
// JSON encoding.
func inputValue(in *Input) ast.Value { return inputValueWith(in, nil) }

// inputValueWith is inputValue with a cache of provider objects (nil: none).
func inputValueWith(in *Input, providers *providerTerms) ast.Value {
	d := &in.Destination
	// One block holds every term this input may need (an upper bound: shared
	// terms take none), instead of one allocation per term. An address
	// takes at most 7 (ip, asn, as_org, provider, region, service and the
	// object); cached provider objects take none.
	n := 17 + len(in.Source.Categories) + 7*len(d.Addresses)
	if providers == nil {
		for i := range d.Providers {
			n += 6 + len(d.Providers[i].Jurisdictions)
		}
	}
	a := termArena{buf: make([]ast.Term, 0, n)}
	return ast.NewObject(
		ast.Item(keyRequest, a.term(ast.NewObject(
			ast.Item(keyMethod, a.str(in.Request.Method)),
			ast.Item(keyScheme, a.str(in.Request.Scheme)),
			ast.Item(keyHost, a.str(in.Request.Host)),
			ast.Item(keyPort, a.num(int(in.Request.Port))),
			ast.Item(keyPath, a.str(in.Request.Path)),
		))),
		ast.Item(keySource, a.term(ast.NewObject(
			ast.Item(keyApp, a.str(in.Source.App)),
			ast.Item(keyIP, a.str(in.Source.IP)),
			ast.Item(keyIdentifiedBy, a.str(in.Source.IdentifiedBy)),
			ast.Item(keyCategories, a.strings(in.Source.Categories)),
			ast.Item(keyProfile, a.str(in.Source.Profile)),
		))),
		ast.Item(keyDestination, a.term(destinationValue(&a, d, providers))),
		ast.Item(keyTime, a.str(formatTime(in.Time))),
	)
}

// formatTime writes the time as Input's JSON encoding does: RFC 3339 in UTC.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func destinationValue(a *termArena, d *geo.Destination, cache *providerTerms) ast.Value {
	addresses := ast.InternedNullTerm
	if d.Addresses != nil {
		terms := make([]*ast.Term, len(d.Addresses))
		for i := range d.Addresses {
			terms[i] = a.term(addressValue(a, &d.Addresses[i]))
		}
		addresses = a.term(ast.NewArray(terms...))
	}
	providers := ast.InternedNullTerm
	if d.Providers != nil {
		terms := make([]*ast.Term, len(d.Providers))
		for i := range d.Providers {
			terms[i] = cache.term(a, &d.Providers[i])
		}
		providers = a.term(ast.NewArray(terms...))
	}
	return ast.NewObject(
		ast.Item(keyHost, a.str(d.Host)),
		ast.Item(keyAddresses, addresses),
		ast.Item(keyProviders, providers),
	)
}

func addressValue(a *termArena, addr *geo.Address) ast.Value {
	// netip.Addr encodes the zero address as "" in JSON.
	ip := ""
	if addr.IP.IsValid() {
		ip = addr.IP.String()
	}
	return ast.NewObject(
		ast.Item(keyIP, a.str(ip)),
		ast.Item(keyCountry, a.str(addr.Country)),
		ast.Item(keyContinent, a.str(addr.Continent)),
		ast.Item(keyEU, ast.InternedTerm(addr.EU)),
		ast.Item(keyEEA, ast.InternedTerm(addr.EEA)),
		ast.Item(keyASN, a.num(int(addr.ASN))),
		ast.Item(keyASOrg, a.str(addr.ASOrg)),
		ast.Item(keyProvider, a.str(addr.Provider)),
		ast.Item(keyMatchedBy, a.str(addr.MatchedBy)),
		ast.Item(keyInternal, ast.InternedTerm(addr.Internal)),
		ast.Item(keyRegion, a.str(addr.Region)),
		ast.Item(keyRegionCC, a.str(addr.RegionCountry)),
		ast.Item(keyService, a.str(addr.Service)),
		ast.Item(keyAnycast, ast.InternedTerm(addr.Anycast)),
	)
}

// providerValue builds a provider object. It is built once per provider
// and revision (see providerTerms), so it need not be frugal.
func providerValue(a *termArena, p *geo.Provider) ast.Value {
	items := [][2]*ast.Term{
		ast.Item(keyID, a.str(p.ID)),
		ast.Item(keyName, a.str(p.Name)),
		ast.Item(keyHeadquarters, a.str(p.Headquarters)),
		ast.Item(keyJurisdiction, a.strings(p.Jurisdictions)),
		ast.Item(keyMatchedBy, a.str(p.MatchedBy)),
		ast.Item(keyInferred, ast.InternedTerm(p.Inferred)),
	}
	if p.Offer != nil {
		items = append(items, ast.Item(keyOffer, a.term(offerValue(p.Offer))))
	}
	return ast.NewObject(items...)
}

// providerTerms keeps the object of each provider a revision has seen: the
// same few operators come back request after request, and their objects
// never change (a term handed to OPA is never modified), so each is built
// once. A nil *providerTerms builds every time.
type providerTerms struct {
	mu sync.RWMutex
	m  map[providerKey]*ast.Term
}

// providerKey is everything a provider object is made of. Jurisdictions and
// offers are shared with the catalogue (or the classifier's one-country
// lists), so their identity stands for their content.
type providerKey struct {
	id, name, headquarters, matchedBy string
	jurisdictions                     *string
	njurisdictions                    int
	inferred                          bool
	offer                             *geo.OfferMatch
}

// maxProviderTerms bounds the cache: beyond it (a flood of destinations in
// unknown networks, each its own inferred operator), objects are built as
// they come.
const maxProviderTerms = 4096

func newProviderTerms() *providerTerms {
	return &providerTerms{m: make(map[providerKey]*ast.Term)}
}

func (c *providerTerms) term(a *termArena, p *geo.Provider) *ast.Term {
	if c == nil {
		return a.term(providerValue(a, p))
	}
	k := providerKey{id: p.ID, name: p.Name, headquarters: p.Headquarters, matchedBy: p.MatchedBy,
		njurisdictions: len(p.Jurisdictions), inferred: p.Inferred, offer: p.Offer}
	if len(p.Jurisdictions) > 0 {
		k.jurisdictions = &p.Jurisdictions[0]
	}
	c.mu.RLock()
	t, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return t
	}
	// Built outside the request's arena: the term outlives the request.
	var own termArena
	t = ast.NewTerm(providerValue(&own, p))
	c.mu.Lock()
	if len(c.m) < maxProviderTerms {
		c.m[k] = t
	}
	c.mu.Unlock()
	return t
}

// offerValue converts a matched offer. Offers are rare (a name or range of
// a qualified offer), so the generic conversion is good enough.
func offerValue(o *geo.OfferMatch) ast.Value {
	v, err := ast.InterfaceToValue(o)
	if err != nil {
		return ast.NewObject(ast.Item(keyID, ast.StringTerm(o.ID)))
	}
	return v
}

// termArena hands out terms from blocks allocated together. Pointers into a
// full block stay valid: a new block is started, the old one is not moved.
type termArena struct {
	buf []ast.Term
}

func (a *termArena) term(v ast.Value) *ast.Term {
	if len(a.buf) == cap(a.buf) {
		a.buf = make([]ast.Term, 0, 16)
	}
	a.buf = append(a.buf, ast.Term{Value: v})
	return &a.buf[len(a.buf)-1]
}

// str returns a string term; a shared one for the empty string, country
// and continent codes and the usual words (methods, schemes, identification
// and match kinds), which make up most of an input.
func (a *termArena) str(s string) *ast.Term {
	if t, ok := commonStrings[s]; ok {
		return t
	}
	return a.term(ast.String(s))
}

// strings returns an array of strings, or null for a nil slice (as
// encoding/json writes it). A list of one country code, the jurisdictions
// of most operators, is a shared term.
func (a *termArena) strings(list []string) *ast.Term {
	if list == nil {
		return ast.InternedNullTerm
	}
	if len(list) == 1 {
		if t, ok := countryLists[list[0]]; ok {
			return t
		}
	}
	terms := make([]*ast.Term, len(list))
	for i, s := range list {
		terms[i] = a.str(s)
	}
	return a.term(ast.NewArray(terms...))
}

func (a *termArena) num(n int) *ast.Term {
	if ast.HasInternedIntNumberTerm(n) {
		return ast.InternedTerm(n)
	}
	return a.term(ast.Number(strconv.Itoa(n)))
}

// countryLists are shared, never modified one-element arrays, one per
// two-letter upper-case code.
var countryLists = func() map[string]*ast.Term {
	m := make(map[string]*ast.Term, 26*26)
	for i := 'A'; i <= 'Z'; i++ {
		for j := 'A'; j <= 'Z'; j++ {
			code := string([]rune{i, j})
			m[code] = ast.ArrayTerm(ast.StringTerm(code))
		}
	}
	return m
}()

// commonStrings are shared, never modified terms (see the key terms above).
var commonStrings = func() map[string]*ast.Term {
	words := []string{
		"",
		"CONNECT", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"http", "https",
		"basic", "mtls", "cidr", "none", "unknown",
		"personal", "health", "social", "civil-status", "elections", "hr", "police", "public",
		"open", "residency", "gdpr-transfer", "led", "sovereign", "secnumcloud", "hds", "france",
		"range", "asn", "domain", "registration",
	}
	m := make(map[string]*ast.Term, len(words)+26*26)
	for _, w := range words {
		m[w] = ast.StringTerm(w)
	}
	// Every two-letter upper-case code: ISO 3166 countries, continents.
	for i := 'A'; i <= 'Z'; i++ {
		for j := 'A'; j <= 'Z'; j++ {
			code := string([]rune{i, j})
			m[code] = ast.StringTerm(code)
		}
	}
	return m
}()
