package feeds

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/sovgate/sovgate/geo"
)

//go:embed regions.csv
var embeddedRegions []byte

// Region is one row of the region table.
type Region struct {
	Provider string
	// Name is the region as the feed spells it.
	Name string
	// Region is the provider's own name for it (the same as Name unless the
	// feed uses another spelling, as Azure's service tags do).
	Region string
	// Country is the ISO 3166-1 alpha-2 code; empty for a region left
	// unmapped on purpose.
	Country  string
	Location string
}

// Unmapped reports whether the region is listed without a country on
// purpose.
func (r Region) Unmapped() bool { return r.Country == "" }

// RegionTable says which country each cloud region is in.
type RegionTable struct {
	rows map[string]Region // provider + "\x00" + name
}

var embeddedTable = sync.OnceValues(func() (*RegionTable, error) {
	return ParseRegionTable(bytes.NewReader(embeddedRegions))
})

// Regions returns the region table built into sovgate (geo/feeds/regions.csv).
// Its validity is checked by the tests, so an invalid table panics.
func Regions() *RegionTable {
	t, err := embeddedTable()
	if err != nil {
		panic("geo/feeds: embedded region table: " + err.Error())
	}
	return t
}

// ParseRegionTable reads a table in the format of regions.csv: lines of
// provider,name,region,country,location; '#' starts a comment line.
func ParseRegionTable(r io.Reader) (*RegionTable, error) {
	t := &RegionTable{rows: make(map[string]Region)}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.SplitN(text, ",", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("region table line %d: want provider,name,region,country,location", line)
		}
		row := Region{Provider: f[0], Name: f[1], Region: f[2], Country: f[3], Location: strings.TrimSpace(f[4])}
		if row.Region == "" {
			row.Region = row.Name
		}
		switch {
		case row.Provider == "" || row.Name == "":
			return nil, fmt.Errorf("region table line %d: empty provider or name", line)
		case row.Country == "-":
			row.Country = ""
			if row.Location == "" {
				return nil, fmt.Errorf("region table line %d: %s is unmapped: say why in the location column", line, row.Name)
			}
		case !geo.ValidCountry(row.Country):
			return nil, fmt.Errorf("region table line %d: %q is not an upper-case ISO 3166-1 alpha-2 code", line, row.Country)
		}
		key := row.Provider + "\x00" + row.Name
		if _, dup := t.rows[key]; dup {
			return nil, fmt.Errorf("region table line %d: %s %s listed twice", line, row.Provider, row.Name)
		}
		t.rows[key] = row
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("region table: %w", err)
	}
	return t, nil
}

// Lookup returns the row for a provider's region as the feed spells it.
func (t *RegionTable) Lookup(provider, name string) (Region, bool) {
	r, ok := t.rows[provider+"\x00"+name]
	return r, ok
}

// country returns the country of a region, "" when unmapped or unknown.
func (t *RegionTable) country(provider, name string) string {
	r, _ := t.Lookup(provider, name)
	return r.Country
}

// All returns every row, sorted by provider and name.
func (t *RegionTable) All() []Region {
	out := make([]Region, 0, len(t.rows))
	for _, r := range t.rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Region) int {
		return strings.Compare(a.Provider+"\x00"+a.Name, b.Provider+"\x00"+b.Name)
	})
	return out
}
