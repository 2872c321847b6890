package update

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
)

// The registration dataset (see geo.RegistrationDB) is compiled from
// iptoasn.com's ip2asn-combined table: for every announced range, its
// autonomous system, the country that system is registered in, and its
// description. The table is in the public domain (PDDL-1.0) and updated
// every hour. It is written to DIR/registration.mmdb, which a gateway
// whose provider_ranges is DIR uses without further configuration, and kept
// as fetched in DIR/feeds/iptoasn/ (the mirror layout).

// The registration table, at iptoasn.com and in a mirror.
const (
	RegistrationURL        = "https://iptoasn.com/data/ip2asn-combined.tsv.gz"
	RegistrationMirrorPath = "iptoasn/ip2asn-combined.tsv.gz"
	registrationLicense    = "PDDL-1.0 (iptoasn.com)"
)

// maxRegistrationSize bounds the uncompressed table (about 30 MB today).
const maxRegistrationSize = 512 << 20

// RegistrationReport is the registration dataset's part of the report.
type RegistrationReport struct {
	Path     string
	Source   string
	Networks int
	// Previous is the network count of the dataset in service, -1 if none.
	Previous int
	Changed  bool
	Bytes    int
}

// registration fetches and compiles the registration table.
func (r *run) registration(ctx context.Context, rep *Report) ([]pendingFile, error) {
	fail := func(err error) error { return &Error{Feed: "registration", Err: err} }
	raw, source, err := r.fetchFeedFile(ctx, feeds.File{Path: RegistrationMirrorPath, URL: RegistrationURL})
	if err != nil {
		return nil, fail(err)
	}
	dest := filepath.Join(r.opts.Dir, geo.RegistrationFile)
	rr := &RegistrationReport{Path: dest, Source: source, Previous: -1, Changed: true, Bytes: len(raw)}
	rep.Registration = rr
	sum := sha256Hex(raw)
	if prev, err := geo.OpenRegistrationDB(dest); err == nil {
		m := prev.Manifest()
		prev.Close()
		rr.Previous = m.Networks
		if len(m.Sources) == 1 && m.Sources[0].SHA256 == sum {
			rr.Changed, rr.Networks = false, m.Networks
			r.progress("%-13s unchanged (%d networks)", "registration", m.Networks)
			return nil, nil
		}
	}
	entries, err := ParseIP2ASN(bytes.NewReader(raw))
	if err != nil {
		return nil, fail(fmt.Errorf("%s: %w", source, err))
	}
	rr.Networks = len(entries)
	if rr.Previous > 0 && !r.opts.Force && len(entries)*2 < rr.Previous {
		return nil, fail(fmt.Errorf("%d networks, down from %d in the dataset in service: implausible, refusing it (use --force to accept)", len(entries), rr.Previous))
	}
	m := geo.RegistrationManifest{Built: r.now(), Sources: []geo.RegistrationSource{{
		Name: "iptoasn.com ip2asn-combined", URL: RegistrationURL, Date: r.now().UTC(), License: registrationLicense, SHA256: sum,
	}}}
	var buf bytes.Buffer
	if err := geo.WriteRegistration(&buf, entries, m); err != nil {
		return nil, fail(err)
	}
	// Read back what was written, exactly as the gateway will.
	if _, err := geo.ParseRegistration(buf.Bytes()); err != nil {
		return nil, fail(fmt.Errorf("the new dataset does not validate: %w", err))
	}
	r.progress("%-13s %d networks  %s", "registration", len(entries), source)
	return []pendingFile{
		{path: filepath.Join(r.opts.Dir, "feeds", filepath.FromSlash(RegistrationMirrorPath)), data: raw},
		{path: dest, data: buf.Bytes()},
	}, nil
}

// ParseIP2ASN reads iptoasn.com's ip2asn-combined table, gzip-compressed:
// one line per range, "start<TAB>end<TAB>asn<TAB>country<TAB>description",
// start and end inclusive. Ranges of AS 0 ("Not routed") are left out; a
// country that is not an ISO code ("None", "ZZ") is left empty. A line
// that does not read is an error naming its number: a damaged table must
// not half replace a good one.
func ParseIP2ASN(r io.Reader) ([]geo.RegistrationEntry, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not gzip data: %w", err)
	}
	sc := bufio.NewScanner(io.LimitReader(zr, maxRegistrationSize+1))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	var out []geo.RegistrationEntry
	read := 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		read += len(line) + 1
		if read > maxRegistrationSize {
			return nil, fmt.Errorf("larger than %d bytes uncompressed", maxRegistrationSize)
		}
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("line %d: %d fields, want 5 (start, end, ASN, country, description)", n, len(f))
		}
		start, err1 := netip.ParseAddr(f[0])
		end, err2 := netip.ParseAddr(f[1])
		asn, err3 := strconv.ParseUint(f[2], 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if asn == 0 {
			continue
		}
		prefixes := geo.RangePrefixes(start, end)
		if prefixes == nil {
			return nil, fmt.Errorf("line %d: %s-%s is not a range", n, f[0], f[1])
		}
		country := geo.NormalizeCountry(f[3])
		org := strings.TrimSpace(f[4])
		for _, p := range prefixes {
			out = append(out, geo.RegistrationEntry{Prefix: p, ASN: uint32(asn), Org: org, Country: country})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the table: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("no routed range in the table")
	}
	return out, nil
}
