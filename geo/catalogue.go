package geo

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
)

// The operator catalogue is a set of facts, each with the public sources
// it comes from: who operates an autonomous system, a domain suffix or an
// address range, what kind of operator it is, which company chain owns it,
// whose law reaches it, and which of its offers hold a qualification
// (SecNumCloud, HDS, ...) and until when. The policy needs those facts to
// decide on jurisdiction, which no GeoIP database provides.
//
// The catalogue is policy data (data.sovgate.operators in the policy
// bundle): a DPO corrects or extends it like any rule, it goes through the
// policy's tests, is signed with the bundle and changes the policy
// revision. This file only reads and indexes it; the package policy finds
// it in the bundle.
//
// The document is one JSON object keyed by operator id:
//
//	{
//	  "azure": {
//	    "name": "Microsoft Azure",
//	    "kind": "cloud",
//	    "headquarters": "US",
//	    "jurisdictions": ["US"],
//	    "parent": [{"name": "Microsoft Corporation", "country": "US"}],
//	    "asns": [{"asn": 8075, "org": "Microsoft Corporation"}],
//	    "domain_suffixes": ["azurewebsites.net"],
//	    "ranges": ["192.0.2.0/24"],
//	    "range_feeds": ["azure"],
//	    "offers": [{"id": "azure-france", "name": "...", "domain_suffixes": [], "ranges": [],
//	                "qualifications": [{"scheme": "hds", "since": "2018-11-01", "until": "2027-11-01", "source": "..."}]}],
//	    "source": "a note for reviewers",
//	    "sources": ["https://..."],
//	    "checked": "2026-12-06"
//	  }
//	}

// Ways an operator can be recognised (Provider.MatchedBy,
// Address.MatchedBy), strongest first.
const (
	MatchedByRange  = "range"  // the address is in the operator's ranges or its published IP-range feed
	MatchedByASN    = "asn"    // the address is announced by one of the operator's ASNs
	MatchedByDomain = "domain" // the host or one of its CNAMEs ends in one of the operator's domain suffixes
	// MatchedByRegistration: no catalogue entry matched; the operator is
	// the address's autonomous system, and its jurisdiction is inferred
	// from the country that system is registered in.
	MatchedByRegistration = "registration"
)

// Operator kinds (Operator.Kind).
var operatorKinds = []string{"cloud", "saas", "cdn", "network", "hosting"}

// Qualification schemes (Qualification.Scheme): ANSSI's SecNumCloud, the
// French health-data hosting certification (HDS), the EU-US Data Privacy
// Framework list, the EU cybersecurity certification scheme for cloud
// services, BSI's C5, ISO/IEC 27001.
var qualificationSchemes = []string{"secnumcloud", "hds", "dpf", "eucs", "c5", "iso27001"}

// Operator is one entry of the catalogue.
type Operator struct {
	// ID is the entry's key: the id policies and audit records use (lower
	// case letters, digits and '-').
	ID   string `json:"-"`
	Name string `json:"name"`
	// Kind is cloud, saas, cdn, network or hosting.
	Kind string `json:"kind"`
	// Headquarters is the ISO 3166-1 alpha-2 code of the ultimate owner.
	Headquarters string `json:"headquarters"`
	// Jurisdictions are the countries whose law reaches the operator;
	// [Headquarters] when the entry lists none.
	Jurisdictions []string `json:"jurisdictions"`
	// Parent is the company chain from the direct owner up to the ultimate
	// owner; empty for a company that is its own ultimate owner.
	Parent []Company `json:"parent"`
	// ASNs are the autonomous systems the operator runs.
	ASNs []ASNFact `json:"asns"`
	// DomainSuffixes are domains whose names the operator serves:
	// "amazonaws.com" matches "amazonaws.com" and "x.s3.amazonaws.com",
	// never "evilamazonaws.com".
	DomainSuffixes []string `json:"domain_suffixes"`
	// Ranges are address ranges the operator runs, for an operator without
	// an ASN of its own or a published feed.
	Ranges []netip.Prefix `json:"ranges,omitempty"`
	// RangeFeeds are the provider-range feeds (aws, azure, linode, ...)
	// whose prefixes belong to this operator.
	RangeFeeds []string `json:"range_feeds,omitempty"`
	// Offers are the operator's named offers that have their own names or
	// ranges, or their own qualifications.
	Offers []Offer `json:"offers"`
	// Source is a note for reviewers; Sources the public documents the
	// facts come from; Checked the day they were last checked.
	Source  string   `json:"source,omitempty"`
	Sources []string `json:"sources"`
	Checked string   `json:"checked"`
}

// Company is one link of an ownership chain.
type Company struct {
	Name    string `json:"name"`
	Country string `json:"country"`
}

// ASNFact is an autonomous system number with the organisation name the ASN
// data gives for it (recorded to make reviews easy; not used for matching).
type ASNFact struct {
	ASN uint32 `json:"asn"`
	Org string `json:"org,omitempty"`
}

// Offer is a named offer of an operator. Qualifications are granted per
// offer, not per company, and have dates: SecNumCloud covers a provider's
// qualified offer, not the rest of its cloud.
type Offer struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	DomainSuffixes []string        `json:"domain_suffixes,omitempty"`
	Ranges         []netip.Prefix  `json:"ranges,omitempty"`
	Qualifications []Qualification `json:"qualifications"`
}

// Qualification is a certification or qualification an offer holds.
type Qualification struct {
	// Scheme is secnumcloud, hds, dpf, eucs, c5 or iso27001.
	Scheme string `json:"scheme"`
	// Since and Until are dates (YYYY-MM-DD); Until is empty when the
	// source gives no end date.
	Since  string `json:"since"`
	Until  string `json:"until,omitempty"`
	Source string `json:"source"`
}

// CatalogueProblem is a mistake in a catalogue document, at a byte offset of
// it (the policy package turns it into file:line:col).
type CatalogueProblem struct {
	Offset  int64
	Message string
	// Warning marks something to look at that does not stop the catalogue
	// from loading (an expired qualification).
	Warning bool
}

// CatalogueError is the error of a catalogue that does not load: every
// problem found, not just the first.
type CatalogueError struct {
	Problems []CatalogueProblem
}

func (e *CatalogueError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		if !p.Warning {
			msgs = append(msgs, p.Message)
		}
	}
	if len(msgs) == 1 {
		return "operator catalogue: " + msgs[0]
	}
	return fmt.Sprintf("operator catalogue: %d problems: %s", len(msgs), strings.Join(msgs, "; "))
}

// maxCatalogueSize bounds what ParseCatalogue reads: a catalogue of a few
// hundred operators is a few hundred kilobytes, so anything near this is a
// wrong file.
const maxCatalogueSize = 16 << 20

// Catalogue is a validated, immutable operator catalogue with its lookup
// indexes. It is safe for concurrent use. A nil *Catalogue knows no
// operator.
type Catalogue struct {
	operators []Operator
	providers []Provider // per operator, MatchedBy empty; Jurisdictions shared
	// offers holds, per operator, the offers as the policy input shows them.
	offers   [][]*OfferMatch
	byID     map[string]int
	byASN    map[uint32]int
	byFeed   map[string]int
	bySuffix map[string]catalogueRef
	ranges4  []rangeBucket
	ranges6  []rangeBucket
	// qualifications remembers where each qualification is, for the
	// expiry warnings.
	qualifications []qualificationAt
}

// catalogueRef points at an operator and, when the fact belongs to one of
// its offers, that offer (-1 otherwise).
type catalogueRef struct {
	op, offer int
}

// rangeBucket holds the catalogue ranges of one prefix length: a lookup is
// one map access per length in use, longest first.
type rangeBucket struct {
	bits int
	refs map[netip.Prefix]catalogueRef
}

type qualificationAt struct {
	op, offer int
	q         Qualification
	until     time.Time // zero: no end date
	offset    int64
}

// OfferMatch is the offer a destination was recognised as, as the policy
// input shows it (input.destination.providers[].offer).
type OfferMatch struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Qualifications []Qualification `json:"qualifications"`
}

// ParseCatalogue reads and validates a catalogue document. Unknown fields
// are errors (a typo must not silently drop a fact). On any error the
// catalogue is nil and the error is a *CatalogueError listing every problem
// with its offset.
func ParseCatalogue(raw []byte) (*Catalogue, error) {
	c, problems := parseCatalogue(raw)
	for _, p := range problems {
		if !p.Warning {
			return nil, &CatalogueError{Problems: problems}
		}
	}
	return c, nil
}

// CheckCatalogue is ParseCatalogue for `sovgate policy check`: every
// problem, and a warning for each qualification that expired before now.
func CheckCatalogue(raw []byte, now time.Time) []CatalogueProblem {
	c, problems := parseCatalogue(raw)
	if c != nil {
		problems = append(problems, c.expiryWarnings(now)...)
	}
	slices.SortStableFunc(problems, func(a, b CatalogueProblem) int { return int(a.Offset - b.Offset) })
	return problems
}

func parseCatalogue(raw []byte) (*Catalogue, []CatalogueProblem) {
	if len(raw) > maxCatalogueSize {
		return nil, []CatalogueProblem{{Message: fmt.Sprintf("larger than %d bytes", maxCatalogueSize)}}
	}
	root, err := parseJSONTree(raw)
	if err != nil {
		je, _ := err.(*jsonError)
		if je == nil {
			je = &jsonError{msg: err.Error()}
		}
		return nil, []CatalogueProblem{{Offset: je.offset, Message: je.msg}}
	}
	p := &catalogueParser{}
	c := p.catalogue(root)
	for _, pr := range p.problems {
		if !pr.Warning {
			return nil, p.problems
		}
	}
	return c, p.problems
}

// NewCatalogue builds a catalogue from operators written in Go (tests,
// tools). It validates them as ParseCatalogue does.
func NewCatalogue(ops []Operator) (*Catalogue, error) {
	doc := make(map[string]Operator, len(ops))
	for _, op := range ops {
		if _, dup := doc[op.ID]; dup {
			return nil, fmt.Errorf("operator catalogue: operator %q listed twice", op.ID)
		}
		doc[op.ID] = op
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return ParseCatalogue(raw)
}

// Len returns the number of operators.
func (c *Catalogue) Len() int {
	if c == nil {
		return 0
	}
	return len(c.operators)
}

// Operators returns a copy of the operators, in id order.
func (c *Catalogue) Operators() []Operator {
	if c == nil {
		return nil
	}
	out := make([]Operator, len(c.operators))
	for i, op := range c.operators {
		op.Jurisdictions = slices.Clone(op.Jurisdictions)
		op.Parent = slices.Clone(op.Parent)
		op.ASNs = slices.Clone(op.ASNs)
		op.DomainSuffixes = slices.Clone(op.DomainSuffixes)
		op.Ranges = slices.Clone(op.Ranges)
		op.RangeFeeds = slices.Clone(op.RangeFeeds)
		op.Offers = slices.Clone(op.Offers)
		op.Sources = slices.Clone(op.Sources)
		out[i] = op
	}
	return out
}

// MarshalJSON writes the catalogue in the document format ParseCatalogue
// reads.
func (c *Catalogue) MarshalJSON() ([]byte, error) {
	doc := make(map[string]Operator, c.Len())
	if c != nil {
		for _, op := range c.operators {
			doc[op.ID] = op
		}
	}
	return json.Marshal(doc)
}

// Provider returns the operator with this id as a policy-input provider,
// MatchedBy empty. Its Jurisdictions slice is shared: do not modify it.
func (c *Catalogue) Provider(id string) (Provider, bool) {
	if c == nil {
		return Provider{}, false
	}
	i, ok := c.byID[id]
	if !ok {
		return Provider{}, false
	}
	return c.providers[i], true
}

// ProviderByASN returns the operator running asn, MatchedBy "asn".
func (c *Catalogue) ProviderByASN(asn uint32) (Provider, bool) {
	i, ok := c.asnIndex(asn)
	if !ok {
		return Provider{}, false
	}
	p := c.providers[i]
	p.MatchedBy = MatchedByASN
	return p, true
}

// ProviderByDomain returns the operator whose longest domain suffix matches
// host on a label boundary, MatchedBy "domain", and the suffix that matched.
// Offer is set when the suffix is one of an offer's.
func (c *Catalogue) ProviderByDomain(host string) (p Provider, suffix string, ok bool) {
	ref, suffix, ok := c.domainIndex(host)
	if !ok {
		return Provider{}, "", false
	}
	p = c.provider(ref, MatchedByDomain)
	return p, suffix, true
}

// ProviderByAddr returns the operator one of whose ranges holds ip (the
// longest prefix wins), MatchedBy "range".
func (c *Catalogue) ProviderByAddr(ip netip.Addr) (Provider, bool) {
	ref, ok := c.rangeIndex(ip)
	if !ok {
		return Provider{}, false
	}
	return c.provider(ref, MatchedByRange), true
}

func (c *Catalogue) provider(ref catalogueRef, by string) Provider {
	p := c.providers[ref.op]
	p.MatchedBy = by
	if ref.offer >= 0 {
		p.Offer = c.offers[ref.op][ref.offer]
	}
	return p
}

func (c *Catalogue) asnIndex(asn uint32) (int, bool) {
	if c == nil || asn == 0 {
		return 0, false
	}
	i, ok := c.byASN[asn]
	return i, ok
}

// feedIndex returns the operator of a provider-range feed: the one listing
// the feed in range_feeds, else the one whose id the feed's records name.
func (c *Catalogue) feedIndex(feed, provider string) (int, bool) {
	if c == nil {
		return 0, false
	}
	if i, ok := c.byFeed[feed]; ok {
		return i, true
	}
	i, ok := c.byID[provider]
	return i, ok
}

// domainIndex walks host from the full name towards its last label, so the
// first suffix found is the longest one. It only cuts at dots, so a suffix
// matches whole labels. It does not allocate for a canonical (lower-case)
// host.
func (c *Catalogue) domainIndex(host string) (catalogueRef, string, bool) {
	if c == nil || len(c.bySuffix) == 0 {
		return catalogueRef{}, "", false
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for {
		if ref, ok := c.bySuffix[h]; ok {
			return ref, h, true
		}
		dot := strings.IndexByte(h, '.')
		if dot < 0 {
			return catalogueRef{}, "", false
		}
		h = h[dot+1:]
	}
}

func (c *Catalogue) rangeIndex(ip netip.Addr) (catalogueRef, bool) {
	if c == nil || !ip.IsValid() {
		return catalogueRef{}, false
	}
	ip = ip.Unmap().WithZone("")
	buckets := c.ranges6
	if ip.Is4() {
		buckets = c.ranges4
	}
	for _, b := range buckets {
		p, err := ip.Prefix(b.bits)
		if err != nil {
			continue
		}
		if ref, ok := b.refs[p]; ok {
			return ref, true
		}
	}
	return catalogueRef{}, false
}

// expiryWarnings announces the qualifications whose end date is before
// now: they no longer hold, and a profile that requires them denies.
func (c *Catalogue) expiryWarnings(now time.Time) []CatalogueProblem {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var out []CatalogueProblem
	for _, q := range c.qualifications {
		if q.until.IsZero() || !q.until.Before(today) {
			continue
		}
		op := c.operators[q.op]
		out = append(out, CatalogueProblem{
			Offset:  q.offset,
			Warning: true,
			Message: fmt.Sprintf("operator %q, offer %q: the %s qualification ended on %s; it no longer counts: check the source and renew or remove it",
				op.ID, op.Offers[q.offer].ID, q.q.Scheme, q.q.Until),
		})
	}
	return out
}

// QualificationsInForce counts the qualifications of each scheme that hold
// at now, over every offer (for status pages and reports).
func (c *Catalogue) QualificationsInForce(now time.Time) map[string]int {
	out := map[string]int{}
	if c == nil {
		return out
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for _, q := range c.qualifications {
		since, _ := time.Parse(time.DateOnly, q.q.Since)
		if since.After(today) || (!q.until.IsZero() && q.until.Before(today)) {
			continue
		}
		out[q.q.Scheme]++
	}
	return out
}

// ---- parsing and validation ----

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

type catalogueParser struct {
	problems []CatalogueProblem
}

func (p *catalogueParser) errorf(off int64, format string, args ...any) {
	p.problems = append(p.problems, CatalogueProblem{Offset: off, Message: fmt.Sprintf(format, args...)})
}

// fields checks that n is an object of known fields, reports unknown and
// repeated ones, and calls each field's reader.
func (p *catalogueParser) fields(n *jsonNode, what string, readers map[string]func(*jsonNode), required ...string) {
	if n.kind != jsonObject {
		p.errorf(n.offset, "%s: want an object, not %s", what, n.kind)
		return
	}
	seen := make(map[string]bool, len(n.members))
	for _, m := range n.members {
		read, known := readers[m.key]
		switch {
		case !known:
			names := make([]string, 0, len(readers))
			for k := range readers {
				names = append(names, k)
			}
			slices.Sort(names)
			p.errorf(m.offset, "%s: unknown field %q (known fields: %s)", what, m.key, strings.Join(names, ", "))
		case seen[m.key]:
			p.errorf(m.offset, "%s: field %q written twice", what, m.key)
		default:
			seen[m.key] = true
			read(m.value)
		}
	}
	for _, r := range required {
		if !seen[r] {
			p.errorf(n.offset, "%s: %s is missing", what, r)
		}
	}
}

func (p *catalogueParser) str(n *jsonNode, what string, dst *string) {
	if n.kind != jsonString {
		p.errorf(n.offset, "%s: want a string, not %s", what, n.kind)
		return
	}
	*dst = strings.TrimSpace(n.str)
	if *dst == "" {
		p.errorf(n.offset, "%s is empty", what)
	}
}

func (p *catalogueParser) list(n *jsonNode, what string, item func(i int, n *jsonNode)) {
	if n.kind != jsonArray {
		p.errorf(n.offset, "%s: want a list, not %s", what, n.kind)
		return
	}
	for i, it := range n.items {
		item(i, it)
	}
}

func (p *catalogueParser) strList(n *jsonNode, what string, dst *[]string) {
	*dst = []string{}
	p.list(n, what, func(i int, it *jsonNode) {
		var s string
		p.str(it, fmt.Sprintf("%s[%d]", what, i), &s)
		if s != "" {
			*dst = append(*dst, s)
		}
	})
}

func (p *catalogueParser) date(n *jsonNode, what string, dst *string) time.Time {
	p.str(n, what, dst)
	if *dst == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, *dst)
	if err != nil {
		p.errorf(n.offset, "%s %q is not a date YYYY-MM-DD", what, *dst)
		return time.Time{}
	}
	return t
}

func (p *catalogueParser) country(n *jsonNode, what string, dst *string) {
	p.str(n, what, dst)
	if *dst != "" && !ValidCountry(*dst) {
		p.errorf(n.offset, "%s %q is not an upper-case ISO 3166-1 alpha-2 country code", what, *dst)
	}
}

func (p *catalogueParser) oneOf(n *jsonNode, what string, allowed []string, dst *string) {
	p.str(n, what, dst)
	if *dst != "" && !slices.Contains(allowed, *dst) {
		p.errorf(n.offset, "%s %q: want one of %s", what, *dst, strings.Join(allowed, ", "))
	}
}

// catalogue reads the whole document and builds the indexes; facts
// claimed by two operators (an ASN, a suffix, a range, a feed, an offer
// id) are errors at the second claim.
func (p *catalogueParser) catalogue(root *jsonNode) *Catalogue {
	c := &Catalogue{
		byID:     map[string]int{},
		byASN:    map[uint32]int{},
		byFeed:   map[string]int{},
		bySuffix: map[string]catalogueRef{},
	}
	if root.kind != jsonObject {
		p.errorf(root.offset, "the catalogue must be an object keyed by operator id, not %s", root.kind)
		return nil
	}
	members := slices.Clone(root.members)
	slices.SortStableFunc(members, func(a, b jsonMember) int { return strings.Compare(a.key, b.key) })
	offerIDs := map[string]string{}
	ranges := map[netip.Prefix]string{}
	owner := func(ref catalogueRef) string {
		if ref.op < len(c.operators) {
			return c.operators[ref.op].ID
		}
		return "?"
	}
	for _, m := range members {
		if _, dup := c.byID[m.key]; dup {
			p.errorf(m.offset, "operator %q is written twice", m.key)
			continue
		}
		if !idPattern.MatchString(m.key) {
			p.errorf(m.offset, "operator id %q: want lower-case letters, digits and '-', at most 63", m.key)
		}
		op, pos := p.operator(m.key, m.value)
		i := len(c.operators)
		c.byID[op.ID] = i
		c.operators = append(c.operators, op)
		for k, a := range op.ASNs {
			if j, dup := c.byASN[a.ASN]; dup && a.ASN != 0 {
				p.errorf(pos.asns[k], "operator %q: AS%d is already %q's: an ASN belongs to one operator", op.ID, a.ASN, c.operators[j].ID)
				continue
			}
			c.byASN[a.ASN] = i
		}
		claimSuffix := func(s string, off int64, ref catalogueRef, what string) {
			if prev, dup := c.bySuffix[s]; dup {
				p.errorf(off, "operator %q: %s %q is already %q's: a suffix belongs to one operator or offer", op.ID, what, s, owner(prev))
				return
			}
			c.bySuffix[s] = ref
		}
		for k, s := range op.DomainSuffixes {
			claimSuffix(s, pos.suffixes[k], catalogueRef{i, -1}, "domain suffix")
		}
		claimRange := func(r netip.Prefix, off int64, ref catalogueRef) {
			if prev, dup := ranges[r]; dup {
				p.errorf(off, "operator %q: range %s is already %q's", op.ID, r, prev)
				return
			}
			ranges[r] = op.ID
			c.addRange(r, ref)
		}
		for k, r := range op.Ranges {
			claimRange(r, pos.ranges[k], catalogueRef{i, -1})
		}
		for k, f := range op.RangeFeeds {
			if j, dup := c.byFeed[f]; dup {
				p.errorf(pos.feeds[k], "operator %q: range feed %q is already %q's", op.ID, f, c.operators[j].ID)
				continue
			}
			c.byFeed[f] = i
		}
		shown := make([]*OfferMatch, len(op.Offers))
		for k, o := range op.Offers {
			opos := pos.offers[k]
			if prev, dup := offerIDs[o.ID]; dup && o.ID != "" {
				p.errorf(opos.id, "offer id %q is already used by operator %q", o.ID, prev)
			}
			offerIDs[o.ID] = m.key
			for s, suffix := range o.DomainSuffixes {
				claimSuffix(suffix, opos.suffixes[s], catalogueRef{i, k}, "offer "+o.ID+" domain suffix")
			}
			for r, rg := range o.Ranges {
				claimRange(rg, opos.ranges[r], catalogueRef{i, k})
			}
			for q, qual := range o.Qualifications {
				until, _ := time.Parse(time.DateOnly, qual.Until)
				c.qualifications = append(c.qualifications, qualificationAt{op: i, offer: k, q: qual, until: until, offset: opos.quals[q]})
			}
			shown[k] = &OfferMatch{ID: o.ID, Name: o.Name, Qualifications: o.Qualifications}
		}
		c.offers = append(c.offers, shown)
		c.providers = append(c.providers, Provider{
			ID: op.ID, Name: op.Name, Headquarters: op.Headquarters, Jurisdictions: op.Jurisdictions,
		})
	}
	sortBuckets(c.ranges4)
	sortBuckets(c.ranges6)
	return c
}

func (c *Catalogue) addRange(r netip.Prefix, ref catalogueRef) {
	buckets := &c.ranges6
	if r.Addr().Is4() {
		buckets = &c.ranges4
	}
	for _, b := range *buckets {
		if b.bits == r.Bits() {
			b.refs[r] = ref
			return
		}
	}
	*buckets = append(*buckets, rangeBucket{bits: r.Bits(), refs: map[netip.Prefix]catalogueRef{r: ref}})
}

// sortBuckets puts the longest prefixes first, so the first match wins.
func sortBuckets(b []rangeBucket) {
	slices.SortFunc(b, func(x, y rangeBucket) int { return y.bits - x.bits })
}

// operatorPositions remembers where the facts of an operator are written,
// to point at the second claim of a fact.
type operatorPositions struct {
	asns, suffixes, ranges, feeds []int64
	offers                        []offerPositions
}

type offerPositions struct {
	id               int64
	suffixes, ranges []int64
	quals            []int64
}

func (p *catalogueParser) operator(id string, n *jsonNode) (Operator, operatorPositions) {
	op := Operator{ID: id}
	var pos operatorPositions
	jurisdictionsAt := int64(-1)
	what := fmt.Sprintf("operator %q", id)
	p.fields(n, what, map[string]func(*jsonNode){
		"name":         func(v *jsonNode) { p.str(v, what+": name", &op.Name) },
		"kind":         func(v *jsonNode) { p.oneOf(v, what+": kind", operatorKinds, &op.Kind) },
		"headquarters": func(v *jsonNode) { p.country(v, what+": headquarters", &op.Headquarters) },
		"jurisdictions": func(v *jsonNode) {
			jurisdictionsAt = v.offset
			p.list(v, what+": jurisdictions", func(i int, it *jsonNode) {
				var cc string
				p.country(it, fmt.Sprintf("%s: jurisdictions[%d]", what, i), &cc)
				if slices.Contains(op.Jurisdictions, cc) {
					p.errorf(it.offset, "%s: jurisdiction %q listed twice", what, cc)
				}
				op.Jurisdictions = append(op.Jurisdictions, cc)
			})
		},
		"parent": func(v *jsonNode) {
			op.Parent = []Company{}
			p.list(v, what+": parent", func(i int, it *jsonNode) {
				var co Company
				w := fmt.Sprintf("%s: parent[%d]", what, i)
				p.fields(it, w, map[string]func(*jsonNode){
					"name":    func(v *jsonNode) { p.str(v, w+": name", &co.Name) },
					"country": func(v *jsonNode) { p.country(v, w+": country", &co.Country) },
				}, "name", "country")
				op.Parent = append(op.Parent, co)
			})
		},
		"asns": func(v *jsonNode) {
			op.ASNs = []ASNFact{}
			p.list(v, what+": asns", func(i int, it *jsonNode) {
				a := p.asn(it, fmt.Sprintf("%s: asns[%d]", what, i))
				for _, b := range op.ASNs {
					if a.ASN != 0 && b.ASN == a.ASN {
						p.errorf(it.offset, "%s: AS%d listed twice", what, a.ASN)
					}
				}
				op.ASNs = append(op.ASNs, a)
				pos.asns = append(pos.asns, it.offset)
			})
		},
		"domain_suffixes": func(v *jsonNode) {
			op.DomainSuffixes, pos.suffixes = p.suffixes(v, what+": domain_suffixes")
		},
		"ranges":      func(v *jsonNode) { op.Ranges, pos.ranges = p.ranges(v, what+": ranges") },
		"range_feeds": func(v *jsonNode) { op.RangeFeeds, pos.feeds = p.feeds(v, what+": range_feeds") },
		"offers": func(v *jsonNode) {
			op.Offers = []Offer{}
			p.list(v, what+": offers", func(i int, it *jsonNode) {
				o, opos := p.offer(it, fmt.Sprintf("%s: offers[%d]", what, i))
				op.Offers = append(op.Offers, o)
				pos.offers = append(pos.offers, opos)
			})
		},
		"source":  func(v *jsonNode) { p.str(v, what+": source", &op.Source) },
		"sources": func(v *jsonNode) { p.strList(v, what+": sources", &op.Sources) },
		"checked": func(v *jsonNode) { p.date(v, what+": checked", &op.Checked) },
	}, "name", "kind", "headquarters", "sources", "checked")
	if n.kind == jsonObject && op.Sources != nil && len(op.Sources) == 0 {
		p.errorf(n.offset, "%s: sources is empty: say where the facts come from (official documentation, ASN registry, Public Suffix List)", what)
	}
	// The law of the ultimate owner's country always reaches the operator:
	// the list must name it, so that the policy finds every law in one
	// place (an entry that leaves it out is a mistake, not an exemption).
	switch {
	case len(op.Jurisdictions) == 0 && op.Headquarters != "":
		op.Jurisdictions = []string{op.Headquarters}
	case op.Headquarters != "" && jurisdictionsAt >= 0 && !slices.Contains(op.Jurisdictions, op.Headquarters):
		p.errorf(jurisdictionsAt, "%s: jurisdictions must include the headquarters' country %s: the law of the ultimate owner's country always reaches the operator", what, op.Headquarters)
	}
	for _, f := range []*[]string{&op.Jurisdictions, &op.DomainSuffixes, &op.Sources} {
		if *f == nil {
			*f = []string{}
		}
	}
	if op.ASNs == nil {
		op.ASNs = []ASNFact{}
	}
	if op.Parent == nil {
		op.Parent = []Company{}
	}
	if op.Offers == nil {
		op.Offers = []Offer{}
	}
	return op, pos
}

func (p *catalogueParser) offer(n *jsonNode, what string) (Offer, offerPositions) {
	var o Offer
	var pos offerPositions
	p.fields(n, what, map[string]func(*jsonNode){
		"id": func(v *jsonNode) {
			pos.id = v.offset
			p.str(v, what+": id", &o.ID)
			if o.ID != "" && !idPattern.MatchString(o.ID) {
				p.errorf(v.offset, "%s: id %q: want lower-case letters, digits and '-', at most 63", what, o.ID)
			}
			what = fmt.Sprintf("%s (%s)", what, o.ID)
		},
		"name":            func(v *jsonNode) { p.str(v, what+": name", &o.Name) },
		"domain_suffixes": func(v *jsonNode) { o.DomainSuffixes, pos.suffixes = p.suffixes(v, what+": domain_suffixes") },
		"ranges":          func(v *jsonNode) { o.Ranges, pos.ranges = p.ranges(v, what+": ranges") },
		"qualifications": func(v *jsonNode) {
			o.Qualifications = []Qualification{}
			p.list(v, what+": qualifications", func(i int, it *jsonNode) {
				o.Qualifications = append(o.Qualifications, p.qualification(it, fmt.Sprintf("%s: qualifications[%d]", what, i)))
				pos.quals = append(pos.quals, it.offset)
			})
		},
	}, "id", "name")
	if o.Qualifications == nil {
		o.Qualifications = []Qualification{}
	}
	return o, pos
}

func (p *catalogueParser) qualification(n *jsonNode, what string) Qualification {
	var q Qualification
	var since, until time.Time
	var untilAt int64
	p.fields(n, what, map[string]func(*jsonNode){
		"scheme": func(v *jsonNode) { p.oneOf(v, what+": scheme", qualificationSchemes, &q.Scheme) },
		"since":  func(v *jsonNode) { since = p.date(v, what+": since", &q.Since) },
		"until": func(v *jsonNode) {
			untilAt = v.offset
			until = p.date(v, what+": until", &q.Until)
		},
		"source": func(v *jsonNode) { p.str(v, what+": source", &q.Source) },
	}, "scheme", "since", "source")
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		p.errorf(untilAt, "%s: until %s is before since %s", what, q.Until, q.Since)
	}
	return q
}

// asn reads a number or {"asn": N, "org": "..."} and refuses numbers that
// never appear in routing data: reserved (0, AS_TRANS 23456, 65535,
// 4294967295), for documentation (64496-64511, 65536-65551) and for
// private use (64512-65534, 4200000000-4294967294). Listing one is a
// mistake that would match nothing, or something else.
func (p *catalogueParser) asn(n *jsonNode, what string) ASNFact {
	var a ASNFact
	num := n
	if n.kind == jsonObject {
		num = nil
		p.fields(n, what, map[string]func(*jsonNode){
			"asn": func(v *jsonNode) { num = v },
			"org": func(v *jsonNode) { p.str(v, what+": org", &a.Org) },
		}, "asn")
		if num == nil {
			return a
		}
	}
	if num.kind != jsonNumber {
		p.errorf(num.offset, "%s: want an AS number or {\"asn\": N, \"org\": \"...\"}, not %s", what, num.kind)
		return a
	}
	v, err := num.num.Int64()
	if err != nil || v < 0 || v > math.MaxUint32 {
		p.errorf(num.offset, "%s: %s is not an AS number (a whole number from 1 to 4294967294)", what, num.num)
		return a
	}
	a.ASN = uint32(v)
	if reason := asnProblem(a.ASN); reason != "" {
		p.errorf(num.offset, "%s: AS%d is %s: it never appears in routing data", what, a.ASN, reason)
		a.ASN = 0
	}
	return a
}

func asnProblem(asn uint32) string {
	switch {
	case asn == 0, asn == 23456, asn == 65535, asn == math.MaxUint32:
		return "reserved"
	case asn >= 64496 && asn <= 64511, asn >= 65536 && asn <= 65551:
		return "reserved for documentation"
	case asn >= 64512 && asn <= 65534, asn >= 4200000000:
		return "for private use"
	}
	return ""
}

// uniqueList reads a list of strings, each turned into a value by parse
// (which says what is wrong with it, or ""), keeping the values in order
// with the offsets they are written at; a value written twice is an error.
func uniqueList[T comparable](p *catalogueParser, n *jsonNode, what string, parse func(s string) (T, string)) ([]T, []int64) {
	out := []T{}
	var offsets []int64
	p.list(n, what, func(i int, it *jsonNode) {
		var s string
		w := fmt.Sprintf("%s[%d]", what, i)
		p.str(it, w, &s)
		if s == "" {
			return
		}
		v, problem := parse(s)
		switch {
		case problem != "":
			p.errorf(it.offset, "%s: %q %s", w, s, problem)
		case slices.Contains(out, v):
			p.errorf(it.offset, "%s: %q listed twice", w, s)
		default:
			out = append(out, v)
			offsets = append(offsets, it.offset)
		}
	})
	return out, offsets
}

// suffixes reads domain suffixes in canonical form. A suffix must be at
// least a registrable domain: "sharepoint.com" is fine, and so are the
// private-section entries of the Public Suffix List such as
// "azurewebsites.net" (they name one operator); a top-level domain or an
// ICANN public suffix ("com", "co.uk", "gouv.fr") would match every site
// under it.
func (p *catalogueParser) suffixes(n *jsonNode, what string) ([]string, []int64) {
	return uniqueList(p, n, what, func(s string) (string, string) {
		name, ip, err := CanonicalHost(strings.TrimPrefix(s, "."))
		switch {
		case err != nil:
			return "", err.Error()
		case ip.IsValid():
			return "", "is an IP address: list it under ranges"
		case !strings.Contains(name, "."):
			return "", "is a top-level domain: it would match every site under it"
		case isICANNSuffix(name):
			return "", "is a public suffix (ICANN section of the Public Suffix List): it would match every site registered under it"
		}
		return name, ""
	})
}

func isICANNSuffix(name string) bool {
	ps, icann := publicsuffix.PublicSuffix(name)
	return icann && ps == name
}

func (p *catalogueParser) ranges(n *jsonNode, what string) ([]netip.Prefix, []int64) {
	return uniqueList(p, n, what, func(s string) (netip.Prefix, string) {
		pr, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			return pr, "is not a CIDR such as 192.0.2.0/24"
		case pr.Addr().Zone() != "" || pr.Addr().Is4In6():
			return pr, "is not in plain form: write IPv4 ranges in IPv4 form, without a zone"
		case pr.Masked() != pr:
			return pr, fmt.Sprintf("has host bits set; did you mean %s?", pr.Masked())
		}
		return pr, ""
	})
}

func (p *catalogueParser) feeds(n *jsonNode, what string) ([]string, []int64) {
	return uniqueList(p, n, what, func(s string) (string, string) {
		if !idPattern.MatchString(s) {
			return "", "is not a feed name (aws, azure, gcp, google, oracle, cloudflare, fastly, akamai, digitalocean, linode)"
		}
		return s, ""
	})
}
