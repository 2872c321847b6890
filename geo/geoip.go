package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/phuslu/iploc"
)

// Where a country or ASN answer comes from (DatabaseInfo.Source).
const (
	SourceMMDB  = "mmdb"  // a database file given by the admin
	SourceIPLoc = "iploc" // the IP2Location LITE data embedded in the binary
	SourceNone  = "none"  // no source: the field stays empty
)

// Record layouts a database can have (DatabaseInfo.Format).
const (
	FormatGeoIP2      = "geoip2"       // GeoIP2 / GeoLite2 / DB-IP Country, City or Enterprise: country.iso_code
	FormatCountryCode = "country_code" // one top-level country_code field (sapics ip-location-db)
	FormatASN         = "asn"          // autonomous_system_number / autonomous_system_organization
)

// DatabaseInfo describes a data source for the status page and for the data
// revision.
type DatabaseInfo struct {
	Source       string    `json:"source"`
	Path         string    `json:"path,omitempty"`
	Format       string    `json:"format,omitempty"`
	DatabaseType string    `json:"database_type,omitempty"`
	BuildTime    time.Time `json:"build_time,omitzero"`
	// Version is the data version of the embedded fallback (iploc).
	Version string `json:"version,omitempty"`
}

// CountryDB answers where an address is. It reads a GeoIP2-style Country or
// City database (MaxMind GeoIP2/GeoLite2, DB-IP), a database with a
// top-level country_code field (the free sapics ip-location-db files), or,
// without a file, the IP2Location LITE data embedded through iploc.
// It is safe for concurrent use.
//
// geoip2-golang decides at open whether a file is a supported Country or
// City database (its list of database types is maintained with MaxMind's).
// Lookups then decode only country.iso_code and continent.code through
// maxminddb-golang: geoip2's Country() decodes every localised name of four
// records, about 3x slower (2 µs against 0.6 µs per address on a City
// database) and 768 bytes of garbage per lookup.
type CountryDB struct {
	info DatabaseInfo
	r    *maxminddb.Reader // nil: the embedded data (iploc for IPv4, v6 for IPv6)
	v6   *countryV6Table
}

// OpenCountryDB opens the country database at path. An empty path selects
// the embedded fallback. A missing, corrupt or wrong-type file is an error
// that names the file: the admin must see it at start-up, not as unknown
// countries later.
func OpenCountryDB(path string) (*CountryDB, error) {
	if path == "" {
		v6, err := countryV6()
		if err != nil {
			return nil, err
		}
		return &CountryDB{v6: v6, info: DatabaseInfo{Source: SourceIPLoc, Version: iploc.Version, BuildTime: iplocDate(iploc.Version)}}, nil
	}
	r, format, err := openMMDB(path, "country", func(g *geoip2.Reader) error {
		_, err := g.Country(netip.IPv4Unspecified())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &CountryDB{r: r, info: mmdbInfo(path, format, r.Metadata)}, nil
}

// iplocDate reads the date of the embedded IP2Location LITE data from
// iploc's version, "v1.0.YYYYMMDD"; zero when it has another form.
func iplocDate(version string) time.Time {
	i := strings.LastIndexByte(version, '.')
	t, err := time.Parse("20060102", version[i+1:])
	if err != nil {
		return time.Time{}
	}
	return t
}

// openMMDB opens path with maxminddb and checks with geoip2 that it is a
// database of the wanted kind ("country" or "ASN"): probe calls the geoip2
// method for that kind, which fails with InvalidMethodError on another
// kind. A database type geoip2 does not know is accepted when its records
// have the fields of the kind (see recordFormat): GeoIP2's country.iso_code
// or the flat country_code of sapics' "country ipvAll" files.
func openMMDB(path, kind string, probe func(*geoip2.Reader) error) (*maxminddb.Reader, string, error) {
	wrap := func(err error) error {
		return fmt.Errorf("opening GeoIP %s database %s: %w", kind, path, err)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, "", wrap(err)
	}
	format, err := checkMMDB(path, kind, r, probe)
	if err != nil {
		r.Close()
		return nil, "", wrap(err)
	}
	return r, format, nil
}

func checkMMDB(path, kind string, r *maxminddb.Reader, probe func(*geoip2.Reader) error) (string, error) {
	md := r.Metadata
	g, err := geoip2.Open(path)
	if g != nil {
		defer g.Close()
	}
	var unknown geoip2.UnknownDatabaseTypeError
	switch {
	case err == nil:
		gm := g.Metadata()
		if gm.DatabaseType != md.DatabaseType || gm.BuildEpoch != md.BuildEpoch || gm.NodeCount != md.NodeCount {
			return "", errors.New("the file changed while it was being opened")
		}
		var im geoip2.InvalidMethodError
		if err := probe(g); errors.As(err, &im) {
			return "", fmt.Errorf("database type %q has no %s data", md.DatabaseType, kind)
		}
		if kind == "ASN" {
			return FormatASN, nil
		}
		return FormatGeoIP2, nil
	case errors.As(err, &unknown):
		// A type geoip2 does not know (sapics' "country ipvAll", a vendor's
		// own name): the records say what it is.
		if format := recordFormat(r, kind); format != "" {
			return format, nil
		}
		return "", fmt.Errorf("unsupported database type %q: its records have no %s", unknown.DatabaseType, shapeWanted[kind])
	default:
		return "", err
	}
}

// shapeWanted names the fields recordFormat looks for, for error messages.
var shapeWanted = map[string]string{
	"country": "country.iso_code (GeoIP2 layout) nor top-level country_code (ip-location-db layout)",
	"ASN":     "autonomous_system_number",
}

// shapeSample bounds how many records recordFormat reads.
const shapeSample = 1000

// recordFormat tells the layout of a database from its first records: a
// GeoIP2-style country.iso_code, a top-level country_code (the sapics
// ip-location-db files), or autonomous_system_number for kind "ASN". It
// returns "" when none of the sampled records has the fields.
func recordFormat(r *maxminddb.Reader, kind string) string {
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		CountryCode string `maxminddb:"country_code"`
		ASN         uint32 `maxminddb:"autonomous_system_number"`
	}
	n := 0
	for res := range r.Networks() {
		if n++; n > shapeSample {
			break
		}
		rec.Country.ISOCode, rec.CountryCode, rec.ASN = "", "", 0
		if err := res.Decode(&rec); err != nil {
			continue // another shape for these names; look further
		}
		switch {
		case kind == "ASN" && rec.ASN != 0:
			return FormatASN
		case kind == "country" && rec.Country.ISOCode != "":
			return FormatGeoIP2
		case kind == "country" && rec.CountryCode != "":
			return FormatCountryCode
		}
	}
	return ""
}

func mmdbInfo(path, format string, md maxminddb.Metadata) DatabaseInfo {
	return DatabaseInfo{
		Source:       SourceMMDB,
		Path:         path,
		Format:       format,
		DatabaseType: md.DatabaseType,
		BuildTime:    md.BuildTime().UTC(),
	}
}

// countryRecord holds the only fields Lookup needs, in both layouts.
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	CountryCode string `maxminddb:"country_code"`
}

// Lookup returns the ISO country code and continent code of ip, "" when
// unknown. Codes that are not a country (EU, AP, ZZ) count as unknown. A
// lookup error (corrupt record) also gives "": the policy then sees an
// unknown country, which it denies under the sovereign profile. An address
// missing from a configured database stays unknown: sources are not mixed.
func (db *CountryDB) Lookup(ip netip.Addr) (country, continent string) {
	ip = ip.Unmap().WithZone("")
	if db.r == nil {
		var code string
		if ip.Is4() {
			code = iploc.IPCountry(ip)
		} else {
			code = db.v6.lookup(ip)
		}
		country = NormalizeCountry(code)
		return country, CountryContinent(country)
	}
	var rec countryRecord
	if err := db.r.Lookup(ip).Decode(&rec); err != nil {
		return "", ""
	}
	code := rec.Country.ISOCode
	if code == "" {
		code = rec.CountryCode
	}
	country = NormalizeCountry(code)
	continent = rec.Continent.Code
	if c := CountryContinent(country); c != "" {
		continent = c
	}
	return country, continent
}

// Info describes the source in use.
func (db *CountryDB) Info() DatabaseInfo { return db.info }

// Close releases the database file.
func (db *CountryDB) Close() error {
	if db.r != nil {
		return db.r.Close()
	}
	return nil
}

// ASNDB answers which autonomous system announces an address, from a
// GeoLite2-ASN (or DB-IP ASN, GeoIP2-ISP) database, or a database of
// another type with "asn" in its name whose records carry the same
// autonomous_system_* fields. It is safe for concurrent use.
type ASNDB struct {
	info DatabaseInfo
	r    *maxminddb.Reader
}

// OpenASNDB opens the ASN database at path. A missing, corrupt or
// wrong-type file is an error that names the file.
func OpenASNDB(path string) (*ASNDB, error) {
	if path == "" {
		return nil, errors.New("opening GeoIP ASN database: no path given")
	}
	r, _, err := openMMDB(path, "ASN", func(g *geoip2.Reader) error {
		_, err := g.ASN(netip.IPv4Unspecified())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ASNDB{r: r, info: mmdbInfo(path, FormatASN, r.Metadata)}, nil
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns the AS number and organisation of ip; 0 and "" when
// unknown or on a lookup error.
func (db *ASNDB) Lookup(ip netip.Addr) (asn uint32, org string) {
	var rec asnRecord
	if err := db.r.Lookup(ip.Unmap().WithZone("")).Decode(&rec); err != nil {
		return 0, ""
	}
	return rec.Number, rec.Org
}

// Info describes the database.
func (db *ASNDB) Info() DatabaseInfo { return db.info }

// Close releases the database file.
func (db *ASNDB) Close() error { return db.r.Close() }
