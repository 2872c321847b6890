package geo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
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
}

// DataInfo describes the classifier's data sources for the status page.
type DataInfo struct {
	Country   DatabaseInfo  `json:"country"`
	ASN       DatabaseInfo  `json:"asn"`
	Catalogue CatalogueInfo `json:"catalogue"`
	Revision  string        `json:"revision"`
}

// CatalogueInfo describes the provider catalogue in use.
type CatalogueInfo struct {
	Providers int    `json:"providers"`
	Hash      string `json:"hash"`
}

// Classifier turns resolved addresses into the facts a policy reasons about:
// where each address is, who announces it, which provider operates it and
// whose law reaches that provider. It is immutable and safe for concurrent
// use; to change data, build a new Classifier and swap it (its Revision
// differs, so decision caches keyed by it miss).
type Classifier struct {
	country  *CountryDB
	asn      *ASNDB // nil without an ASN database
	cat      *Catalogue
	revision string
	info     DataInfo
}

// NewClassifier opens the databases. Errors name the file that failed.
func NewClassifier(cfg ClassifierConfig) (*Classifier, error) {
	cat := cfg.Catalogue
	if cat == nil {
		cat = EmbeddedCatalogue()
	}
	country, err := OpenCountryDB(cfg.CountryDB)
	if err != nil {
		return nil, err
	}
	c := &Classifier{country: country, cat: cat}
	c.info.Country = country.Info()
	c.info.ASN = DatabaseInfo{Source: SourceNone}
	if cfg.ASNDB != "" {
		c.asn, err = OpenASNDB(cfg.ASNDB)
		if err != nil {
			country.Close()
			return nil, err
		}
		c.info.ASN = c.asn.Info()
	}
	c.info.Catalogue = CatalogueInfo{Providers: cat.Len(), Hash: cat.Hash()}

	h := sha256.New()
	for _, d := range []DatabaseInfo{c.info.Country, c.info.ASN} {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d\x00%s\x00", d.Source, d.Path, d.Format, d.DatabaseType, d.BuildTime.Unix(), d.Version)
	}
	h.Write([]byte(cat.Hash()))
	c.revision = hex.EncodeToString(h.Sum(nil)[:8])
	c.info.Revision = c.revision
	return c, nil
}

// Revision identifies the data in use (databases' type, path and build time,
// iploc version, catalogue hash). Decision caches put it in their keys.
func (c *Classifier) Revision() string { return c.revision }

// Info describes the data sources.
func (c *Classifier) Info() DataInfo { return c.info }

// Catalogue returns the provider catalogue in use.
func (c *Classifier) Catalogue() *Catalogue { return c.cat }

// Close releases the database files. The Classifier must not be used after.
func (c *Classifier) Close() error {
	var errs []error
	if err := c.country.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing %s: %w", c.info.Country.Path, err))
	}
	if c.asn != nil {
		if err := c.asn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.info.ASN.Path, err))
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
// organisation, and a provider: the one owning its ASN, otherwise the one
// whose domain suffix matches the name nearest to the addresses (the last
// CNAME first, the host last), since that is who serves them.
//
// Providers lists every provider involved, each once: the ASN matches in
// address order, then the domain matches of the host and its CNAMEs in chain
// order. A provider matched by domain is listed even when the addresses
// belong to another provider (e.g. a cloud's CDN hostname served by a CDN
// network): the data reaches that provider's service, so its jurisdiction
// matters too. MatchedBy is the strongest way it was matched ("asn" over
// "domain").
//
// The returned slices are new; Jurisdictions slices are shared with the
// catalogue and must not be modified.
func (c *Classifier) Classify(host string, cnames []string, addrs []netip.Addr) Destination {
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

	var asnBuf [maxDomainMatches]int
	asnProv := asnBuf[:0]
	for k, ip := range addrs {
		a := &d.Addresses[k]
		a.IP = ip
		a.Country, a.Continent = c.country.Lookup(ip)
		ci, _ := lookupCountry(a.Country)
		a.EU, a.EEA = ci.eu, ci.eea
		pi := nearestDom
		if c.asn != nil {
			a.ASN, a.ASOrg = c.asn.Lookup(ip)
			if i, ok := c.cat.asnIndex(a.ASN); ok {
				pi = i
				if !containsInt(asnProv, i) {
					asnProv = append(asnProv, i) // may grow past the buffer; rare
				}
			}
		}
		if pi >= 0 {
			a.Provider = c.cat.entries[pi].ID
		}
	}

	n := len(asnProv)
	for k, i := range dom {
		if !containsInt(asnProv, i) && !containsInt(dom[:k], i) {
			n++
		}
	}
	d.Providers = make([]Provider, 0, n)
	for _, i := range asnProv {
		p := c.cat.providers[i]
		p.MatchedBy = MatchedByASN
		d.Providers = append(d.Providers, p)
	}
	for k, i := range dom {
		if containsInt(asnProv, i) || containsInt(dom[:k], i) {
			continue
		}
		p := c.cat.providers[i]
		p.MatchedBy = MatchedByDomain
		d.Providers = append(d.Providers, p)
	}
	return d
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
