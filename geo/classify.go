package geo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClassifierConfig says which data sources a Classifier uses. Every field
// is optional: the zero value classifies with the data compiled into the
// binary.
type ClassifierConfig struct {
	// CountryDB is the path of a GeoIP2/GeoLite2/DB-IP Country or City
	// database, or of a country_code database. Empty: the IP2Location LITE
	// data embedded in the binary.
	CountryDB string
	// ASNDB is the path of a GeoLite2-ASN (or compatible) database. Empty:
	// the autonomous systems of the registration dataset.
	ASNDB string
	// RegistrationDB is the path of a network registration dataset (see
	// RegistrationDB). Empty: registration.mmdb in the ProviderRanges
	// directory when `sovgate geo update` wrote one there, otherwise the
	// snapshot embedded in the binary.
	RegistrationDB string
	// ProviderRanges is the directory `sovgate geo update` writes (holding
	// providers.mmdb), or that file itself. Empty: the snapshot embedded in
	// the binary, which never changes while the process runs.
	ProviderRanges string
	// Internal are the city's own networks: their addresses are marked
	// Internal, and no operator is inferred for them.
	Internal []netip.Prefix
}

// DataInfo describes the classifier's data sources for the status page.
type DataInfo struct {
	Country        DatabaseInfo `json:"country"`
	ASN            DatabaseInfo `json:"asn"`
	Registration   DatabaseInfo `json:"registration"`
	ProviderRanges RangesInfo   `json:"provider_ranges"`
	Revision       string       `json:"revision"`
}

// Dataset is one data source with the date of its data, for ages on the
// status page, in `geo lookup` and in metrics.
type Dataset struct {
	Name   string    `json:"name"`
	Source string    `json:"source"`
	Path   string    `json:"path,omitempty"`
	Built  time.Time `json:"built,omitzero"`
	// AgeDays is how old the data was when the list was made.
	AgeDays int `json:"age_days"`
}

// Datasets lists the dated sources in use (country, asn, registration,
// provider_ranges), with their age at now. Sources that are not in use
// or carry no date are left out.
func (d DataInfo) Datasets(now time.Time) []Dataset {
	var out []Dataset
	add := func(name, source, path string, built time.Time) {
		if source == SourceNone || source == "" || built.IsZero() {
			return
		}
		out = append(out, Dataset{Name: name, Source: source, Path: path, Built: built,
			AgeDays: int(now.Sub(built).Hours() / 24)})
	}
	add("country", d.Country.Source, d.Country.Path, d.Country.BuildTime)
	add("asn", d.ASN.Source, d.ASN.Path, d.ASN.BuildTime)
	add("registration", d.Registration.Source, d.Registration.Path, d.Registration.BuildTime)
	add("provider_ranges", d.ProviderRanges.Source, d.ProviderRanges.Path, d.ProviderRanges.BuildTime)
	return out
}

// Classifier turns resolved addresses into the facts a policy reasons about:
// where each address is, who announces it, which operator runs it and
// whose law reaches that operator. It is safe for concurrent use.
//
// The GeoIP and registration databases are fixed for its lifetime; the
// provider ranges can be swapped while it serves (SetProviderRanges,
// ReloadProviderRanges, WatchProviderRanges). A swap changes Revision, so
// decision caches keyed by it miss, and a Classify call in progress
// finishes on the data it started with. The operator catalogue and the
// EU/EEA territory are not the classifier's: each call gets them from the
// policy revision that evaluates (Knowledge).
type Classifier struct {
	country  *CountryDB
	asn      *ASNDB // nil without an ASN database
	reg      *RegistrationDB
	internal []netip.Prefix
	base     DataInfo // without the provider ranges
	baseRev  string

	// asIDs keeps the ids of inferred operators ("as64500"), so that
	// recognising one again allocates nothing; bounded by maxASIDs.
	asIDsMu sync.RWMutex
	asIDs   map[uint32]string

	rangesPath string // "" for the embedded snapshot
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
	var ranges *ProviderRanges
	var loaded os.FileInfo
	var rangesPath string
	var err error
	if cfg.ProviderRanges != "" {
		if rangesPath, err = providerRangesPath(cfg.ProviderRanges); err != nil {
			return nil, err
		}
		if ranges, loaded, err = loadProviderRanges(rangesPath); err != nil {
			return nil, err
		}
	} else if ranges, err = EmbeddedProviderRanges(); err != nil {
		return nil, err
	}
	country, err := OpenCountryDB(cfg.CountryDB)
	if err != nil {
		return nil, err
	}
	c := &Classifier{country: country, rangesPath: rangesPath, loaded: loaded, internal: cfg.Internal, asIDs: map[uint32]string{}}
	c.base.Country = country.Info()
	c.base.ASN = DatabaseInfo{Source: SourceNone}
	if cfg.ASNDB != "" {
		if c.asn, err = OpenASNDB(cfg.ASNDB); err != nil {
			c.Close()
			return nil, err
		}
		c.base.ASN = c.asn.Info()
	}
	if c.reg, err = openRegistration(cfg); err != nil {
		c.Close()
		return nil, err
	}
	c.base.Registration = c.reg.Info()

	h := sha256.New()
	for _, d := range []DatabaseInfo{c.base.Country, c.base.ASN, c.base.Registration} {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d\x00%s\x00", d.Source, d.Path, d.Format, d.DatabaseType, d.BuildTime.Unix(), d.Version)
	}
	for _, p := range c.internal {
		fmt.Fprintf(h, "internal %s\x00", p)
	}
	c.baseRev = hex.EncodeToString(h.Sum(nil)[:8])
	c.state.Store(c.newState(ranges))
	return c, nil
}

// openRegistration opens the configured registration dataset, the one
// `geo update` keeps beside the provider ranges, or the embedded one.
func openRegistration(cfg ClassifierConfig) (*RegistrationDB, error) {
	if cfg.RegistrationDB != "" {
		return OpenRegistrationDB(cfg.RegistrationDB)
	}
	if cfg.ProviderRanges != "" {
		dir := cfg.ProviderRanges
		if st, err := os.Stat(dir); err == nil && !st.IsDir() {
			dir = filepath.Dir(dir)
		}
		if p := filepath.Join(dir, RegistrationFile); fileExists(p) {
			return OpenRegistrationDB(p)
		}
	}
	return EmbeddedRegistration()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
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

// Revision identifies the data in use (databases' type, path and build
// time, iploc version, provider ranges' content, internal networks).
// Decision caches put it in their keys, beside the policy revision that
// covers the catalogue.
func (c *Classifier) Revision() string { return c.state.Load().revision }

// Info describes the data sources.
func (c *Classifier) Info() DataInfo { return c.state.Load().info }

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
// It is a no-op for a classifier on the embedded snapshot.
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
	if c.country != nil {
		if err := c.country.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.base.Country.Path, err))
		}
	}
	if c.asn != nil {
		if err := c.asn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.base.ASN.Path, err))
		}
	}
	if c.reg != nil {
		if err := c.reg.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", c.base.Registration.Path, err))
		}
	}
	return errors.Join(errs...)
}

// maxDomainMatches bounds the names examined for domain matches (host plus
// CNAMEs); the resolver follows at most 8 CNAMEs.
const maxDomainMatches = 16

// isInternal reports whether ip is in one of the internal networks.
func (c *Classifier) isInternal(ip netip.Addr) bool {
	if len(c.internal) == 0 {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range c.internal {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Classify describes a destination: host is the canonical host name (or IP
// text), cnames the chain the resolver followed, addrs the vetted
// addresses, k the knowledge of the policy revision that will evaluate the
// result (its operator catalogue and EU/EEA territory).
//
// Each address gets its country, continent, EU/EEA membership, ASN and AS
// organisation, and an operator. The operator is, strongest first: the one
// whose catalogue ranges hold the address, the one whose published IP
// ranges hold it (MatchedBy "range"; the feed also gives the region, its
// country, the service and the anycast flag), the one owning its ASN
// ("asn"), the one whose domain suffix matches the name nearest to the
// addresses (the last CNAME first, the host last), since that is who
// serves them ("domain"). When no catalogue entry matches, the operator is
// the address's autonomous system and its jurisdiction the country that
// system is registered in ("registration", Inferred). An internal address
// gets no inferred operator.
//
// The country is the region's country when a provider range gives one,
// otherwise the GeoIP country; an anycast range has no country at all.
//
// Providers lists every operator involved, each once: the range and ASN
// matches in address order, then the domain matches of the host and its
// CNAMEs in chain order, then the inferred ones in address order. An
// operator matched by domain is listed even when the addresses belong to
// another (a cloud's CDN hostname served by a CDN network): the data
// reaches that operator's service, so its jurisdiction matters too.
// MatchedBy is the strongest way it was matched ("range" over "asn" over
// "domain").
//
// The returned slices are new; Jurisdictions slices and offers are shared
// with the catalogue and must not be modified.
func (c *Classifier) Classify(k *Knowledge, host string, cnames []string, addrs []netip.Addr) Destination {
	ranges := c.state.Load().ranges // one version for the whole call
	var cat *Catalogue
	var territory *Territory
	if k != nil {
		cat, territory = k.Operators, k.Territory
	}
	d := Destination{Host: host, Addresses: make([]Address, len(addrs))}

	// Domain matches, host first then the chain.
	var domBuf [maxDomainMatches]catalogueRef
	dom := domBuf[:0]
	names := 1 + len(cnames)
	for i := 0; i < names && len(dom) < maxDomainMatches; i++ {
		name := host
		if i > 0 {
			name = cnames[i-1]
		}
		if ref, _, ok := cat.domainIndex(name); ok {
			dom = append(dom, ref)
		}
	}
	nearestDom := catalogueRef{op: -1, offer: -1}
	if len(dom) > 0 {
		nearestDom = dom[len(dom)-1]
	}

	// Operators matched by range or ASN, in address order, with the
	// strongest way each was matched; then those inferred.
	var matchBuf [maxDomainMatches]addrMatch
	matched := matchBuf[:0]
	var inferredBuf [4]Provider
	inferred := inferredBuf[:0]
	for i, ip := range addrs {
		a := &d.Addresses[i]
		a.IP = ip
		a.Internal = c.isInternal(ip)
		a.Country, a.Continent = c.country.Lookup(ip)
		ref, by := nearestDom, MatchedByDomain
		if c.asn != nil {
			a.ASN, a.ASOrg = c.asn.Lookup(ip)
		}
		// The registration dataset is read when it is needed: for the ASN
		// when no ASN database is configured, and to infer an operator
		// when the catalogue knows none.
		regRead, regCountry := false, ""
		if a.ASN == 0 {
			a.ASN, a.ASOrg, regCountry = c.reg.Lookup(ip)
			regRead = true
		}
		if j, ok := cat.asnIndex(a.ASN); ok {
			ref, by = catalogueRef{op: j, offer: -1}, MatchedByASN
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
				if j, ok := cat.feedIndex(r.Feed, r.Provider); ok {
					ref, by = catalogueRef{op: j, offer: -1}, MatchedByRange
				}
			}
		}
		if r, ok := cat.rangeIndex(ip); ok {
			ref, by = r, MatchedByRange
		}
		a.EU, a.EEA = territory.EU(a.Country), territory.EEA(a.Country)
		if ref.op < 0 {
			if a.Internal {
				continue
			}
			if !regRead {
				regCountry = c.reg.Country(ip)
			}
			if regCountry == "" {
				continue // nothing at all is known about who runs it
			}
			p := c.inferredProvider(a.ASN, a.ASOrg, regCountry)
			a.Provider, a.MatchedBy = p.ID, MatchedByRegistration
			if !containsProvider(inferred, p.ID) {
				inferred = append(inferred, p)
			}
			continue
		}
		a.Provider, a.MatchedBy = cat.operators[ref.op].ID, by
		if by == MatchedByDomain {
			continue
		}
		if j := indexMatch(matched, ref.op); j >= 0 {
			if by == MatchedByRange {
				matched[j].by = by
			}
			if matched[j].offer < 0 {
				matched[j].offer = ref.offer
			}
		} else {
			matched = append(matched, addrMatch{ref.op, ref.offer, by}) // may grow past the buffer; rare
		}
	}

	n := len(matched) + len(inferred)
	for i, ref := range dom {
		if indexMatch(matched, ref.op) < 0 && !containsRef(dom[:i], ref.op) {
			n++
		}
	}
	d.Providers = make([]Provider, 0, n)
	for _, m := range matched {
		// An offer recognised by the name counts for the operator the
		// addresses belong to.
		offer := m.offer
		for _, ref := range dom {
			if offer < 0 && ref.op == m.op {
				offer = ref.offer
			}
		}
		d.Providers = append(d.Providers, cat.provider(catalogueRef{m.op, offer}, m.by))
	}
	for i, ref := range dom {
		if indexMatch(matched, ref.op) >= 0 || containsRef(dom[:i], ref.op) {
			continue
		}
		d.Providers = append(d.Providers, cat.provider(ref, MatchedByDomain))
	}
	d.Providers = append(d.Providers, inferred...)
	return d
}

// maxASIDs bounds the inferred operator ids kept.
const maxASIDs = 1 << 14

// inferredProvider is the operator of an address no catalogue entry
// knows: its autonomous system, under the law of the country the system is
// registered in. Its id is "as" and the number ("as64500"), or
// "registered-in-" and the country when the system is unknown.
func (c *Classifier) inferredProvider(asn uint32, org, country string) Provider {
	p := Provider{Jurisdictions: singleCountry(country), MatchedBy: MatchedByRegistration, Inferred: true}
	if asn != 0 {
		p.ID = c.asID(asn)
		p.Name = org
		if p.Name == "" {
			p.Name = strings.ToUpper(p.ID)
		}
	} else {
		p.ID = "registered-in-" + lowerCountry(country)
		p.Name = "a network registered in " + country
	}
	return p
}

// asID returns "as" and the number of asn.
func (c *Classifier) asID(asn uint32) string {
	c.asIDsMu.RLock()
	id, ok := c.asIDs[asn]
	c.asIDsMu.RUnlock()
	if ok {
		return id
	}
	var buf [16]byte
	id = string(strconv.AppendUint(append(buf[:0], "as"...), uint64(asn), 10))
	c.asIDsMu.Lock()
	if len(c.asIDs) < maxASIDs {
		c.asIDs[asn] = id
	}
	c.asIDsMu.Unlock()
	return id
}

func lowerCountry(code string) string {
	return string([]byte{code[0] | 0x20, code[1] | 0x20})
}

func containsProvider(list []Provider, id string) bool {
	for i := range list {
		if list[i].ID == id {
			return true
		}
	}
	return false
}

type addrMatch struct {
	op, offer int
	by        string
}

func indexMatch(s []addrMatch, op int) int {
	for j, m := range s {
		if m.op == op {
			return j
		}
	}
	return -1
}

func containsRef(s []catalogueRef, op int) bool {
	for _, r := range s {
		if r.op == op {
			return true
		}
	}
	return false
}

// ClassifyAnswer classifies a resolver answer.
func (c *Classifier) ClassifyAnswer(k *Knowledge, ans *Answer) Destination {
	return c.Classify(k, ans.Host, ans.CNAMEs, ans.Addrs)
}
