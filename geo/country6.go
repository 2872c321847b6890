package geo

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/phuslu/iploc"
)

// The IPv6 half of the embedded IP2Location LITE country data, in a form
// read in place. iploc carries the same table gzip-compressed and inflates
// it into the heap on the first IPv6 lookup: 11 MiB held for the life of
// the process, a third of an idle gateway's heap. This copy, generated from
// the iploc version go.mod requires, lives in the binary's data, and only
// the pages a lookup touches are loaded (a binary search reads about 20 of
// them). IPv4 addresses still go to iploc, whose IPv4 table is already read
// in place. See tools/countryv6 for the layout.
//
//go:generate go run ../tools/countryv6 -out embedded/country6.bin
//go:embed embedded/country6.bin
var embeddedCountryV6 []byte

// countryV6Table is the parsed header of embeddedCountryV6: the range
// starts and their country codes, both slices of the embedded bytes.
type countryV6Table struct {
	version string
	starts  []byte // 16 bytes per range, big-endian, ascending
	codes   []byte // 2 bytes per range
}

var countryV6 = sync.OnceValues(func() (*countryV6Table, error) {
	return parseCountryV6(embeddedCountryV6)
})

func parseCountryV6(b []byte) (*countryV6Table, error) {
	if len(b) < 5 || !bytes.Equal(b[:4], []byte("SGC6")) {
		return nil, fmt.Errorf("embedded IPv6 country table: not a country6 file")
	}
	vlen := int(b[4])
	header := (5 + vlen + 15) / 16 * 16
	if len(b) < header || (len(b)-header)%18 != 0 {
		return nil, fmt.Errorf("embedded IPv6 country table: %d bytes do not make whole ranges", len(b))
	}
	n := (len(b) - header) / 18
	t := &countryV6Table{
		version: string(b[5 : 5+vlen]),
		starts:  b[header : header+16*n],
		codes:   b[header+16*n:],
	}
	if t.version != iploc.Version {
		return nil, fmt.Errorf("embedded IPv6 country table is from iploc %s but the build uses iploc %s: run go generate ./geo", t.version, iploc.Version)
	}
	return t, nil
}

// lookup returns the two-letter code iploc gives ip, an IPv6 address that
// is not IPv4-mapped: the country of the last range that starts at or
// before it.
func (t *countryV6Table) lookup(ip netip.Addr) string {
	a := ip.As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	// Find the first range that starts after ip.
	i, j := 0, len(t.codes)/2
	for i < j {
		h := int(uint(i+j) >> 1)
		s := t.starts[16*h : 16*h+16]
		shi, slo := binary.BigEndian.Uint64(s[:8]), binary.BigEndian.Uint64(s[8:])
		if shi > hi || (shi == hi && slo > lo) {
			j = h
		} else {
			i = h + 1
		}
	}
	if i == 0 {
		return ""
	}
	// The code stays in the embedded bytes, which nothing writes: no
	// allocation per lookup (iploc does the same).
	return unsafe.String(&t.codes[2*i-2], 2)
}
