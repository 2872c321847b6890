// Command embeddata rebuilds the data snapshots compiled into sovgate
// (geo/embedded/): the provider IP ranges, compiled from the providers'
// feeds exactly as `sovgate geo update` compiles them, and the network
// registration dataset (autonomous system, its organisation and its
// registration country).
//
//	go run ./tools/embeddata -data /path/to/data
//
// The data directory holds feeds/ (the providers' feed files, in the
// layout of a `geo update` mirror, or with the .txt/.json names of the
// shared snapshots) and ipdb/ (sapics ip-location-db:
// iptoasn-country.mmdb, PDDL-1.0, for the registration country, and
// asn-ipv4.csv.gz / asn-ipv6.csv.gz, CC BY 4.0 by RouteViews, DB-IP and
// the NRO, for the autonomous systems; see NOTICE). Each snapshot is dated
// with its newest source: the newest feed's publication date, and the
// build date of the country file.
//
// The registration country belongs to an autonomous system, not to an
// address range, so each autonomous system gets the country that the
// country file gives to most of its addresses, and every range of the ASN
// files is written with its system's number, organisation and country.
// Ranges the ASN files do not cover keep the country file's answer alone.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/sovgate/sovgate/geo"
	"github.com/sovgate/sovgate/geo/feeds"
	"github.com/sovgate/sovgate/geo/update"
)

func main() {
	data := flag.String("data", os.Getenv("SOVGATE_SHARED_DATA"), "directory holding feeds/ and ipdb/")
	out := flag.String("out", "geo/embedded", "directory to write providers.mmdb and registration.mmdb to")
	flag.Parse()
	if *data == "" {
		log.Fatal("usage: embeddata -data DIR [-out DIR]")
	}
	if err := providerRanges(filepath.Join(*data, "feeds"), *out); err != nil {
		log.Fatalf("provider ranges: %v", err)
	}
	if err := registration(filepath.Join(*data, "ipdb"), *out); err != nil {
		log.Fatalf("registration: %v", err)
	}
}

// snapshotNames maps the mirror layout to the names the shared snapshots
// use for the same files.
var snapshotNames = map[string]string{
	"cloudflare/ips-v4":     "cloudflare/ips-v4.txt",
	"cloudflare/ips-v6":     "cloudflare/ips-v6.txt",
	"fastly/public-ip-list": "fastly/public-ip-list.json",
}

// providerRanges lays the feeds out as a mirror, runs `geo update` on it,
// and dates the index with the newest feed.
func providerRanges(feedDir, out string) error {
	mirror, err := os.MkdirTemp("", "embeddata-mirror")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mirror)
	for _, f := range feeds.All() {
		for _, file := range f.Files {
			src := filepath.Join(feedDir, file.Path)
			if _, err := os.Stat(src); err != nil && snapshotNames[file.Path] != "" {
				src = filepath.Join(feedDir, snapshotNames[file.Path])
			}
			dst := filepath.Join(mirror, file.Path)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(src, dst); err != nil && !errors.Is(err, os.ErrExist) {
				return err // a file two feeds share is linked once
			}
		}
	}
	dir, err := os.MkdirTemp("", "embeddata-out")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rep, err := update.Run(context.Background(), update.Options{Dir: dir, Mirror: mirror, Progress: os.Stderr})
	if err != nil {
		return err
	}
	index, err := geo.OpenProviderRanges(rep.Index)
	if err != nil {
		return err
	}
	m := index.Manifest()
	m.Built = time.Time{}
	for i, f := range m.Feeds {
		m.Feeds[i].Source = "" // a temporary mirror: meaningless in the binary
		if f.Date.After(m.Built) {
			m.Built = f.Date
		}
	}
	var buf bytes.Buffer
	if err := geo.WriteProviderRanges(&buf, index.Entries(), m); err != nil {
		return err
	}
	if _, err := geo.ParseProviderRanges(buf.Bytes()); err != nil {
		return fmt.Errorf("the new index does not validate: %w", err)
	}
	return write(filepath.Join(out, geo.ProviderRangesFile), buf.Bytes())
}

func registration(ipdb, out string) error {
	countryFile := filepath.Join(ipdb, "iptoasn-country.mmdb")
	countries, err := maxminddb.Open(countryFile)
	if err != nil {
		return err
	}
	defer countries.Close()
	var ranges []asnRange
	var sources []geo.RegistrationSource
	for _, name := range []string{"asn-ipv4.csv.gz", "asn-ipv6.csv.gz"} {
		r, sum, err := readASNRanges(filepath.Join(ipdb, name))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ranges = append(ranges, r...)
		sources = append(sources, geo.RegistrationSource{
			Name:    "autonomous systems: sapics ip-location-db asn " + name,
			URL:     "https://github.com/sapics/ip-location-db",
			License: "CC BY 4.0: RouteViews, DB-IP (IP to ASN Lite), NRO",
			SHA256:  sum,
		})
	}
	sum, err := fileSHA256(countryFile)
	if err != nil {
		return err
	}
	sources = append(sources, geo.RegistrationSource{
		Name:    "registration country: sapics ip-location-db iptoasn-country (iptoasn.com)",
		URL:     "https://github.com/sapics/ip-location-db",
		Date:    countries.Metadata.BuildTime().UTC(),
		License: "PDDL-1.0",
		SHA256:  sum,
	})

	// The registration country of each autonomous system: the one most of
	// its addresses get.
	votes := map[uint32]map[string]*big.Int{}
	vote := func(asn uint32, cc string, n *big.Int) {
		v := votes[asn]
		if v == nil {
			v = map[string]*big.Int{}
			votes[asn] = v
		}
		if v[cc] == nil {
			v[cc] = new(big.Int)
		}
		v[cc].Add(v[cc], n)
	}
	var entries []geo.RegistrationEntry
	for _, r := range ranges {
		for _, p := range geo.RangePrefixes(r.start, r.end) {
			entries = append(entries, geo.RegistrationEntry{Prefix: p, ASN: r.asn, Org: r.org})
			// The networks of the country file inside p, or the one that
			// holds p.
			for res := range countries.NetworksWithin(p) {
				var rec struct {
					Country string `maxminddb:"country_code"`
				}
				if err := res.Decode(&rec); err != nil || geo.NormalizeCountry(rec.Country) == "" {
					continue
				}
				inner := res.Prefix()
				if inner.Bits() < p.Bits() {
					inner = p
				}
				vote(r.asn, geo.NormalizeCountry(rec.Country), size(inner))
			}
		}
	}
	registered := make(map[uint32]string, len(votes))
	for asn, v := range votes {
		best, bestN := "", new(big.Int)
		for cc, n := range v {
			if c := n.Cmp(bestN); c > 0 || (c == 0 && cc < best) {
				best, bestN = cc, n
			}
		}
		registered[asn] = best
	}
	for i := range entries {
		entries[i].Country = registered[entries[i].ASN]
	}
	// Networks the ASN files leave out keep the country file's answer;
	// they are written first, so the ASN ranges overwrite where both
	// speak.
	var uncovered []geo.RegistrationEntry
	for res := range countries.Networks() {
		var rec struct {
			Country string `maxminddb:"country_code"`
		}
		if err := res.Decode(&rec); err != nil {
			return err
		}
		cc := geo.NormalizeCountry(rec.Country)
		if cc == "" {
			continue
		}
		uncovered = append(uncovered, geo.RegistrationEntry{Prefix: res.Prefix(), Country: cc})
	}
	all := append(uncovered, entries...)
	log.Printf("registration: %d ASN prefixes (%d autonomous systems), %d country-file networks", len(entries), len(registered), len(uncovered))

	f, err := os.CreateTemp(out, ".registration-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriter(f)
	if err := geo.WriteRegistration(bw, all, geo.RegistrationManifest{Built: countries.Metadata.BuildTime(), Sources: sources}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	raw, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	if _, err := geo.ParseRegistration(raw); err != nil {
		return fmt.Errorf("the new dataset does not validate: %w", err)
	}
	return write(filepath.Join(out, geo.RegistrationFile), raw)
}

type asnRange struct {
	start, end netip.Addr
	asn        uint32
	org        string
}

// readASNRanges reads the sapics ASN CSV: start,end,asn,organisation (no
// header, inclusive ranges).
func readASNRanges(path string) ([]asnRange, string, error) {
	sum, err := fileSHA256(path)
	if err != nil {
		return nil, "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, "", err
	}
	cr := csv.NewReader(zr)
	cr.FieldsPerRecord = 4
	var out []asnRange
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", err
		}
		start, err1 := netip.ParseAddr(rec[0])
		end, err2 := netip.ParseAddr(rec[1])
		asn, err3 := strconv.ParseUint(rec[2], 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, "", fmt.Errorf("line %q: %w", rec, err)
		}
		if asn == 0 {
			continue
		}
		out = append(out, asnRange{start: start, end: end, asn: uint32(asn), org: rec[3]})
	}
	return out, sum, nil
}

func size(p netip.Prefix) *big.Int {
	return new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func write(path string, raw []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s (%d bytes)", path, len(raw))
	return nil
}
