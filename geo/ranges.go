package geo

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// The provider-ranges index is what `sovgate geo update` compiles from the
// cloud providers' own IP-range feeds, and what provider_ranges loads: one
// MaxMind DB file, so admins can inspect it with the usual tools
// (mmdblookup --file providers.mmdb --ip 35.180.0.1), and the gateway starts
// without parsing megabytes of JSON.
//
// Layout:
//   - metadata database_type "sovgate-Provider-Ranges", IP version 6, IPv4
//     networks in the IPv4 subtree (::/96) without the ::ffff:0:0/96 alias;
//   - one record per network: provider, region, region_country, service,
//     anycast, feed (empty strings and false are left out);
//   - metadata description "sovgate-manifest": the RangesManifest as JSON
//     (the feeds that went in, their dates, sync tokens and counts).
//
// Networks never overlap in the file: where feeds list nested prefixes the
// more specific one was written last, so a lookup returns the longest
// matching prefix.

const (
	// ProviderRangesFile is the name of the index in a provider_ranges
	// directory.
	ProviderRangesFile = "providers.mmdb"
	// ProviderRangesType is the database_type of the index.
	ProviderRangesType = "sovgate-Provider-Ranges"
	// ProviderRangesSchema is the version of the record and manifest layout.
	ProviderRangesSchema = 1

	manifestKey = "sovgate-manifest"
	// maxProviderRangesSize bounds what is read: the index of every feed
	// together is a few megabytes.
	maxProviderRangesSize = 512 << 20
)

// RangeInfo is what a provider's feed says about one of its networks.
type RangeInfo struct {
	// Provider is the catalogue id (aws, gcp, google, azure, ...).
	Provider string `json:"provider" maxminddb:"provider"`
	// Region is the provider's region as the feed names it (eu-west-3,
	// francecentral, GLOBAL), or the RFC 8805 region of a geofeed (FR-IDF).
	Region string `json:"region,omitempty" maxminddb:"region"`
	// RegionCountry is the ISO 3166-1 alpha-2 code of the region's country.
	RegionCountry string `json:"region_country,omitempty" maxminddb:"region_country"`
	// Service is what the feed says runs there (EC2, S3, OBJECT_STORAGE).
	Service string `json:"service,omitempty" maxminddb:"service"`
	// Anycast marks ranges announced from many places (CDNs, global load
	// balancers): they have no country.
	Anycast bool `json:"anycast,omitempty" maxminddb:"anycast"`
	// Feed names the feed the range comes from (aws, gcp, linode, ...).
	Feed string `json:"feed" maxminddb:"feed"`
}

// RangeEntry is one network of the index with its facts.
type RangeEntry struct {
	Prefix netip.Prefix
	RangeInfo
}

// RangesManifest describes the feeds an index was built from.
type RangesManifest struct {
	Schema int        `json:"schema"`
	Built  time.Time  `json:"built"`
	Feeds  []FeedInfo `json:"feeds"`
}

// FeedInfo describes one feed as it was imported.
type FeedInfo struct {
	// Name is the feed (aws, gcp, google, azure, oracle, cloudflare,
	// fastly, akamai, digitalocean, linode).
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Source is where it was read: a URL or a mirror path.
	Source string `json:"source,omitempty"`
	// SHA256 is the hash of the feed's files as fetched (hex).
	SHA256 string `json:"sha256"`
	// Prefixes is how many prefixes the feed contributed (IPv4 + IPv6).
	Prefixes int `json:"prefixes"`
	IPv4     int `json:"ipv4"`
	IPv6     int `json:"ipv6"`
	// Date is when the provider says it published the feed, if it says.
	Date time.Time `json:"date,omitzero"`
	// SyncToken is the feed's own version (AWS and Google syncToken, Azure
	// changeNumber), if it has one.
	SyncToken string `json:"sync_token,omitempty"`
}

// RangesInfo describes the provider ranges in use, for the status page.
type RangesInfo struct {
	Source    string     `json:"source"` // SourceMMDB or SourceNone
	Path      string     `json:"path,omitempty"`
	BuildTime time.Time  `json:"build_time,omitzero"`
	Networks  int        `json:"networks,omitempty"`
	SHA256    string     `json:"sha256,omitempty"`
	Feeds     []FeedInfo `json:"feeds,omitempty"`
}

// ProviderRanges is a loaded, validated index. It is immutable and safe for
// concurrent use. Its data lives on the Go heap (not a memory mapping), so a
// replaced index is freed by the garbage collector once the last request
// using it is done: nothing needs closing.
type ProviderRanges struct {
	r        *maxminddb.Reader
	records  map[uintptr]*RangeInfo
	manifest RangesManifest
	info     RangesInfo
}

// OpenProviderRanges reads and validates the index at path: a directory
// holding providers.mmdb, or the file itself. Errors name the file.
func OpenProviderRanges(path string) (*ProviderRanges, error) {
	file, err := providerRangesPath(path)
	if err != nil {
		return nil, err
	}
	data, _, err := readProviderRanges(file)
	if err != nil {
		return nil, err
	}
	p, err := ParseProviderRanges(data)
	if err != nil {
		return nil, fmt.Errorf("provider ranges %s: %w", file, err)
	}
	p.info.Path = file
	return p, nil
}

// providerRangesPath resolves a provider_ranges setting to the index file.
func providerRangesPath(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("provider ranges %s: %w (run `sovgate geo update --dir %s` to create it)", path, err, path)
		}
		return "", fmt.Errorf("provider ranges: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	file := filepath.Join(path, ProviderRangesFile)
	if _, err := os.Stat(file); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("provider ranges: %s does not exist (run `sovgate geo update --dir %s` to create it)", file, path)
		}
		return "", fmt.Errorf("provider ranges: %w", err)
	}
	return file, nil
}

// readProviderRanges reads the file and returns it with the identity it had
// while it was read (stat before and after must agree, so a file being
// replaced is not half read).
func readProviderRanges(file string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("provider ranges: %w", err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("provider ranges: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxProviderRangesSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("provider ranges %s: %w", file, err)
	}
	if len(data) > maxProviderRangesSize {
		return nil, nil, fmt.Errorf("provider ranges %s: larger than %d bytes", file, maxProviderRangesSize)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("provider ranges: %w", err)
	}
	if !sameFileVersion(before, after) || int64(len(data)) != after.Size() {
		return nil, nil, fmt.Errorf("provider ranges %s: the file changed while it was being read", file)
	}
	return data, before, nil
}

// ParseProviderRanges validates an index held in memory: a MaxMind DB of
// type sovgate-Provider-Ranges whose search tree and data section are
// sound, with a manifest of the current schema, at least one network, and
// records whose provider ids, countries and feeds are valid. data must not
// be modified afterwards.
func ParseProviderRanges(data []byte) (*ProviderRanges, error) {
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, err
	}
	md := r.Metadata
	if md.DatabaseType != ProviderRangesType {
		return nil, fmt.Errorf("database type %q, want %q (is this a GeoIP database?)", md.DatabaseType, ProviderRangesType)
	}
	if md.IPVersion != 6 {
		return nil, fmt.Errorf("IP version %d, want 6", md.IPVersion)
	}
	if err := r.Verify(); err != nil {
		return nil, fmt.Errorf("corrupt index: %w", err)
	}
	var m RangesManifest
	raw, ok := md.Description[manifestKey]
	if !ok {
		return nil, fmt.Errorf("no %s in the metadata description", manifestKey)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Schema != ProviderRangesSchema {
		return nil, fmt.Errorf("manifest schema %d, want %d (written by another sovgate version: run `sovgate geo update` again)", m.Schema, ProviderRangesSchema)
	}
	feeds := make(map[string]bool, len(m.Feeds))
	for _, f := range m.Feeds {
		if !idPattern.MatchString(f.Name) || feeds[f.Name] {
			return nil, fmt.Errorf("manifest: bad or repeated feed name %q", f.Name)
		}
		feeds[f.Name] = true
	}

	p := &ProviderRanges{r: r, records: make(map[uintptr]*RangeInfo), manifest: m}
	networks := 0
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("walking the index: %w", err)
		}
		networks++
		off := res.Offset()
		if _, seen := p.records[off]; seen {
			continue
		}
		var ri RangeInfo
		if err := res.Decode(&ri); err != nil {
			return nil, fmt.Errorf("record of %s: %w", res.Prefix(), err)
		}
		if err := ri.validate(); err != nil {
			return nil, fmt.Errorf("record of %s: %w", res.Prefix(), err)
		}
		if !feeds[ri.Feed] {
			return nil, fmt.Errorf("record of %s: feed %q is not in the manifest", res.Prefix(), ri.Feed)
		}
		p.records[off] = &ri
	}
	if networks == 0 {
		return nil, errors.New("the index is empty")
	}
	sum := sha256.Sum256(data)
	p.info = RangesInfo{
		Source:    SourceMMDB,
		BuildTime: md.BuildTime().UTC(),
		Networks:  networks,
		SHA256:    hex.EncodeToString(sum[:]),
		Feeds:     m.Feeds,
	}
	return p, nil
}

func (ri *RangeInfo) validate() error {
	switch {
	case !idPattern.MatchString(ri.Provider):
		return fmt.Errorf("provider %q is not a catalogue id", ri.Provider)
	case !idPattern.MatchString(ri.Feed):
		return fmt.Errorf("feed %q is not a feed name", ri.Feed)
	case ri.RegionCountry != "" && !ValidCountry(ri.RegionCountry):
		return fmt.Errorf("region_country %q is not an ISO 3166-1 alpha-2 code", ri.RegionCountry)
	case ri.Anycast && ri.RegionCountry != "":
		return fmt.Errorf("anycast range with region_country %q", ri.RegionCountry)
	case len(ri.Region) > 128 || len(ri.Service) > 256:
		return errors.New("region or service too long")
	}
	return nil
}

// Lookup returns the facts of the longest listed prefix holding ip. The
// result is shared: do not modify it. It does not allocate.
func (p *ProviderRanges) Lookup(ip netip.Addr) (*RangeInfo, bool) {
	res := p.r.Lookup(ip.Unmap().WithZone(""))
	if !res.Found() {
		return nil, false
	}
	ri, ok := p.records[res.Offset()]
	return ri, ok
}

// Info describes the index.
func (p *ProviderRanges) Info() RangesInfo { return p.info }

// Manifest returns the feeds the index was built from.
func (p *ProviderRanges) Manifest() RangesManifest { return p.manifest }

// Entries returns every network of the index with its facts, in address
// order (IPv4 first). Nested feed prefixes come out split into the
// non-overlapping networks the index holds.
func (p *ProviderRanges) Entries() []RangeEntry {
	var out []RangeEntry
	for res := range p.r.Networks() {
		if ri, ok := p.records[res.Offset()]; ok {
			out = append(out, RangeEntry{Prefix: res.Prefix(), RangeInfo: *ri})
		}
	}
	return out
}

// WriteProviderRanges writes an index of entries. Prefixes must be valid
// and each listed once (the caller resolves feeds that list the same
// prefix); nested prefixes are fine: the longest prefix wins at lookup.
// The manifest's Built time is the index's build time.
func WriteProviderRanges(w io.Writer, entries []RangeEntry, m RangesManifest) error {
	m.Schema = ProviderRangesSchema
	if m.Built.IsZero() {
		m.Built = time.Now()
	}
	m.Built = m.Built.UTC().Truncate(time.Second)
	feeds := make(map[string]bool, len(m.Feeds))
	for _, f := range m.Feeds {
		if !idPattern.MatchString(f.Name) || feeds[f.Name] {
			return fmt.Errorf("bad or repeated feed name %q", f.Name)
		}
		feeds[f.Name] = true
	}
	if len(entries) == 0 {
		return errors.New("no prefixes to write")
	}
	sorted := make([]RangeEntry, len(entries))
	for i, e := range entries {
		if !e.Prefix.IsValid() || e.Prefix.Addr().Is4In6() || e.Prefix.Addr().Zone() != "" {
			return fmt.Errorf("invalid prefix %v", e.Prefix)
		}
		e.Prefix = e.Prefix.Masked()
		if err := e.validate(); err != nil {
			return fmt.Errorf("%s: %w", e.Prefix, err)
		}
		if !feeds[e.Feed] {
			return fmt.Errorf("%s: feed %q is not in the manifest", e.Prefix, e.Feed)
		}
		sorted[i] = e
	}
	// Wider networks first (in the 128-bit tree), so narrower ones are
	// written over them.
	slices.SortFunc(sorted, func(a, b RangeEntry) int {
		return cmp.Or(cmp.Compare(treeBits(a.Prefix), treeBits(b.Prefix)), a.Prefix.Addr().Compare(b.Prefix.Addr()))
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Prefix == sorted[i-1].Prefix {
			return fmt.Errorf("%s listed twice (feeds %s and %s)", sorted[i].Prefix, sorted[i-1].Feed, sorted[i].Feed)
		}
	}

	manifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		BuildEpoch:   m.Built.Unix(),
		DatabaseType: ProviderRangesType,
		Description: map[string]string{
			"en":        "sovgate provider IP ranges: cloud and CDN networks from the providers' own feeds",
			manifestKey: string(manifest),
		},
		DisableIPv4Aliasing:     true,
		IncludeReservedNetworks: true,
		IPVersion:               6,
		RecordSize:              28,
	})
	if err != nil {
		return err
	}
	for _, e := range sorted {
		if err := tree.Insert(prefixIPNet(e.Prefix), e.record()); err != nil {
			return fmt.Errorf("inserting %s: %w", e.Prefix, err)
		}
	}
	_, err = tree.WriteTo(w)
	return err
}

func (e *RangeEntry) record() mmdbtype.Map {
	m := mmdbtype.Map{"provider": mmdbtype.String(e.Provider), "feed": mmdbtype.String(e.Feed)}
	if e.Region != "" {
		m["region"] = mmdbtype.String(e.Region)
	}
	if e.RegionCountry != "" {
		m["region_country"] = mmdbtype.String(e.RegionCountry)
	}
	if e.Service != "" {
		m["service"] = mmdbtype.String(e.Service)
	}
	if e.Anycast {
		m["anycast"] = mmdbtype.Bool(true)
	}
	return m
}

// treeBits is the prefix length in the IPv6 tree, where IPv4 sits at ::/96.
func treeBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 96 + p.Bits()
	}
	return p.Bits()
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// sameFileVersion reports whether two stats describe the same version of a
// file: same file (device and inode), size and modification time.
func sameFileVersion(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
