package geo

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// The provider catalogue is a set of facts we write ourselves, each with the
// source it comes from: who operates an ASN or a domain suffix, where that
// operator is headquartered and whose law reaches it. The policy needs those
// facts to decide on jurisdiction, which no GeoIP database provides.

//go:embed providers.json
var embeddedCatalogue []byte

// CatalogueSchema is the schema version of the catalogue file format.
const CatalogueSchema = 1

// Ways a provider can be recognised (Provider.MatchedBy), strongest first.
const (
	MatchedByRange  = "range"  // the address is in the provider's published IP ranges (provider_ranges)
	MatchedByASN    = "asn"    // the address is announced by one of the provider's ASNs
	MatchedByDomain = "domain" // the host or one of its CNAMEs ends in one of the provider's domain suffixes
)

// maxCatalogueSize bounds what LoadCatalogue reads: a catalogue is a few
// kilobytes, so anything near this is a wrong file.
const maxCatalogueSize = 16 << 20

// CatalogueFile is the JSON document LoadCatalogue reads.
type CatalogueFile struct {
	Schema    int              `json:"schema"`
	Providers []CatalogueEntry `json:"providers"`
}

// CatalogueEntry is one provider as written in the catalogue file.
type CatalogueEntry struct {
	// ID is the stable identifier policies and audit records use: lower
	// case letters, digits and '-'.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Headquarters is the ISO 3166-1 alpha-2 code of the parent company.
	Headquarters string `json:"headquarters"`
	// Jurisdictions are the ISO codes whose law reaches the operator;
	// defaults to [Headquarters].
	Jurisdictions []string `json:"jurisdictions,omitempty"`
	// ASNs are the autonomous systems the provider operates. Each is a
	// number or {"asn": N, "org": "name in the ASN data"}.
	ASNs []ASNFact `json:"asns"`
	// DomainSuffixes are registrable domains or public suffixes whose names
	// the provider serves; "amazonaws.com" matches "amazonaws.com" and
	// "x.s3.amazonaws.com", never "evilamazonaws.com".
	DomainSuffixes []string `json:"domain_suffixes"`
	// Source says where the facts come from, for reviewers and auditors.
	Source string `json:"source"`
}

// ASNFact is an autonomous system number with the organisation name the ASN
// data gives for it (recorded to make reviews easy; not used for matching).
type ASNFact struct {
	ASN uint32 `json:"asn"`
	Org string `json:"org,omitempty"`
}

// UnmarshalJSON accepts a bare number as well as {"asn": N, "org": "..."}.
func (f *ASNFact) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' {
		var n uint32
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("ASN %s: want a number from 1 to 4294967294 or an object: %w", b, err)
		}
		*f = ASNFact{ASN: n}
		return nil
	}
	type plain ASNFact
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*f = ASNFact(p)
	return nil
}

// Catalogue is a validated, immutable provider catalogue with its lookup
// indexes. It is safe for concurrent use.
type Catalogue struct {
	entries   []CatalogueEntry
	providers []Provider // per entry, MatchedBy empty; Jurisdictions shared
	byID      map[string]int
	byASN     map[uint32]int
	bySuffix  map[string]int
	hash      string
}

var embedded = sync.OnceValues(func() (*Catalogue, error) {
	c, err := LoadCatalogue(bytes.NewReader(embeddedCatalogue))
	if err != nil {
		return nil, fmt.Errorf("embedded provider catalogue: %w", err)
	}
	return c, nil
})

// EmbeddedCatalogue returns the catalogue compiled into the binary
// (geo/providers.json). Its validity is checked by the tests, so an invalid
// embedded catalogue is a programming error and panics.
func EmbeddedCatalogue() *Catalogue {
	c, err := embedded()
	if err != nil {
		panic(err)
	}
	return c
}

// EmbeddedCatalogueJSON returns the embedded catalogue file, e.g. to show it
// or to start an override file from it.
func EmbeddedCatalogueJSON() []byte { return bytes.Clone(embeddedCatalogue) }

// LoadCatalogue reads and validates a catalogue file. Unknown fields are
// errors (a typo in an override file must not silently drop a fact).
func LoadCatalogue(r io.Reader) (*Catalogue, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxCatalogueSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading provider catalogue: %w", err)
	}
	if len(data) > maxCatalogueSize {
		return nil, fmt.Errorf("provider catalogue larger than %d bytes", maxCatalogueSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f CatalogueFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing provider catalogue: %w", err)
	}
	if dec.More() {
		return nil, errors.New("parsing provider catalogue: data after the JSON document")
	}
	if f.Schema != CatalogueSchema {
		return nil, fmt.Errorf("provider catalogue: schema %d, want %d", f.Schema, CatalogueSchema)
	}
	return newCatalogue(f.Providers)
}

// Merge returns a catalogue with the entries of overlay added to c; an
// overlay entry with the ID of an entry of c replaces it whole. The result is
// validated again: an ASN or suffix claimed by two providers is an error, so
// moving one means overriding both entries.
func (c *Catalogue) Merge(overlay *Catalogue) (*Catalogue, error) {
	entries := slices.Clone(c.entries)
	for _, e := range overlay.entries {
		if i, ok := c.byID[e.ID]; ok {
			entries[i] = e
		} else {
			entries = append(entries, e)
		}
	}
	m, err := newCatalogue(entries)
	if err != nil {
		return nil, fmt.Errorf("merging provider catalogues: %w", err)
	}
	return m, nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func newCatalogue(in []CatalogueEntry) (*Catalogue, error) {
	c := &Catalogue{
		byID:     make(map[string]int, len(in)),
		byASN:    make(map[uint32]int),
		bySuffix: make(map[string]int),
	}
	for i, e := range in {
		e, err := normalizeEntry(e)
		if err != nil {
			if in[i].ID != "" {
				return nil, fmt.Errorf("provider %q: %w", in[i].ID, err)
			}
			return nil, fmt.Errorf("provider #%d: %w", i+1, err)
		}
		if j, dup := c.byID[e.ID]; dup {
			return nil, fmt.Errorf("provider %q listed twice (#%d and #%d)", e.ID, j+1, i+1)
		}
		c.byID[e.ID] = i
		for _, a := range e.ASNs {
			if j, dup := c.byASN[a.ASN]; dup {
				return nil, fmt.Errorf("AS%d claimed by both %q and %q", a.ASN, c.entries[j].ID, e.ID)
			}
			c.byASN[a.ASN] = i
		}
		for _, s := range e.DomainSuffixes {
			if j, dup := c.bySuffix[s]; dup {
				return nil, fmt.Errorf("domain suffix %q claimed by both %q and %q", s, c.entries[j].ID, e.ID)
			}
			c.bySuffix[s] = i
		}
		c.entries = append(c.entries, e)
		c.providers = append(c.providers, Provider{
			ID: e.ID, Name: e.Name, Headquarters: e.Headquarters, Jurisdictions: e.Jurisdictions,
		})
	}
	canon, err := json.Marshal(CatalogueFile{Schema: CatalogueSchema, Providers: c.entries})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	c.hash = hex.EncodeToString(sum[:8])
	return c, nil
}

func normalizeEntry(e CatalogueEntry) (CatalogueEntry, error) {
	if !idPattern.MatchString(e.ID) {
		return e, fmt.Errorf("id %q: want lower-case letters, digits and '-', at most 63", e.ID)
	}
	e.Name = strings.TrimSpace(e.Name)
	if e.Name == "" {
		return e, errors.New("no name")
	}
	if !ValidCountry(e.Headquarters) {
		return e, fmt.Errorf("headquarters %q is not an upper-case ISO 3166-1 alpha-2 country code", e.Headquarters)
	}
	if len(e.Jurisdictions) == 0 {
		e.Jurisdictions = []string{e.Headquarters}
	} else {
		e.Jurisdictions = slices.Clone(e.Jurisdictions)
	}
	for i, j := range e.Jurisdictions {
		if !ValidCountry(j) {
			return e, fmt.Errorf("jurisdiction %q is not an upper-case ISO 3166-1 alpha-2 country code", j)
		}
		if slices.Contains(e.Jurisdictions[:i], j) {
			return e, fmt.Errorf("jurisdiction %q listed twice", j)
		}
	}
	e.ASNs = slices.Clone(e.ASNs)
	if e.ASNs == nil {
		e.ASNs = []ASNFact{}
	}
	for i, a := range e.ASNs {
		if a.ASN == 0 || a.ASN == 1<<32-1 || a.ASN == 23456 {
			return e, fmt.Errorf("AS%d is reserved", a.ASN)
		}
		for _, b := range e.ASNs[:i] {
			if b.ASN == a.ASN {
				return e, fmt.Errorf("AS%d listed twice", a.ASN)
			}
		}
	}
	suffixes := make([]string, 0, len(e.DomainSuffixes))
	for _, s := range e.DomainSuffixes {
		name, ip, err := CanonicalHost(strings.TrimPrefix(s, "."))
		switch {
		case err != nil:
			return e, fmt.Errorf("domain suffix %q: %w", s, err)
		case ip.IsValid():
			return e, fmt.Errorf("domain suffix %q is an IP address", s)
		case !strings.Contains(name, "."):
			return e, fmt.Errorf("domain suffix %q is a top-level domain: it would match far too much", s)
		case slices.Contains(suffixes, name):
			return e, fmt.Errorf("domain suffix %q listed twice", s)
		}
		suffixes = append(suffixes, name)
	}
	e.DomainSuffixes = suffixes
	e.Source = strings.TrimSpace(e.Source)
	if e.Source == "" {
		return e, errors.New("no source: say where the ASN and suffix facts come from")
	}
	return e, nil
}

// Hash identifies the catalogue's content (hex, 16 digits); it changes when
// any fact changes and is part of the classifier's Revision.
func (c *Catalogue) Hash() string { return c.hash }

// Len returns the number of providers.
func (c *Catalogue) Len() int { return len(c.entries) }

// Entries returns a copy of the entries, in file order (normalised:
// jurisdictions filled in, suffixes in lower case).
func (c *Catalogue) Entries() []CatalogueEntry {
	out := make([]CatalogueEntry, len(c.entries))
	for i, e := range c.entries {
		e.Jurisdictions = slices.Clone(e.Jurisdictions)
		e.ASNs = slices.Clone(e.ASNs)
		e.DomainSuffixes = slices.Clone(e.DomainSuffixes)
		out[i] = e
	}
	return out
}

// MarshalJSON writes the catalogue in the file format LoadCatalogue reads.
func (c *Catalogue) MarshalJSON() ([]byte, error) {
	return json.Marshal(CatalogueFile{Schema: CatalogueSchema, Providers: c.entries})
}

// Provider returns the provider with this id, MatchedBy empty.
// Its Jurisdictions slice is shared: do not modify it.
func (c *Catalogue) Provider(id string) (Provider, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Provider{}, false
	}
	return c.providers[i], true
}

// ProviderByASN returns the provider operating asn, MatchedBy "asn".
func (c *Catalogue) ProviderByASN(asn uint32) (Provider, bool) {
	i, ok := c.asnIndex(asn)
	if !ok {
		return Provider{}, false
	}
	p := c.providers[i]
	p.MatchedBy = MatchedByASN
	return p, true
}

// ProviderByDomain returns the provider whose longest domain suffix matches
// host on a label boundary, MatchedBy "domain", and the suffix that matched.
func (c *Catalogue) ProviderByDomain(host string) (p Provider, suffix string, ok bool) {
	i, suffix, ok := c.domainIndex(host)
	if !ok {
		return Provider{}, "", false
	}
	p = c.providers[i]
	p.MatchedBy = MatchedByDomain
	return p, suffix, true
}

func (c *Catalogue) asnIndex(asn uint32) (int, bool) {
	if asn == 0 {
		return 0, false
	}
	i, ok := c.byASN[asn]
	return i, ok
}

// domainIndex walks host from the full name towards its last label, so the
// first suffix found is the longest one. It only cuts at dots, so a suffix
// matches whole labels. It does not allocate for a canonical (lower-case)
// host.
func (c *Catalogue) domainIndex(host string) (int, string, bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for {
		if i, ok := c.bySuffix[h]; ok {
			return i, h, true
		}
		dot := strings.IndexByte(h, '.')
		if dot < 0 {
			return 0, "", false
		}
		h = h[dot+1:]
	}
}
