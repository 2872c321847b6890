package geo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
)

// ClassifierConfig says which data sources a Classifier uses.
type ClassifierConfig struct {
	// CountryDB is the path of a GeoIP2/GeoLite2/DB-IP Country or City
	// database, or of a country_code database. Empty: the IP2Location LITE
	// data embedded in the binary.
	CountryDB string
	// ASNDB is the path of a GeoLite2-ASN (or compatible) database. Empty:
	// no ASN, AS organisation nor provider-by-ASN.
	ASNDB string
	// Catalogue is the provider catalogue; nil means EmbeddedCatalogue().
	Catalogue *Catalogue
	// ProviderRanges is the directory `sovgate geo update` writes (holding
	// providers.mmdb), or that file itself. Empty: no provider ranges, so
	// providers are recognised by ASN and domain only, with no region.
	ProviderRanges string
}

// DataInfo describes the classifier's data sources for the status page.
type DataInfo struct {
	Country        DatabaseInfo  `json:"country"`
	ASN            DatabaseInfo  `json:"asn"`
	Catalogue      CatalogueInfo `json:"catalogue"`
	ProviderRanges RangesInfo    `json:"provider_ranges"`
	Revision       string        `json:"revision"`
}

// CatalogueInfo describes the provider catalogue in use.
type CatalogueInfo struct {
	Providers int    `json:"providers"`
	Hash      string `json:"hash"`
}

// Classifier turns resolved addresses into the facts a policy reasons about:
// where each address is, who announces it, which provider operates it and
// whose law reaches that provider. It is safe for concurrent use.
//
// The GeoIP databases and the catalogue are fixed for its lifetime; the
// provider ranges can be swapped while it serves (SetProviderRanges,
// ReloadProviderRanges, WatchProviderRanges). A swap changes Revision, so
// decision caches keyed by it miss, and a Classify call in progress finishes
// on the data it started with.
type Classifier struct {
	country *CountryDB
	asn     *ASNDB // nil without an ASN database
	cat     *Catalogue
	base    DataInfo // without the provider ranges
	baseRev string

	rangesPath string // "" without provider ranges
	mu         sync.Mutex
	loaded     os.FileInfo // the version of rangesPath in state; guarded by mu
	state      atomic.Pointer[classifierState]
}

// classifierState is the swappable part of a Classifier, immutable once
// stored.
type classifierState struct {
	ranges   *ProviderRanges // nil: none
	revision string
	info     DataInfo
}

// NewClassifier opens the databases and the provider ranges. Errors name
// the file that failed.
func NewClassifier(cfg ClassifierConfig) (*Classifier, error) {
	cat := cfg.Catalogue
	if cat == nil {
		cat = EmbeddedCatalogue()
	}
	var ranges *ProviderRanges
	var loaded os.FileInfo
	var rangesPath string
	if cfg.ProviderRanges != "" {
		var err error
		if rangesPath, err = providerRangesPath(cfg.ProviderRanges); err != nil {
			return nil, err
		}
		if ranges, loaded, err = loadProviderRanges(rangesPath); err != nil {
			return nil, err
		}
	}
	country, err := OpenCountryDB(cfg.CountryDB)
	if err != nil {
		return nil, err
	}
	c := &Classifier{country: country, cat: cat, rangesPath: rangesPath, loaded: loaded}
	c.base.Country = country.Info()
	c.base.ASN = DatabaseInfo{Source: SourceNone}
	if cfg.ASNDB != "" {
		c.asn, err = OpenASNDB(cfg.ASNDB)
		if err != nil {
			country.Close()
			return nil, err
		}
		c.base.ASN = c.asn.Info()
	}
	c.base.Catalogue = CatalogueInfo{Providers: cat.Len(), Hash: cat.Hash()}

	h := sha256.New()
	for _, d := range []DatabaseInfo{c.base.Country, c.base.ASN} {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d\x00%s\x00", d.Source, d.Path, d.Format, d.DatabaseType, d.BuildTime.Unix(), d.Version)
	}
	h.Write([]byte(cat.Hash()))
	c.baseRev = hex.EncodeToString(h.Sum(nil)[:8])
	c.state.Store(c.newState(ranges))
	return c, nil
}

func loadProviderRanges(file string) (*ProviderRanges, os.FileInfo, error) {
	data, fi, err := readProviderRanges(file)
	if err != nil {
		return nil, nil, err
	}
	p, err := ParseProviderRanges(data)
	if err != nil {
		return nil, nil, fmt.Errorf("provider ranges %s: %w", file, err)
	}
	p.info.Path = file
	return p, fi, nil
}

func (c *Classifier) newState(ranges *ProviderRanges) *classifierState {
	st := &classifierState{ranges: ranges, revision: c.baseRev, info: c.base}
	st.info.ProviderRanges = RangesInfo{Source: SourceNone}
	if ranges != nil {
		st.info.ProviderRanges = ranges.Info()
		sum := sha256.Sum256([]byte(c.baseRev + "\x00" + ranges.info.SHA256))
		st.revision = hex.EncodeToString(sum[:8])
	}
	st.info.Revision = st.revision
	return st
}

// Revision identifies the data in use (databases' type, path and build time,
// iploc version, catalogue hash, provider ranges' content). Decision caches
// put it in their keys.
func (c *Classifier) Revision() string { return c.state.Load().revision }

// Info describes the data sources.
func (c *Classifier) Info() DataInfo { return c.state.Load().info }

// Catalogue returns the provider catalogue in use.
func (c *Classifier) Catalogue() *Catalogue { return c.cat }

// ProviderRanges returns the provider ranges in use, nil without any.
func (c *Classifier) ProviderRanges() *ProviderRanges { return c.state.Load().ranges }

// SetProviderRanges puts other provider ranges in service (nil: none).
// Calls in progress finish on the ranges they started with.
func (c *Classifier) SetProviderRanges(p *ProviderRanges) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Store(c.newState(p))
}

// ReloadProviderRanges reads the provider ranges file again if it changed
// on disk (another file, size or modification time) and swaps it in when
// its content differs. It reports whether the data in service changed. On
// any error (missing, corrupt, invalid file) the ranges in service stay.
// It is a no-op for a classifier without provider ranges.
func (c *Classifier) ReloadProviderRanges() (swapped bool, err error) {
	if c.rangesPath == "" {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.rangesPath)
	if err != nil {
		return false, fmt.Errorf("provider ranges: %w", err)
	}
	if sameFileVersion(st, c.loaded) {
		return false, nil
	}
	p, fi, err := loadProviderRanges(c.rangesPath)
	if err != nil {
		return false, err
	}
	c.loaded = fi
	cur := c.state.Load()
	if cur.ranges != nil && cur.ranges.info.SHA256 == p.info.SHA256 {
		return false, nil // rewritten with the same content
	}
	c.state.Store(c.newState(p))
	return true, nil
}

// Close releases the database files. The Classifier must not be used after.
func (c *Classifier) Close() error {
	var errs []error
	if err := c.country.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing %s: %w", c.base.Country.Path, err))
	}
	if c.asn != nil {
		if err := c.asn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.base.ASN.Path, err))
		}
	}
	return errors.Join(errs...)
}

// maxDomainMatches bounds the names examined for domain matches (host plus
// CNAMEs); the resolver follows at most 8 CNAMEs.
const maxDomainMatches = 16

// Classify describes a destination: host is the canonical host name (or IP
// text), cnames the chain the resolver followed, addrs the vetted addresses.
//
// Each address gets its country, continent, EU/EEA membership, ASN and AS
// organisation, and a provider. The provider is, strongest first: the one
// whose published IP ranges hold the address (MatchedBy "range"; the range
// also gives the region, its country, the service and the anycast flag),
// the one owning its ASN ("asn"), otherwise the one whose domain suffix
// matches the name nearest to the addresses (the last CNAME first, the host
// last), since that is who serves them ("domain").
//
// The country is the region's country when a provider range gives one,
// otherwise the GeoIP country; an anycast range has no country at all.
//
// Providers lists every provider involved, each once: the range and ASN
// matches in address order, then the domain matches of the host and its
// CNAMEs in chain order. A provider matched by domain is listed even when the
// addresses belong to another provider (e.g. a cloud's CDN hostname served
// by a CDN network): the data reaches that provider's service, so its
// jurisdiction matters too. MatchedBy is the strongest way it was matched
// ("range" over "asn" over "domain").
//
// The returned slices are new; Jurisdictions slices are shared with the
// catalogue and must not be modified.
func (c *Classifier) Classify(host string, cnames []string, addrs []netip.Addr) Destination {
	ranges := c.state.Load().ranges // one version for the whole call
	d := Destination{Host: host, Addresses: make([]Address, len(addrs))}

	// Domain matches, host first then the chain.
	var domBuf [maxDomainMatches]int
	dom := domBuf[:0]
	names := 1 + len(cnames)
	for k := 0; k < names && len(dom) < maxDomainMatches; k++ {
		name := host
		if k > 0 {
			name = cnames[k-1]
		}
		if i, _, ok := c.cat.domainIndex(name); ok {
			dom = append(dom, i)
		}
	}
	nearestDom := -1
	if len(dom) > 0 {
		nearestDom = dom[len(dom)-1]
	}

	// Providers matched by range or ASN, in address order, with the
	// strongest way each was matched.
	var matchBuf [maxDomainMatches]addrMatch
	matched := matchBuf[:0]
	for k, ip := range addrs {
		a := &d.Addresses[k]
		a.IP = ip
		a.Country, a.Continent = c.country.Lookup(ip)
		pi, by := nearestDom, MatchedByDomain
		if c.asn != nil {
			a.ASN, a.ASOrg = c.asn.Lookup(ip)
			if i, ok := c.cat.asnIndex(a.ASN); ok {
				pi, by = i, MatchedByASN
			}
		}
		if ranges != nil {
			if r, ok := ranges.Lookup(ip); ok {
				a.Region, a.RegionCountry, a.Service, a.Anycast = r.Region, r.RegionCountry, r.Service, r.Anycast
				switch {
				case r.Anycast:
					a.Country, a.Continent = "", ""
				case r.RegionCountry != "":
					a.Country, a.Continent = r.RegionCountry, CountryContinent(r.RegionCountry)
				}
				if i, ok := c.cat.byID[r.Provider]; ok {
					pi, by = i, MatchedByRange
				}
			}
		}
		ci, _ := lookupCountry(a.Country)
		a.EU, a.EEA = ci.eu, ci.eea
		if pi < 0 {
			continue
		}
		a.Provider = c.cat.entries[pi].ID
		if by == MatchedByDomain {
			continue
		}
		if j := indexMatch(matched, pi); j >= 0 {
			if by == MatchedByRange {
				matched[j].by = by
			}
		} else {
			matched = append(matched, addrMatch{pi, by}) // may grow past the buffer; rare
		}
	}

	n := len(matched)
	for k, i := range dom {
		if indexMatch(matched, i) < 0 && !containsInt(dom[:k], i) {
			n++
		}
	}
	d.Providers = make([]Provider, 0, n)
	for _, m := range matched {
		p := c.cat.providers[m.idx]
		p.MatchedBy = m.by
		d.Providers = append(d.Providers, p)
	}
	for k, i := range dom {
		if indexMatch(matched, i) >= 0 || containsInt(dom[:k], i) {
			continue
		}
		p := c.cat.providers[i]
		p.MatchedBy = MatchedByDomain
		d.Providers = append(d.Providers, p)
	}
	return d
}

type addrMatch struct {
	idx int
	by  string
}

func indexMatch(s []addrMatch, idx int) int {
	for j, m := range s {
		if m.idx == idx {
			return j
		}
	}
	return -1
}

// ClassifyAnswer classifies a resolver answer.
func (c *Classifier) ClassifyAnswer(ans *Answer) Destination {
	return c.Classify(ans.Host, ans.CNAMEs, ans.Addrs)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
