package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// The registration dataset says, for every announced network, which
// autonomous system it belongs to and in which country that autonomous
// system is registered (the RIR delegation). It is not where the address is
// (that is the country database's job): 35.180.0.10, an AWS address in
// Paris, is registered in the US. For an operator the catalogue does not
// know, the registration country is a fair first guess at the law it
// answers to, so the gateway infers a jurisdiction from it instead of
// waving the operator through; and the autonomous system number lets the
// catalogue recognise operators by ASN without a GeoLite2-ASN file.
//
// sovgate carries a dated snapshot (RegistrationFile in the binary, see
// EmbeddedRegistration); `sovgate geo update` writes a fresh one, and the
// geoip_registration option points at any file of this layout. The plain
// country files of sapics ip-location-db (iptoasn-country.mmdb, records
// {"country_code": "US"}) are accepted too: they give the country only.
//
// Layout of the files sovgate writes:
//   - metadata database_type "sovgate-Network-Registration", IP version 6,
//     IPv4 networks in the IPv4 subtree;
//   - one record per network: autonomous_system_number,
//     autonomous_system_organization (the GeoLite2-ASN names) and
//     country_code (the registration country), each left out when unknown;
//   - metadata description "sovgate-manifest": a RegistrationManifest as
//     JSON (the sources, their dates and licences).

const (
	// RegistrationFile is the name of the dataset in a directory that
	// `sovgate geo update` maintains.
	RegistrationFile = "registration.mmdb"
	// RegistrationType is the database_type of the files sovgate writes.
	RegistrationType = "sovgate-Network-Registration"
	// RegistrationSchema is the version of the record and manifest layout.
	RegistrationSchema = 1
)

// FormatRegistration is the record layout of a registration dataset
// (DatabaseInfo.Format): country_code, with autonomous_system_* when the
// file has them.
const FormatRegistration = "registration"

// SourceEmbedded marks data compiled into the binary (DatabaseInfo.Source,
// RangesInfo.Source).
const SourceEmbedded = "embedded"

// RegistrationManifest describes where a registration dataset comes from.
type RegistrationManifest struct {
	Schema int `json:"schema"`
	// Built is the date of the data: the newest of its sources' dates.
	Built   time.Time            `json:"built"`
	Sources []RegistrationSource `json:"sources"`
	// Networks is how many networks were written, to tell a truncated
	// download from a real update.
	Networks int `json:"networks,omitempty"`
}

// RegistrationSource is one input of a registration dataset.
type RegistrationSource struct {
	// Name says what the source gave (ASN, country, ...), e.g. "iptoasn.com
	// ip2asn-combined".
	Name    string    `json:"name"`
	URL     string    `json:"url,omitempty"`
	Date    time.Time `json:"date,omitzero"`
	License string    `json:"license,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
}

// RegistrationEntry is one network of a registration dataset. Country is
// the ISO code of the country its autonomous system is registered in.
type RegistrationEntry struct {
	Prefix  netip.Prefix
	ASN     uint32
	Org     string
	Country string
}

// registrationRecord holds the fields of both accepted layouts.
type registrationRecord struct {
	ASN     uint32 `maxminddb:"autonomous_system_number"`
	Org     string `maxminddb:"autonomous_system_organization"`
	Country string `maxminddb:"country_code"`
}

// RegistrationDB answers which autonomous system announces an address and
// where that system is registered. It is safe for concurrent use.
//
// Records are few (about one per autonomous system) and shared by many
// networks, so each is decoded once and kept by its offset: a lookup is then
// a walk of the search tree and a map read, with no allocation.
type RegistrationDB struct {
	r        *maxminddb.Reader
	info     DatabaseInfo
	manifest RegistrationManifest

	mu      sync.RWMutex
	records map[uintptr]*registrationRecord
}

// maxCachedRegistrations bounds the decoded records kept: a gateway reaches
// a few thousand autonomous systems, the whole table holds about a hundred
// thousand.
const maxCachedRegistrations = 1 << 16

// OpenRegistrationDB opens a registration dataset: a file sovgate wrote
// (`sovgate geo update`), or a database whose records carry a top-level
// country_code (sapics' iptoasn-country.mmdb). Errors name the file.
func OpenRegistrationDB(path string) (*RegistrationDB, error) {
	if path == "" {
		return nil, errors.New("opening the registration database: no path given")
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the registration database %s: %w", path, err)
	}
	db, err := newRegistrationDB(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("opening the registration database %s: %w", path, err)
	}
	db.info.Source, db.info.Path = SourceMMDB, path
	return db, nil
}

// ParseRegistration opens a registration dataset held in memory (data must
// not be modified afterwards), checking its search tree and data section.
func ParseRegistration(data []byte) (*RegistrationDB, error) {
	db, err := parseRegistration(data)
	if err != nil {
		return nil, err
	}
	if err := db.r.Verify(); err != nil {
		return nil, fmt.Errorf("corrupt registration data: %w", err)
	}
	return db, nil
}

func parseRegistration(data []byte) (*RegistrationDB, error) {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, err
	}
	db, err := newRegistrationDB(r)
	if err != nil {
		return nil, err
	}
	db.info.Source = SourceMMDB
	return db, nil
}

func newRegistrationDB(r *maxminddb.Reader) (*RegistrationDB, error) {
	md := r.Metadata
	db := &RegistrationDB{r: r, records: make(map[uintptr]*registrationRecord)}
	if md.DatabaseType == RegistrationType {
		raw, ok := md.Description[manifestKey]
		if !ok {
			return nil, fmt.Errorf("no %s in the metadata description", manifestKey)
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&db.manifest); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		if db.manifest.Schema != RegistrationSchema {
			return nil, fmt.Errorf("manifest schema %d, want %d (written by another sovgate version: run `sovgate geo update` again)", db.manifest.Schema, RegistrationSchema)
		}
	} else if recordFormat(r, "country") != FormatCountryCode {
		return nil, fmt.Errorf("database type %q has no registration data: want a file written by `sovgate geo update` (%s) or records with a top-level country_code", md.DatabaseType, RegistrationType)
	}
	db.info = DatabaseInfo{
		Format:       FormatRegistration,
		DatabaseType: md.DatabaseType,
		BuildTime:    md.BuildTime().UTC(),
	}
	if !db.manifest.Built.IsZero() {
		// The date of the data, not of the file: a snapshot rebuilt today
		// from last month's sources is last month's.
		db.info.BuildTime = db.manifest.Built.UTC()
	}
	return db, nil
}

// Lookup returns the autonomous system of ip, its organisation and the
// country it is registered in; zero values when unknown. Codes that are
// not a country (ZZ, EU, AP) count as unknown.
func (db *RegistrationDB) Lookup(ip netip.Addr) (asn uint32, org, country string) {
	rec := db.record(ip)
	return rec.ASN, rec.Org, rec.Country
}

// Country returns only the registration country of ip.
func (db *RegistrationDB) Country(ip netip.Addr) string { return db.record(ip).Country }

// none is the record of an address the dataset does not hold.
var none = &registrationRecord{}

// record returns the decoded record of ip, with a canonical country code,
// decoding it on first use. A record that does not decode counts as none.
func (db *RegistrationDB) record(ip netip.Addr) *registrationRecord {
	res := db.r.Lookup(ip.Unmap().WithZone(""))
	if !res.Found() {
		return none
	}
	off := res.Offset()
	db.mu.RLock()
	rec, ok := db.records[off]
	db.mu.RUnlock()
	if ok {
		return rec
	}
	rec = &registrationRecord{}
	if err := res.Decode(rec); err != nil {
		return none
	}
	rec.Country = NormalizeCountry(rec.Country)
	db.mu.Lock()
	if len(db.records) < maxCachedRegistrations {
		db.records[off] = rec
	}
	db.mu.Unlock()
	return rec
}

// Info describes the dataset.
func (db *RegistrationDB) Info() DatabaseInfo { return db.info }

// Manifest returns the sources of a dataset sovgate wrote (empty for other
// files).
func (db *RegistrationDB) Manifest() RegistrationManifest { return db.manifest }

// Close releases the file (nothing for data held in memory).
func (db *RegistrationDB) Close() error { return db.r.Close() }

// WriteRegistration writes a registration dataset. Entries are written in
// order: where two overlap, the later one wins over the part they share.
func WriteRegistration(w io.Writer, entries []RegistrationEntry, m RegistrationManifest) error {
	m.Schema = RegistrationSchema
	if m.Built.IsZero() {
		return errors.New("registration manifest: no date (Built)")
	}
	m.Built = m.Built.UTC().Truncate(time.Second)
	if len(entries) == 0 {
		return errors.New("no networks to write")
	}
	m.Networks = len(entries)
	list := slices.Clone(entries)
	for i, e := range list {
		if !e.Prefix.IsValid() || e.Prefix.Addr().Is4In6() || e.Prefix.Addr().Zone() != "" {
			return fmt.Errorf("invalid prefix %v", e.Prefix)
		}
		list[i].Prefix = e.Prefix.Masked()
		if e.Country != "" && !ValidCountry(e.Country) {
			return fmt.Errorf("%s: country %q is not an ISO 3166-1 alpha-2 code", e.Prefix, e.Country)
		}
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	// 24-bit records make the file an eighth smaller than 28-bit ones;
	// a dataset too big for them is written with 28.
	var buf bytes.Buffer
	err = writeRegistrationTree(&buf, list, m, string(manifest), 24)
	if err != nil && strings.Contains(err.Error(), "exceeded record capacity") {
		buf.Reset()
		err = writeRegistrationTree(&buf, list, m, string(manifest), 28)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func writeRegistrationTree(w io.Writer, list []RegistrationEntry, m RegistrationManifest, manifest string, recordSize int) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:   m.Built.Unix(),
		DatabaseType: RegistrationType,
		Description: map[string]string{
			"en":        "sovgate network registration: autonomous system and its registration country",
			manifestKey: manifest,
		},
		DisableIPv4Aliasing:     true,
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              recordSize,
	})
	if err != nil {
		return err
	}
	for _, e := range list {
		rec := mmdbtype.Map{}
		if e.ASN != 0 {
			rec["autonomous_system_number"] = mmdbtype.Uint32(e.ASN)
		}
		if e.Org != "" {
			rec["autonomous_system_organization"] = mmdbtype.String(e.Org)
		}
		if e.Country != "" {
			rec["country_code"] = mmdbtype.String(e.Country)
		}
		if len(rec) == 0 {
			continue
		}
		if err := tree.Insert(prefixIPNet(e.Prefix), rec); err != nil {
			return fmt.Errorf("inserting %s: %w", e.Prefix, err)
		}
	}
	_, err = tree.WriteTo(w)
	return err
}

// RangePrefixes splits an inclusive address range into the fewest
// prefixes that cover it exactly (registries publish ranges, the search
// tree wants prefixes). IPv4-mapped ends are read as IPv4 when both are.
// It returns nil when start is after end or the two are of different
// families.
func RangePrefixes(start, end netip.Addr) []netip.Prefix {
	if start.Is4In6() && end.Is4In6() {
		start, end = start.Unmap(), end.Unmap()
	}
	if !start.IsValid() || !end.IsValid() || start.Is4() != end.Is4() || start.Is4In6() || end.Is4In6() || start.Compare(end) > 0 {
		return nil
	}
	var out []netip.Prefix
	for {
		// The widest prefix that starts at start and ends at or before end.
		bits := start.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(start, bits-1).Masked()
			if p.Addr() != start || lastAddr(p).Compare(end) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(start, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last.Compare(end) >= 0 {
			return out
		}
		start = last.Next()
	}
}

// lastAddr is the last address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
